//! `tessera connector ...`: credentials for the operator's connector service, which moves
//! connections through their statuses (see `PUT /connector/connections/{id}/status`).
use clap::Subcommand;
use serde_json::json;

use crate::config::DatabaseArgs;
use crate::domain::ids::ConnectorId;
use crate::service::{Actor, CoreError};
use crate::token::clock::{Clock as _, SystemClock};

#[derive(Subcommand, Debug)]
pub enum ConnectorCommand {
    /// Create a connector credential; prints it once. Store it now: it cannot be shown again.
    Create {
        /// A name for people to recognise the connector by.
        #[arg(long)]
        name: String,
        /// Print JSON: {"connector_id": ..., "credential": ...}.
        #[arg(long)]
        json: bool,
    },
    /// List connector credentials (ids, names and dates; never the secrets).
    List {
        /// Print JSON, times in Unix seconds (text output shows them as RFC 3339, UTC).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a connector credential: it stops working at once, on every replica.
    Revoke {
        /// The credential's id (as shown by `connector list`), or the whole credential
        /// `tsc_<id>_<secret>`: only its id is used, and the secret is never printed.
        connector_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(db: &DatabaseArgs, cmd: ConnectorCommand) -> anyhow::Result<()> {
    let core = super::shared::open_core(db).await?;
    let now = SystemClock.now();
    match cmd {
        ConnectorCommand::Create { name, json } => {
            let (record, credential) =
                core.connectors().create(Actor::CommandLine, &name, now).await.map_err(|e| match e {
                    CoreError::Invalid(m) => anyhow::anyhow!("--name: {m}"),
                    other => other.into(),
                })?;
            let id = record.id;
            super::shared::output(json, &json!({"connector_id": id, "credential": credential.expose()}), || {
                format!("connector id: {id}\ncredential:   {}\n(shown once: store it now)", credential.expose())
            });
        }
        ConnectorCommand::List { json } => {
            let all = core.connectors().list().await?;
            let rows: Vec<_> = all
                .iter()
                .map(|c| json!({"connector_id": c.id, "name": c.name, "created_at": c.created_at, "revoked_at": c.revoked_at}))
                .collect();
            super::shared::output(json, &json!(rows), || {
                all.iter()
                    .map(|c| match c.revoked_at {
                        Some(at) => format!(
                            "{}  {}  created {}  revoked {}",
                            c.id,
                            c.name,
                            super::shared::rfc3339(c.created_at),
                            super::shared::rfc3339(at)
                        ),
                        None => {
                            format!("{}  {}  created {}  active", c.id, c.name, super::shared::rfc3339(c.created_at))
                        }
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        ConnectorCommand::Revoke { connector_id, json } => {
            // A pasted credential names its id; only the id is used, and never echoed whole.
            let id = ConnectorId::from_string(super::shared::id_of_pasted(
                &connector_id,
                crate::auth::api_key::CONNECTOR_PREFIX,
            ));
            let rec = core.connectors().revoke(Actor::CommandLine, &id, now).await?;
            super::shared::output(json, &json!({"connector_id": rec.id, "revoked_at": rec.revoked_at}), || {
                format!("revoked {}", rec.id)
            });
        }
    }
    Ok(())
}
