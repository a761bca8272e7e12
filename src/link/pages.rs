//! The Link pages' handlers: each parses, calls one use case of `service::link`, renders.
use axum::extract::{Extension, Path, RawQuery, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::html;
use super::state::{BASE, COOKIE, CSS, Form, LinkState, cookie, csrf_token};
use crate::domain::link::{LinkSession, SessionState};
use crate::service::CoreError;
use crate::service::link::{self as link, LinkError, SessionView, StartParams};
use crate::storage::StoreError;

pub(super) async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], CSS).into_response()
}

fn query_pairs(query: Option<&str>) -> Vec<(String, String)> {
    url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect()
}

fn param(pairs: &[(String, String)], name: &str) -> Option<String> {
    pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone())
}

/// The `Set-Cookie` value that ties this browser to a session.
fn session_cookie(st: &LinkState, secret: &str) -> String {
    let secure = if st.link.public_url.starts_with("https://") { "; Secure" } else { "" };
    format!("{COOKIE}={secret}; Path={BASE}; HttpOnly; SameSite=Lax; Max-Age={}{secure}", st.link.session_ttl_secs)
}

fn cleared_cookie() -> String {
    format!("{COOKIE}=; Path={BASE}; HttpOnly; SameSite=Lax; Max-Age=0")
}

/// A [`LinkError`] as a page; with the session (when there is one) for the way back.
async fn refused(st: &LinkState, e: LinkError, session: Option<&LinkSession>) -> Response {
    let status = match &e {
        LinkError::BadToken | LinkError::UnknownRetailer => StatusCode::NOT_FOUND,
        LinkError::TokenNotLive | LinkError::SessionOver => StatusCode::GONE,
        LinkError::UnregisteredRedirect => StatusCode::BAD_REQUEST,
        LinkError::BadConnection | LinkError::Stale => StatusCode::CONFLICT,
        LinkError::NoSignIn => StatusCode::SERVICE_UNAVAILABLE,
        LinkError::Core(CoreError::Store(StoreError::Unavailable(_) | StoreError::DiskFull(_))) => {
            return html::problem_page(
                StatusCode::SERVICE_UNAVAILABLE,
                "Link is unavailable",
                "Link cannot be reached right now. Wait a moment, then try again.",
                None,
            );
        }
        LinkError::Core(other) => {
            tracing::error!(error = %crate::telemetry::Chain(other), "a Link page failed");
            return html::problem_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                "Something went wrong",
                "Link could not finish this step. Go back to the app and start again.",
                None,
            );
        }
    };
    let message = e.to_string();
    let back = match session {
        Some(s) => match st.core.link().client_of(s).await {
            Ok(client) => link::redirect_back(s, "error").map(|href| (client.name, href)),
            Err(_) => None,
        },
        None => None,
    };
    html::problem_page(status, "Link cannot go on", &message, back.as_ref().map(|(n, h)| (n.as_str(), h.clone())))
}

/// A step a live session cannot take, as a page with the ways on: the app's way back when
/// it registered one, another retailer when the customer may pick again, and Exit.
async fn refused_live(st: &LinkState, e: LinkError, session: &LinkSession, secret: &str) -> Response {
    let status = match &e {
        LinkError::UnknownRetailer => StatusCode::NOT_FOUND,
        LinkError::NoSignIn => StatusCode::SERVICE_UNAVAILABLE,
        LinkError::BadConnection | LinkError::Stale => StatusCode::CONFLICT,
        _ => return refused(st, e, Some(session)).await,
    };
    let choose_again = session.connection_id.is_none() && session.state == SessionState::Started;
    let markup = html::session_problem("Link cannot go on", &e.to_string(), choose_again, &csrf_token(secret));
    html::respond(status, markup)
}

/// The customer's email as the pages show it.
fn masked(session: &LinkSession) -> Option<String> {
    session.email.as_deref().map(link::masked_email)
}

/// `GET /link/{token}`: starts a session and sends the browser on without the token in the
/// address. While this browser has a session open, none is started: another page may have
/// sent the browser to someone else's Link URL, and the open session is never replaced
/// silently (the customer continues it or exits it first).
pub(super) async fn start(
    State(st): State<LinkState>,
    headers: HeaderMap,
    Path(token): Path<String>,
    RawQuery(query): RawQuery,
) -> Response {
    if let Some(secret) = cookie(&headers)
        && let Ok(open) = st.core.link().current(&secret, st.clock.now()).await
    {
        let markup = match st.core.link().client_of(&open).await {
            Ok(client) => html::already_open(&client, masked(&open).as_deref(), &csrf_token(&secret)),
            Err(e) => return refused(&st, e, Some(&open)).await,
        };
        return html::respond(StatusCode::CONFLICT, markup);
    }
    let pairs = query_pairs(query.as_deref());
    let redirect_url = param(&pairs, "redirect_url");
    let params = StartParams {
        redirect_url: param(&pairs, "redirect_url"),
        retailer_id: param(&pairs, "retailer_id"),
        connection_id: param(&pairs, "connection_id"),
        customer_id: param(&pairs, "customer_id"),
    };
    let now = st.clock.now();
    match st.core.link().start(&token, params, now).await {
        Ok((_, secret)) => {
            let mut resp = Redirect::to("/link/session").into_response();
            if let Ok(v) = HeaderValue::from_str(&session_cookie(&st, secret.expose())) {
                resp.headers_mut().insert(header::SET_COOKIE, v);
            }
            resp
        }
        Err(
            e @ (LinkError::TokenNotLive | LinkError::UnknownRetailer | LinkError::NoSignIn | LinkError::BadConnection),
        ) => {
            // The way back to the app when the token and the redirect URL show which it is.
            match st.core.link().way_back_from_start(&token, redirect_url.as_deref()).await {
                Ok(Some((client, href))) => {
                    let status = match e {
                        LinkError::TokenNotLive => StatusCode::GONE,
                        LinkError::UnknownRetailer => StatusCode::NOT_FOUND,
                        LinkError::NoSignIn => StatusCode::SERVICE_UNAVAILABLE,
                        _ => StatusCode::CONFLICT,
                    };
                    html::problem_page(status, "Link cannot go on", &e.to_string(), Some((client.name.as_str(), href)))
                }
                _ => refused(&st, e, None).await,
            }
        }
        Err(e) => refused(&st, e, None).await,
    }
}

/// The live session of this browser, or the page that says why there is none.
async fn live(st: &LinkState, headers: &HeaderMap) -> Result<(LinkSession, String), Response> {
    let Some(secret) = cookie(headers) else {
        return Err(refused(st, LinkError::SessionOver, None).await);
    };
    match st.core.link().current(&secret, st.clock.now()).await {
        Ok(s) => Ok((s, secret)),
        Err(e) => {
            let ended = st.core.link().by_cookie(&secret).await.ok().flatten();
            Err(refused(st, e, ended.as_ref()).await)
        }
    }
}

/// `GET /link/session[?q=...]`: the step the session is at.
pub(super) async fn session(State(st): State<LinkState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let (session, secret) = match live(&st, &headers).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let csrf = csrf_token(&secret);
    let q = param(&query_pairs(query.as_deref()), "q").unwrap_or_default();
    let q: String = q.chars().take(100).collect();
    let markup = match st.core.link().view(&session, &q).await {
        Ok(SessionView::AtConnector { retailer }) => html::at_connector(retailer.as_ref(), &csrf),
        Ok(SessionView::Consent { client, retailer, relink }) => {
            html::consent(&client, &retailer, relink, masked(&session).as_deref(), &csrf)
        }
        Ok(SessionView::Choose { client, found }) => html::select_retailer(&client, &q, &found, &csrf),
        Err(e) => return refused(&st, e, Some(&session)).await,
    };
    html::respond(StatusCode::OK, markup)
}

/// `POST /link/session/retailer`.
pub(super) async fn choose_retailer(
    State(st): State<LinkState>,
    headers: HeaderMap,
    Extension(form): Extension<Form>,
) -> Response {
    let (session, secret) = match live(&st, &headers).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    let Some(id) = form.get("retailer_id").filter(|s| !s.is_empty()) else {
        return Redirect::to("/link/session").into_response();
    };
    match st.core.link().choose_retailer(&session, id, st.clock.now()).await {
        Ok(_) => Redirect::to("/link/session").into_response(),
        Err(e) => refused_live(&st, e, &session, &secret).await,
    }
}

/// `POST /link/session/consent`: on to the connector's sign-in page.
pub(super) async fn consent(State(st): State<LinkState>, headers: HeaderMap) -> Response {
    let (session, secret) = match live(&st, &headers).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match st.core.link().hand_off(&session, st.clock.now()).await {
        Ok(url) => Redirect::to(&url).into_response(),
        Err(e) => refused_live(&st, e, &session, &secret).await,
    }
}

/// `POST /link/session/exit`: back to the app with `subtotal_link_result=exit`.
pub(super) async fn exit(State(st): State<LinkState>, headers: HeaderMap) -> Response {
    let (session, _) = match live(&st, &headers).await {
        Ok(v) => v,
        Err(page) => return page,
    };
    match st.core.link().exit(&session, st.clock.now()).await {
        Ok(ended) => left(&st, &ended).await,
        Err(e) => refused(&st, e, Some(&session)).await,
    }
}

/// The answer to a customer who left: to the app when it registered a way back.
async fn left(st: &LinkState, ended: &LinkSession) -> Response {
    let mut resp = match link::redirect_back(ended, "exit") {
        Some(href) => Redirect::to(&href).into_response(),
        None => match st.core.link().client_of(ended).await {
            Ok(client) => html::respond(StatusCode::OK, html::exited(&client)),
            Err(e) => return refused(st, e, None).await,
        },
    };
    if let Ok(v) = HeaderValue::from_str(&cleared_cookie()) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}

/// `GET /link/return?session=...`: the connector sent the customer back.
pub(super) async fn returned(State(st): State<LinkState>, headers: HeaderMap, RawQuery(query): RawQuery) -> Response {
    let reference = param(&query_pairs(query.as_deref()), "session").unwrap_or_default();
    let Some(secret) = cookie(&headers) else {
        return refused(&st, LinkError::SessionOver, None).await;
    };
    let ended = match st.core.link().returned(&secret, &reference, st.clock.now()).await {
        Ok(s) => s,
        Err(e) => {
            let session = st.core.link().by_cookie(&secret).await.ok().flatten();
            return refused(&st, e, session.as_ref()).await;
        }
    };
    if ended.state == SessionState::Exited {
        return left(&st, &ended).await;
    }
    let client = match st.core.link().client_of(&ended).await {
        Ok(c) => c,
        Err(e) => return refused(&st, e, None).await,
    };
    let retailer = match &ended.retailer_id {
        Some(id) => st.core.link().retailer(id).await.ok().flatten(),
        None => None,
    };
    let linked = ended.state == SessionState::Completed;
    let back = link::redirect_back(&ended, if linked { "success" } else { "error" });
    let mut resp =
        html::respond(StatusCode::OK, html::result(&client, retailer.as_ref(), linked, ended.reason.as_deref(), back));
    if let Ok(v) = HeaderValue::from_str(&cleared_cookie()) {
        resp.headers_mut().insert(header::SET_COOKIE, v);
    }
    resp
}
