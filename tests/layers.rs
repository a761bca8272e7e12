//! The modules form a ladder: each may use only the rungs below it, never one above, so the
//! code can grow without import cycles. Read from the source, so a new `use` that points
//! up the ladder fails here.
//!
//! ```text
//! domain, crypto                  plain types, sealing
//! storage, auth, rate_limit, telemetry
//! token, metrics                  the keyring, minting, issuance; counters
//! webhooks                        where deliveries may go, signing, the dispatcher
//! service                         the use cases, once for every front end
//! http, console                   routes, extractors, AppState; the operator console
//! config                          settings for every command
//! app, sandbox                    start-up and the serve loop; the sandbox retailer
//! cli                             the commands
//! ```
//!
//! Beside the ladder, the front ends (`http`, `console`, `cli`) call the core (`service`),
//! never storage: see [`front_ends_call_the_core_not_storage`].

/// Each top-level module and its rung.
const LADDER: &[(&str, u8)] = &[
    ("domain", 0),
    ("crypto", 0),
    ("storage", 1),
    ("auth", 1),
    ("telemetry", 1),
    ("token", 2),
    ("metrics", 2),
    ("webhooks", 3),
    ("rate_limit", 3),
    ("retention", 3),
    ("service", 4),
    ("http", 5),
    ("console", 5),
    ("link", 5),
    ("config", 6),
    ("app", 7),
    ("sandbox", 7),
    ("cli", 8),
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

/// A file's module path below `src` (`http/routes/mod.rs` is `["http", "routes"]`).
fn module_path(relative: &std::path::Path) -> Vec<String> {
    let mut parts: Vec<String> = relative.iter().map(|p| p.to_string_lossy().into_owned()).collect();
    if let Some(last) = parts.last_mut() {
        *last = last.trim_end_matches(".rs").to_owned();
    }
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// `text` without the bodies of the inline modules it declares (`mod tests { ... }`), where
/// `super::` means the file's own module rather than its parent.
fn without_inline_modules(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = find_inline_mod(rest) {
        out.push_str(&rest[..i]);
        let open = i + rest[i..].find('{').expect("a brace");
        let mut depth = 0usize;
        let mut end = rest.len();
        for (j, c) in rest[open..].char_indices() {
            match c {
                '{' => depth += 1,
                '}' => {
                    depth -= 1;
                    if depth == 0 {
                        end = open + j + 1;
                        break;
                    }
                }
                _ => {}
            }
        }
        rest = &rest[end..];
    }
    out.push_str(rest);
    out
}

/// Where `mod NAME {` begins in `text`, if anywhere.
fn find_inline_mod(text: &str) -> Option<usize> {
    let mut from = 0;
    while let Some(i) = text[from..].find("mod ") {
        let at = from + i;
        let before_ok = at == 0 || !text.as_bytes()[at - 1].is_ascii_alphanumeric() && text.as_bytes()[at - 1] != b'_';
        let after = &text[at + 4..];
        let name_len = after.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').count();
        if before_ok && name_len > 0 && after[name_len..].trim_start().starts_with('{') {
            return Some(at);
        }
        from = at + 4;
    }
    None
}

/// The names that follow `prefix` in `text` (`super::` or `crate::http::`).
fn names_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.match_indices(prefix)
        .filter(|(i, _)| *i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric() && text.as_bytes()[i - 1] != b'$')
        .map(|(i, _)| {
            let rest = &text[i + prefix.len()..];
            let n = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').count();
            &rest[..n]
        })
        .filter(|n| !n.is_empty())
        .collect()
}

/// The import graph among the modules directly inside `top` (a folder of `src` at any depth,
/// `""` for `src` itself), with `<root>` for `top/mod.rs` (or `lib.rs`): an item re-exported
/// by the root counts as its module's.
fn graph_within(top: &str) -> std::collections::BTreeMap<String, std::collections::BTreeSet<String>> {
    use std::collections::{BTreeMap, BTreeSet};
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src.join(top), &mut files);
    let depth = top.split('/').filter(|p| !p.is_empty()).count();
    let paths: Vec<(Vec<String>, String)> = files
        .iter()
        .filter(|f| !f.ends_with("main.rs") || depth > 0)
        .map(|f| {
            let mut path = module_path(f.strip_prefix(&src).expect("under src"));
            if path.last().is_some_and(|l| l == "lib") {
                path.pop();
            }
            (path, std::fs::read_to_string(f).expect("read"))
        })
        .collect();
    let children: BTreeSet<String> =
        paths.iter().filter(|(p, _)| p.len() > depth).map(|(p, _)| p[depth].clone()).collect();
    let root = paths.iter().find(|(p, _)| p.len() == depth).map(|(_, t)| t.clone()).unwrap_or_default();
    // `pub use child::Name;` and `pub use child::{A, B};` in the root.
    let mut reexported: BTreeMap<String, String> = BTreeMap::new();
    for line in root.lines().map(str::trim).filter(|l| l.starts_with("pub use ")) {
        let path = line.trim_start_matches("pub use ").trim_start_matches("self::").trim_end_matches(';');
        if let Some((child, names)) = path.split_once("::") {
            for name in names.trim_matches(|c| c == '{' || c == '}').split(',') {
                reexported.insert(name.trim().to_owned(), child.to_owned());
            }
        }
    }
    let mut graph: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let root_body: String = root
        .lines()
        .filter(|l| {
            let l = l.trim();
            !(l.starts_with("pub use ")
                || l.starts_with("mod ")
                || l.starts_with("pub mod ")
                || l.starts_with("pub(crate) mod "))
        })
        .collect::<Vec<_>>()
        .join("\n");
    let root_uses = graph.entry("<root>".into()).or_default();
    for child in &children {
        if root_body.contains(&format!("{child}::")) {
            root_uses.insert(child.clone());
        }
    }
    let prefix = if depth == 0 { "crate::".to_owned() } else { format!("crate::{}::", top.replace('/', "::")) };
    for (path, text) in paths.iter().filter(|(p, _)| p.len() > depth) {
        let me = &path[depth];
        // Test modules (inline `mod tests { ... }`) may reach across: they are not the design.
        let outer = without_inline_modules(text);
        let mut targets = names_after(&outer, &prefix);
        if path.len() == depth + 1 && depth > 0 {
            targets.extend(names_after(&outer, "super::"));
        }
        let edges = graph.entry(me.clone()).or_default();
        for t in targets {
            let dest = if children.contains(t) {
                t.to_owned()
            } else {
                reexported.get(t).cloned().unwrap_or_else(|| "<root>".into())
            };
            if &dest != me {
                edges.insert(dest);
            }
        }
    }
    graph
}

/// Each circle of imports in `graph`, as the modules along it.
fn circles(graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>) -> Vec<Vec<String>> {
    fn walk(
        graph: &std::collections::BTreeMap<String, std::collections::BTreeSet<String>>,
        path: &mut Vec<String>,
        found: &mut std::collections::BTreeSet<Vec<String>>,
    ) {
        let last = path.last().expect("a start").clone();
        for next in graph.get(&last).into_iter().flatten() {
            if let Some(i) = path.iter().position(|p| p == next) {
                let mut circle = path[i..].to_vec();
                let start = circle.iter().enumerate().min_by_key(|(_, m)| (*m).clone()).map_or(0, |(i, _)| i);
                circle.rotate_left(start);
                found.insert(circle);
            } else if path.len() < 16 {
                path.push(next.clone());
                walk(graph, path, found);
                path.pop();
            }
        }
    }
    let mut found = std::collections::BTreeSet::new();
    for start in graph.keys() {
        walk(graph, &mut vec![start.clone()], &mut found);
    }
    found.into_iter().collect()
}

/// No two modules inside any folder of `src` import each other, through any chain: each
/// folder reads from its root down to its parts. The circles still to be taken apart are
/// listed, each as the folder and the modules along it; the list only shrinks (a listed
/// circle that is gone fails too, so it is struck off).
const CIRCLES_TO_UNDO: &[(&str, &[&str])] = &[];

/// Every folder of `src` at any depth, as its path below `src`, and `src` itself as `""`.
fn folders() -> Vec<String> {
    fn walk(dir: &std::path::Path, base: &std::path::Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("a folder") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                out.push(path.strip_prefix(base).expect("below src").to_string_lossy().replace('\\', "/"));
                walk(&path, base, out);
            }
        }
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut found = vec![String::new()];
    walk(&src, &src, &mut found);
    found.sort();
    found
}

#[test]
fn no_import_circle_inside_a_module() {
    let tops = folders();
    assert!(
        tops.len() > 15 && tops.iter().any(|t| t == "http/routes") && tops.iter().any(String::is_empty),
        "the scan found the folders: {tops:?}"
    );
    let mut unexpected = Vec::new();
    let mut seen = Vec::new();
    for top in &tops {
        let graph = graph_within(top);
        assert!(graph.len() > 2 || top != "http", "the scan found http's modules: {graph:?}");
        assert!(graph.len() > 15 || !top.is_empty(), "the scan found the top-level modules: {graph:?}");
        for circle in circles(&graph) {
            let listed = CIRCLES_TO_UNDO.iter().any(|(t, c)| t == top && c.iter().eq(circle.iter()));
            if listed {
                seen.push((top.clone(), circle));
            } else {
                unexpected.push(format!("src/{top}: {}", circle.join(" -> ")));
            }
        }
    }
    assert!(unexpected.is_empty(), "import circles:\n{}", unexpected.join("\n"));
    for (top, circle) in CIRCLES_TO_UNDO {
        assert!(
            seen.iter().any(|(t, c)| t == top && c.iter().eq(circle.iter())),
            "src/{top}: {circle:?} is gone: strike it off CIRCLES_TO_UNDO"
        );
    }
}

/// What only the core does, as it reads in code: applying the connection lifecycle, and
/// building activity entries and webhook events (their payloads, the entry a change makes).
const CORE_ONLY: &[(&str, &str)] = &[
    ("can_move_to(", "applies the connection lifecycle"),
    ("for_status(", "picks the webhook event of a status"),
    ("connection_payload(", "builds a webhook payload"),
    ("purchase_payload(", "builds a webhook payload"),
    ("OutboxEvent::", "builds a webhook event"),
    ("NewActivity {", "builds an activity entry"),
    ("insert_event(", "builds an activity entry from a change"),
    ("emit_event", "builds a webhook event from a connection"),
];

/// The storage files that still write a use case of their own, to be moved into the core
/// over the unit of work; the list only shrinks.
const STORAGE_USE_CASES_TO_MOVE: &[&str] = &[];

/// Where `text` does what only the core does: (line, what).
fn core_work_in(text: &str) -> Vec<(usize, &'static str)> {
    let code = code_only(text);
    let mut found = Vec::new();
    for (n, line) in code.lines().enumerate() {
        for (pattern, what) in CORE_ONLY {
            if line.contains(pattern) {
                found.push((n + 1, *what));
            }
        }
    }
    found
}

#[test]
fn storage_only_stores() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src.join("storage"), &mut files);
    let mut wrong = Vec::new();
    let mut listed_seen = Vec::new();
    for f in &files {
        let rel = f.strip_prefix(&src).expect("under src").to_string_lossy().into_owned();
        let found = core_work_in(&std::fs::read_to_string(f).expect("read"));
        if found.is_empty() {
            continue;
        }
        if STORAGE_USE_CASES_TO_MOVE.contains(&rel.as_str()) {
            listed_seen.push(rel);
            continue;
        }
        for (line, what) in found {
            wrong.push(format!("src/{rel}:{line} {what}: that is the core's (src/service, over the unit of work)"));
        }
    }
    for listed in STORAGE_USE_CASES_TO_MOVE {
        if !listed_seen.iter().any(|s| s == listed) {
            wrong.push(format!("src/{listed} only stores now: strike it off STORAGE_USE_CASES_TO_MOVE"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_storage_scan_sees_a_use_case() {
    let text = "fn f() {\n    // can_move_to( in a comment is fine\n    if from.can_move_to(to) {}\n    let e = OutboxEvent::about(&c, k, at);\n}";
    assert_eq!(core_work_in(text), [(3, "applies the connection lifecycle"), (4, "builds a webhook event")]);
    assert!(core_work_in("let s = \"can_move_to(\";").is_empty(), "strings are not code");
}

/// Files past this many lines ask to be split along a real seam.
const MAX_LINES: usize = 500;

/// The files still over [`MAX_LINES`], each with the most lines it may have: the list only
/// shrinks, and a listed file may not grow.
const OVER_MAX_LINES: &[(&str, usize)] = &[];

/// Each file under `src` longer than `max` lines, with its length.
fn long_files(max: usize) -> Vec<(String, usize)> {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src, &mut files);
    let mut long: Vec<(String, usize)> = files
        .iter()
        .map(|f| {
            let lines = std::fs::read_to_string(f).expect("read").lines().count();
            (f.strip_prefix(&src).expect("under src").to_string_lossy().into_owned(), lines)
        })
        .filter(|(_, lines)| *lines > max)
        .collect();
    long.sort();
    long
}

#[test]
fn no_file_in_src_is_over_500_lines() {
    let mut wrong = Vec::new();
    let long = long_files(MAX_LINES);
    for (file, lines) in &long {
        match OVER_MAX_LINES.iter().find(|(f, _)| f == file) {
            None => wrong.push(format!("src/{file} has {lines} lines (at most {MAX_LINES})")),
            Some((_, most)) if lines > most => {
                wrong.push(format!("src/{file} grew to {lines} lines (listed at {most})"))
            }
            Some(_) => {}
        }
    }
    for (file, _) in OVER_MAX_LINES {
        if !long.iter().any(|(f, _)| f == file) {
            wrong.push(format!("src/{file} is within {MAX_LINES} lines now: strike it off OVER_MAX_LINES"));
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[test]
fn the_length_scan_sees_a_long_file() {
    // No file is over the limit any more: at 400 lines the scan finds the longest ones.
    let long = long_files(400);
    assert!(long.iter().any(|(f, l)| f == "app.rs" && *l > 400), "{long:?}");
    // At a tenth of the limit, most files are over it, the smallest ones not.
    let short = long_files(MAX_LINES / 10);
    assert!(short.len() > 50, "{}", short.len());
    assert!(!short.iter().any(|(f, _)| f == "lib.rs"), "lib.rs is short");
}

#[test]
fn the_circle_scan_sees_a_circle() {
    use std::collections::{BTreeMap, BTreeSet};
    let graph: BTreeMap<String, BTreeSet<String>> = [
        ("a".to_owned(), BTreeSet::from(["b".to_owned()])),
        ("b".to_owned(), BTreeSet::from(["c".to_owned()])),
        ("c".to_owned(), BTreeSet::from(["a".to_owned()])),
        ("d".to_owned(), BTreeSet::from(["a".to_owned()])),
    ]
    .into();
    assert_eq!(circles(&graph), vec![vec!["a".to_owned(), "b".to_owned(), "c".to_owned()]]);
    assert_eq!(names_after("use super::x;\nmod t { use super::*; }", "super::"), ["x"]);
    assert_eq!(without_inline_modules("use super::x;\nmod t { fn f() { super::y() } }\nz"), "use super::x;\n\nz");
}

/// The front ends: the HTTP layer (its routes, and the modules that act for a request:
/// extractors, idempotency, the purchase batch parser, the router, errors), the operator
/// console and the command line. Each parses its input, calls the core (`crate::service`),
/// and renders the answer; none calls storage itself.
const FRONT_ENDS: &[&str] = &["http/", "console/", "link/", "cli/"];

/// Where a front end may name storage after all, and why: (file under `src`, what it names).
const STORAGE_EXCEPTIONS: &[(&str, &str, &str)] = &[(
    "cli/shared.rs",
    "Store",
    "start-up wiring: `cli::open_store` opens the database a command names, for `serve` to \
         build the server on and `cli::open_core` a command's core",
)];

/// The storage traits: `Store` and every aggregate's trait it is made of (read from the
/// `store!(...)` list in `src/storage/mod.rs`, so a new aggregate is covered), and the
/// issuance writer's connection.
fn storage_traits() -> Vec<String> {
    let text = std::fs::read_to_string(std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/storage/mod.rs"))
        .expect("read storage/mod.rs");
    let start = text.find("\nstore!(").expect("the store!(...) list") + "\nstore!(".len();
    let list = &text[start..start + text[start..].find(')').expect("its end")];
    let mut names: Vec<String> = list.split(',').map(|n| n.trim().to_owned()).filter(|n| !n.is_empty()).collect();
    assert!(names.len() > 10, "the scan found the storage traits: {names:?}");
    names.extend(["Store".to_owned(), "IssuanceConnection".to_owned()]);
    names
}

/// `text` with its comments and the insides of its string and character literals blanked
/// (kept as spaces, so positions and line numbers stay), so that only code is scanned.
fn code_only(text: &str) -> String {
    let b = text.as_bytes();
    let mut out = b.to_vec();
    let mut i = 0;
    let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
        for c in &mut out[from..to] {
            if *c != b'\n' {
                *c = b' ';
            }
        }
    };
    while i < b.len() {
        if b[i..].starts_with(b"//") {
            let end = text[i..].find('\n').map_or(b.len(), |n| i + n);
            blank(&mut out, i, end);
            i = end;
        } else if b[i..].starts_with(b"/*") {
            let end = text[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
            blank(&mut out, i, end);
            i = end;
        } else if b[i] == b'r' && (i == 0 || !is_ident(b[i - 1])) && matches!(b.get(i + 1), Some(b'#' | b'"')) {
            // A raw string: r"..." or r#"..."# (with any number of #), which may hold quotes.
            let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
            if b.get(i + 1 + hashes) != Some(&b'"') {
                i += 1;
                continue;
            }
            let open = i + 2 + hashes;
            let close = format!("\"{}", "#".repeat(hashes));
            let end = text[open..].find(&close).map_or(b.len(), |n| open + n);
            blank(&mut out, open, end);
            i = (end + close.len()).min(b.len());
        } else if b[i] == b'"' {
            let mut j = i + 1;
            while j < b.len() && b[j] != b'"' {
                j += if b[j] == b'\\' { 2 } else { 1 };
            }
            blank(&mut out, i + 1, j.min(b.len()));
            i = j + 1;
        } else if b[i] == b'\'' && (b.get(i + 2) == Some(&b'\'') || b.get(i + 1) == Some(&b'\\')) {
            let end = text[i + 1..].find('\'').map_or(b.len(), |n| i + 1 + n + 1);
            let end = if b.get(i + 1) == Some(&b'\\') && b.get(i + 2) == Some(&b'\'') { i + 4 } else { end };
            blank(&mut out, i + 1, (end - 1).max(i + 1));
            i = end;
        } else {
            i += 1;
        }
    }
    String::from_utf8(out).expect("blanking keeps UTF-8")
}

fn is_ident(c: u8) -> bool {
    c.is_ascii_alphanumeric() || c == b'_'
}

/// Each use of storage in a front end's `text`, as `(line, what)`: a store reached for
/// (`app.store`, even only to hand it on), a method called on one (`store.find_client(..)`),
/// or a storage trait named at all (imported, in `dyn Store`, called as
/// `ClientStore::list_clients(..)`). Front ends hold the core, never a store.
fn storage_uses(text: &str, traits: &[String]) -> Vec<(usize, String)> {
    let code = code_only(text);
    let b = code.as_bytes();
    let line = |at: usize| code[..at].matches('\n').count() + 1;
    let skip_space = |mut at: usize| {
        while at < b.len() && b[at].is_ascii_whitespace() {
            at += 1;
        }
        at
    };
    let mut found = Vec::new();
    for (at, _) in code.match_indices("store") {
        let end = at + "store".len();
        if (at > 0 && is_ident(b[at - 1])) || (end < b.len() && is_ident(b[end])) {
            continue;
        }
        let before = code[..at].trim_end();
        let next = skip_space(end);
        if before.ends_with('.') {
            // `app.store`: a field holding a store (an atomic's `.store(true, ..)` is a call).
            if b.get(next) != Some(&b'(') {
                found.push((line(at), "reaches for a `store`".to_owned()));
            }
            continue;
        }
        if b.get(next) != Some(&b'.') {
            continue;
        }
        let name_at = skip_space(next + 1);
        let name_len = b[name_at..].iter().take_while(|c| is_ident(**c)).count();
        let method = &code[name_at..name_at + name_len];
        let after = skip_space(name_at + name_len);
        let called = b.get(after) == Some(&b'(') || code[after..].starts_with("::<");
        if called && !method.is_empty() {
            found.push((line(at), format!("calls a `store`'s `{method}`")));
        }
    }
    for name in traits {
        for (at, _) in code.match_indices(name.as_str()) {
            let end = at + name.len();
            // `CoreError::Store(e)` is an error's variant, not the trait.
            let variant = code[..at].ends_with("Error::");
            if variant || (at > 0 && is_ident(b[at - 1])) || (end < b.len() && is_ident(b[end])) {
                continue;
            }
            found.push((line(at), format!("names the storage trait `{name}`")));
        }
    }
    found.sort();
    found
}

/// The front ends call the core, never storage: a use case is written once, in
/// `src/service/<area>.rs`, and the HTTP routes, the console and the CLI call it. A front end
/// that calls a store's method or names a storage trait fails here, unless
/// [`STORAGE_EXCEPTIONS`] lists it with its reason. (Minting, the hot path, is the core's
/// too: handlers call `token::Minter`, which records tokens through the issuance writer.)
#[test]
fn front_ends_call_the_core_not_storage() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let traits = storage_traits();
    let mut files = Vec::new();
    sources(&src, &mut files);
    let (mut checked, mut excused) = (0, std::collections::BTreeSet::new());
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src").to_string_lossy().replace('\\', "/");
        if !FRONT_ENDS.iter().any(|f| relative.starts_with(f)) {
            continue;
        }
        checked += 1;
        let text = std::fs::read_to_string(file).expect("read");
        for (line, what) in storage_uses(&text, &traits) {
            let exception =
                STORAGE_EXCEPTIONS.iter().find(|(f, name, _)| *f == relative && what.contains(&format!("`{name}`")));
            match exception {
                Some(e) => {
                    excused.insert((e.0, e.1));
                }
                None => violations.push(format!("src/{relative}:{line} {what}")),
            }
        }
    }
    assert!(checked > 40, "the scan found the front ends' files ({checked})");
    assert!(
        violations.is_empty(),
        "front ends that call storage directly (call a function of crate::service instead):\n{}",
        violations.join("\n")
    );
    let stale: Vec<_> = STORAGE_EXCEPTIONS.iter().filter(|e| !excused.contains(&(e.0, e.1))).collect();
    assert!(stale.is_empty(), "exceptions that no longer apply (remove them): {stale:?}");
}

#[test]
fn the_storage_scan_sees_a_direct_call() {
    let traits = vec!["Store".to_owned(), "ClientStore".to_owned()];
    let flagged = |text: &str| storage_uses(text, &traits).into_iter().map(|(_, w)| w).collect::<Vec<_>>();
    assert_eq!(flagged("let c = app.store.find_client(&id).await?;"), ["reaches for a `store`"]);
    assert_eq!(flagged("let c = st\n    .store\n    .list_clients()\n    .await;"), ["reaches for a `store`"]);
    assert_eq!(flagged("store.find_api_key(&id)"), ["calls a `store`'s `find_api_key`"]);
    assert_eq!(flagged("service::clients::list(app.store.as_ref())"), ["reaches for a `store`"]);
    assert_eq!(flagged("let s = state.store.clone();"), ["reaches for a `store`"]);
    assert_eq!(flagged("let s = store.clone();"), ["calls a `store`'s `clone`"]);
    assert_eq!(flagged("use crate::storage::{Change, ClientStore};"), ["names the storage trait `ClientStore`"]);
    assert_eq!(flagged("async fn f(store: &dyn Store) {}"), ["names the storage trait `Store`"]);
    for fine in [
        "app.core.clients().list().await?",
        "let (core, id) = (state.core.clone(), id.clone());",
        "Err(StoreError::NotFound) => {}",
        "CoreError::Store(e) => e.into(),",
        "// app.store.find_client(&id)",
        "let m = \"store.find_client(x)\";",
        "this.read.store(true, Ordering::Release);",
        "let c = '\"'; let d = app.core.as_ref();",
        "let s = r#\"a \" store.find_client(x) \"#; let t = r\"store.x()\";",
    ] {
        assert_eq!(flagged(fine), Vec::<String>::new(), "{fine}");
    }
}

/// What `src/sandbox/` must never name: tessera's insides.
const NOT_FOR_THE_SANDBOX: &[&str] = &["storage", "service", "http", "console"];

/// The sandbox retailer is a client of tessera's connector API and nothing else: what it does,
/// an operator's own connector can do the same way, over HTTP. So `src/sandbox/` names none
/// of tessera's insides; of the crate it uses plain domain types at most.
#[test]
fn the_sandbox_uses_only_the_connector_api() {
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    sources(&src.join("sandbox"), &mut files);
    assert!(files.len() >= 4, "the scan found the sandbox's files: {files:?}");
    let mut violations = Vec::new();
    for file in &files {
        let relative = file.strip_prefix(&src).expect("under src").display().to_string();
        for used in uses(&std::fs::read_to_string(file).expect("read")) {
            if NOT_FOR_THE_SANDBOX.contains(&used.as_str()) || !matches!(used.as_str(), "domain" | "sandbox") {
                violations.push(format!("{relative} uses crate::{used}"));
            }
        }
    }
    assert!(violations.is_empty(), "the sandbox reaches into tessera:\n{}", violations.join("\n"));
}
