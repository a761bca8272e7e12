//! The retailer catalogue.
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::Response;
use maud::{Markup, html};

use super::{Answer, Confirm, confirm, db, done_notice, keyset, ok, query, refused, see, sentence};
use crate::console::html::{self, csrf, next_page, page, problem, respond, time};
use crate::console::state::{ConsoleState, FormFields, Signed};
use crate::domain::retailer::Retailer;
use crate::service::{Actor, CoreError};

pub(super) async fn retailers_page(
    st: &ConsoleState,
    s: &Signed,
    q: &FormFields,
    extra: Markup,
) -> Result<Markup, Response> {
    let all = db(st.core.retailers().list().await)?;
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

pub(super) async fn retailers(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    ok(retailers_page(&st, &s, &query(q), html! {}).await?)
}

pub(super) async fn put_retailer(
    State(st): State<ConsoleState>,
    s: Signed,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let (id, name) = (form.text("retailer_id"), form.text("name"));
    match st.core.retailers().put(Actor::Operator(&s.operator), id, name, st.clock.now()).await {
        Err(CoreError::Invalid(m)) => {
            return Err(respond(
                StatusCode::BAD_REQUEST,
                retailers_page(&st, &s, &FormFields::default(), problem(&sentence(&m.to_string()))).await?,
            ));
        }
        other => other.map_err(refused)?,
    };
    see("/console/retailers?done=retailer-saved")
}

pub(super) async fn remove_retailer_confirm(
    State(st): State<ConsoleState>,
    s: Signed,
    Path(id): Path<String>,
) -> Answer {
    let r = db(st.core.retailers().find(&id).await)?.ok_or_else(html::not_found)?;
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

pub(super) async fn remove_retailer(State(st): State<ConsoleState>, s: Signed, Path(id): Path<String>) -> Answer {
    st.core.retailers().remove(Actor::Operator(&s.operator), &id, st.clock.now()).await.map_err(refused)?;
    see("/console/retailers?done=retailer-removed")
}
