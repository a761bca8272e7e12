//! `tessera redirect-url ...`: the exact URLs Link may send a client's customers back to
//! (`redirect_url` of a Link URL); the API's `/redirect-urls` and the console manage the same.
use clap::Subcommand;
use serde_json::json;

use crate::config::DatabaseArgs;
use crate::domain::ids::ClientId;
use crate::domain::time::rfc3339;
use crate::service::{Actor, link};
use crate::token::clock::{Clock as _, SystemClock};

#[derive(Subcommand, Debug)]
pub enum RedirectUrlCommand {
    /// Register a URL for a client (https; plain http only on loopback, unless
    /// --link-allow-http).
    Add {
        #[arg(long)]
        client: String,
        url: String,
        /// Allow plain http off loopback (closed networks).
        #[arg(long)]
        allow_http: bool,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List a client's registered URLs.
    List {
        #[arg(long)]
        client: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Unregister a URL; sessions already started with it keep it.
    Remove {
        #[arg(long)]
        client: String,
        url: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(db: &DatabaseArgs, cmd: RedirectUrlCommand) -> anyhow::Result<()> {
    let core = super::shared::open_core(db).await?;
    match cmd {
        RedirectUrlCommand::Add { client, url, allow_http, json } => {
            let core = core.with_link(link::Settings { allow_http, ..Default::default() });
            let client = ClientId::from_string(client);
            let (entry, added) =
                core.link().add_redirect_url(Actor::CommandLine, &client, &url, SystemClock.now()).await?;
            super::shared::output(json, &json!({"url": entry.url, "added": added}), || {
                if added {
                    format!("registered {}", entry.url)
                } else {
                    format!("{} was registered already", entry.url)
                }
            });
        }
        RedirectUrlCommand::List { client, json } => {
            let all = core.link().list_redirect_urls(&ClientId::from_string(client)).await?;
            let rows: Vec<_> = all.iter().map(|r| json!({"url": r.url, "created_at": rfc3339(r.created_at)})).collect();
            super::shared::output(json, &json!(rows), || {
                all.iter().map(|r| format!("{}  {}", rfc3339(r.created_at), r.url)).collect::<Vec<_>>().join("\n")
            });
        }
        RedirectUrlCommand::Remove { client, url, json } => {
            let client = ClientId::from_string(client);
            core.link().remove_redirect_url(Actor::CommandLine, &client, &url, SystemClock.now()).await?;
            super::shared::output(json, &json!({"url": url, "removed": true}), || format!("removed {url}"));
        }
    }
    Ok(())
}
