//! Clients, their API keys and webhooks.
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::{Answer, Confirm, PAGE, confirm, db, done_notice, keyset, ok, query, refused, see, sentence};
use crate::console::html::{self, csrf, next_page, page, problem, respond, secret_once, time, time_or};
use crate::console::state::{ConsoleState, FormFields, Signed};
use crate::domain::client::Client;
use crate::domain::ids::{ApiKeyId, ClientId, EventId, WebhookId};
use crate::service::{Actor, CoreError};

pub(super) fn client_form(s: &Signed) -> Markup {
    html! {
        form.inline method="post" action="/console/clients" {
            (csrf(s))
            label for="client-name" { "New client's name" }
            input #client-name name="name" type="text" required maxlength="200";
            button type="submit" { "Create client" }
        }
    }
}

pub(super) async fn clients_page(
    st: &ConsoleState,
    s: &Signed,
    q: &FormFields,
    message: Option<&str>,
) -> Result<Markup, Response> {
    let all = db(st.core.clients().list().await)?;
    let (rows, next) = keyset(&all, q.get("after"), |c: &Client| c.id.as_str(), "/console/clients?after=");
    Ok(page(
        "Clients",
        Some(s),
        "/console/clients",
        html! {
            (done_notice(q))
            @if let Some(m) = message { (problem(m)) }
            (client_form(s))
            table {
                caption { "Clients, oldest first" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Client id" } th scope="col" { "Created" } } }
                tbody {
                    @for c in rows {
                        tr {
                            td { a href=(format!("/console/clients/{}", c.id)) { (c.name) } }
                            td { code { (c.id) } }
                            td { (time(c.created_at)) }
                        }
                    }
                }
            }
            (next_page(next))
        },
    ))
}

pub(super) async fn clients(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    ok(clients_page(&st, &s, &query(q), None).await?)
}

pub(super) async fn create_client(
    State(st): State<ConsoleState>,
    s: Signed,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let client = match st.core.clients().create(Actor::Operator(&s.operator), form.text("name"), st.clock.now()).await {
        Err(CoreError::Invalid(m)) => {
            let m = sentence(&m.to_string());
            return Err(respond(
                StatusCode::BAD_REQUEST,
                clients_page(&st, &s, &FormFields::default(), Some(&m)).await?,
            ));
        }
        other => other.map_err(refused)?,
    };
    see(&format!("/console/clients/{}?done=client-created", client.id))
}

pub(super) async fn find_client(st: &ConsoleState, id: &ClientId) -> Result<Client, Response> {
    db(st.core.clients().find(id).await)?.ok_or_else(html::not_found)
}

pub(super) async fn client(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<ClientId>,
    RawQuery(q): RawQuery,
) -> Answer {
    let q = query(q);
    let c = find_client(&st, &id).await?;
    let all_keys = db(st.core.keys().list(&c.id).await)?;
    let used = db(st.core.keys().last_used(&c.id).await)?;
    let last_used = |id: &ApiKeyId| used.iter().find(|(k, _)| k == id).and_then(|(_, at)| *at);
    let all_webhooks = db(st.core.webhooks().list(&c.id).await)?;
    let here = format!("/console/clients/{}", c.id);
    let (keys, next_keys) = keyset(&all_keys, q.get("keys_after"), |k| k.id.as_str(), &format!("{here}?keys_after="));
    let (webhooks, next_webhooks) =
        keyset(&all_webhooks, q.get("webhooks_after"), |w| w.id.as_str(), &format!("{here}?webhooks_after="));
    let redirect_urls = db(st.core.link().list_redirect_urls(&c.id).await)?;
    ok(page(
        &format!("Client {}", c.name),
        Some(&s),
        "/console/clients",
        html! {
            (done_notice(&q))
            dl.fields {
                div { dt { "Client id" } dd { code { (c.id) } } }
                div { dt { "Name" } dd { (c.name) " " a href=(format!("/console/clients/{}/rename", c.id)) { "Rename…" } } }
                div { dt { "Created" } dd { (time(c.created_at)) } }
            }
            section aria-labelledby="keys" {
                h2 #keys { "API keys" }
                form.inline method="post" action=(format!("/console/clients/{}/keys", c.id)) {
                    (csrf(&s))
                    button type="submit" { "Create an API key" }
                }
                table {
                    caption { "API keys (the secrets are never shown again after creation)" }
                    thead { tr { th scope="col" { "Key id" } th scope="col" { "Created" } th scope="col" { "Last used" } th scope="col" { "Revoked" } th scope="col" { "Action" } } }
                    tbody {
                        @for k in keys {
                            tr {
                                td { code { (k.id) } }
                                td { (time(k.created_at)) }
                                td { (time_or(last_used(&k.id), "never")) }
                                td { (time_or(k.revoked_at, "live")) }
                                td {
                                    @if k.revoked_at.is_none() {
                                        a.danger href=(format!("/console/clients/{}/keys/{}/revoke", c.id, k.id)) { "Revoke…" }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            (next_page(next_keys))
            (redirect_urls_section(&s, &c, &redirect_urls))
            section aria-labelledby="webhooks" {
                h2 #webhooks { "Webhook endpoints" }
                @if webhooks.is_empty() {
                    p.muted { "None. A client registers endpoints with POST /webhooks." }
                } @else {
                    table {
                        caption { "Webhook endpoints" }
                        thead { tr { th scope="col" { "Name" } th scope="col" { "URL" } th scope="col" { "State" } th scope="col" { "Last delivered" } th scope="col" { "Deliveries" } } }
                        tbody {
                            @for w in webhooks {
                                tr {
                                    td { (w.name) }
                                    td { code { (w.url) } }
                                    td {
                                        @if w.is_active { "on" } @else { "off" }
                                        @if let Some(r) = &w.disabled_reason { " (" (r) ")" }
                                    }
                                    td { (time_or(w.last_success_at, "never")) }
                                    td { a href=(format!("/console/clients/{}/webhooks/{}", c.id, w.id)) { "Delivery log" } }
                                }
                            }
                        }
                    }
                }
            }
            (next_page(next_webhooks))
        },
    ))
}

/// The rename form, with `problem` above it when the last try was refused.
fn rename_page(s: &Signed, c: &Client, value: &str, problem_text: Option<&str>) -> Markup {
    page(
        &format!("Rename client {}", c.name),
        Some(s),
        "/console/clients",
        html! {
            @if let Some(m) = problem_text { p.problem #rename-problem role="alert" { (m) } }
            p { "Customers see this name on Link pages (“" strong { (c.name) } " wants to link your account”); operators see it here. The change is recorded in the audit log." }
            form.stack method="post" action=(format!("/console/clients/{}/rename", c.id)) {
                (csrf(s))
                label for="client-name" { "New name (1 to " (crate::domain::client::ClientName::MAX_CHARS) " characters)" }
                input #client-name name="name" type="text" required maxlength=(crate::domain::client::ClientName::MAX_CHARS) value=(value)
                    aria-invalid=[problem_text.map(|_| "true")] aria-describedby=[problem_text.map(|_| "rename-problem")];
                div {
                    button type="submit" { "Rename the client" }
                    " "
                    a href=(format!("/console/clients/{}", c.id)) { "Cancel" }
                }
            }
        },
    )
}

pub(super) async fn rename_client_page(State(st): State<ConsoleState>, s: Signed, Path(id): Path<ClientId>) -> Answer {
    let c = find_client(&st, &id).await?;
    ok(rename_page(&s, &c, &c.name, None))
}

pub(super) async fn rename_client(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<ClientId>,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let c = find_client(&st, &id).await?;
    let name = form.text("name");
    match st.core.clients().rename(Actor::Operator(&s.operator), &c.id, name, st.clock.now()).await {
        Err(CoreError::Invalid(m)) => Err(respond(
            StatusCode::BAD_REQUEST,
            rename_page(&s, &c, form.get("name").unwrap_or_default(), Some(&sentence(&m.to_string()))),
        )),
        other => {
            other.map_err(refused)?;
            see(&format!("/console/clients/{}?done=client-renamed", c.id))
        }
    }
}

pub(super) async fn create_key(State(st): State<ConsoleState>, s: Signed, Path(id): Path<ClientId>) -> Answer {
    let c = find_client(&st, &id).await?;
    let (record, key) =
        st.core.keys().create(Actor::Operator(&s.operator), &c.id, st.clock.now()).await.map_err(refused)?;
    let key_id = record.id;
    ok(page(
        "API key created",
        Some(&s),
        "/console/clients",
        html! {
            p { "A new API key " code { (key_id) } " for client " strong { (c.name) } "." }
            (secret_once("API key", key.expose()))
            p { a href=(format!("/console/clients/{}", c.id)) { "Done: back to the client" } }
        },
    ))
}

pub(super) async fn revoke_key_confirm(
    State(st): State<ConsoleState>,
    s: Signed,
    Path((id, key)): Path<(ClientId, ApiKeyId)>,
) -> Answer {
    let c = find_client(&st, &id).await?;
    let k = db(st.core.keys().find_of(&c.id, &key).await)?.ok_or_else(html::not_found)?;
    confirm(
        &s,
        Confirm {
            title: "Revoke an API key?",
            section: "/console/clients",
            question: html! { "Revoke API key " code { (k.id) } " of client " strong { (c.name) } "?" },
            warning: "Every request with this key is refused from now on, on every replica. Tokens already minted with it stay valid until they expire or are revoked. This cannot be undone.",
            action: format!("/console/clients/{}/keys/{}/revoke", c.id, k.id),
            button: "Revoke the key",
            cancel: format!("/console/clients/{}", c.id),
        },
    )
}

pub(super) async fn revoke_key(
    State(st): State<ConsoleState>,
    s: Signed,
    Path((id, key)): Path<(ClientId, ApiKeyId)>,
) -> Answer {
    let c = find_client(&st, &id).await?;
    let revoked = st
        .core
        .keys()
        .revoke(Actor::Operator(&s.operator), Some(&c.id), &key, st.clock.now())
        .await
        .map_err(refused)?;
    st.key_cache.insert(&revoked);
    see(&format!("/console/clients/{}?done=key-revoked", c.id))
}

pub(super) async fn webhook(
    State(st): State<ConsoleState>,
    s: Signed,
    Path((id, webhook)): Path<(ClientId, WebhookId)>,
    RawQuery(q): RawQuery,
) -> Answer {
    let q = query(q);
    let c = find_client(&st, &id).await?;
    let w = db(st.core.webhooks().find(&c.id, &webhook).await)?.ok_or_else(html::not_found)?;
    let before = q.get("before").map(EventId::from_string);
    let mut deliveries = db(st.core.webhooks().deliveries(&c.id, &w.id, before.as_ref(), PAGE + 1).await)?;
    let more = deliveries.len() > PAGE as usize;
    deliveries.truncate(PAGE as usize);
    let next = more
        .then(|| {
            deliveries.last().map(|d| format!("/console/clients/{}/webhooks/{}?before={}", c.id, w.id, d.event_id))
        })
        .flatten();
    ok(page(
        &format!("Webhook {}", w.name),
        Some(&s),
        "/console/clients",
        html! {
            (done_notice(&q))
            dl.fields {
                div { dt { "Client" } dd { a href=(format!("/console/clients/{}", c.id)) { (c.name) } } }
                div { dt { "URL" } dd { code { (w.url) } } }
                div { dt { "Events" } dd { @for (i, e) in w.event_types.iter().enumerate() { @if i > 0 { ", " } (e) } } }
                div { dt { "State" } dd { @if w.is_active { "on" } @else { "off" } @if let Some(r) = &w.disabled_reason { " (" (r) ")" } } }
                div { dt { "Last delivered" } dd { (time_or(w.last_success_at, "never")) } }
            }
            table {
                caption { "Delivery log, newest first" }
                thead { tr { th scope="col" { "Event" } th scope="col" { "Type" } th scope="col" { "Connection" } th scope="col" { "Attempts" } th scope="col" { "Outcome" } th scope="col" { "Created" } th scope="col" { "Action" } } }
                tbody {
                    @for d in &deliveries {
                        tr {
                            td { code { (d.event_id) } }
                            td { (d.kind) }
                            td { a href=(format!("/console/connections/{}", d.connection_id)) { code { (d.connection_id) } } }
                            td { (d.attempts) }
                            td {
                                @if let Some(t) = d.delivered_at { "delivered " (time(t)) }
                                @else if let Some(t) = d.failed_at { "given up " (time(t)) }
                                @else { "pending" @if let Some(t) = d.next_attempt_at { ", next try " (time(t)) } }
                                @if let Some(st) = d.last_status { " · last status " (st) }
                                @if let Some(e) = &d.last_error { " · " (e) }
                            }
                            td { (time(d.created_at)) }
                            td {
                                form.inline method="post" action=(format!("/console/clients/{}/webhooks/{}/deliveries/{}/redeliver", c.id, w.id, d.event_id)) {
                                    (csrf(&s))
                                    button type="submit" { "Redeliver" }
                                }
                            }
                        }
                    }
                }
            }
            (next_page(next))
        },
    ))
}

pub(super) async fn redeliver(
    State(st): State<ConsoleState>,
    s: Signed,
    Path((id, w, event)): Path<(ClientId, WebhookId, EventId)>,
) -> Answer {
    let c = find_client(&st, &id).await?;
    let actor = Actor::Operator(&s.operator);
    if !db(st.core.webhooks().redeliver(actor, &c.id, &w, &event, st.clock.now()).await)? {
        return Err(html::not_found());
    }
    see(&format!("/console/clients/{}/webhooks/{}?done=redelivered", c.id, w))
}

/// The client page's section: its registered redirect URLs, with a form to add one.
fn redirect_urls_section(s: &Signed, c: &Client, urls: &[crate::domain::link::RedirectUrl]) -> Markup {
    html! {
        section aria-labelledby="redirect-urls" {
            h2 #redirect-urls { "Redirect URLs" }
            p { "The exact URLs Link may send this client's customers back to. Anything else is refused. "
                a href=(format!("/console/link?client={}", c.id)) { "This client's Link sessions" } "." }
            form.inline method="post" action=(format!("/console/clients/{}/redirect-urls", c.id)) {
                (csrf(s))
                label for="redirect-url" { "Redirect URL" }
                input #redirect-url name="url" type="url" required maxlength=(crate::domain::link::MAX_URL_LEN) placeholder="https://app.example/linked";
                button type="submit" { "Register" }
            }
            @if urls.is_empty() {
                p.muted { "None registered: Link refuses every redirect_url of this client." }
            } @else {
                table {
                    caption { "Registered redirect URLs" }
                    thead { tr { th scope="col" { "URL" } th scope="col" { "Registered" } th scope="col" { "Action" } } }
                    tbody {
                        @for u in urls {
                            tr {
                                td { code { (u.url) } }
                                td { (time(u.created_at)) }
                                td { a.danger href=(remove_href(c, &u.url)) { "Remove…" } }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Where the form that removes `url` from `c`'s redirect URLs is.
pub(super) fn remove_href(c: &Client, url: &str) -> String {
    let q = url::form_urlencoded::Serializer::new(String::new()).append_pair("url", url).finish();
    format!("/console/clients/{}/redirect-urls/remove?{q}", c.id)
}
