//! The command line: one file per command, each with its options and a `run`.
use clap::{Parser, Subcommand};

use crate::config::DatabaseArgs;
use shared::say;

pub(crate) mod backup;
pub(crate) mod client;
pub(crate) mod config_file;
pub(crate) mod connector;
pub(crate) mod first_key;
pub(crate) mod key;
pub(crate) mod migrate;
pub(crate) mod operator;
pub(crate) mod partner;
pub(crate) mod redirect_url;
pub(crate) mod retailer;
pub(crate) mod sandbox;
pub(crate) mod serve;
pub(crate) mod shared;
pub(crate) mod signing_key;
pub(crate) mod token;

/// The release and the commit it was built from (`0.1.0 (commit 1a2b3c4)`), as `--version`
/// and the `tessera_build_info` metric give them.
pub const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), " (commit ", env!("TESSERA_COMMIT"), ")");

/// The commit tessera was built from (`git rev-parse --short HEAD`), or `unknown`.
pub const COMMIT: &str = env!("TESSERA_COMMIT");

/// tessera: Subtotal-compatible connection tokens on your own infrastructure.
#[derive(Parser, Debug)]
#[command(name = "tessera", version = VERSION, about, long_about = None)]
pub struct Cli {
    /// A TOML configuration file (see `tessera config example`); flags and environment
    /// variables override what it says.
    #[arg(long, env = "TESSERA_CONFIG", global = true)]
    pub config: Option<String>,

    #[command(flatten)]
    pub db: DatabaseArgs,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the HTTP server (creates a default client and API key on an empty database).
    #[command(next_line_help = true)]
    Serve(Box<crate::config::ServeConfig>),
    /// Apply database migrations and exit.
    Migrate,
    /// Copy a SQLite database to a new file while servers keep running (consistent, online);
    /// keep the key-encryption key with it.
    Backup(backup::BackupArgs),
    /// Restore a backup made by `tessera backup` to a new database file (refuses a backup
    /// made by a newer tessera).
    Restore(backup::RestoreArgs),
    /// Manage clients (tenants).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Allow partner apps (OAuth clients of a trusted authorization server) to act for clients.
    #[command(subcommand)]
    Partner(partner::PartnerCommand),
    /// Manage the connector service's credentials.
    #[command(subcommand)]
    Connector(connector::ConnectorCommand),
    /// Manage the retailer catalogue (GET /retailers, GET /merchants).
    #[command(subcommand)]
    Retailer(retailer::RetailerCommand),
    /// Manage the URLs Link may send a client's customers back to.
    #[command(subcommand)]
    RedirectUrl(redirect_url::RedirectUrlCommand),
    /// Manage operators: the people who use the console at /console.
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// Run the sandbox retailer: a pretend retailer and its connector, for trying Link end
    /// to end (a client of the connector API, like an operator's own connector).
    Sandbox(Box<sandbox::SandboxArgs>),
    /// Manage the signing keyring.
    #[command(subcommand, name = "signing-key")]
    SigningKey(signing_key::SigningKeyCommand),
    /// Work with connection tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
    /// Print a shell completion script (e.g. `tessera completions bash > /etc/bash_completion.d/tessera`).
    Completions {
        /// The shell to complete for.
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print tessera's manual page, every command included (`tessera man | man -l -`).
    Man,
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print a documented example configuration file with every key and its default.
    Example,
}

/// Parses the command line, with the configuration file's settings layered underneath.
pub fn parse(argv: Vec<std::ffi::OsString>) -> anyhow::Result<Cli> {
    use clap::Parser as _;
    let argv = config_file::apply(argv, &<Cli as clap::CommandFactory>::command())?;
    match Cli::try_parse_from(&argv) {
        Ok(cli) => Ok(cli),
        Err(e) => match from_environment(&e, &argv) {
            // clap names the flag; the value came from a variable, so say which.
            Some(var) => {
                let text = e.to_string();
                let reason = text.lines().next().unwrap_or_default().trim_start_matches("error: ");
                anyhow::bail!("environment variable {var}: {reason}")
            }
            None => e.exit(),
        },
    }
}

/// The environment variable a refused value came from: set, and its flag not given.
fn from_environment(e: &clap::Error, argv: &[std::ffi::OsString]) -> Option<String> {
    use clap::CommandFactory as _;
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(e.kind(), ErrorKind::InvalidValue | ErrorKind::ValueValidation) {
        return None;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else { return None };
    let long = arg.strip_prefix("--")?.split([' ', '=']).next()?.to_owned();
    let given = argv.iter().any(|a| {
        let a = a.to_string_lossy();
        a == format!("--{long}") || a.starts_with(&format!("--{long}="))
    });
    if given {
        return None;
    }
    fn find(cmd: &clap::Command, long: &str) -> Option<String> {
        cmd.get_arguments()
            .find(|a| a.get_long() == Some(long))
            .and_then(|a| a.get_env().map(|v| v.to_string_lossy().into_owned()))
            .or_else(|| cmd.get_subcommands().find_map(|s| find(s, long)))
    }
    find(&Cli::command(), &long).filter(|var| std::env::var_os(var).is_some())
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Token(cmd) => return token::run(cmd).await,
        // A client of tessera's API: it has no database of its own.
        Command::Sandbox(args) => return sandbox::run(*args).await,
        Command::Config(ConfigCommand::Example) => {
            say(&config_file::example(&<Cli as clap::CommandFactory>::command()));
            return Ok(());
        }
        Command::Completions { shell } => {
            say(&String::from_utf8(completions(shell))?);
            return Ok(());
        }
        Command::Man => {
            say(&String::from_utf8(man_page()?)?);
            return Ok(());
        }
        _ => {}
    }
    crate::config::check_database_url(&cli.db.database_url)?;
    match cli.command {
        Command::Serve(config) => serve::run(&cli.db, *config).await,
        Command::Migrate => migrate::run(&cli.db).await,
        Command::Backup(args) => backup::run_backup(&cli.db, args).await,
        Command::Restore(args) => backup::run_restore(&cli.db, args).await,
        Command::Client(cmd) => client::run(&cli.db, cmd).await,
        Command::Key(cmd) => key::run(&cli.db, cmd).await,
        Command::SigningKey(cmd) => signing_key::run(&cli.db, cmd).await,
        Command::Connector(cmd) => connector::run(&cli.db, cmd).await,
        Command::Partner(cmd) => partner::run(&cli.db, cmd).await,
        Command::Retailer(cmd) => retailer::run(&cli.db, cmd).await,
        Command::RedirectUrl(cmd) => redirect_url::run(&cli.db, cmd).await,
        Command::Operator(cmd) => operator::run(&cli.db, cmd).await,
        Command::Token(_) | Command::Sandbox(_) | Command::Config(_) | Command::Completions { .. } | Command::Man => {
            unreachable!("handled above")
        }
    }
}

/// A completion script for `shell`, from the command definitions.
pub fn completions(shell: clap_complete::Shell) -> Vec<u8> {
    use clap::CommandFactory as _;
    let mut out = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "tessera", &mut out);
    out
}

/// The manual page (roff): `tessera(1)` with a section for every command and subcommand.
pub fn man_page() -> std::io::Result<Vec<u8>> {
    use clap::CommandFactory as _;
    let cmd = Cli::command();
    let mut out = Vec::new();
    let man = clap_mangen::Man::new(cmd.clone());
    man.render_title(&mut out)?;
    man.render_name_section(&mut out)?;
    man.render_synopsis_section(&mut out)?;
    man.render_description_section(&mut out)?;
    man.render_options_section(&mut out)?;
    render_commands(&cmd, "tessera", &mut out)?;
    man.render_version_section(&mut out)?;
    Ok(out)
}

/// A section per command, and per subcommand under it, each with its options.
fn render_commands(cmd: &clap::Command, path: &str, out: &mut Vec<u8>) -> std::io::Result<()> {
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set() && s.get_name() != "help") {
        let name = format!("{path} {}", sub.get_name());
        let sub = sub.clone().bin_name(name.clone());
        let man = clap_mangen::Man::new(sub.clone());
        let heading = name.to_uppercase();
        out.extend_from_slice(format!(".SH \"{heading}\"\n").as_bytes());
        man.render_synopsis_section(out)?;
        man.render_description_section(out)?;
        man.render_options_section(out)?;
        render_commands(&sub, &name, out)?;
    }
    Ok(())
}
