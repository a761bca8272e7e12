//! Overview: counts, rates, the outbox and the keyring.
use axum::extract::State;
use maud::{Markup, html};

use super::{Answer, db, ok, pct};
use crate::console::html::{self, page, time, time_or};
use crate::console::state::{ConsoleState, Signed};
use crate::domain::signing_key::KeyState;

pub(super) async fn overview(State(st): State<ConsoleState>, s: Signed) -> Answer {
    let now = st.clock.now();
    let counted = db(st.counts().await)?;
    let since = now - 3600;
    let from_jti = ulid::Ulid::from_parts(u64::try_from(since.max(0)).unwrap_or(0) * 1000, 0).to_string();
    let by_minute = db(st.core.tokens().minted_by_minute(&from_jti).await)?;
    let last_minute = now / 60;
    let minutes: Vec<i64> = (last_minute - 59..=last_minute)
        .map(|m| by_minute.iter().find(|(at, _)| *at == m).map_or(0, |(_, n)| *n))
        .collect();
    let minted_hour: i64 = minutes.iter().sum();
    let (outbox, oldest) = db(st.core.overview().outbox_depth().await)?;
    let keys = db(st.core.signing_keys().list().await)?;
    let m = st.metrics.summary();
    // Each retained table's oldest row is one index lookup; what was pruned is this process's count.
    let retention = &st.settings.retention;
    let mut retained = Vec::new();
    for (table, pruned) in st.metrics.rows_pruned_by_table() {
        let Some(rule) = crate::storage::retention::Rule::of(table) else { continue };
        let oldest = db(st.core.overview().oldest_row(rule).await)?;
        let keep = rule.keep_secs(&retention.windows);
        retained.push((rule, keep, oldest.map(|t| t.saturating_add(keep)), pruned));
    }
    let pruning = retention.interval.is_some();
    let connections_total: Option<i64> = counted.as_ref().map(|(c, _)| c.connections.iter().map(|(_, n)| n).sum());
    ok(page(
        "Overview",
        Some(&s),
        "/console",
        html! {
            section aria-labelledby="counts" {
                h2 #counts { "Counts" }
                @match (&counted, connections_total) {
                    (Some((counts, counted_at)), Some(total)) => {
                        @if let Some(at) = counted_at { p.muted { "As counted at " (time(*at)) "; recounted in the background every few seconds." } }
                        dl.stats {
                            div { dt { "Clients" } dd { (counts.clients) } }
                            div { dt { "Live API keys" } dd { (counts.live_keys) } }
                            div { dt { "Connections" } dd { (total) } }
                            @for (status, n) in &counts.connections {
                                div { dt { "Connections " (status.as_str()) } dd { a href=(format!("/console/connections?status={}", status.as_str())) { (n) } } }
                            }
                        }
                    }
                    _ => p.notice role="status" { "Counting the connections: reload in a few seconds." },
                }
            }
            section aria-labelledby="minted" {
                h2 #minted { "Tokens minted per minute, last hour" }
                p { "Tokens minted in the last 60 minutes: " strong { (minted_hour) } " (from the issuance record)." }
                (html::bar_chart("Tokens minted per minute over the last hour", &minutes, "60 min ago", "now"))
            }
            section aria-labelledby="health" {
                h2 #health { "This process since it started" }
                dl.stats {
                    div { dt { "Requests" } dd { (m.requests) } }
                    div { dt { "Error rate (5xx)" } dd { (pct(m.server_errors, m.requests)) } }
                    div { dt { "Client errors (4xx)" } dd { (pct(m.client_errors, m.requests)) } }
                    div { dt { "Refused with 429" } dd { (m.rate_limited) " (" (pct(m.rate_limited, m.requests)) ")" } }
                    div { dt { "Tokens minted" } dd { (m.tokens_minted) } }
                    div { dt { "Failed authentications" } dd { (m.auth_failures) } }
                }
            }
            section aria-labelledby="outbox" {
                h2 #outbox { "Webhook outbox" }
                p { (outbox) " deliveries waiting" @if let Some(t) = oldest { "; the oldest since " (time(t)) } "." }
            }
            section aria-labelledby="retention" {
                h2 #retention { "Retention" }
                @if !pruning { p.warning { "Pruning is off on this process (" code { "--prune-interval 0" } "): rows past their window stay until a process that prunes removes them." } }
                table {
                    caption { "Tables that grow with traffic: how long each keeps a row, when its oldest row may be removed, and the rows this process has removed" }
                    thead { tr { th scope="col" { "Table" } th scope="col" { "Keeps a row" } th scope="col" { "Oldest row may go from" } th scope="col" { "Rows pruned since start" } } }
                    tbody {
                        @for (rule, keep, goes, pruned) in &retained {
                            tr {
                                td { code { (rule.table) } }
                                td { (duration(*keep)) " after " (rule.counts_from) }
                                td {
                                    @match goes {
                                        None => span.muted { "no row to remove" },
                                        Some(t) if *t <= now && pruning => { (time(*t)) " (due: the next pass removes it)" },
                                        Some(t) => (time(*t)),
                                    }
                                }
                                td { (pruned) }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="keyring" {
                h2 #keyring { "Signing keyring" }
                (key_table(&keys))
                p { a href="/console/signing-keys" { "Signing keys and rotation" } }
            }
        },
    ))
}

/// A window in the largest whole unit: "7 days", "1 hour", "90 seconds".
fn duration(secs: i64) -> String {
    let (n, unit) = match secs {
        s if s > 0 && s % 86_400 == 0 => (s / 86_400, "day"),
        s if s > 0 && s % 3_600 == 0 => (s / 3_600, "hour"),
        s if s > 0 && s % 60 == 0 => (s / 60, "minute"),
        s => (s, "second"),
    };
    format!("{n} {unit}{}", if n == 1 { "" } else { "s" })
}

pub(super) fn key_table(keys: &[crate::domain::signing_key::SigningKeyRecord]) -> Markup {
    let order = |s: KeyState| match s {
        KeyState::Next => 0,
        KeyState::Active => 1,
        KeyState::Retired => 2,
    };
    let mut keys: Vec<_> = keys.iter().collect();
    keys.sort_by(|a, b| order(a.state).cmp(&order(b.state)).then(b.created_at.cmp(&a.created_at)));
    html! {
        table.keys {
            caption { "Keys, next first, then active, then retired (newest first)" }
            thead { tr { th scope="col" { "Key id (kid)" } th scope="col" { "Algorithm" } th scope="col" { "State" } th scope="col" { "Created" } th scope="col" { "Signs from" } th scope="col" { "Retired" } } }
            tbody {
                @for k in keys {
                    tr {
                        td { code { (k.kid) } }
                        td { (k.alg) }
                        td { span class=(format!("state {}", k.state)) { (k.state) } }
                        td { (time(k.created_at)) }
                        td { (time_or(k.activated_at, "-")) }
                        td { (time_or(k.retired_at, "-")) }
                    }
                }
            }
        }
    }
}
