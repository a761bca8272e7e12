//! Partner apps: which OAuth clients of a trusted authorization server may act for which
//! client (allowed and revoked here, recorded in the audit log).
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::{Answer, Confirm, confirm, db, done_notice, keyset, ok, query, refused, see, sentence};
use crate::console::html::{self, csrf, next_page, page, problem, respond, time, time_or};
use crate::console::state::{ConsoleState, FormFields, Signed};
use crate::domain::ids::ClientId;
use crate::domain::partner::PartnerGrant;
use crate::service::{Actor, CoreError};

pub(super) async fn partners_page(
    st: &ConsoleState,
    s: &Signed,
    q: &FormFields,
    extra: Markup,
) -> Result<Markup, Response> {
    let all = db(st.core.partners().list().await)?;
    let (rows, next) = keyset(&all, q.get("after"), |g: &PartnerGrant| g.id.as_str(), "/console/partners?after=");
    let issuers = st.partners.as_ref().map(|p| p.settings().issuers.clone()).unwrap_or_default();
    Ok(page(
        "Partner apps",
        Some(s),
        "/console/partners",
        html! {
            (done_notice(q))
            (extra)
            p { "A partner app's access tokens (from a trusted authorization server) act for a client only while it is allowed here, and only within their scopes." }
            @if issuers.is_empty() {
                p { "No authorization server is trusted yet: start tessera with --oauth-issuer." }
            } @else {
                p { "Trusted issuers: " @for (i, url) in issuers.iter().enumerate() { @if i > 0 { ", " } code { (url) } } }
            }
            form method="post" action="/console/partners" {
                (csrf(s))
                label for="partner-issuer" { "Issuer URL (as its tokens' iss states it)" }
                input #partner-issuer name="issuer" type="url" required maxlength="255" value=[issuers.first()];
                label for="partner-client" { "Partner app's client id (its tokens' client_id or azp)" }
                input #partner-client name="partner_client_id" type="text" required maxlength="255";
                label for="partner-for" { "Client it may act for (client id)" }
                input #partner-for name="client_id" type="text" required maxlength="26";
                button type="submit" { "Allow the partner" }
            }
            table {
                caption { "Partner grants" }
                thead { tr { th scope="col" { "Partner app" } th scope="col" { "Issuer" } th scope="col" { "Client" } th scope="col" { "Allowed" } th scope="col" { "Revoked" } th scope="col" { "Action" } } }
                tbody {
                    @for g in rows {
                        tr {
                            td { code { (g.partner_client_id) } }
                            td { code { (g.issuer) } }
                            td { a href=(format!("/console/clients/{}", g.client_id)) { code { (g.client_id) } } }
                            td { (time(g.created_at)) }
                            td { (time_or(g.revoked_at, "live")) }
                            td { @if g.revoked_at.is_none() { a.danger href=(format!("/console/partners/{}/revoke", g.id)) { "Revoke…" } } }
                        }
                    }
                }
            }
            (next_page(next))
        },
    ))
}

pub(super) async fn partners(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    ok(partners_page(&st, &s, &query(q), html! {}).await?)
}

pub(super) async fn allow_partner(
    State(st): State<ConsoleState>,
    s: Signed,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let client = ClientId::from_string(form.text("client_id").trim());
    let allowed = st
        .core
        .partners()
        .allow(
            Actor::Operator(&s.operator),
            form.text("issuer"),
            form.text("partner_client_id"),
            &client,
            st.clock.now(),
        )
        .await;
    match allowed {
        Err(e @ (CoreError::Invalid(_) | CoreError::NotFound(_))) => Err(respond(
            StatusCode::BAD_REQUEST,
            partners_page(&st, &s, &FormFields::default(), problem(&sentence(&e.to_string()))).await?,
        )),
        other => {
            other.map_err(refused)?;
            see("/console/partners?done=partner-allowed")
        }
    }
}

async fn grant(st: &ConsoleState, id: &str) -> Result<PartnerGrant, Response> {
    db(st.core.partners().list().await)?.into_iter().find(|g| g.id == id).ok_or_else(html::not_found)
}

pub(super) async fn revoke_partner_confirm(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<String>,
) -> Answer {
    let g = grant(&st, &id).await?;
    confirm(
        &s,
        Confirm {
            title: "Revoke a partner app?",
            section: "/console/partners",
            question: html! {
                "Stop " strong { code { (g.partner_client_id) } } " of " code { (g.issuer) } " acting for client " code { (g.client_id) } "?"
            },
            warning: "Its access tokens are refused for this client from now on, on every replica. Connection tokens it already minted stay valid until they expire or are revoked. It can be allowed again later.",
            action: format!("/console/partners/{}/revoke", g.id),
            button: "Revoke the partner",
            cancel: "/console/partners".to_owned(),
        },
    )
}

pub(super) async fn revoke_partner(State(st): State<ConsoleState>, s: Signed, Path(id): Path<String>) -> Answer {
    let g = grant(&st, &id).await?;
    st.core.partners().revoke(Actor::Operator(&s.operator), &g.id, st.clock.now()).await.map_err(refused)?;
    see("/console/partners?done=partner-revoked")
}
