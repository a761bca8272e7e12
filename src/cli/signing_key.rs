//! `tessera signing-key ...`: list and rotate the keys that sign tokens.
use clap::Subcommand;
use serde_json::json;

use crate::config::{DatabaseArgs, KekArgs};
use crate::token::clock::{Clock as _, SystemClock};
use crate::token::keyring::{Algorithm, Keyring};

#[derive(Subcommand, Debug)]
pub enum SigningKeyCommand {
    /// Schedule a new signing key: published in the JWKS now, signing after --prepublish
    /// seconds, when the current key retires (it stays published until its tokens expire).
    Rotate {
        /// Algorithm of the key to rotate.
        #[arg(long, env = "TESSERA_ALGORITHM", default_value = "EdDSA", value_parser = |s: &str| s.parse::<Algorithm>())]
        algorithm: Algorithm,
        /// Seconds the new key is published before it signs (as --key-prepublish for serve).
        #[arg(long, env = "TESSERA_KEY_PREPUBLISH", default_value_t = 600)]
        prepublish: u32,
        /// Activate the new key at once (for a compromised key). Verifiers holding a cached
        /// JWKS will refuse new tokens until they refetch it.
        #[arg(long)]
        immediately: bool,
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
    let store = super::open_store(db, false).await?;
    match cmd {
        SigningKeyCommand::Rotate { algorithm, prepublish, immediately, kek, json } => {
            let (kek, _) = kek.resolve(&db.database_url)?;
            let now = SystemClock.now();
            let (kid, activates_at) = if immediately {
                (Keyring::rotate_now(store.as_ref(), &kek, algorithm, now).await?, now)
            } else {
                Keyring::schedule(store.as_ref(), &kek, algorithm, now, i64::from(prepublish)).await?.ok_or_else(
                    || anyhow::anyhow!("a new {algorithm} key is already scheduled (see `signing-key list`)"),
                )?
            };
            super::output(
                json,
                &json!({"kid": kid, "alg": algorithm.jws_name(), "activates_at": activates_at}),
                || format!("new {algorithm} key {kid}: published now, signing from {activates_at} (unix time)"),
            );
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
                    .map(|k| {
                        format!(
                            "{}  {:5}  {:7}  created {}  activates {}  retired {}",
                            k.kid,
                            k.alg,
                            k.state,
                            k.created_at,
                            k.activated_at.map_or("-".into(), |t| t.to_string()),
                            k.retired_at.map_or("-".into(), |t| t.to_string())
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
