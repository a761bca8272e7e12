//! The sandbox's HTTP side: `GET /sign-in?session=<reference>` shows the form for a link
//! session tessera handed off, `POST /sign-in` checks it and completes the session.
//!
//! The session's reference is the per-session unguessable token: it arrives in the link,
//! rides in the form's hidden field, is looked up at tessera on every request (so a used or
//! expired one is refused there), and is never logged. Forms are accepted only from this
//! origin, as the browser says (`Sec-Fetch-Site`, else `Origin`).
// A handler's failure is a whole page (a response) like its success: returned by value.
#![allow(clippy::result_large_err)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use maud::Markup;

use super::accounts::{self, Account, Attempts, MAX_FAILURES, SessionKey, Verdict};
use super::client::{CallError, ConnectorClient, LinkSession, Outcome};
use super::{pages, purchases};

/// The most bytes a form may send.
pub(crate) const MAX_BODY: usize = 16 * 1024;
/// The longest session reference passed on to tessera (anything longer is no reference).
const MAX_REFERENCE: usize = 512;
/// Sessions whose sign-in state is remembered at once, and for how long after their last try.
const MAX_SESSIONS: usize = 10_000;
const SESSION_STATE_TTL: Duration = Duration::from_secs(30 * 60);
/// The Content-Security-Policy of a page without a form: nothing but the sandbox's stylesheet.
const CSP: &str = "default-src 'none'; style-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";
/// Why the expiring account's connection is reported `unauthenticated`.
pub(crate) const EXPIRED_REASON: &str = "the sandbox retailer asked the customer to sign in again";

const EXPIRED: &str = "This sign-in link has expired or was already used. Go back to the app and start again.";

/// What every handler reaches.
pub(crate) struct Sandbox {
    pub client: ConnectorClient,
    pub attempts: Attempts,
    /// How long `user_expiring`'s connection stays active.
    pub expire_after: Duration,
}

impl Sandbox {
    pub(crate) fn new(client: ConnectorClient, expire_after: Duration) -> Self {
        Self { client, attempts: Attempts::new(MAX_SESSIONS, SESSION_STATE_TTL), expire_after }
    }
}

type Shared = Arc<Sandbox>;

/// The sandbox's routes, with the security headers on every answer.
pub(crate) fn router(state: Shared) -> Router {
    Router::new()
        .route("/sign-in", get(show).post(submit))
        .route("/sandbox.css", get(stylesheet))
        .fallback(not_found)
        .layer(middleware::from_fn(security_headers))
        .layer(tower_http::catch_panic::CatchPanicLayer::new())
        .with_state(state)
}

/// Headers every answer carries; a page with a form has set its own CSP already.
async fn security_headers(req: Request, next: Next) -> Response {
    let mut resp = next.run(req).await;
    let h = resp.headers_mut();
    h.entry(header::CONTENT_SECURITY_POLICY).or_insert(HeaderValue::from_static(CSP));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    resp
}

async fn stylesheet() -> Response {
    ([(header::CONTENT_TYPE, "text/css; charset=utf-8")], pages::CSS).into_response()
}

async fn not_found() -> Response {
    html(StatusCode::NOT_FOUND, pages::problem("Not found", "There is no such page here."), None)
}

/// An HTML answer. A page with a form names where the form may lead (`return_url`): the
/// form's answer is a 303 to tessera, which the CSP's `form-action` must allow.
fn html(status: StatusCode, markup: Markup, return_url: Option<&str>) -> Response {
    let mut resp = (status, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], markup.into_string()).into_response();
    if let Some(origin) = return_url.and_then(web_origin) {
        let csp = CSP.replace("form-action 'self'", &format!("form-action 'self' {origin}"));
        if let Ok(v) = HeaderValue::from_str(&csp) {
            resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
        }
    }
    resp
}

/// The origin of an http(s) URL (`http://127.0.0.1:8000`), if it is one.
fn web_origin(url: &str) -> Option<String> {
    let url = url::Url::parse(url).ok()?;
    matches!(url.scheme(), "http" | "https").then(|| url.origin().ascii_serialization())
}

fn expired() -> Response {
    html(StatusCode::NOT_FOUND, pages::problem("Sign-in link expired", EXPIRED), None)
}

fn bad_request(message: &str) -> Response {
    html(StatusCode::BAD_REQUEST, pages::problem("Something is missing", message), None)
}

/// tessera could not be asked: the cause is logged (it names no reference), never shown.
fn unavailable(e: &CallError) -> Response {
    tracing::warn!(error = %e, "sandbox: a call to tessera failed");
    html(
        StatusCode::BAD_GATEWAY,
        pages::problem("Try again shortly", "The sandbox retailer could not reach tessera. Try again in a moment."),
        None,
    )
}

/// A 303 to `url` (tessera's return page), or a page saying where to go if it cannot be one.
fn see_other(url: &str) -> Response {
    match HeaderValue::from_str(url) {
        Ok(v) if web_origin(url).is_some() => (StatusCode::SEE_OTHER, [(header::LOCATION, v)]).into_response(),
        _ => html(StatusCode::OK, pages::problem("Done", "You can close this page and go back to the app."), None),
    }
}

/// The view of `session` a form page shows.
fn view<'a>(reference: &'a str, session: &'a LinkSession) -> pages::SessionView<'a> {
    pages::SessionView {
        reference,
        retailer_name: &session.retailer_name,
        client_name: &session.client_name,
        cancel_url: web_origin(&session.return_url).map(|_| session.return_url.as_str()),
    }
}

/// A plausible reference: present, not huge, printable. Anything else is no session at all.
fn plausible(reference: &str) -> bool {
    !reference.is_empty() && reference.len() <= MAX_REFERENCE && reference.bytes().all(|b| b.is_ascii_graphic())
}

/// The session `reference` names at tessera, or the page to answer instead.
async fn lookup(st: &Sandbox, reference: &str) -> Result<LinkSession, Response> {
    if !plausible(reference) {
        return Err(expired());
    }
    match st.client.link_session(reference).await {
        Ok(Some(session)) => Ok(session),
        Ok(None) => Err(expired()),
        Err(e) => Err(unavailable(&e)),
    }
}

/// `GET /sign-in?session=<reference>`: the form (or the code form, when one is owed).
async fn show(State(st): State<Shared>, uri: Uri) -> Response {
    let fields = Fields::parse(uri.query().unwrap_or_default().as_bytes());
    let Some(reference) = fields.get("session") else {
        return bad_request("This page is opened from an app's sign-in link. Go back to the app and start again.");
    };
    let session = match lookup(&st, reference).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let v = view(reference, &session);
    let markup = if st.attempts.awaiting_code(SessionKey::of(reference), Instant::now()) {
        pages::code(&v, None)
    } else {
        pages::sign_in(&v, None, "")
    };
    html(StatusCode::OK, markup, Some(&session.return_url))
}

/// `POST /sign-in`: a username and password, or (after `user_otp`'s password) a code.
async fn submit(State(st): State<Shared>, req: Request) -> Response {
    if !same_origin(req.headers()) {
        return html(
            StatusCode::FORBIDDEN,
            pages::problem(
                "Refused",
                "This form was sent from another site. Open the sign-in link from the app again.",
            ),
            None,
        );
    }
    let bytes = match axum::body::to_bytes(req.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return html(
                StatusCode::PAYLOAD_TOO_LARGE,
                pages::problem("Too large", "The form sent is too large."),
                None,
            );
        }
    };
    let fields = Fields::parse(&bytes);
    let Some(reference) = fields.get("session") else {
        return bad_request("The form has no sign-in session. Go back to the app and start again.");
    };
    let session = match lookup(&st, reference).await {
        Ok(s) => s,
        Err(page) => return page,
    };
    let key = SessionKey::of(reference);
    let attempt = Attempt { st: &st, reference, key, session: &session };
    if let Some(code) = fields.get("code") {
        return attempt.code(code).await;
    }
    let (Some(username), Some(password)) = (fields.get("username"), fields.get("password")) else {
        return bad_request("The form is missing its username or password. Go back and fill in both.");
    };
    if username.trim().is_empty() || password.is_empty() {
        let page = pages::sign_in(&attempt.view(), Some("Enter your username and password."), username);
        return html(StatusCode::UNPROCESSABLE_ENTITY, page, Some(&session.return_url));
    }
    match accounts::check(username, password) {
        Verdict::Link(account) => attempt.link(account).await,
        Verdict::AskCode => {
            st.attempts.await_code(key, Instant::now());
            html(StatusCode::OK, pages::code(&attempt.view(), None), Some(&session.return_url))
        }
        Verdict::Wrong => {
            attempt.failed("Wrong username or password.", |v, e| pages::sign_in(v, Some(e), username)).await
        }
    }
}

/// One form submission for a live session.
struct Attempt<'a> {
    st: &'a Sandbox,
    reference: &'a str,
    key: SessionKey,
    session: &'a LinkSession,
}

impl Attempt<'_> {
    fn view(&self) -> pages::SessionView<'_> {
        view(self.reference, self.session)
    }

    /// A one-time code: only after the password, and right or wrong like a password.
    async fn code(&self, code: &str) -> Response {
        if !self.st.attempts.awaiting_code(self.key, Instant::now()) {
            let page = pages::sign_in(&self.view(), Some("Sign in with your username and password first."), "");
            return html(StatusCode::BAD_REQUEST, page, Some(&self.session.return_url));
        }
        if accounts::code_matches(code) {
            return self.link(Account::Otp).await;
        }
        self.failed("That code is not right. Check it and try again.", |v, e| pages::code(v, Some(e))).await
    }

    /// A failed try: the form again with `error` (and how many tries are left), or, at the
    /// last one, the session completed as `failed` and the customer sent back to tessera.
    async fn failed(&self, error: &str, form: impl Fn(&pages::SessionView<'_>, &str) -> Markup) -> Response {
        let failures = self.st.attempts.fail(self.key, Instant::now());
        if failures < MAX_FAILURES {
            let left = MAX_FAILURES - failures;
            let plural = if left == 1 { "try" } else { "tries" };
            let message = format!("{error} {left} {plural} left.");
            return html(StatusCode::UNAUTHORIZED, form(&self.view(), &message), Some(&self.session.return_url));
        }
        tracing::info!(retailer_id = %self.session.retailer_id, "sandbox: too many failed sign-ins, the session failed");
        self.complete(Outcome::Failed, None).await
    }

    /// Signed in: the session completed as active, its connection given purchases.
    async fn link(&self, account: Account) -> Response {
        self.complete(Outcome::Active, Some(account)).await
    }

    /// Completes the session at tessera and sends the browser back to it.
    async fn complete(&self, outcome: Outcome, account: Option<Account>) -> Response {
        let done = match self.st.client.complete(self.reference, outcome).await {
            Ok(Some(done)) => done,
            Ok(None) => {
                self.st.attempts.forget(self.key);
                return expired();
            }
            Err(e) => return unavailable(&e),
        };
        self.st.attempts.forget(self.key);
        if let (Some(connection), Some(account)) = (&done.connection, account) {
            after_link(self.st, &connection.connection_id, &connection.retailer_id, account).await;
        }
        see_other(&done.return_url)
    }
}

/// What follows a link: the connection's purchases, and for the expiring account the later
/// report that it needs signing in again. A failure here is logged: the link itself stands.
async fn after_link(st: &Sandbox, connection_id: &str, retailer_id: &str, account: Account) {
    tracing::info!(connection_id, retailer_id, ?account, "sandbox: linked");
    let batch = purchases::for_connection(connection_id, retailer_id);
    if let Err(e) = st.client.put_purchases(connection_id, batch).await {
        tracing::warn!(connection_id, error = %e, "sandbox: writing the purchases failed");
    }
    if account == Account::Expiring {
        let (client, id, after) = (st.client.clone(), connection_id.to_owned(), st.expire_after);
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            match client.report_unauthenticated(&id, EXPIRED_REASON).await {
                Ok(()) => tracing::info!(connection_id = %id, "sandbox: reported the connection unauthenticated"),
                Err(e) => tracing::warn!(connection_id = %id, error = %e, "sandbox: reporting unauthenticated failed"),
            }
        });
    }
}

/// Whether a request was sent by a page of this very origin, as the browser says: by
/// `Sec-Fetch-Site` when sent, else by `Origin` against `Host`. A request with neither (not
/// from a browser) passes: it still needs a live session's reference.
fn same_origin(headers: &HeaderMap) -> bool {
    if let Some(site) = headers.get("sec-fetch-site") {
        return site.as_bytes() == b"same-origin";
    }
    let Some(origin) = headers.get(header::ORIGIN) else { return true };
    let Some(host) = headers.get(header::HOST).and_then(|h| h.to_str().ok()) else { return false };
    let Ok(origin) = origin.to_str() else { return false };
    let rest = origin.strip_prefix("https://").or_else(|| origin.strip_prefix("http://"));
    rest.is_some_and(|r| r.eq_ignore_ascii_case(host))
}

/// A form's (or query's) fields; the first of a repeated name counts.
struct Fields(Vec<(String, String)>);

impl Fields {
    fn parse(bytes: &[u8]) -> Self {
        Self(url::form_urlencoded::parse(bytes).into_owned().collect())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn only_this_origin_may_post_a_form() {
        assert!(same_origin(&headers(&[("sec-fetch-site", "same-origin")])));
        assert!(!same_origin(&headers(&[("sec-fetch-site", "cross-site"), ("origin", "http://a:1"), ("host", "a:1")])));
        assert!(same_origin(&headers(&[("origin", "http://127.0.0.1:8100"), ("host", "127.0.0.1:8100")])));
        assert!(!same_origin(&headers(&[("origin", "http://evil.example"), ("host", "127.0.0.1:8100")])));
        assert!(!same_origin(&headers(&[("origin", "null"), ("host", "127.0.0.1:8100")])));
        assert!(same_origin(&HeaderMap::new()));
    }

    #[test]
    fn a_form_page_may_lead_to_tesseras_origin_only() {
        let resp = html(StatusCode::OK, pages::problem("t", "m"), Some("http://127.0.0.1:8000/link/return?session=x"));
        let csp = resp.headers()[header::CONTENT_SECURITY_POLICY].to_str().expect("csp").to_owned();
        assert!(csp.contains("form-action 'self' http://127.0.0.1:8000;"), "{csp}");
        assert!(csp.contains("default-src 'none'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(web_origin("javascript:alert(1)"), None);
        assert_eq!(web_origin("https://t.example/link/return").as_deref(), Some("https://t.example"));
        let odd = see_other("javascript:alert(1)");
        assert_eq!(odd.status(), StatusCode::OK, "never a redirect to a non-web URL");
        assert_eq!(see_other("http://127.0.0.1:8000/link/return?session=x").status(), StatusCode::SEE_OTHER);
    }

    #[test]
    fn a_reference_is_plausible_before_it_is_sent_on() {
        assert!(plausible("ls_0123abc"));
        assert!(!plausible("") && !plausible("a b") && !plausible(&"x".repeat(MAX_REFERENCE + 1)));
        let f = Fields::parse(b"session=a%2Bb&session=second&username=u");
        assert_eq!(f.get("session"), Some("a+b"));
        assert_eq!(f.get("password"), None);
    }
}
