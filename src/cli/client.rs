//! `tessera client ...`: create, list and rename tenants.
use clap::Subcommand;
use serde_json::json;

use crate::config::DatabaseArgs;
use crate::service::Actor;
use crate::token::clock::{Clock as _, SystemClock};

#[derive(Subcommand, Debug)]
pub enum ClientCommand {
    /// Create a client; prints its id.
    Create {
        /// A name for people to recognise the client by.
        #[arg(long)]
        name: String,
        /// Print JSON: {"client_id": ...}.
        #[arg(long)]
        json: bool,
    },
    /// Rename a client: the name its customers see on Link pages and operators see in the
    /// console. Recorded in the audit log (who: `command line`), old and new name.
    Rename {
        /// The client's id (`tessera client list` shows them).
        client_id: String,
        /// The new name: 1 to 200 characters, no control characters.
        #[arg(long)]
        name: String,
        /// Print JSON: {"client_id": ..., "name": ...}.
        #[arg(long)]
        json: bool,
    },
    /// List every client: ids, names and creation times.
    List {
        /// Print JSON: [{"client_id": ..., "name": ..., "created_at": ...}], times in Unix seconds
        /// (text output shows them as RFC 3339, UTC).
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(db: &DatabaseArgs, cmd: ClientCommand) -> anyhow::Result<()> {
    let core = super::shared::open_core(db).await?;
    match cmd {
        ClientCommand::Create { name, json } => {
            let client = core
                .clients()
                .create(Actor::CommandLine, &name, SystemClock.now())
                .await
                .map_err(|e| anyhow::anyhow!("--name: {e}"))?;
            super::shared::output(json, &json!({"client_id": client.id, "name": client.name}), || {
                format!("created client {} ({})", client.id, client.name)
            });
        }
        ClientCommand::Rename { client_id, name, json } => {
            let id = crate::domain::ids::ClientId::from_string(client_id.trim());
            let client = match core.clients().rename(Actor::CommandLine, &id, &name, SystemClock.now()).await {
                Err(crate::service::CoreError::Invalid(m)) => anyhow::bail!("--name: {m}"),
                Err(crate::service::CoreError::NotFound(_)) => {
                    anyhow::bail!("no client {id}: `tessera client list` shows the clients")
                }
                other => other?,
            };
            super::shared::output(json, &json!({"client_id": client.id, "name": client.name}), || {
                format!("renamed client {} to {}", client.id, client.name)
            });
        }
        ClientCommand::List { json } => {
            let clients = core.clients().list().await?;
            let rows: Vec<_> = clients
                .iter()
                .map(|c| json!({"client_id": c.id, "name": c.name, "created_at": c.created_at}))
                .collect();
            super::shared::output(json, &json!(rows), || {
                clients
                    .iter()
                    .map(|c| format!("{}  {}  created {}", c.id, c.name, super::shared::rfc3339(c.created_at)))
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
    }
    Ok(())
}
