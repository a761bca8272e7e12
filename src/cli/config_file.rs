//! The configuration file: TOML, layered under environment variables and flags.
//!
//! Settings sit in one section per group of `tessera serve --help` (see
//! [`crate::config::SECTIONS`]): `[tokens]` holds `ttl = 900`. Inside a section a setting is
//! named as its field, less the section's prefix (`token_ttl` is `ttl` in `[tokens]`,
//! `oauth_issuers` is `issuers` in `[oauth]`, `--console` is `enabled` in `[console]`). A
//! setting may also be written at the top of the file as its flag with `_` for `-`
//! (`token_ttl = 900`), as files did before there were sections; a setting given both ways
//! is refused. An option that may be repeated takes an array (`issuers = ["https://a", ...]`).
//!
//! A setting is applied only when neither its flag nor its environment variable is given,
//! so the order of precedence is: flags, then environment, then the file, then defaults.
//! Values are checked with the same parsers as the flags; an unknown section, an unknown key
//! or a bad value stops start-up with its name.
use std::ffi::OsString;
use std::fmt::Write as _;

use clap::{Arg, ArgAction, Command};

use crate::config::{SECTIONS, Section};

/// Options that never come from the file.
const NOT_IN_FILE: [&str; 4] = ["help", "version", "config", "json"];

/// One setting the file gives: its name as the file spells it, its option and its values.
struct Setting<'a> {
    name: String,
    arg: &'a Arg,
    values: Vec<String>,
}

/// `argv` with the configuration file's settings added as flags, when a file is named by
/// `--config` or `TESSERA_CONFIG`.
/// `cmd` is the whole command line's definition.
pub(crate) fn apply(argv: Vec<OsString>, cmd: &Command) -> anyhow::Result<Vec<OsString>> {
    let Some(path) = config_path(&argv) else {
        return Ok(argv);
    };
    let text = std::fs::read_to_string(&path).map_err(|e| anyhow::anyhow!("config file {path}: {e}"))?;
    let table: toml::Table = text.parse().map_err(|e| anyhow::anyhow!("config file {path}: {e}"))?;
    apply_table(argv, cmd, &table).map_err(|e| anyhow::anyhow!("config file {path}: {e}"))
}

/// `argv` with the settings of `table` (a parsed configuration file) added as flags.
fn apply_table(argv: Vec<OsString>, cmd: &Command, table: &toml::Table) -> anyhow::Result<Vec<OsString>> {
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
    let options = file_options(cmd);
    let mut extra = Vec::new();
    for setting in settings(table, &options)? {
        check(cmd, &setting)?;
        let id = setting.arg.get_id();
        let accepted = cmd.get_arguments().any(|a| a.get_id() == id)
            || current.is_some_and(|c| c.get_arguments().any(|a| a.get_id() == id));
        if accepted && !given_elsewhere(&argv, setting.arg) {
            let long = setting.arg.get_long().expect("options in the file have a long name");
            extra.extend(setting.values.iter().map(|v| OsString::from(format!("--{long}={v}"))));
        }
    }
    // After everything given: options are accepted anywhere after their subcommand.
    let mut out = argv;
    out.extend(extra);
    Ok(out)
}

/// Every option the file may set: the global ones and `serve`'s, each once.
fn file_options(cmd: &Command) -> Vec<&Arg> {
    let serve = cmd.find_subcommand("serve").expect("serve exists");
    let mut options: Vec<&Arg> = Vec::new();
    for arg in cmd.get_arguments().chain(serve.get_arguments()) {
        let in_file = arg.get_long().is_some_and(|long| !NOT_IN_FILE.contains(&long));
        if in_file && !options.iter().any(|a| a.get_id() == arg.get_id()) {
            options.push(arg);
        }
    }
    options
}

/// The section an option belongs to, by its `--help` heading; `None` for the top level.
fn section_of(arg: &Arg) -> Option<&'static Section> {
    let heading = arg.get_help_heading()?;
    SECTIONS.iter().find(|s| s.heading == heading)
}

/// An option's key inside its section (`ttl`), or at the top for one in no section.
fn nested_key(arg: &Arg) -> String {
    let id = arg.get_id().as_str();
    section_of(arg).map_or_else(|| flat_key(arg), |s| s.key(id).to_owned())
}

/// An option's key at the top of the file: its flag with `_` for `-` (`token_ttl`).
fn flat_key(arg: &Arg) -> String {
    arg.get_long().unwrap_or_default().replace('-', "_")
}

/// The file's settings, each matched to its option; an unknown name or one given twice is
/// refused.
fn settings<'a>(table: &toml::Table, options: &[&'a Arg]) -> anyhow::Result<Vec<Setting<'a>>> {
    let mut found: Vec<Setting<'a>> = Vec::new();
    for (key, value) in table {
        let setting = match value {
            toml::Value::Table(inner) => section_settings(key, inner, options)?,
            _ => {
                let arg = options.iter().find(|a| flat_key(a) == *key).ok_or_else(|| unknown(key))?;
                vec![Setting { name: key.clone(), arg, values: values(key, arg, value)? }]
            }
        };
        for s in setting {
            if let Some(twice) = found.iter().find(|f| f.arg.get_id() == s.arg.get_id()) {
                anyhow::bail!("`{}` and `{}` are the same setting: keep one", twice.name, s.name);
            }
            found.push(s);
        }
    }
    Ok(found)
}

/// The settings of the section `[name]`.
fn section_settings<'a>(name: &str, table: &toml::Table, options: &[&'a Arg]) -> anyhow::Result<Vec<Setting<'a>>> {
    let section = SECTIONS
        .iter()
        .find(|s| s.name == name)
        .ok_or_else(|| anyhow::anyhow!("unknown section `[{name}]` (see `tessera config example`)"))?;
    let mut found = Vec::new();
    for (key, value) in table {
        let full = format!("{name}.{key}");
        let arg = options
            .iter()
            .find(|a| section_of(a).is_some_and(|s| s.name == section.name) && nested_key(a) == *key)
            .ok_or_else(|| unknown(&full))?;
        found.push(Setting { values: values(&full, arg, value)?, name: full, arg });
    }
    Ok(found)
}

fn unknown(name: &str) -> anyhow::Error {
    anyhow::anyhow!("unknown key `{name}` (see `tessera config example`)")
}

/// A setting's value as flag values: a scalar, or an array for an option that repeats.
fn values(name: &str, arg: &Arg, value: &toml::Value) -> anyhow::Result<Vec<String>> {
    match value {
        toml::Value::Array(items) if matches!(arg.get_action(), ArgAction::Append) => {
            items.iter().map(|v| scalar(v).ok_or_else(|| not_a_value(name, arg))).collect()
        }
        _ => scalar(value).map(|v| vec![v]).ok_or_else(|| not_a_value(name, arg)),
    }
}

fn not_a_value(name: &str, arg: &Arg) -> anyhow::Error {
    match arg.get_action() {
        ArgAction::Append => anyhow::anyhow!("`{name}` must be a string, a number or an array of them"),
        _ => anyhow::anyhow!("`{name}` must be a string or a number"),
    }
}

fn scalar(value: &toml::Value) -> Option<String> {
    match value {
        toml::Value::String(s) => Some(s.clone()),
        toml::Value::Integer(i) => Some(i.to_string()),
        toml::Value::Float(f) => Some(f.to_string()),
        toml::Value::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

/// Checks a setting with its flag's own parser, so the file and the flag accept the same
/// values; without the environment, whose own bad values are not this key's (clap reports
/// those, naming their variables, once the file is applied).
fn check(cmd: &Command, setting: &Setting<'_>) -> anyhow::Result<()> {
    let long = setting.arg.get_long().expect("options in the file have a long name");
    let mut probe = vec!["tessera".to_owned(), "serve".to_owned()];
    probe.extend(setting.values.iter().map(|v| format!("--{long}={v}")));
    if let Err(e) = without_env(cmd.clone()).try_get_matches_from(probe) {
        let reason = e.to_string();
        let reason = reason.lines().next().unwrap_or_default().trim_start_matches("error: ");
        anyhow::bail!("`{}`: {reason}", setting.name);
    }
    Ok(())
}

/// Whether an option is given as a flag or through its environment variable.
fn given_elsewhere(argv: &[OsString], arg: &Arg) -> bool {
    let long = arg.get_long().unwrap_or_default();
    let given_as_flag = argv.iter().any(|a| {
        let a = a.to_string_lossy();
        a == format!("--{long}") || a.starts_with(&format!("--{long}="))
    });
    given_as_flag || arg.get_env().is_some_and(|name| std::env::var_os(name).is_some())
}

/// `cmd` with no argument read from the environment.
fn without_env(cmd: Command) -> Command {
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

/// A documented example file: every key `serve` accepts, in its section, with its help,
/// variable and default.
pub(crate) fn example(cmd: &Command) -> String {
    let options = file_options(cmd);
    let mut out = String::from(
        "# tessera configuration file (TOML). Use with `tessera --config FILE serve`\n\
         # or TESSERA_CONFIG=FILE. Flags and environment variables override it.\n\
         # One section per heading of `tessera serve --help`. A setting may also be written\n\
         # at the top, named as its flag with `_` for `-` (`token_ttl = 900`).\n",
    );
    for arg in options.iter().filter(|a| section_of(a).is_none()) {
        document(&mut out, arg);
    }
    for section in SECTIONS {
        let _ = write!(out, "\n[{}]\n", section.name);
        for arg in options.iter().filter(|a| section_of(a).is_some_and(|s| s.name == section.name)) {
            document(&mut out, arg);
        }
    }
    out
}

/// One option in the example: its help, variable and default, commented out.
fn document(out: &mut String, arg: &Arg) {
    let key = nested_key(arg);
    let help = arg.get_help().map(|h| h.to_string()).unwrap_or_default();
    let _ = writeln!(out);
    for line in help.lines() {
        let _ = writeln!(out, "# {line}");
    }
    let _ = writeln!(out, "# Flag: --{}", arg.get_long().unwrap_or_default());
    if let Some(env) = arg.get_env() {
        let _ = writeln!(out, "# Environment: {}", env.to_string_lossy());
    }
    // Every `#key = value` line, uncommented, is a valid setting; a key with no default
    // has no such line (an empty value is not a valid address, token or KEK).
    match arg.get_default_values().first() {
        Some(d) => {
            let d = d.to_string_lossy();
            let literal =
                if d.parse::<i64>().is_ok() || d == "true" || d == "false" { d.into_owned() } else { format!("{d:?}") };
            let _ = writeln!(out, "#{key} = {literal}");
        }
        None => {
            let _ = writeln!(out, "# No default: {key} is unset unless a line sets it here.");
        }
    }
}

#[cfg(test)]
mod tests {
    use std::ffi::OsString;

    use super::{apply_table, file_options, nested_key, section_of};
    use crate::cli::{Cli, Command};
    use crate::config::{DatabaseArgs, ServeConfig};

    /// `tessera serve ARGS` with `file` as the configuration file.
    fn serve(file: &str, args: &[&str]) -> anyhow::Result<(DatabaseArgs, ServeConfig)> {
        let cmd = <Cli as clap::CommandFactory>::command();
        let argv: Vec<OsString> = ["tessera", "serve"].iter().chain(args).map(OsString::from).collect();
        let argv = apply_table(argv, &cmd, &file.parse()?)?;
        let cli = <Cli as clap::Parser>::try_parse_from(argv)?;
        match cli.command {
            Command::Serve(config) => Ok((cli.db, *config)),
            _ => anyhow::bail!("not serve"),
        }
    }

    fn refused(file: &str) -> String {
        serve(file, &[]).expect_err(file).to_string()
    }

    #[test]
    fn settings_in_sections_are_applied() {
        let file = "[tokens]\nttl = 120\nissuer = \"from-file\"\n\n[webhooks]\ntimeout = 20\n\n\
                    [oauth]\nissuers = [\"https://a.example\", \"https://b.example\"]\n\n\
                    [console]\nenabled = false\nidle_timeout = 600\n\n[database]\npool_size = 3\n";
        let (db, config) = serve(file, &[]).expect("applied");
        assert_eq!((config.tokens.token_ttl, config.tokens.issuer.as_str()), (120, "from-file"));
        assert_eq!(config.webhooks.webhook_timeout, 20);
        assert_eq!(config.oauth.oauth_issuers, ["https://a.example", "https://b.example"]);
        assert_eq!((config.console.enabled, config.console.console_idle_timeout), (false, 600));
        assert_eq!(db.db_pool_size, 3);
    }

    #[test]
    fn settings_named_as_flags_at_the_top_still_apply() {
        let file = "token_ttl = 120\nwebhook_timeout = 20\nconsole = false\noauth_issuer = \"https://a.example\"\n\
                    db_pool_size = 3\nlog_format = \"json\"\n";
        let (db, config) = serve(file, &[]).expect("applied");
        assert_eq!(config.tokens.token_ttl, 120);
        assert_eq!(config.webhooks.webhook_timeout, 20);
        assert!(!config.console.enabled);
        assert_eq!(config.oauth.oauth_issuers, ["https://a.example"]);
        assert_eq!(db.db_pool_size, 3);
        assert_eq!(config.log_format, crate::telemetry::LogFormat::Json);
    }

    #[test]
    fn an_unknown_section_or_key_is_refused_with_its_name() {
        assert!(refused("[tokenz]\nttl = 120\n").contains("unknown section `[tokenz]`"));
        assert!(refused("[tokens]\nttll = 120\n").contains("unknown key `tokens.ttll`"));
        assert!(refused("[tokens]\ntoken_ttl = 120\n").contains("unknown key `tokens.token_ttl`"));
        assert!(refused("[webhooks]\nttl = 120\n").contains("unknown key `webhooks.ttl`"));
        assert!(refused("token_tll = 120\n").contains("unknown key `token_tll`"));
        assert!(refused("[tokens]\nttl = 5\n").contains("`tokens.ttl`: invalid value"));
        assert!(refused("[tokens]\nttl = [120]\n").contains("`tokens.ttl` must be a string or a number"));
        let twice = refused("token_ttl = 120\n[tokens]\nttl = 300\n");
        assert!(twice.contains("`token_ttl`") && twice.contains("`tokens.ttl`"), "{twice}");
    }

    #[test]
    fn flags_win_over_the_file() {
        let file = "[tokens]\nttl = 120\nissuer = \"from-file\"\n[oauth]\nissuers = [\"https://a.example\"]\n";
        let args = ["--token-ttl", "600", "--issuer=from-flag", "--oauth-issuer", "https://flag.example"];
        let (_, config) = serve(file, &args).expect("applied");
        assert_eq!((config.tokens.token_ttl, config.tokens.issuer.as_str()), (600, "from-flag"));
        assert_eq!(config.oauth.oauth_issuers, ["https://flag.example"]);
    }

    #[test]
    fn every_option_has_one_place_in_the_file() {
        let cmd = <Cli as clap::CommandFactory>::command();
        let options = file_options(&cmd);
        assert!(options.len() > 60, "{}", options.len());
        let mut places = std::collections::BTreeSet::new();
        for arg in options {
            let heading = arg.get_help_heading();
            assert_eq!(heading.is_some(), section_of(arg).is_some(), "{:?} has a section", arg.get_id());
            let place = (section_of(arg).map(|s| s.name), nested_key(arg));
            assert!(places.insert(place.clone()), "{place:?} names two options");
        }
        assert!(places.contains(&(Some("tokens"), "ttl".to_owned())));
        assert!(places.contains(&(Some("oauth"), "issuers".to_owned())));
        assert!(places.contains(&(None, "log_format".to_owned())));
    }
}
