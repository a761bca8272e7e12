//! The console's pages and form handlers. GET pages only read; every change is a POST from a
//! form (its confirmation page first when it destroys something), answered with a redirect
//! to the page that shows the result.
use axum::Router;
use axum::extract::{ConnectInfo, Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use maud::{Markup, html};

use super::html::{self, csrf, next_page, notice, page, problem, respond, secret_once, time, time_or};
use super::{ConsoleState, FormFields, Signed};
use crate::auth::operator::{digest, new_secret, verify_nothing, verify_password};
use crate::domain::client::Client;
use crate::domain::connection::{Connection, ConnectionStatus};
use crate::domain::connector::ConnectorCredential;
use crate::domain::ids::{ApiKeyId, ClientId, ConnectionId, ConnectorId, EventId, TokenId, WebhookId};
use crate::domain::operator::ConnectionSearch;
use crate::domain::retailer::Retailer;
use crate::domain::signing_key::KeyState;
use crate::service::{Actor, CoreError, clients, connectors, keys, retailers};
use crate::storage::{Change, StatusChange, StoreError};
use crate::token::keyring::Keyring;
use crate::token::verify::Expectations;

pub const SIGN_IN: &str = "/console/sign-in";
pub const SIGN_IN_LINK: &str = "/console/sign-in/link";
/// Rows per page of every list.
const PAGE: u32 = 50;

type Answer = Result<Response, Response>;

/// The console's routes, relative to [`super::BASE`] (the router is nested there).
pub fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/", get(overview))
        .route("/assets/console.css", get(|| async { asset("text/css; charset=utf-8", html::CSS) }))
        .route("/assets/console.js", get(|| async { asset("text/javascript; charset=utf-8", html::JS) }))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-in/link", get(link_page).post(redeem_link))
        .route("/sign-out", post(sign_out))
        .route("/clients", get(clients).post(create_client))
        .route("/clients/{id}", get(client))
        .route("/clients/{id}/keys", post(create_key))
        .route("/clients/{id}/keys/{key}/revoke", get(revoke_key_confirm).post(revoke_key))
        .route("/clients/{id}/webhooks/{webhook}", get(webhook))
        .route("/clients/{id}/webhooks/{webhook}/deliveries/{event}/redeliver", post(redeliver))
        .route("/connections", get(connections))
        .route("/connections/{id}", get(connection))
        .route("/connections/{id}/disconnect", get(disconnect_confirm).post(disconnect))
        .route("/connections/{id}/tokens/{jti}/revoke", get(revoke_token_confirm).post(revoke_token))
        .route("/tokens", get(tokens).post(inspect_token))
        .route("/signing-keys", get(signing_keys))
        .route("/signing-keys/rotate", get(rotate_confirm).post(rotate))
        .route("/connectors", get(connectors).post(create_connector))
        .route("/connectors/{id}/revoke", get(revoke_connector_confirm).post(revoke_connector))
        .route("/retailers", get(retailers).post(put_retailer))
        .route("/retailers/{id}/remove", get(remove_retailer_confirm).post(remove_retailer))
        .route("/audit", get(audit))
        .route("/operators", get(operators))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

fn db<T>(r: Result<T, StoreError>) -> Result<T, Response> {
    r.map_err(|e| html::store_error(&e))
}

/// A use case's failure that is no fault of the form: not found, or storage.
fn refused(e: CoreError) -> Response {
    match e {
        CoreError::NotFound(_) => html::not_found(),
        CoreError::Store(e) => html::store_error(&e),
        CoreError::Invalid(m) => respond(StatusCode::BAD_REQUEST, page("Not accepted", None, "", html! { p { (m) } })),
    }
}

/// A sentence's first letter in upper case, for a message shown on its own.
fn sentence(m: &str) -> String {
    let mut chars = m.chars();
    chars.next().map(|c| c.to_uppercase().chain(chars).collect::<String>() + ".").unwrap_or_default()
}

fn ok(markup: Markup) -> Answer {
    Ok(respond(StatusCode::OK, markup))
}

/// A destructive action's confirmation page: what it does, and a form posting to `action` (with
/// the session's anti-forgery token) beside a link back to `cancel`.
struct Confirm<'a> {
    title: &'a str,
    /// The navigation entry the page belongs to.
    section: &'a str,
    question: Markup,
    /// What will happen, said before it does.
    warning: &'a str,
    action: String,
    button: &'a str,
    cancel: String,
}

fn confirm(s: &Signed, c: Confirm<'_>) -> Answer {
    ok(page(
        c.title,
        Some(s),
        c.section,
        html! {
            p { (c.question) }
            p.warning { (c.warning) }
            form.inline method="post" action=(c.action) {
                (csrf(s))
                button.danger type="submit" { (c.button) }
                " "
                a href=(c.cancel) { "Cancel" }
            }
        },
    ))
}

/// A 303 to `to`: the answer to every successful POST.
fn see(to: &str) -> Answer {
    Ok(Redirect::to(to).into_response())
}

/// A query string's fields.
fn query(raw: Option<String>) -> FormFields {
    FormFields(url::form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect())
}

/// The notice a `?done=` names, from a fixed set (nothing from the URL is echoed).
fn done_notice(q: &FormFields) -> Markup {
    let text = match q.get("done") {
        Some("client-created") => "Client created.",
        Some("key-revoked") => "API key revoked: requests with it are refused from now on.",
        Some("disconnected") => {
            "Connection disconnected: its tokens are revoked and no new token can be minted for it."
        }
        Some("token-revoked") => "Token revoked.",
        Some("rotation-scheduled") => "Rotation scheduled: the new key is published now and signs from the time shown.",
        Some("rotated") => "Signing key rotated: the new key signs from now on.",
        Some("redelivered") => "Delivery scheduled again.",
        Some("connector-revoked") => "Connector credential revoked.",
        Some("retailer-saved") => "Retailer saved in the catalogue.",
        Some("retailer-removed") => {
            "Retailer removed: its connections stay, but the connector's purchases for them are refused until it is added again."
        }
        Some("signed-out") => "Signed out.",
        _ => return html! {},
    };
    notice(text)
}

/// One page of a list in id order: at most [`PAGE`] items with ids above `after`, and the
/// next page's link (`base` followed by the last id shown) when there are more.
fn keyset<'a, T>(
    items: &'a [T],
    after: Option<&str>,
    id: impl Fn(&T) -> &str,
    base: &str,
) -> (Vec<&'a T>, Option<String>) {
    let after = after.unwrap_or_default();
    let mut rows: Vec<&T> = items.iter().filter(|t| id(t) > after).take(PAGE as usize + 1).collect();
    let more = rows.len() > PAGE as usize;
    rows.truncate(PAGE as usize);
    let next = if more { rows.last().map(|t| format!("{base}{}", id(t))) } else { None };
    (rows, next)
}

fn pct(part: u64, whole: u64) -> String {
    if whole == 0 {
        return "0%".into();
    }
    #[allow(clippy::cast_precision_loss)]
    let p = part as f64 * 100.0 / whole as f64;
    format!("{p:.2}%")
}

// ---- Overview --------------------------------------------------------------------------

async fn overview(State(st): State<ConsoleState>, s: Signed) -> Answer {
    let now = st.clock.now();
    let counted = db(st.counts().await)?;
    let since = now - 3600;
    let from_jti = ulid::Ulid::from_parts(u64::try_from(since.max(0)).unwrap_or(0) * 1000, 0).to_string();
    let by_minute = db(st.store.tokens_by_minute(&from_jti).await)?;
    let last_minute = now / 60;
    let minutes: Vec<i64> = (last_minute - 59..=last_minute)
        .map(|m| by_minute.iter().find(|(at, _)| *at == m).map_or(0, |(_, n)| *n))
        .collect();
    let minted_hour: i64 = minutes.iter().sum();
    let (outbox, oldest) = db(st.store.outbox_depth().await)?;
    let keys = db(st.store.signing_keys().await)?;
    let m = st.metrics.summary();
    // Each retained table's oldest row is one index lookup; what was pruned is this process's count.
    let mut retained = Vec::new();
    for (table, pruned) in st.metrics.rows_pruned_by_table() {
        let oldest = match crate::storage::retention::Rule::of(table) {
            Some(rule) => db(st.store.oldest_row(rule).await)?,
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

fn key_table(keys: &[crate::domain::signing_key::SigningKeyRecord]) -> Markup {
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

// ---- Signing in and out ----------------------------------------------------------------

fn sign_in_form(message: Option<&str>, q: &FormFields) -> Markup {
    page(
        "Sign in",
        None,
        "",
        html! {
            (done_notice(q))
            @if let Some(m) = message { (problem(m)) }
            form.stack method="post" action=(SIGN_IN) {
                label for="name" { "Operator name" }
                input #name name="name" type="text" autocomplete="username" required;
                label for="password" { "Password" }
                input #password name="password" type="password" autocomplete="current-password" required;
                button type="submit" { "Sign in" }
            }
            p.muted { "Operators are created on the server: " code { "tessera operator create NAME" } ", which prints a one-time sign-in link." }
        },
    )
}

async fn sign_in_page(RawQuery(q): RawQuery) -> Answer {
    ok(sign_in_form(None, &query(q)))
}

/// Starts a session for `operator`: the cookie, the record, and a redirect to the overview.
async fn start_session(
    st: &ConsoleState,
    headers: &HeaderMap,
    operator: &crate::domain::operator::Operator,
    how: &str,
) -> Answer {
    let secret = new_secret();
    db(st.store.create_session(&digest(&secret), &operator.id, st.clock.now()).await)?;
    db(st.audit(operator, how, &operator.name).await)?;
    Ok(([(header::SET_COOKIE, super::session_cookie(st, headers, &secret))], Redirect::to("/console")).into_response())
}

async fn sign_in(
    State(st): State<ConsoleState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let ip = addr.ip();
    super::sign_in_allowed(&st, ip)?;
    let name = form.text("name").to_owned();
    let permit = super::password_check_allowed(&st, &name)?;
    let password = form.get("password").unwrap_or_default().to_owned();
    let operator = db(st.store.find_operator_by_name(&name).await)?;
    let hash = operator.as_ref().and_then(|o| o.password_hash.clone());
    // argon2 takes tens of milliseconds of CPU: off the async workers, holding its permit.
    let matched = tokio::task::spawn_blocking(move || {
        let _permit = permit;
        match hash {
            Some(h) => verify_password(&password, &h),
            None => {
                verify_nothing(&password);
                false
            }
        }
    })
    .await
    .unwrap_or(false);
    match operator {
        Some(op) if matched => start_session(&st, &headers, &op, "sign_in.password").await,
        _ => {
            super::password_failed(&st, ip, &name);
            Err(respond(
                StatusCode::UNAUTHORIZED,
                sign_in_form(Some("Wrong operator name or password."), &FormFields::default()),
            ))
        }
    }
}

async fn link_page(RawQuery(q): RawQuery) -> Answer {
    let q = query(q);
    let token = q.text("token").to_owned();
    ok(page(
        "Sign in with a link",
        None,
        "",
        html! {
            p { "This one-time link signs you in to the console. It works once, for an hour after it was made." }
            form.stack method="post" action=(SIGN_IN_LINK) {
                input type="hidden" name="token" value=(token);
                button type="submit" { "Sign in" }
            }
        },
    ))
}

async fn redeem_link(
    State(st): State<ConsoleState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let ip = addr.ip();
    super::sign_in_allowed(&st, ip)?;
    let token = form.text("token");
    let operator =
        if token.is_empty() { None } else { db(st.store.redeem_sign_in_link(&digest(token), st.clock.now()).await)? };
    match operator {
        Some(op) => start_session(&st, &headers, &op, "sign_in.link").await,
        None => {
            super::sign_in_failed(&st, ip);
            Err(html::refused(
                StatusCode::UNAUTHORIZED,
                "This sign-in link is used up, expired or wrong. Make a new one on the server: tessera operator link NAME",
            ))
        }
    }
}

async fn sign_out(State(st): State<ConsoleState>, s: Signed, headers: HeaderMap) -> Answer {
    if let Some(secret) = super::session_secret(&headers) {
        db(st.store.delete_session(&digest(&secret)).await)?;
    }
    db(st.audit(&s.operator, "sign_out", &s.operator.name).await)?;
    Ok(([(header::SET_COOKIE, super::cleared_cookie())], Redirect::to("/console/sign-in?done=signed-out"))
        .into_response())
}

// ---- Clients and API keys --------------------------------------------------------------

fn client_form(s: &Signed) -> Markup {
    html! {
        form.inline method="post" action="/console/clients" {
            (csrf(s))
            label for="client-name" { "New client's name" }
            input #client-name name="name" type="text" required maxlength="200";
            button type="submit" { "Create client" }
        }
    }
}

async fn clients_page(
    st: &ConsoleState,
    s: &Signed,
    q: &FormFields,
    message: Option<&str>,
) -> Result<Markup, Response> {
    let all = db(st.store.list_clients().await)?;
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

async fn clients(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    ok(clients_page(&st, &s, &query(q), None).await?)
}

async fn create_client(State(st): State<ConsoleState>, s: Signed, Extension(form): Extension<FormFields>) -> Answer {
    let client =
        match clients::create(st.store.as_ref(), Actor::Operator(&s.operator), form.text("name"), st.clock.now()).await
        {
            Err(CoreError::Invalid(m)) => {
                let m = sentence(&m);
                return Err(respond(
                    StatusCode::BAD_REQUEST,
                    clients_page(&st, &s, &FormFields::default(), Some(&m)).await?,
                ));
            }
            other => other.map_err(refused)?,
        };
    see(&format!("/console/clients/{}?done=client-created", client.id))
}

async fn find_client(st: &ConsoleState, id: &str) -> Result<Client, Response> {
    db(st.store.find_client(&ClientId::from_string(id)).await)?.ok_or_else(html::not_found)
}

async fn client(State(st): State<ConsoleState>, s: Signed, Path(id): Path<String>, RawQuery(q): RawQuery) -> Answer {
    let q = query(q);
    let c = find_client(&st, &id).await?;
    let all_keys = db(st.store.list_api_keys(&c.id).await)?;
    let used = db(st.store.api_keys_last_used(&c.id).await)?;
    let last_used = |id: &ApiKeyId| used.iter().find(|(k, _)| k == id).and_then(|(_, at)| *at);
    let all_webhooks = db(st.store.list_webhooks(&c.id).await)?;
    let here = format!("/console/clients/{}", c.id);
    let (keys, next_keys) = keyset(&all_keys, q.get("keys_after"), |k| k.id.as_str(), &format!("{here}?keys_after="));
    let (webhooks, next_webhooks) =
        keyset(&all_webhooks, q.get("webhooks_after"), |w| w.id.as_str(), &format!("{here}?webhooks_after="));
    ok(page(
        &format!("Client {}", c.name),
        Some(&s),
        "/console/clients",
        html! {
            (done_notice(&q))
            dl.fields {
                div { dt { "Client id" } dd { code { (c.id) } } }
                div { dt { "Name" } dd { (c.name) } }
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

async fn create_key(State(st): State<ConsoleState>, s: Signed, Path(id): Path<String>) -> Answer {
    let c = find_client(&st, &id).await?;
    let (record, key) =
        keys::create(st.store.as_ref(), Actor::Operator(&s.operator), &c.id, st.clock.now()).await.map_err(refused)?;
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

async fn revoke_key_confirm(
    State(st): State<ConsoleState>,
    s: Signed,
    Path((id, key)): Path<(String, String)>,
) -> Answer {
    let c = find_client(&st, &id).await?;
    let k = db(st.store.find_api_key(&ApiKeyId::from_string(key)).await)?
        .filter(|k| k.client_id == c.id)
        .ok_or_else(html::not_found)?;
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

async fn revoke_key(State(st): State<ConsoleState>, s: Signed, Path((id, key)): Path<(String, String)>) -> Answer {
    let c = find_client(&st, &id).await?;
    let key = ApiKeyId::from_string(key);
    let revoked = keys::revoke(st.store.as_ref(), Actor::Operator(&s.operator), Some(&c.id), &key, st.clock.now())
        .await
        .map_err(refused)?;
    st.key_cache.insert(&revoked);
    see(&format!("/console/clients/{}?done=key-revoked", c.id))
}

async fn webhook(
    State(st): State<ConsoleState>,
    s: Signed,
    Path((id, webhook)): Path<(String, String)>,
    RawQuery(q): RawQuery,
) -> Answer {
    let q = query(q);
    let c = find_client(&st, &id).await?;
    let w = db(st.store.find_webhook(&c.id, &WebhookId::from_string(webhook)).await)?.ok_or_else(html::not_found)?;
    let before = q.get("before").map(EventId::from_string);
    let mut deliveries = db(st.store.list_deliveries(&c.id, &w.id, before.as_ref(), PAGE + 1).await)?;
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

async fn redeliver(
    State(st): State<ConsoleState>,
    s: Signed,
    Path((id, webhook, event)): Path<(String, String, String)>,
) -> Answer {
    let c = find_client(&st, &id).await?;
    let w = WebhookId::from_string(webhook);
    let event = EventId::from_string(event);
    if !db(st.store.redeliver(&c.id, &w, &event, st.clock.now()).await)? {
        return Err(html::not_found());
    }
    db(st.audit(&s.operator, "webhook.redeliver", &format!("{w}/{event}")).await)?;
    see(&format!("/console/clients/{}/webhooks/{}?done=redelivered", c.id, w))
}

// ---- Connections -----------------------------------------------------------------------

async fn connections(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    let q = query(q);
    let text = q.text("q").to_owned();
    let status_text = q.text("status").to_owned();
    let status = if status_text.is_empty() { None } else { status_text.parse::<ConnectionStatus>().ok() };
    let before = q.get("before").filter(|b| !b.is_empty()).map(ConnectionId::from_string);
    let mut rows: Vec<Connection> = Vec::new();
    let mut more = false;
    let id = ConnectionId::from_string(text.clone());
    let by_id =
        if id.is_well_formed() && before.is_none() { db(st.store.find_any_connection(&id).await)? } else { None };
    if let Some(c) = by_id {
        rows.push(c);
    } else {
        let search = ConnectionSearch { customer_id: (!text.is_empty()).then(|| text.clone()), status };
        rows = db(st.store.search_connections(&search, before.as_ref(), PAGE + 1).await)?;
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

async fn find_connection(st: &ConsoleState, id: &str) -> Result<Connection, Response> {
    db(st.store.find_any_connection(&ConnectionId::from_string(id)).await)?.ok_or_else(html::not_found)
}

async fn connection(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<String>,
    RawQuery(q): RawQuery,
) -> Answer {
    let q = query(q);
    let c = find_connection(&st, &id).await?;
    let before = q.get("before").filter(|b| !b.is_empty());
    let mut events = db(st.store.list_events(&c.client_id, &c.id, before, PAGE + 1).await)?;
    let more = events.len() > PAGE as usize;
    events.truncate(PAGE as usize);
    let next = more
        .then(|| events.last().map(|e| format!("/console/connections/{}?before={}#activity", c.id, e.event_id)))
        .flatten();
    let history = if before.is_none() {
        // The whole status history (a connection changes status a handful of times).
        let mut all = Vec::new();
        let mut cursor: Option<String> = None;
        loop {
            let batch = db(st.store.list_events(&c.client_id, &c.id, cursor.as_deref(), 500).await)?;
            let done = batch.len() < 500;
            cursor = batch.last().map(|e| e.event_id.clone());
            all.extend(batch.into_iter().filter(|e| e.kind == "created" || e.kind == "status_changed"));
            if done || all.len() > 1000 {
                break;
            }
        }
        all
    } else {
        Vec::new()
    };
    let now = st.clock.now();
    let mut live = db(st.store.live_tokens(&c.id, now, PAGE + 1).await)?;
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
                div { dt { "Customer id" } dd { (c.customer_id) } }
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

async fn disconnect_confirm(State(st): State<ConsoleState>, s: Signed, Path(id): Path<String>) -> Answer {
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

async fn disconnect(State(st): State<ConsoleState>, s: Signed, Path(id): Path<String>) -> Answer {
    let id = ConnectionId::from_string(id);
    let reason = format!("disconnected by operator {} in the console", s.operator.name);
    let change = Change::at(st.clock.now());
    match db(st.store.set_connection_status(&id, ConnectionStatus::Disconnected, Some(&reason), &change).await)? {
        StatusChange::NotFound => return Err(html::not_found()),
        StatusChange::Moved { .. } => db(st.audit(&s.operator, "connection.disconnect", id.as_str()).await)?,
        StatusChange::Unchanged(_) | StatusChange::Refused { .. } => {}
    }
    see(&format!("/console/connections/{id}?done=disconnected"))
}

async fn revoke_token_confirm(
    State(st): State<ConsoleState>,
    s: Signed,
    Path((id, jti)): Path<(String, String)>,
) -> Answer {
    let c = find_connection(&st, &id).await?;
    let t = db(st.store.find_issued_token(&TokenId::from_string(jti)).await)?
        .filter(|t| t.connection_id == c.id)
        .ok_or_else(html::not_found)?;
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

async fn revoke_token(State(st): State<ConsoleState>, s: Signed, Path((id, jti)): Path<(String, String)>) -> Answer {
    let c = find_connection(&st, &id).await?;
    let jti = TokenId::from_string(jti);
    let t =
        db(st.store.find_issued_token(&jti).await)?.filter(|t| t.connection_id == c.id).ok_or_else(html::not_found)?;
    db(st.store.revoke_token(&t.client_id, &jti, &Change::at(st.clock.now())).await)?;
    db(st.audit(&s.operator, "token.revoke", jti.as_str()).await)?;
    see(&format!("/console/connections/{}?done=token-revoked", c.id))
}

// ---- Tokens ----------------------------------------------------------------------------

fn token_form(s: &Signed) -> Markup {
    html! {
        form.stack method="post" action="/console/tokens" {
            (csrf(s))
            label for="token" { "A connection token" }
            textarea #token name="token" rows="4" spellcheck="false" autocomplete="off" required {}
            button type="submit" { "Decode and introspect" }
        }
    }
}

async fn tokens(s: Signed) -> Answer {
    ok(page(
        "Tokens",
        Some(&s),
        "/console/tokens",
        html! {
            p { "Paste a token to see what it says, which key signed it, and whether it is live. The token is not kept or shown back." }
            (token_form(&s))
        },
    ))
}

/// A JWS part, base64url-decoded and pretty-printed when it is JSON.
fn decode_part(part: Option<&str>) -> Option<String> {
    let bytes = URL_SAFE_NO_PAD.decode(part?.trim_end_matches('=')).ok()?;
    let value: serde_json::Value = serde_json::from_slice(&bytes).ok()?;
    serde_json::to_string_pretty(&value).ok()
}

async fn inspect_token(State(st): State<ConsoleState>, s: Signed, Extension(form): Extension<FormFields>) -> Answer {
    let token: String = form.text("token").chars().filter(|c| !c.is_whitespace()).collect();
    let mut parts = token.split('.');
    let (header_part, claims_part) = (parts.next(), parts.next());
    let (Some(header_json), Some(claims_json)) = (decode_part(header_part), decode_part(claims_part)) else {
        return Err(respond(
            StatusCode::BAD_REQUEST,
            page(
                "Tokens",
                Some(&s),
                "/console/tokens",
                html! {
                    (problem("That is not a token: a token is three base64url parts separated by dots, the first two JSON."))
                    (token_form(&s))
                },
            ),
        ));
    };
    let header: serde_json::Value = serde_json::from_str(&header_json).unwrap_or_default();
    let kid = header["kid"].as_str().unwrap_or_default().to_owned();
    let keys = db(st.store.signing_keys().await)?;
    let key = keys.iter().find(|k| k.kid.as_str() == kid);
    let expect = Expectations { issuer: Some(st.minter.issuer.clone()), audience: Some(st.minter.audience.clone()) };
    let verdict: Result<String, String> = match st.keyring.verify(&token, &expect) {
        Err(e) => Err(format!("its signature or claims do not hold: {e}")),
        Ok(claims) => {
            let record = db(st.store.find_issued_token(&TokenId::from_string(claims.jti.clone())).await)?;
            let connection = db(st.store.find_any_connection(&ConnectionId::from_string(claims.sub.clone())).await)?;
            match (record, connection) {
                (None, _) => Err("tessera has no record of minting it".into()),
                (Some(r), _) if r.revoked_at.is_some() => {
                    Err(format!("it was revoked at {}", html::rfc3339(r.revoked_at.unwrap_or_default())))
                }
                (Some(_), None) => Err("its connection was deleted".into()),
                (Some(_), Some(c)) if c.status == ConnectionStatus::Disconnected => {
                    Err("its connection is disconnected".into())
                }
                (Some(_), Some(c)) => Ok(format!("live until {} (connection {})", html::rfc3339(claims.exp), c.id)),
            }
        }
    };
    db(st.audit(&s.operator, "token.inspect", &kid).await)?;
    ok(page(
        "Tokens",
        Some(&s),
        "/console/tokens",
        html! {
            section aria-labelledby="verdict" {
                h2 #verdict { "Verdict" }
                @match &verdict {
                    Ok(v) => p.good role="status" { strong { "Live: " } (v) },
                    Err(v) => p.problem role="status" { strong { "Not live: " } (v) },
                }
                p {
                    "Signed by key " code { (kid) }
                    @if let Some(k) = key { " (" (k.alg) ", " (k.state) ", created " (time(k.created_at)) ")" }
                    @else { " (not in this keyring)" }
                }
            }
            div.columns {
                section aria-labelledby="header" { h2 #header { "Header" } pre { (header_json) } }
                section aria-labelledby="claims" { h2 #claims { "Claims" } pre { (claims_json) } }
            }
            h2 { "Another token" }
            (token_form(&s))
        },
    ))
}

// ---- Signing keys ----------------------------------------------------------------------

async fn signing_keys(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    let q = query(q);
    let keys = db(st.store.signing_keys().await)?;
    ok(page(
        "Signing keys",
        Some(&s),
        "/console/signing-keys",
        html! {
            (done_notice(&q))
            p { "A new key is published in the JWKS (EdDSA) as " em { "next" } " before it signs, becomes " em { "active" } ", and is " em { "retired" } " when the next one activates; a retired key stays published until its tokens have expired." }
            (key_table(&keys))
            h2 { "Rotate" }
            ul.actions {
                li { a.button href="/console/signing-keys/rotate?mode=scheduled" { "Schedule a rotation…" } " the safe way: verifiers see the new key before it signs." }
                li { a.button.danger href="/console/signing-keys/rotate?mode=immediate" { "Rotate immediately…" } " for a compromised key." }
            }
        },
    ))
}

async fn rotate_confirm(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    let immediate = query(q).get("mode") == Some("immediate");
    let alg = st.settings.algorithm;
    let prepublish = st.settings.prepublish_secs;
    ok(page(
        if immediate { "Rotate the signing key immediately?" } else { "Schedule a signing key rotation?" },
        Some(&s),
        "/console/signing-keys",
        html! {
            @if immediate {
                p.warning { "A new " (alg) " key signs from now on and the current one retires. Verifiers holding a cached JWKS do not know the new key yet: they refuse the new tokens until they fetch the JWKS again (up to its cache lifetime). Tokens already minted stay valid until they expire." }
            } @else {
                p { "A new " (alg) " key is created now" @if alg == crate::domain::signing_key::Algorithm::EdDsa { " and published in the JWKS" } "; it signs in " (prepublish) " seconds, when the current key retires. Verifiers keep accepting tokens of both." }
            }
            form.inline method="post" action="/console/signing-keys/rotate" {
                (csrf(&s))
                input type="hidden" name="mode" value=(if immediate { "immediate" } else { "scheduled" });
                @if immediate { button.danger type="submit" { "Rotate now" } } @else { button type="submit" { "Schedule the rotation" } }
                " "
                a href="/console/signing-keys" { "Cancel" }
            }
        },
    ))
}

async fn rotate(State(st): State<ConsoleState>, s: Signed, Extension(form): Extension<FormFields>) -> Answer {
    let immediate = form.get("mode") == Some("immediate");
    let now = st.clock.now();
    let alg = st.settings.algorithm;
    let failed = |e: crate::token::keyring::KeyringError| {
        tracing::error!(error = %e, "console: rotation failed");
        html::refused(StatusCode::INTERNAL_SERVER_ERROR, "The rotation failed; the reason is logged.")
    };
    let (action, kid, done) = if immediate {
        let kid = Keyring::rotate_now(st.store.as_ref(), &st.kek, alg, now).await.map_err(failed)?;
        ("signing_key.rotate_now", kid, "rotated")
    } else {
        match Keyring::schedule(st.store.as_ref(), &st.kek, alg, now, st.settings.prepublish_secs)
            .await
            .map_err(failed)?
        {
            Some((kid, _)) => ("signing_key.schedule", kid, "rotation-scheduled"),
            None => {
                let keys = db(st.store.signing_keys().await)?;
                return Err(respond(
                    StatusCode::CONFLICT,
                    page(
                        "Signing keys",
                        Some(&s),
                        "/console/signing-keys",
                        html! {
                            (problem("A rotation is already scheduled: the next key is shown below. Wait for it to activate, or rotate immediately."))
                            (key_table(&keys))
                        },
                    ),
                ));
            }
        }
    };
    if let Err(e) = st.keyring.refresh().await {
        tracing::warn!(error = %e, "console: could not reload the keyring after a rotation");
    }
    db(st.audit(&s.operator, action, kid.as_str()).await)?;
    see(&format!("/console/signing-keys?done={done}"))
}

// ---- Connector credentials -------------------------------------------------------------

async fn connectors_page(st: &ConsoleState, s: &Signed, q: &FormFields, extra: Markup) -> Result<Markup, Response> {
    let all = db(st.store.list_connectors().await)?;
    let (rows, next) =
        keyset(&all, q.get("after"), |c: &ConnectorCredential| c.id.as_str(), "/console/connectors?after=");
    Ok(page(
        "Connector credentials",
        Some(s),
        "/console/connectors",
        html! {
            (done_notice(q))
            (extra)
            p { "The connector (your service that moves connections through their statuses) authenticates with one of these." }
            form.inline method="post" action="/console/connectors" {
                (csrf(s))
                label for="connector-name" { "New credential's name" }
                input #connector-name name="name" type="text" required maxlength="200";
                button type="submit" { "Create a credential" }
            }
            table {
                caption { "Connector credentials" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Id" } th scope="col" { "Created" } th scope="col" { "Revoked" } th scope="col" { "Action" } } }
                tbody {
                    @for c in rows {
                        tr {
                            td { (c.name) }
                            td { code { (c.id) } }
                            td { (time(c.created_at)) }
                            td { (time_or(c.revoked_at, "live")) }
                            td { @if c.revoked_at.is_none() { a.danger href=(format!("/console/connectors/{}/revoke", c.id)) { "Revoke…" } } }
                        }
                    }
                }
            }
            (next_page(next))
        },
    ))
}

async fn connectors(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    ok(connectors_page(&st, &s, &query(q), html! {}).await?)
}

async fn create_connector(State(st): State<ConsoleState>, s: Signed, Extension(form): Extension<FormFields>) -> Answer {
    let created =
        connectors::create(st.store.as_ref(), Actor::Operator(&s.operator), form.text("name"), st.clock.now()).await;
    let (_, credential) = match created {
        Err(CoreError::Invalid(m)) => {
            return Err(respond(
                StatusCode::BAD_REQUEST,
                connectors_page(&st, &s, &FormFields::default(), problem(&sentence(&m))).await?,
            ));
        }
        other => other.map_err(refused)?,
    };
    ok(connectors_page(&st, &s, &FormFields::default(), secret_once("connector credential", credential.expose()))
        .await?)
}

async fn revoke_connector_confirm(State(st): State<ConsoleState>, s: Signed, Path(id): Path<String>) -> Answer {
    let c = db(st.store.find_connector(&ConnectorId::from_string(id)).await)?.ok_or_else(html::not_found)?;
    confirm(
        &s,
        Confirm {
            title: "Revoke a connector credential?",
            section: "/console/connectors",
            question: html! { "Revoke connector credential " strong { (c.name) } " (" code { (c.id) } ")?" },
            warning: "The connector using it is refused from now on, on every replica: it can no longer report connection statuses until it is given another credential. This cannot be undone.",
            action: format!("/console/connectors/{}/revoke", c.id),
            button: "Revoke the credential",
            cancel: "/console/connectors".to_owned(),
        },
    )
}

async fn revoke_connector(State(st): State<ConsoleState>, s: Signed, Path(id): Path<String>) -> Answer {
    let id = ConnectorId::from_string(id);
    connectors::revoke(st.store.as_ref(), Actor::Operator(&s.operator), &id, st.clock.now()).await.map_err(refused)?;
    see("/console/connectors?done=connector-revoked")
}

// ---- Retailers ---------------------------------------------------------------------------

async fn retailers_page(st: &ConsoleState, s: &Signed, q: &FormFields, extra: Markup) -> Result<Markup, Response> {
    let all = db(st.store.list_retailers().await)?;
    let (rows, next) = keyset(&all, q.get("after"), |r: &Retailer| r.retailer_id.as_str(), "/console/retailers?after=");
    Ok(page(
        "Retailers",
        Some(s),
        "/console/retailers",
        html! {
            (done_notice(q))
            (extra)
            p { "The catalogue answered by " code { "GET /retailers" } " and " code { "GET /merchants" } ". The connector's purchases are taken only for connections of a retailer in it." }
            form.inline method="post" action="/console/retailers" {
                (csrf(s))
                label for="retailer-id" { "Retailer id" }
                input #retailer-id name="retailer_id" type="text" required maxlength="26" pattern="[A-Za-z0-9_-]{1,26}";
                label for="retailer-name" { "Name" }
                input #retailer-name name="name" type="text" required maxlength=(crate::domain::retailer::RetailerName::MAX_CHARS);
                button type="submit" { "Add or rename" }
            }
            table {
                caption { "Retailers" }
                thead { tr { th scope="col" { "Id" } th scope="col" { "Name" } th scope="col" { "Added" } th scope="col" { "Action" } } }
                tbody {
                    @for r in rows {
                        tr {
                            td { code { (r.retailer_id) } }
                            td { (r.name) }
                            td { (time(r.created_at)) }
                            td { a.danger href=(format!("/console/retailers/{}/remove", r.retailer_id)) { "Remove…" } }
                        }
                    }
                }
            }
            (next_page(next))
        },
    ))
}

async fn retailers(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    ok(retailers_page(&st, &s, &query(q), html! {}).await?)
}

async fn put_retailer(State(st): State<ConsoleState>, s: Signed, Extension(form): Extension<FormFields>) -> Answer {
    let (id, name) = (form.text("retailer_id"), form.text("name"));
    match retailers::put(st.store.as_ref(), Actor::Operator(&s.operator), id, name, st.clock.now()).await {
        Err(CoreError::Invalid(m)) => {
            return Err(respond(
                StatusCode::BAD_REQUEST,
                retailers_page(&st, &s, &FormFields::default(), problem(&sentence(&m))).await?,
            ));
        }
        other => other.map_err(refused)?,
    };
    see("/console/retailers?done=retailer-saved")
}

async fn remove_retailer_confirm(State(st): State<ConsoleState>, s: Signed, Path(id): Path<String>) -> Answer {
    let r = db(st.store.find_retailer(&id).await)?.ok_or_else(html::not_found)?;
    confirm(
        &s,
        Confirm {
            title: "Remove a retailer?",
            section: "/console/retailers",
            question: html! { "Remove " strong { (r.name) } " (" code { (r.retailer_id) } ") from the catalogue?" },
            warning: "Its connections stay as they are and their purchases stay readable, but the connector's new purchases for them are refused (409) until it is added again. GET /retailers and GET /merchants stop listing it.",
            action: format!("/console/retailers/{}/remove", r.retailer_id),
            button: "Remove the retailer",
            cancel: "/console/retailers".to_owned(),
        },
    )
}

async fn remove_retailer(State(st): State<ConsoleState>, s: Signed, Path(id): Path<String>) -> Answer {
    retailers::remove(st.store.as_ref(), Actor::Operator(&s.operator), &id, st.clock.now()).await.map_err(refused)?;
    see("/console/retailers?done=retailer-removed")
}

// ---- Audit log and operators -----------------------------------------------------------

async fn audit(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    let q = query(q);
    let before = q.get("before").filter(|b| !b.is_empty());
    let mut rows = db(st.store.list_audit(before, PAGE + 1).await)?;
    let more = rows.len() > PAGE as usize;
    rows.truncate(PAGE as usize);
    let next = more.then(|| rows.last().map(|r| format!("/console/audit?before={}", r.id))).flatten();
    ok(page(
        "Audit log",
        Some(&s),
        "/console/audit",
        html! {
            p { "Every console action: which operator, what, on what, when." }
            table {
                caption { "Console actions, newest first" }
                thead { tr { th scope="col" { "When" } th scope="col" { "Operator" } th scope="col" { "Action" } th scope="col" { "Target" } } }
                tbody {
                    @for r in &rows {
                        tr { td { (time(r.at)) } td { (r.operator) } td { code { (r.action) } } td { code { (r.target) } } }
                    }
                }
            }
            (next_page(next))
        },
    ))
}

async fn operators(State(st): State<ConsoleState>, s: Signed) -> Answer {
    let all = db(st.store.list_operators().await)?;
    ok(page(
        "Operators",
        Some(&s),
        "/console/operators",
        html! {
            p { "Operators are managed on the server: " code { "tessera operator create NAME" } ", " code { "tessera operator list" } ", " code { "tessera operator remove NAME" } "." }
            table {
                caption { "Operators" }
                thead { tr { th scope="col" { "Name" } th scope="col" { "Signs in with" } th scope="col" { "Created" } } }
                tbody {
                    @for o in &all {
                        tr {
                            td { (o.name) }
                            td { @if o.password_hash.is_some() { "password or link" } @else { "link" } }
                            td { (time(o.created_at)) }
                        }
                    }
                }
            }
        },
    ))
}
