//! Signing in (password, one-time link) and out.
use axum::extract::{ConnectInfo, Extension, RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse as _, Redirect};
use maud::{Markup, html};

use super::{Answer, SIGN_IN, SIGN_IN_LINK, db, done_notice, ok, query};
use crate::auth::operator::{verify_nothing, verify_password};
use crate::console::html::{self, page, problem, respond};
use crate::console::session::{
    cleared_cookie, password_check_allowed, password_failed, session_cookie, session_secret, sign_in_allowed,
    sign_in_failed,
};
use crate::console::state::{ConsoleState, FormFields, Signed};

pub(super) fn sign_in_form(message: Option<&str>, q: &FormFields) -> Markup {
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

pub(super) async fn sign_in_page(RawQuery(q): RawQuery) -> Answer {
    ok(sign_in_form(None, &query(q)))
}

/// Starts a session for `operator`: the cookie, the record, and a redirect to the overview.
pub(super) async fn start_session(
    st: &ConsoleState,
    headers: &HeaderMap,
    operator: &crate::domain::operator::Operator,
    how: &str,
) -> Answer {
    let secret = db(st.core.operators().start_session(operator, how, st.clock.now()).await)?;
    Ok(([(header::SET_COOKIE, session_cookie(st, headers, &secret))], Redirect::to("/console")).into_response())
}

pub(super) async fn sign_in(
    State(st): State<ConsoleState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let ip = addr.ip();
    sign_in_allowed(&st, ip).await?;
    let name = form.text("name").to_owned();
    let permit = password_check_allowed(&st, &name).await?;
    let password = form.get("password").unwrap_or_default().to_owned();
    let operator = db(st.core.operators().find_by_name(&name).await)?;
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
            password_failed(&st, ip, &name).await;
            Err(respond(
                StatusCode::UNAUTHORIZED,
                sign_in_form(Some("Wrong operator name or password."), &FormFields::default()),
            ))
        }
    }
}

pub(super) async fn link_page(RawQuery(q): RawQuery) -> Answer {
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

pub(super) async fn redeem_link(
    State(st): State<ConsoleState>,
    ConnectInfo(addr): ConnectInfo<std::net::SocketAddr>,
    headers: HeaderMap,
    Extension(form): Extension<FormFields>,
) -> Answer {
    let ip = addr.ip();
    sign_in_allowed(&st, ip).await?;
    let token = form.text("token");
    let operator =
        if token.is_empty() { None } else { db(st.core.operators().redeem_sign_in_link(token, st.clock.now()).await)? };
    match operator {
        Some(op) => start_session(&st, &headers, &op, "sign_in.link").await,
        None => {
            sign_in_failed(&st, ip).await;
            Err(html::refused(
                StatusCode::UNAUTHORIZED,
                "This sign-in link is used up, expired or wrong. Make a new one on the server: tessera operator link NAME",
            ))
        }
    }
}

pub(super) async fn sign_out(State(st): State<ConsoleState>, s: Signed, headers: HeaderMap) -> Answer {
    let secret = session_secret(&headers);
    db(st.core.operators().end_session(&s.operator, secret.as_deref(), st.clock.now()).await)?;
    Ok(([(header::SET_COOKIE, cleared_cookie())], Redirect::to("/console/sign-in?done=signed-out")).into_response())
}
