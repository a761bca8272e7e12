//! The command line: one file per command, each with its options and a `run`.
use clap::{Parser, Subcommand};

use crate::config::DatabaseArgs;

pub mod client;
pub mod config_file;
pub mod connector;
pub mod key;
pub mod migrate;
pub mod serve;
pub mod signing_key;
pub mod token;

/// tessera: Subtotal-compatible connection tokens on your own infrastructure.
#[derive(Parser, Debug)]
#[command(name = "tessera", version, about, long_about = None)]
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
    Serve(Box<crate::config::ServeConfig>),
    /// Apply database migrations and exit.
    Migrate,
    /// Manage clients (tenants).
    #[command(subcommand)]
    Client(client::ClientCommand),
    /// Manage API keys.
    #[command(subcommand)]
    Key(key::KeyCommand),
    /// Manage the connector service's credentials.
    #[command(subcommand)]
    Connector(connector::ConnectorCommand),
    /// Manage the signing keyring.
    #[command(subcommand, name = "signing-key")]
    SigningKey(signing_key::SigningKeyCommand),
    /// Work with connection tokens.
    #[command(subcommand)]
    Token(token::TokenCommand),
    /// The configuration file.
    #[command(subcommand)]
    Config(ConfigCommand),
}

#[derive(Subcommand, Debug)]
pub enum ConfigCommand {
    /// Print a documented example configuration file with every key and its default.
    Example,
}

/// Parses the command line, with the configuration file's settings layered underneath.
pub fn parse(argv: Vec<std::ffi::OsString>) -> anyhow::Result<Cli> {
    use clap::Parser as _;
    let argv = config_file::apply(argv)?;
    Ok(Cli::try_parse_from(argv).unwrap_or_else(|e| e.exit()))
}

/// Runs the parsed command.
pub async fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Token(cmd) => return token::run(cmd).await,
        Command::Config(ConfigCommand::Example) => {
            print!("{}", config_file::example());
            return Ok(());
        }
        _ => {}
    }
    crate::config::check_database_url(&cli.db.database_url)?;
    match cli.command {
        Command::Serve(config) => serve::run(&cli.db, *config).await,
        Command::Migrate => migrate::run(&cli.db).await,
        Command::Client(cmd) => client::run(&cli.db, cmd).await,
        Command::Key(cmd) => key::run(&cli.db, cmd).await,
        Command::SigningKey(cmd) => signing_key::run(&cli.db, cmd).await,
        Command::Connector(cmd) => connector::run(&cli.db, cmd).await,
        Command::Token(_) | Command::Config(_) => unreachable!("handled above"),
    }
}

/// Opens the store named by the database arguments, with the URL's password masked in
/// errors. Only `serve` and `migrate` create a missing database; every other command refuses one.
pub async fn open_store(db: &DatabaseArgs, create: bool) -> anyhow::Result<std::sync::Arc<dyn crate::storage::Store>> {
    crate::storage::connect_with(db.database_url.expose(), &crate::storage::DbOptions { create, ..db.options() })
        .await
        .map_err(|e| anyhow::Error::new(e).context(format!("database {}", db.database_url)))
}

/// Prints `value` as JSON, or `text` for people.
pub fn output(json: bool, value: &serde_json::Value, text: impl FnOnce() -> String) {
    if json {
        println!("{value}");
    } else {
        println!("{}", text());
    }
}
