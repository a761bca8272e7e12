//! `tessera partner ...`: which partner apps (OAuth clients of a trusted authorization
//! server) may act for which client.
use clap::Subcommand;
use serde_json::json;

use crate::config::DatabaseArgs;
use crate::domain::ids::ClientId;
use crate::domain::partner::PartnerGrant;
use crate::service::Actor;
use crate::token::clock::{Clock as _, SystemClock};

#[derive(Subcommand, Debug)]
pub enum PartnerCommand {
    /// Allow a partner app to act for a client: its access tokens from ISSUER whose
    /// client_id (or azp) is PARTNER_CLIENT_ID and whose client claim names CLIENT reach that
    /// client's connections, exactly as the client's API key would, within their scopes.
    Allow {
        /// The authorization server's issuer URL, exactly as its tokens' `iss` states it
        /// (and as given to `serve --oauth-issuer`).
        #[arg(long)]
        issuer: String,
        /// The partner app's OAuth client id at that authorization server.
        #[arg(long)]
        partner_client_id: String,
        /// The tessera client it may act for (`tessera client list`).
        #[arg(long)]
        client: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List partner grants, live and revoked.
    List {
        /// Print JSON, times in Unix seconds (text output shows them as RFC 3339, UTC).
        #[arg(long)]
        json: bool,
    },
    /// Revoke a partner grant: the partner's tokens are refused for that client at once, on
    /// every replica.
    Revoke {
        /// The grant's id (as shown by `partner list`).
        grant_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

fn row(g: &PartnerGrant) -> serde_json::Value {
    json!({
        "grant_id": g.id, "issuer": g.issuer, "partner_client_id": g.partner_client_id,
        "client_id": g.client_id, "created_at": g.created_at, "revoked_at": g.revoked_at
    })
}

pub(crate) async fn run(db: &DatabaseArgs, cmd: PartnerCommand) -> anyhow::Result<()> {
    let core = super::shared::open_core(db).await?;
    let now = SystemClock.now();
    match cmd {
        PartnerCommand::Allow { issuer, partner_client_id, client, json } => {
            let client = ClientId::from_string(client);
            let g = core.partners().allow(Actor::CommandLine, &issuer, &partner_client_id, &client, now).await?;
            super::shared::output(json, &row(&g), || {
                format!("grant {}: {} of {} may act for client {}", g.id, g.partner_client_id, g.issuer, g.client_id)
            });
        }
        PartnerCommand::List { json } => {
            let all = core.partners().list().await?;
            let rows: Vec<_> = all.iter().map(row).collect();
            super::shared::output(json, &json!(rows), || {
                all.iter()
                    .map(|g| {
                        let state = match g.revoked_at {
                            Some(at) => format!("revoked {}", super::shared::rfc3339(at)),
                            None => "active".into(),
                        };
                        format!(
                            "{}  {} of {}  for client {}  created {}  {state}",
                            g.id,
                            g.partner_client_id,
                            g.issuer,
                            g.client_id,
                            super::shared::rfc3339(g.created_at)
                        )
                    })
                    .collect::<Vec<_>>()
                    .join("\n")
            });
        }
        PartnerCommand::Revoke { grant_id, json } => {
            let g = core.partners().revoke(Actor::CommandLine, grant_id.trim(), now).await?;
            super::shared::output(json, &row(&g), || format!("revoked {}", g.id));
        }
    }
    Ok(())
}
