//! `tessera key ...`: create, list and revoke API keys.
use clap::Subcommand;
use serde_json::json;

use crate::config::DatabaseArgs;
use crate::domain::ids::{ApiKeyId, ClientId};
use crate::service::{Actor, CoreError};
use crate::token::clock::{Clock as _, SystemClock};

#[derive(Subcommand, Debug)]
pub enum KeyCommand {
    /// Create an API key for a client; prints the key once. Store it now: it cannot be shown again.
    Create {
        /// The client the key belongs to.
        #[arg(long)]
        client: String,
        /// Print JSON: {"key_id": ..., "api_key": ...}.
        #[arg(long)]
        json: bool,
    },
    /// List a client's keys (ids and dates; never the secrets).
    List {
        /// The client whose keys to list.
        #[arg(long)]
        client: String,
        /// Print JSON, times in Unix seconds (text output shows them as RFC 3339, UTC).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a key: it stops working at once, on every replica.
    Revoke {
        /// The key's id (as shown by `key list`), or the whole key `tsk_<id>_<secret>`: only
        /// its id is used, and the secret is never printed.
        key_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(db: &DatabaseArgs, cmd: KeyCommand) -> anyhow::Result<()> {
    let core = super::shared::open_core(db).await?;
    let now = SystemClock.now();
    match cmd {
        KeyCommand::Create { client, json } => {
            let client_id = ClientId::from_string(client);
            let (record, key) = match core.keys().create(Actor::CommandLine, &client_id, now).await {
                Err(CoreError::NotFound(m)) => {
                    anyhow::bail!("{m}: create one with `tessera client create --name NAME`")
                }
                other => other?,
            };
            let id = record.id;
            super::shared::output(json, &json!({"key_id": id, "api_key": key.expose()}), || {
                format!("key id:  {id}\napi key: {}\n(shown once: store it now)", key.expose())
            });
        }
        KeyCommand::List { client, json } => {
            let keys = core.keys().list(&ClientId::from_string(client)).await?;
            let rows: Vec<_> = keys
                .iter()
                .map(|k| json!({"key_id": k.id, "created_at": k.created_at, "revoked_at": k.revoked_at}))
                .collect();
            super::shared::output(json, &json!(rows), || {
                keys.iter()
                    .map(|k| match k.revoked_at {
                        Some(at) => format!(
                            "{}  created {}  revoked {}",
                            k.id,
                            super::shared::rfc3339(k.created_at),
                            super::shared::rfc3339(at)
                        ),
                        None => format!("{}  created {}  active", k.id, super::shared::rfc3339(k.created_at)),
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        KeyCommand::Revoke { key_id, json } => {
            // A pasted key names its id; only the id is used, and never echoed with its secret.
            let id = ApiKeyId::from_string(super::shared::id_of_pasted(&key_id, crate::auth::api_key::PREFIX));
            let rec = core.keys().revoke(Actor::CommandLine, None, &id, now).await?;
            super::shared::output(json, &json!({"key_id": rec.id, "revoked_at": rec.revoked_at}), || {
                format!("revoked {}", rec.id)
            });
        }
    }
    Ok(())
}
