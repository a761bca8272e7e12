//! `tessera operator ...`: the people who use the operator console (not clients).
use std::io::Read as _;
use std::net::SocketAddr;

use clap::Subcommand;
use serde_json::json;

use crate::auth::operator::hash_password;
use crate::config::{ConsoleArgs, DatabaseArgs, Place, console_base_url, parse_bind};
use crate::token::clock::{Clock as _, SystemClock};

/// Where the console is, for the sign-in link printed: the server's settings, read from the
/// same flags and variables as `serve` (one environment file serves both).
#[derive(clap::Args, Clone, Debug)]
pub struct Where {
    /// The server's --bind (the console is at /console there unless --console-listen or the
    /// admin listener moves it).
    #[arg(long, env = "TESSERA_BIND", default_value = "127.0.0.1:8080", value_parser = parse_bind)]
    pub bind: SocketAddr,
    /// The server's --public-url: a console on the main listener is at its /console.
    #[arg(long, env = "TESSERA_PUBLIC_URL", value_parser = crate::config::parse_public_url)]
    pub public_url: Option<String>,
    /// The server's --admin-bind.
    #[arg(long, env = "TESSERA_ADMIN_BIND", value_parser = parse_bind)]
    pub admin_bind: Option<SocketAddr>,
    /// The server's --tls-cert (set: the link is https).
    #[arg(long, env = "TESSERA_TLS_CERT", hide = true)]
    pub tls_cert: Option<std::path::PathBuf>,
    #[command(flatten)]
    pub console: ConsoleArgs,
}

#[derive(Subcommand, Debug)]
pub enum OperatorCommand {
    /// Create an operator; prints a one-time sign-in link for the console (valid for an hour).
    Create {
        /// The operator's name (what they sign in with).
        name: String,
        /// Also set a password, read from standard input (at least 12 characters); without it
        /// the operator signs in with links (`tessera operator link NAME`).
        #[arg(long)]
        password_stdin: bool,
        #[command(flatten)]
        place: Where,
        /// Print JSON: {"operator_id": ..., "name": ..., "sign_in_url": ...}.
        #[arg(long)]
        json: bool,
    },
    /// Print a new one-time sign-in link for an operator (valid for an hour; replaces any other).
    Link {
        name: String,
        #[command(flatten)]
        place: Where,
        /// Print JSON: {"name": ..., "sign_in_url": ...}.
        #[arg(long)]
        json: bool,
    },
    /// List operators (names and dates; never passwords).
    List {
        /// Print JSON, times in Unix seconds.
        #[arg(long)]
        json: bool,
    },
    /// Remove an operator; their console sessions end at once.
    Remove {
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

/// Where the console takes a new one-time sign-in link's `secret`.
fn sign_in_url(secret: &str, place: &Where) -> String {
    let (on_main, listening) = match crate::config::place(place.bind, place.console.console_listen, place.admin_bind) {
        Place::Main => (true, place.bind),
        Place::Own(addr) | Place::Admin(addr) => (false, addr),
    };
    let public_url = place.public_url.as_deref();
    let base = console_base_url(&place.console, public_url, on_main, listening, place.tls_cert.is_some());
    format!("{base}/sign-in/link?token={secret}")
}

pub(crate) async fn run(db: &DatabaseArgs, cmd: OperatorCommand) -> anyhow::Result<()> {
    let core = super::shared::open_core(db).await?;
    match cmd {
        OperatorCommand::Create { name, password_stdin, place, json } => {
            let password_hash = if password_stdin {
                let mut password = zeroize::Zeroizing::new(String::new());
                std::io::stdin().read_to_string(&mut password)?;
                let password = password.trim_end_matches(['\n', '\r']);
                Some(hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?)
            } else {
                None
            };
            let now = SystemClock.now();
            let operator = core.operators().create(&name, password_hash, now).await?;
            let url = sign_in_url(&core.operators().new_sign_in_link(&operator, now).await?, &place);
            let name = &operator.name;
            super::shared::output(json, &json!({"operator_id": operator.id, "name": name, "sign_in_url": url}), || {
                format!(
                    "created operator {name}\nsign in to the console (one-time link, valid for an hour):\n\n    {url}\n"
                )
            });
        }
        OperatorCommand::Link { name, place, json } => {
            let Some(operator) = core.operators().find_by_name(&name).await? else {
                anyhow::bail!("no operator {name:?} (see `tessera operator list`)");
            };
            let secret = core.operators().new_sign_in_link(&operator, SystemClock.now()).await?;
            let url = sign_in_url(&secret, &place);
            super::shared::output(json, &json!({"name": operator.name, "sign_in_url": url}), || {
                format!(
                    "sign in to the console as {} (one-time link, valid for an hour):\n\n    {url}\n",
                    operator.name
                )
            });
        }
        OperatorCommand::List { json } => {
            let all = core.operators().list().await?;
            let rows: Vec<_> = all
                .iter()
                .map(|o| json!({"operator_id": o.id, "name": o.name, "password": o.password_hash.is_some(), "created_at": o.created_at}))
                .collect();
            super::shared::output(json, &json!(rows), || {
                all.iter()
                    .map(|o| {
                        let how = if o.password_hash.is_some() { "password or link" } else { "link" };
                        format!(
                            "{}  {}  signs in with {how}  created {}",
                            o.id,
                            o.name,
                            super::shared::rfc3339(o.created_at)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        OperatorCommand::Remove { name, json } => {
            core.operators().remove(&name).await?;
            super::shared::output(json, &json!({"removed": name}), || format!("removed operator {name}"));
        }
    }
    Ok(())
}
