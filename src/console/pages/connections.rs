//! Connections: search, detail, disconnection, token revocation.
use axum::extract::{Path, RawQuery, State};
use axum::response::Response;
use maud::html;

use super::{Answer, Confirm, PAGE, confirm, db, done_notice, ok, query, see};
use crate::console::html::{self, next_page, page, problem, time};
use crate::console::state::{ConsoleState, Signed};
use crate::domain::connection::{Connection, ConnectionStatus};
use crate::domain::ids::{ConnectionId, TokenId};
use crate::domain::operator::ConnectionSearch;
use crate::service::Actor;
use crate::storage::StatusChange;

pub(super) async fn connections(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    let q = query(q);
    let text = q.text("q").to_owned();
    let status_text = q.text("status").to_owned();
    let status = if status_text.is_empty() { None } else { status_text.parse::<ConnectionStatus>().ok() };
    let before = q.get("before").filter(|b| !b.is_empty()).map(ConnectionId::from_string);
    let mut rows: Vec<Connection> = Vec::new();
    let mut more = false;
    let id = ConnectionId::from_string(text.clone());
    let by_id =
        if id.is_well_formed() && before.is_none() { db(st.core.connections().find_any(&id).await)? } else { None };
    if let Some(c) = by_id {
        rows.push(c);
    } else {
        let search = ConnectionSearch { customer_id: (!text.is_empty()).then(|| text.clone()), status };
        rows = db(st.core.connections().search(&search, before.as_ref(), PAGE + 1).await)?;
        if rows.len() > PAGE as usize {
            more = true;
            rows.truncate(PAGE as usize);
        }
    }
    let shown: Vec<&Connection> = rows.iter().collect();
    let next = more
        .then(|| {
            rows.last().map(|c| {
                let mut u = url::form_urlencoded::Serializer::new(String::new());
                u.append_pair("q", &text).append_pair("status", &status_text).append_pair("before", c.id.as_str());
                format!("/console/connections?{}", u.finish())
            })
        })
        .flatten();
    ok(page(
        "Connections",
        Some(&s),
        "/console/connections",
        html! {
            form.inline role="search" method="get" action="/console/connections" {
                label for="q" { "Connection id or customer id" }
                input #q name="q" type="search" value=(text);
                label for="status" { "Status" }
                select #status name="status" {
                    option value="" { "any" }
                    @for st in ConnectionStatus::ALL {
                        @if Some(st) == status { option value=(st.as_str()) selected { (st.as_str()) } }
                        @else { option value=(st.as_str()) { (st.as_str()) } }
                    }
                }
                button type="submit" { "Search" }
            }
            @if !status_text.is_empty() && status.is_none() { (problem("Unknown status: showing every status.")) }
            table {
                caption { "Connections, newest first" }
                thead { tr { th scope="col" { "Connection id" } th scope="col" { "Customer id" } th scope="col" { "Retailer" } th scope="col" { "Status" } th scope="col" { "Client" } th scope="col" { "Created" } } }
                tbody {
                    @for c in &shown {
                        tr {
                            td { a href=(format!("/console/connections/{}", c.id)) { code { (c.id) } } }
                            td { (c.customer_id) }
                            td { (c.retailer_id) }
                            td { span class=(format!("status {}", c.status.as_str())) { (c.status.as_str()) } }
                            td { a href=(format!("/console/clients/{}", c.client_id)) { code { (c.client_id) } } }
                            td { (time(c.created_at)) }
                        }
                    }
                }
            }
            @if shown.is_empty() { p.muted { "No connection matches." } }
            (next_page(next))
        },
    ))
}

pub(super) async fn find_connection(st: &ConsoleState, id: &ConnectionId) -> Result<Connection, Response> {
    db(st.core.connections().find_any(id).await)?.ok_or_else(html::not_found)
}

pub(super) async fn connection(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<ConnectionId>,
    RawQuery(q): RawQuery,
) -> Answer {
    let q = query(q);
    let c = find_connection(&st, &id).await?;
    let before = q.get("before").filter(|b| !b.is_empty());
    let mut events = db(st.core.connections().events(&c.client_id, &c.id, before, PAGE + 1).await)?;
    let more = events.len() > PAGE as usize;
    events.truncate(PAGE as usize);
    let next = more
        .then(|| events.last().map(|e| format!("/console/connections/{}?before={}#activity", c.id, e.event_id)))
        .flatten();
    let history = if before.is_none() { db(st.core.connections().status_history(&c).await)? } else { Vec::new() };
    let now = st.clock.now();
    let mut live = db(st.core.tokens().live_of(&c.id, now, PAGE + 1).await)?;
    let more_live = live.len() > PAGE as usize;
    live.truncate(PAGE as usize);
    ok(page(
        &format!("Connection {}", c.id),
        Some(&s),
        "/console/connections",
        html! {
            (done_notice(&q))
            dl.fields {
                div { dt { "Connection id" } dd { code { (c.id) } } }
                div { dt { "Client" } dd { a href=(format!("/console/clients/{}", c.client_id)) { code { (c.client_id) } } } }
                div { dt { "Customer id" } dd { span { (c.customer_id) } " " a href=(link_sessions_href(&c)) { "Link sessions and tokens" } } }
                div { dt { "Retailer" } dd { (c.retailer_id) } }
                div { dt { "Email" } dd { @if let Some(e) = &c.email { (e) } @else { span.muted { "-" } } } }
                div { dt { "Mobile" } dd { @if let Some(m) = &c.mobile { (m) } @else { span.muted { "-" } } } }
                div { dt { "Status" } dd { span class=(format!("status {}", c.status.as_str())) { (c.status.as_str()) } } }
                div { dt { "Created" } dd { (time(c.created_at)) } }
                div { dt { "Updated" } dd { (time(c.updated_at)) } }
            }
            @if c.status != ConnectionStatus::Disconnected {
                p { a.button.danger href=(format!("/console/connections/{}/disconnect", c.id)) { "Disconnect…" } }
            }
            @if before.is_none() {
                section aria-labelledby="history" {
                    h2 #history { "Status history" }
                    ol.history {
                        @for e in history.iter().rev() {
                            li {
                                (time(e.at)) " "
                                @if e.kind == "created" { "created as " strong { (e.data["status"].as_str().unwrap_or("initialized")) } }
                                @else {
                                    (e.data["from"].as_str().unwrap_or("?")) " → " strong { (e.data["to"].as_str().unwrap_or("?")) }
                                    @if let Some(r) = e.data["reason"].as_str() { " (" (r) ")" }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="tokens" {
                h2 #tokens { "Live tokens" }
                @if more_live { p.muted { "The newest " (PAGE) " live tokens are shown; the others expire or are revoked with the connection." } }
                @if live.is_empty() { p.muted { "None." } } @else {
                    table {
                        caption { "Live tokens (their ids; a token itself is never kept)" }
                        thead { tr { th scope="col" { "Token id (jti)" } th scope="col" { "Issued" } th scope="col" { "Expires" } th scope="col" { "API key" } th scope="col" { "Action" } } }
                        tbody {
                            @for t in &live {
                                tr {
                                    td { code { (t.jti) } }
                                    td { (time(t.issued_at)) }
                                    td { (time(t.expires_at)) }
                                    td { code { (t.api_key_id) } }
                                    td { a.danger href=(format!("/console/connections/{}/tokens/{}/revoke", c.id, t.jti)) { "Revoke…" } }
                                }
                            }
                        }
                    }
                }
            }
            section aria-labelledby="activity" {
                h2 #activity { "Activity" }
                table {
                    caption { "Activity, newest first" }
                    thead { tr { th scope="col" { "When" } th scope="col" { "Event" } th scope="col" { "By key" } th scope="col" { "Details" } } }
                    tbody {
                        @for e in &events {
                            tr {
                                td { (time(e.at)) }
                                td { code { (e.kind) } }
                                td { @if let Some(k) = &e.api_key_id { code { (k) } } @else { span.muted { "-" } } }
                                td { code.data { (e.data.to_string()) } }
                            }
                        }
                    }
                }
                (next_page(next))
            }
        },
    ))
}

pub(super) async fn disconnect_confirm(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<ConnectionId>,
) -> Answer {
    let c = find_connection(&st, &id).await?;
    confirm(
        &s,
        Confirm {
            title: "Disconnect this connection?",
            section: "/console/connections",
            question: html! { "Disconnect connection " code { (c.id) } " of customer " strong { (c.customer_id) } " (" (c.status.as_str()) ")?" },
            warning: "Every live token of it is revoked at once, the client's webhooks are told, and no new token can be minted for it (the token endpoint answers 409). This cannot be undone: the client creates a new connection instead.",
            action: format!("/console/connections/{}/disconnect", c.id),
            button: "Disconnect",
            cancel: format!("/console/connections/{}", c.id),
        },
    )
}

pub(super) async fn disconnect(State(st): State<ConsoleState>, s: Signed, Path(id): Path<ConnectionId>) -> Answer {
    let actor = Actor::Operator(&s.operator);
    if let StatusChange::NotFound = db(st.core.connections().disconnect(actor, &id, st.clock.now()).await)? {
        return Err(html::not_found());
    }
    see(&format!("/console/connections/{id}?done=disconnected"))
}

pub(super) async fn revoke_token_confirm(
    State(st): State<ConsoleState>,
    s: Signed,
    Path((id, jti)): Path<(ConnectionId, TokenId)>,
) -> Answer {
    let c = find_connection(&st, &id).await?;
    let t = db(st.core.tokens().find(&jti).await)?.filter(|t| t.connection_id == c.id).ok_or_else(html::not_found)?;
    confirm(
        &s,
        Confirm {
            title: "Revoke this token?",
            section: "/console/connections",
            question: html! { "Revoke token " code { (t.jti) } " of connection " code { (c.id) } " (expires " (time(t.expires_at)) ")?" },
            warning: "Introspection and the API refuse it at once. A verifier that only checks the signature against the JWKS accepts it until it expires.",
            action: format!("/console/connections/{}/tokens/{}/revoke", c.id, t.jti),
            button: "Revoke the token",
            cancel: format!("/console/connections/{}", c.id),
        },
    )
}

pub(super) async fn revoke_token(
    State(st): State<ConsoleState>,
    s: Signed,
    Path((id, jti)): Path<(ConnectionId, TokenId)>,
) -> Answer {
    let c = find_connection(&st, &id).await?;
    let t = db(st.core.tokens().find(&jti).await)?.filter(|t| t.connection_id == c.id).ok_or_else(html::not_found)?;
    db(st.core.tokens().revoke(Actor::Operator(&s.operator), &t.client_id, &jti, st.clock.now()).await)?;
    see(&format!("/console/connections/{}?done=token-revoked", c.id))
}

/// The Link page for a connection's client and customer.
fn link_sessions_href(c: &Connection) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new())
        .append_pair("client", c.client_id.as_str())
        .append_pair("customer_id", &c.customer_id)
        .finish();
    format!("/console/link?{q}")
}
