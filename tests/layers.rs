//! The modules form a ladder: each may use only the rungs below it, never one above, so the
//! code can grow without import cycles. Read from the source, so a new `use` that points
//! up the ladder fails here.
//!
//! ```text
//! domain, crypto                  plain types, sealing
//! storage, auth, rate_limit, telemetry
//! token, metrics                  the keyring, minting, issuance; counters
//! webhooks                        where deliveries may go, signing, the dispatcher
//! http, console                   routes, extractors, AppState; the operator console
//! config                          settings for every command
//! app                             start-up and the serve loop
//! cli                             the commands
//! ```

/// Each top-level module and its rung.
const LADDER: &[(&str, u8)] = &[
    ("domain", 0),
    ("crypto", 0),
    ("storage", 1),
    ("auth", 1),
    ("rate_limit", 1),
    ("telemetry", 1),
    ("token", 2),
    ("metrics", 2),
    ("webhooks", 3),
    ("retention", 3),
    ("http", 4),
    ("console", 4),
    ("config", 5),
    ("app", 6),
    ("cli", 7),
];

fn rung(module: &str) -> Option<u8> {
    LADDER.iter().find(|(name, _)| *name == module).map(|(_, r)| *r)
}

/// Every `.rs` file under `dir`.
fn sources(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("read src") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            sources(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The top-level modules a file names through `crate::` (or `$crate::` in a macro).
fn uses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    for (i, _) in text.match_indices("crate::") {
        let rest = &text[i + "crate::".len()..];
        let name: String = rest.chars().take_while(|c| c.is_ascii_lowercase() || *c == '_').collect();
        if !name.is_empty() {
            found.push(name);
        }
    }
    found
}

#[test]
fn no_module_uses_a_module_above_it() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut violations = Vec::new();
    let mut checked = 0;
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src");
        let top = relative.components().next().expect("component").as_os_str().to_string_lossy();
        let module = top.trim_end_matches(".rs");
        if matches!(module, "lib" | "main") {
            continue;
        }
        let own = rung(module).unwrap_or_else(|| panic!("src/{top} is not on the ladder: add it to LADDER"));
        let text = std::fs::read_to_string(file).expect("read");
        for used in uses(&text) {
            checked += 1;
            let Some(theirs) = rung(&used) else { continue };
            if used != module && theirs >= own {
                violations.push(format!("{} uses crate::{used}", relative.display()));
            }
        }
    }
    assert!(checked > 100, "the scan found the crate's imports ({checked})");
    assert!(violations.is_empty(), "imports that point up or across the ladder:\n{}", violations.join("\n"));
}

#[test]
fn the_scan_sees_an_import_that_points_up() {
    assert_eq!(uses("use crate::http::AppState;\nuse $crate::storage::Store;"), ["http", "storage"]);
}
