//! `tessera signing-key ...`: list and rotate the keys that sign tokens.
use clap::Subcommand;
use serde_json::json;

use crate::config::{DatabaseArgs, KekArgs};
use crate::token::clock::{Clock as _, SystemClock};
use crate::token::keyring::{Algorithm, Keyring};

#[derive(Subcommand, Debug)]
pub enum SigningKeyCommand {
    /// Retire the active signing key and activate a new one. Running servers pick it up
    /// within their key refresh interval.
    Rotate {
        /// Algorithm of the key to rotate.
        #[arg(long, env = "TESSERA_ALGORITHM", default_value = "EdDSA", value_parser = |s: &str| s.parse::<Algorithm>())]
        algorithm: Algorithm,
        #[command(flatten)]
        kek: KekArgs,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Show the keyring: ids, algorithms, states and dates (never key material).
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(db: &DatabaseArgs, cmd: SigningKeyCommand) -> anyhow::Result<()> {
    let store = super::open_store(db).await?;
    match cmd {
        SigningKeyCommand::Rotate { algorithm, kek, json } => {
            let (kek, _) = kek.resolve(&db.database_url)?;
            let kid = Keyring::rotate(store.as_ref(), &kek, algorithm, SystemClock.now()).await?;
            super::output(json, &json!({"kid": kid, "alg": algorithm.jws_name()}), || {
                format!("new active {algorithm} key {kid}")
            });
        }
        SigningKeyCommand::List { json } => {
            let keys = store.signing_keys().await?;
            let rows: Vec<_> = keys
                .iter()
                .map(|k| {
                    json!({"kid": k.kid, "alg": k.alg, "state": k.state, "created_at": k.created_at,
                           "activated_at": k.activated_at, "retired_at": k.retired_at})
                })
                .collect();
            super::output(json, &json!(rows), || {
                keys.iter()
                    .map(|k| format!("{}  {:5}  {:7}  created {}", k.kid, k.alg, k.state, k.created_at))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
