//! `tessera retailer ...`: the retailer catalogue (`GET /retailers`, `GET /merchants`). The
//! connector's purchases are taken only for connections of a catalogued retailer.
use clap::Subcommand;
use serde_json::json;

use crate::config::DatabaseArgs;
use crate::service::Actor;
use crate::token::clock::{Clock as _, SystemClock};

#[derive(Subcommand, Debug)]
pub enum RetailerCommand {
    /// Add a retailer to the catalogue, or rename one already in it.
    Add {
        /// Its id, as connections name it (`retailer_id`, `merchant_id`): 1 to 26 of
        /// a-z A-Z 0-9 _ -.
        retailer_id: String,
        /// Its name, for people.
        #[arg(long)]
        name: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// List the catalogue.
    List {
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
    /// Take a retailer out of the catalogue. Its connections stay as they are, but the
    /// connector's purchases for them are refused until it is added again.
    Remove {
        retailer_id: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
    },
}

pub(crate) async fn run(db: &DatabaseArgs, cmd: RetailerCommand) -> anyhow::Result<()> {
    let core = super::shared::open_core(db).await?;
    match cmd {
        RetailerCommand::Add { retailer_id, name, json } => {
            let (retailer, added) =
                core.retailers().put(Actor::CommandLine, &retailer_id, &name, SystemClock.now()).await?;
            super::shared::output(
                json,
                &json!({"retailer_id": retailer.retailer_id, "name": retailer.name, "added": added}),
                || {
                    let verb = if added { "added" } else { "renamed" };
                    format!("{verb} {} ({})", retailer.retailer_id, retailer.name)
                },
            );
        }
        RetailerCommand::List { json } => {
            let all = core.retailers().list().await?;
            super::shared::output(json, &json!(all), || {
                all.iter().map(|r| format!("{}  {}", r.retailer_id, r.name)).collect::<Vec<_>>().join("\n")
            });
        }
        RetailerCommand::Remove { retailer_id, json } => {
            core.retailers().remove(Actor::CommandLine, &retailer_id, SystemClock.now()).await?;
            super::shared::output(json, &json!({"retailer_id": retailer_id, "removed": true}), || {
                format!("removed {retailer_id}")
            });
        }
    }
    Ok(())
}
