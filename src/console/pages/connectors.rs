//! Connector credentials.
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::{Answer, Confirm, confirm, db, done_notice, keyset, ok, query, refused, see, sentence};
use crate::console::html::{self, csrf, next_page, page, problem, respond, secret_once, time, time_or};
use crate::console::state::{ConsoleState, FormFields, Signed};
use crate::domain::connector::ConnectorCredential;
use crate::domain::ids::ConnectorId;
use crate::service::{Actor, CoreError};

pub(super) async fn connectors_page(
    st: &ConsoleState,
    s: &Signed,
    q: &FormFields,
    extra: Markup,
) -> Result<Markup, Response> {
    let all = db(st.core.connectors().list().await)?;
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

pub(super) async fn connectors(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    ok(connectors_page(&st, &s, &query(q), html! {}).await?)
}

pub(super) async fn create_connector(
    State(st): State<ConsoleState>,
    s: Signed,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let created = st.core.connectors().create(Actor::Operator(&s.operator), form.text("name"), st.clock.now()).await;
    let (_, credential) = match created {
        Err(CoreError::Invalid(m)) => {
            return Err(respond(
                StatusCode::BAD_REQUEST,
                connectors_page(&st, &s, &FormFields::default(), problem(&sentence(&m.to_string()))).await?,
            ));
        }
        other => other.map_err(refused)?,
    };
    ok(connectors_page(&st, &s, &FormFields::default(), secret_once("connector credential", credential.expose()))
        .await?)
}

pub(super) async fn revoke_connector_confirm(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<ConnectorId>,
) -> Answer {
    let c = db(st.core.connectors().find(&id).await)?.ok_or_else(html::not_found)?;
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

pub(super) async fn revoke_connector(State(st): State<ConsoleState>, s: Signed, Path(id): Path<ConnectorId>) -> Answer {
    st.core.connectors().revoke(Actor::Operator(&s.operator), &id, st.clock.now()).await.map_err(refused)?;
    see("/console/connectors?done=connector-revoked")
}
