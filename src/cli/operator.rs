//! `tessera operator ...`: the people who use the operator console (not clients).
use std::io::Read as _;
use std::net::SocketAddr;

use clap::Subcommand;
use serde_json::json;

use crate::auth::operator::{digest, hash_password, new_secret};
use crate::config::{ConsoleArgs, DatabaseArgs, parse_bind};
use crate::domain::ids::OperatorId;
use crate::domain::operator::Operator;
use crate::storage::{Store, StoreError};
use crate::token::clock::{Clock as _, SystemClock};

/// Where the console is, for the sign-in link printed.
#[derive(clap::Args, Clone, Debug)]
pub struct Where {
    /// The server's --bind (the console is at /console there unless --console-listen moves it).
    #[arg(long, env = "TESSERA_BIND", default_value = "127.0.0.1:8080", value_parser = parse_bind)]
    pub bind: SocketAddr,
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

/// Makes a one-time sign-in link for `operator`: only its digest is stored.
async fn sign_in_url(store: &dyn Store, operator: &Operator, place: &Where) -> anyhow::Result<String> {
    let secret = new_secret();
    let expires = SystemClock.now() + crate::console::LINK_LIFETIME_SECS;
    store.set_sign_in_link(&operator.id, &digest(&secret), expires).await?;
    let listening = place.console.console_listen.unwrap_or(place.bind);
    Ok(format!("{}/sign-in/link?token={secret}", place.console.base_url(listening)))
}

pub async fn run(db: &DatabaseArgs, cmd: OperatorCommand) -> anyhow::Result<()> {
    let store = super::open_store(db, false).await?;
    match cmd {
        OperatorCommand::Create { name, password_stdin, place, json } => {
            let name = name.trim().to_owned();
            if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
                anyhow::bail!("an operator's name must be 1 to 100 characters, none of them control characters");
            }
            let password_hash = if password_stdin {
                let mut password = zeroize::Zeroizing::new(String::new());
                std::io::stdin().read_to_string(&mut password)?;
                let password = password.trim_end_matches(['\n', '\r']);
                Some(hash_password(password).map_err(|e| anyhow::anyhow!("{e}"))?)
            } else {
                None
            };
            let operator = Operator {
                id: OperatorId::generate(),
                name: name.clone(),
                password_hash,
                created_at: SystemClock.now(),
            };
            match store.create_operator(&operator).await {
                Err(StoreError::Conflict(_)) => anyhow::bail!("an operator named {name:?} exists already"),
                other => other?,
            }
            let url = sign_in_url(store.as_ref(), &operator, &place).await?;
            super::output(json, &json!({"operator_id": operator.id, "name": name, "sign_in_url": url}), || {
                format!(
                    "created operator {name}\nsign in to the console (one-time link, valid for an hour):\n\n    {url}\n"
                )
            });
        }
        OperatorCommand::Link { name, place, json } => {
            let Some(operator) = store.find_operator_by_name(name.trim()).await? else {
                anyhow::bail!("no operator {name:?} (see `tessera operator list`)");
            };
            let url = sign_in_url(store.as_ref(), &operator, &place).await?;
            super::output(json, &json!({"name": operator.name, "sign_in_url": url}), || {
                format!(
                    "sign in to the console as {} (one-time link, valid for an hour):\n\n    {url}\n",
                    operator.name
                )
            });
        }
        OperatorCommand::List { json } => {
            let all = store.list_operators().await?;
            let rows: Vec<_> = all
                .iter()
                .map(|o| json!({"operator_id": o.id, "name": o.name, "password": o.password_hash.is_some(), "created_at": o.created_at}))
                .collect();
            super::output(json, &json!(rows), || {
                all.iter()
                    .map(|o| {
                        let how = if o.password_hash.is_some() { "password or link" } else { "link" };
                        format!("{}  {}  signs in with {how}  created {}", o.id, o.name, super::rfc3339(o.created_at))
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        OperatorCommand::Remove { name, json } => {
            if !store.remove_operator(name.trim()).await? {
                anyhow::bail!("no operator {name:?} (see `tessera operator list`)");
            }
            super::output(json, &json!({"removed": name}), || format!("removed operator {name}"));
        }
    }
    Ok(())
}
