//! Link: a customer's Link sessions and link tokens (metadata only: a token itself is never
//! kept), and each client's registered redirect URLs.
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::html;

use super::clients::{find_client, remove_href};
use super::{Answer, Confirm, confirm, db, ok, query, refused, see, sentence};
use crate::console::html::{self, page, problem, respond, time, time_or};
use crate::console::state::{ConsoleState, FormFields, Signed};
use crate::domain::ids::ClientId;
use crate::service::{Actor, CoreError};

/// The most Link sessions one page lists, newest first.
const SESSIONS: i64 = 100;

/// `/console/link?client=...&customer_id=...`: Link sessions, newest first, for a client and
/// a customer when named; with both named, the customer's link tokens too.
pub(super) async fn link(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    let q = query(q);
    let (client_text, customer) = (q.text("client").to_owned(), q.text("customer_id").to_owned());
    let client = if client_text.is_empty() {
        None
    } else {
        // An unknown client lists nothing rather than everything.
        Some(find_client(&st, &ClientId::from_string(client_text.clone())).await?)
    };
    let customer_filter = (!customer.is_empty()).then_some(customer.as_str());
    let now = st.clock.now();
    let sessions = db(st.core.link().sessions(client.as_ref().map(|c| &c.id), customer_filter, SESSIONS).await)?;
    let tokens = match (&client, customer_filter) {
        (Some(c), Some(customer)) => Some(db(st.core.link().list_tokens(&c.id, customer, None, now).await)?),
        _ => None,
    };
    ok(page(
        "Link",
        Some(&s),
        "/console/link",
        html! {
            p { "Customers link their accounts through the hosted Link pages. A session starts when a customer opens a Link URL and ends when the connector completes it, the customer leaves, or it expires." }
            form.inline role="search" method="get" action="/console/link" {
                label for="link-client" { "Client id" }
                input #link-client name="client" type="text" value=(client_text);
                label for="link-customer" { "Customer id" }
                input #link-customer name="customer_id" type="search" value=(customer);
                button type="submit" { "Show" }
            }
            @if let Some(c) = &client {
                p { "Client " a href=(format!("/console/clients/{}", c.id)) { (c.name) } "." }
            }
            @if let Some(tokens) = &tokens {
                section aria-labelledby="link-tokens" {
                    h2 #link-tokens { "Link tokens" }
                    @if tokens.is_empty() {
                        p.muted { "This customer has no link token." }
                    } @else {
                        table {
                            caption { "The customer's link tokens, oldest first (the tokens themselves are never kept)" }
                            thead { tr { th scope="col" { "Created" } th scope="col" { "Expires" } th scope="col" { "Status" } th scope="col" { "Revoked" } th scope="col" { "Email" } } }
                            tbody {
                                @for t in tokens {
                                    tr {
                                        td { (time(t.created_at)) }
                                        td { (time(t.expires_at)) }
                                        td { span class=(format!("status {}", t.status(now).as_str())) { (t.status(now).as_str()) } }
                                        td { (time_or(t.revoked_at, "no")) }
                                        td { @if let Some(e) = &t.email { (e) } @else { span.muted { "none" } } }
                                    }
                                }
                            }
                        }
                    }
                }
            } @else {
                p.muted { "Name a client and a customer to see the customer's link tokens." }
            }
            section aria-labelledby="link-sessions" {
                h2 #link-sessions { "Link sessions" }
                @if sessions.is_empty() {
                    p.muted { "No Link session matches." }
                } @else {
                    table {
                        caption { (format!("Link sessions, newest first (at most {SESSIONS})")) }
                        thead { tr { th scope="col" { "Started" } th scope="col" { "Client" } th scope="col" { "Customer id" } th scope="col" { "Entered with" } th scope="col" { "Retailer" } th scope="col" { "State" } th scope="col" { "Connection" } th scope="col" { "Reason" } th scope="col" { "Last change" } } }
                        tbody {
                            @for l in &sessions {
                                tr {
                                    td { (time(l.created_at)) }
                                    td { a href=(format!("/console/clients/{}", l.client_id)) { code { (l.client_id) } } }
                                    td { (l.customer_id) }
                                    td { (l.entry.as_str().replace('_', " ")) }
                                    td { @if let Some(r) = &l.retailer_id { code { (r) } } @else { span.muted { "not chosen" } } }
                                    td { span class=(format!("status {}", l.shown_state(now))) { (l.shown_state(now).replace('_', " ")) } }
                                    td {
                                        @if let Some(c) = &l.connection_id {
                                            a href=(format!("/console/connections/{c}")) { code { (c) } }
                                        } @else { span.muted { "none" } }
                                    }
                                    td { @if let Some(r) = &l.reason { (r) } }
                                    td { (time(l.updated_at)) }
                                }
                            }
                        }
                    }
                }
            }
        },
    ))
}

pub(super) async fn add_redirect_url(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<ClientId>,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let c = find_client(&st, &id).await?;
    let added =
        st.core.link().add_redirect_url(Actor::Operator(&s.operator), &c.id, form.text("url"), st.clock.now()).await;
    match added {
        Err(CoreError::Invalid(m)) => Err(respond(
            StatusCode::BAD_REQUEST,
            page(
                "Not registered",
                Some(&s),
                "/console/clients",
                html! {
                    (problem(&sentence(&m.to_string())))
                    p { a href=(format!("/console/clients/{}#redirect-urls", c.id)) { "Back to the client" } }
                },
            ),
        )),
        other => {
            other.map_err(refused)?;
            see(&format!("/console/clients/{}?done=redirect-url-added#redirect-urls", c.id))
        }
    }
}

/// The URL to remove, from the confirmation page's query or the form.
fn url_field(q: &FormFields) -> Result<String, Response> {
    let url = q.text("url");
    if url.is_empty() { Err(html::not_found()) } else { Ok(url.to_owned()) }
}

pub(super) async fn remove_redirect_url_confirm(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<ClientId>,
    RawQuery(q): RawQuery,
) -> Answer {
    let c = find_client(&st, &id).await?;
    let url = url_field(&query(q))?;
    let urls = db(st.core.link().list_redirect_urls(&c.id).await)?;
    if !urls.iter().any(|u| u.url == url) {
        return Err(html::not_found());
    }
    let action = remove_href(&c, &url);
    confirm(
        &s,
        Confirm {
            title: "Remove a redirect URL?",
            section: "/console/clients",
            question: html! { "Stop sending " strong { (c.name) } "'s customers back to " code { (url) } "?" },
            warning: "Link refuses this redirect_url from now on; sessions already started with it keep it.",
            action,
            button: "Remove the redirect URL",
            cancel: format!("/console/clients/{}#redirect-urls", c.id),
        },
    )
}

pub(super) async fn remove_redirect_url(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<ClientId>,
    RawQuery(q): RawQuery,
) -> Answer {
    let c = find_client(&st, &id).await?;
    let url = url_field(&query(q))?;
    st.core
        .link()
        .remove_redirect_url(Actor::Operator(&s.operator), &c.id, &url, st.clock.now())
        .await
        .map_err(refused)?;
    see(&format!("/console/clients/{}?done=redirect-url-removed#redirect-urls", c.id))
}
