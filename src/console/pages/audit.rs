//! The audit log and the operators.
use axum::extract::{RawQuery, State};
use maud::html;

use super::{Answer, PAGE, db, ok, query};
use crate::console::html::{next_page, page, time};
use crate::console::state::{ConsoleState, Signed};

pub(super) async fn audit(State(st): State<ConsoleState>, s: Signed, RawQuery(q): RawQuery) -> Answer {
    let q = query(q);
    let before = q.get("before").filter(|b| !b.is_empty());
    let mut rows = db(st.core.operators().audit_log(before, PAGE + 1).await)?;
    let more = rows.len() > PAGE as usize;
    rows.truncate(PAGE as usize);
    let next = more.then(|| rows.last().map(|r| format!("/console/audit?before={}", r.id))).flatten();
    ok(page(
        "Audit log",
        Some(&s),
        "/console/audit",
        html! {
            p { "Every console action (which operator, what, on what, when), and the renaming of clients from anywhere: by a client's own API key (" code { "api key ID" } ") or on the server (" code { "command line" } ")." }
            table {
                caption { "Audited actions, newest first" }
                thead { tr { th scope="col" { "When" } th scope="col" { "Who" } th scope="col" { "Action" } th scope="col" { "Target" } } }
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

pub(super) async fn operators(State(st): State<ConsoleState>, s: Signed) -> Answer {
    let all = db(st.core.operators().list().await)?;
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
