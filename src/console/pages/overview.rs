//! Overview: counts, rates, the outbox and the keyring.
#[allow(unused_imports)]
use super::*;

pub(super) async fn overview(State(st): State<ConsoleState>, s: Signed) -> Answer {
    let now = st.clock.now();
    let counted = db(st.counts().await)?;
    let since = now - 3600;
    let from_jti = ulid::Ulid::from_parts(u64::try_from(since.max(0)).unwrap_or(0) * 1000, 0).to_string();
    let by_minute = db(service::tokens::minted_by_minute(st.store.as_ref(), &from_jti).await)?;
    let last_minute = now / 60;
    let minutes: Vec<i64> = (last_minute - 59..=last_minute)
        .map(|m| by_minute.iter().find(|(at, _)| *at == m).map_or(0, |(_, n)| *n))
        .collect();
    let minted_hour: i64 = minutes.iter().sum();
    let (outbox, oldest) = db(service::overview::outbox_depth(st.store.as_ref()).await)?;
    let keys = db(service::keyring::list(st.store.as_ref()).await)?;
    let m = st.metrics.summary();
    // Each retained table's oldest row is one index lookup; what was pruned is this process's count.
    let mut retained = Vec::new();
    for (table, pruned) in st.metrics.rows_pruned_by_table() {
        let oldest = match crate::storage::retention::Rule::of(table) {
            Some(rule) => db(service::overview::oldest_row(st.store.as_ref(), rule).await)?,
            None => None,
        };
        retained.push((table, oldest, pruned));
    }
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
                table {
                    caption { "Tables that grow with traffic: the oldest row retention will one day remove, and the rows this process has removed" }
                    thead { tr { th scope="col" { "Table" } th scope="col" { "Oldest row ages from" } th scope="col" { "Rows pruned since start" } } }
                    tbody {
                        @for (table, oldest, pruned) in &retained {
                            tr { td { code { (table) } } td { (time_or(*oldest, "none")) } td { (pruned) } }
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
