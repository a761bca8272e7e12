//! The console's pages and form handlers. GET pages only read; every change is a POST from a
//! form (its confirmation page first when it destroys something), answered with a redirect
//! to the page that shows the result.
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use maud::{Markup, html};

use super::html::{self, csrf, notice, page, respond};
use super::state::{ConsoleState, FormFields, Signed};
use crate::service::CoreError;

pub(super) const SIGN_IN: &str = "/console/sign-in";
pub(super) const SIGN_IN_LINK: &str = "/console/sign-in/link";
mod audit;
mod clients;
mod connections;
mod connectors;
mod link;
mod overview;
mod partners;
mod retailers;
mod sign_in;
mod signing_keys;
mod tokens;

use audit::{audit, operators};
use clients::{
    client, clients, create_client, create_key, redeliver, rename_client, rename_client_page, revoke_key,
    revoke_key_confirm, webhook,
};
use connections::{connection, connections, disconnect, disconnect_confirm, revoke_token, revoke_token_confirm};
use connectors::{connectors, create_connector, revoke_connector, revoke_connector_confirm};
use link::{add_redirect_url, link, remove_redirect_url, remove_redirect_url_confirm};
use overview::overview;
use partners::{allow_partner, partners, revoke_partner, revoke_partner_confirm};
use retailers::{put_retailer, remove_retailer, remove_retailer_confirm, retailers};
use sign_in::{link_page, redeem_link, sign_in, sign_in_page, sign_out};
use signing_keys::{rotate, rotate_confirm, signing_keys};
use tokens::{inspect_token, tokens};

/// Rows per page of every list.
const PAGE: u32 = 50;

type Answer = Result<Response, Response>;

/// The console's routes, relative to [`BASE`](super::state::BASE) (the router is nested there).
pub(super) fn routes() -> Router<ConsoleState> {
    Router::new()
        .route("/", get(overview))
        .route("/assets/console.css", get(|| async { asset("text/css; charset=utf-8", html::CSS) }))
        .route("/assets/console.js", get(|| async { asset("text/javascript; charset=utf-8", html::JS) }))
        .route("/sign-in", get(sign_in_page).post(sign_in))
        .route("/sign-in/link", get(link_page).post(redeem_link))
        .route("/sign-out", post(sign_out))
        .route("/clients", get(clients).post(create_client))
        .route("/clients/{id}", get(client))
        .route("/clients/{id}/rename", get(rename_client_page).post(rename_client))
        .route("/clients/{id}/keys", post(create_key))
        .route("/clients/{id}/keys/{key}/revoke", get(revoke_key_confirm).post(revoke_key))
        .route("/clients/{id}/redirect-urls", post(add_redirect_url))
        .route("/clients/{id}/redirect-urls/remove", get(remove_redirect_url_confirm).post(remove_redirect_url))
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
        .route("/partners", get(partners).post(allow_partner))
        .route("/partners/{id}/revoke", get(revoke_partner_confirm).post(revoke_partner))
        .route("/retailers", get(retailers).post(put_retailer))
        .route("/retailers/{id}/remove", get(remove_retailer_confirm).post(remove_retailer))
        .route("/link", get(link))
        .route("/audit", get(audit))
        .route("/operators", get(operators))
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    ([(header::CONTENT_TYPE, content_type), (header::CACHE_CONTROL, "public, max-age=3600")], body).into_response()
}

/// A read's failure as a page: storage's, or a use case's (see [`refused`]).
fn db<T, E: Into<CoreError>>(r: Result<T, E>) -> Result<T, Response> {
    r.map_err(|e| refused(e.into()))
}

/// A use case's failure that is no fault of the form: not found, or storage.
pub(super) fn refused(e: CoreError) -> Response {
    match e {
        CoreError::NotFound(_) => html::not_found(),
        CoreError::Store(e) => html::store_error(&e),
        e @ (CoreError::NotServing | CoreError::Kek(_)) => {
            tracing::error!(error = %crate::telemetry::Chain(&e), "console: a use case could not run");
            html::refused(StatusCode::INTERNAL_SERVER_ERROR, "Something went wrong; it is logged.")
        }
        CoreError::Invalid(m) => respond(StatusCode::BAD_REQUEST, page("Not accepted", None, "", html! { p { (m) } })),
        CoreError::Lifecycle { from, to } => respond(
            StatusCode::CONFLICT,
            page("Not accepted", None, "", html! { p { "A " (from) " connection cannot become " (to) "." } }),
        ),
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
        Some("client-renamed") => "Client renamed: Link pages show the new name from now on.",
        Some("key-revoked") => "API key revoked: requests with it are refused from now on.",
        Some("disconnected") => {
            "Connection disconnected: its tokens are revoked and no new token can be minted for it."
        }
        Some("token-revoked") => "Token revoked.",
        Some("rotation-scheduled") => "Rotation scheduled: the new key is published now and signs from the time shown.",
        Some("rotated") => "Signing key rotated: the new key signs from now on.",
        Some("redelivered") => "Delivery scheduled again.",
        Some("connector-revoked") => "Connector credential revoked.",
        Some("partner-allowed") => {
            "Partner app allowed: its tokens act for the client from now on, within their scopes."
        }
        Some("partner-revoked") => "Partner app revoked: its tokens are refused for that client from now on.",
        Some("retailer-saved") => "Retailer saved in the catalogue.",
        Some("retailer-removed") => {
            "Retailer removed: its connections stay, but the connector's purchases for them are refused until it is added again."
        }
        Some("redirect-url-added") => "Redirect URL registered: Link may send this client's customers back to it.",
        Some("redirect-url-removed") => "Redirect URL removed: Link refuses it from now on.",
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
