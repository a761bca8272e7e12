//! The configuration file: TOML, layered under environment variables and flags.
//!
//! Its keys are the `serve` options with `_` for `-` (`token_ttl = 900`). A key is applied
//! only when neither its flag nor its environment variable is given, so the order of
//! precedence is: flags, then environment, then the file, then defaults. Values are checked
//! with the same parsers as the flags; an unknown key or a bad value stops start-up with the
//! key's name.
use std::ffi::OsString;
use std::fmt::Write as _;

/// Options that never come from the file.
const NOT_IN_FILE: [&str; 4] = ["help", "version", "config", "json"];

/// `argv` with the configuration file's settings added as flags, when a file is named by
/// `--config` or `TESSERA_CONFIG`.
/// `cmd` is the whole command line's definition.
pub fn apply(argv: Vec<OsString>, cmd: &clap::Command) -> anyhow::Result<Vec<OsString>> {
    let Some(path) = config_path(&argv) else {
        return Ok(argv);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("config file {path}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| anyhow::anyhow!("config file {path}: {e}"))?;
    let serve = cmd.find_subcommand("serve").expect("serve exists");
    // The subcommand as clap finds it (an option's value, such as the file's own name, is
    // never taken for one).
    let Some(sub_name) = cmd
        .clone()
        .ignore_errors(true)
        .try_get_matches_from(&argv)
        .ok()
        .and_then(|m| m.subcommand_name().map(str::to_owned))
    else {
        return Ok(argv);
    };
    let current = cmd.find_subcommand(&sub_name);

    let mut extra = Vec::new();
    for (key, value) in &table {
        let long = key.replace('_', "-");
        let arg = serve
            .get_arguments()
            .chain(cmd.get_arguments())
            .find(|a| a.get_long() == Some(long.as_str()) && !NOT_IN_FILE.contains(&long.as_str()))
            .ok_or_else(|| anyhow::anyhow!("config file {path}: unknown key `{key}` (see `tessera config example`)"))?;
        let value = match value {
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Float(f) => f.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => anyhow::bail!("config file {path}: `{key}` must be a string or a number"),
        };
        // Checked with the flag's own parser, so the file and the flag accept the same values;
        // without the environment, whose own bad values are not this key's (clap reports
        // those, naming their variables, once the file is applied).
        let probe = vec!["tessera".to_owned(), "serve".to_owned(), format!("--{long}={value}")];
        if let Err(e) = without_env(cmd.clone()).try_get_matches_from(probe) {
            let reason = e.to_string();
            let reason = reason.lines().next().unwrap_or_default().trim_start_matches("error: ");
            anyhow::bail!("config file {path}: `{key}`: {reason}");
        }
        let accepted = cmd.get_arguments().any(|a| a.get_id() == arg.get_id())
            || current.is_some_and(|c| c.get_arguments().any(|a| a.get_id() == arg.get_id()));
        let given_as_flag = argv.iter().any(|a| {
            let a = a.to_string_lossy();
            a == format!("--{long}") || a.starts_with(&format!("--{long}="))
        });
        let given_in_env = arg.get_env().is_some_and(|name| std::env::var_os(name).is_some());
        if accepted && !given_as_flag && !given_in_env {
            extra.push(OsString::from(format!("--{long}={value}")));
        }
    }
    // After everything given: options are accepted anywhere after their subcommand.
    let mut out = argv;
    out.extend(extra);
    Ok(out)
}

/// `cmd` with no argument read from the environment.
fn without_env(cmd: clap::Command) -> clap::Command {
    let cmd = cmd.mut_args(|a| a.env(None));
    let names: Vec<String> = cmd.get_subcommands().map(|s| s.get_name().to_owned()).collect();
    names.into_iter().fold(cmd, |cmd, name| cmd.mut_subcommand(name, without_env))
}

fn config_path(argv: &[OsString]) -> Option<String> {
    let mut it = argv.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(a) = it.next() {
        if a == "--config" {
            return it.next();
        }
        if let Some(v) = a.strip_prefix("--config=") {
            return Some(v.to_owned());
        }
    }
    std::env::var("TESSERA_CONFIG").ok().filter(|v| !v.is_empty())
}

/// A documented example file: every key `serve` accepts, with its help, variable and default.
pub fn example(cmd: &clap::Command) -> String {
    let serve = cmd.find_subcommand("serve").expect("serve exists");
    let mut out = String::from(
        "# tessera configuration file (TOML). Use with `tessera --config FILE serve`\n\
         # or TESSERA_CONFIG=FILE. Flags and environment variables override it.\n",
    );
    for arg in cmd.get_arguments().chain(serve.get_arguments()) {
        let Some(long) = arg.get_long() else { continue };
        if NOT_IN_FILE.contains(&long) {
            continue;
        }
        let key = long.replace('-', "_");
        let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
        let _ = writeln!(out);
        for line in help.lines() {
            let _ = writeln!(out, "# {line}");
        }
        if let Some(env) = arg.get_env() {
            let _ = writeln!(out, "# Environment: {}", env.to_string_lossy());
        }
        // Every `#key = value` line, uncommented, is a valid setting; a key with no default
        // has no such line (an empty value is not a valid address, token or KEK).
        match arg.get_default_values().first() {
            Some(d) => {
                let d = d.to_string_lossy();
                let literal = if d.parse::<i64>().is_ok() || d == "true" || d == "false" {
                    d.into_owned()
                } else {
                    format!("{d:?}")
                };
                let _ = writeln!(out, "#{key} = {literal}");
            }
            None => {
                let _ = writeln!(out, "# No default: {key} is unset unless a line sets it here.");
            }
        }
    }
    out
}
