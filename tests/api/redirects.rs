//! The `307` from a trailing slash: an absolute `Location` on the request's host, as the
//! reference stack answers, only when that host is a plain `host[:port]`.
use reqwest::StatusCode;

use crate::api::helpers::TestApp;
use crate::support::TestDb;

/// The `Location` of `GET path` sent with exactly this `Host` (never followed).
async fn location(app: &TestApp, path: &str, host: &str) -> String {
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = http.get(format!("{}{path}", app.base)).header("host", host).send().await.expect("sent");
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT, "Host {host:?}");
    r.headers()["location"].to_str().expect("ascii location").to_owned()
}

async fn trailing_slash_redirects_never_reflect_a_hostile_host(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let own = app.base.strip_prefix("http://").expect("http base").to_owned();
    for host in [own.as_str(), "tessera.example", "tessera.example:8443", "[::1]:8080"] {
        assert_eq!(
            location(&app, "/connections/abc/token/?x=1", host).await,
            format!("http://{host}/connections/abc/token?x=1")
        );
    }
    let hostile = [
        "evil.example/phish?",
        "evil.example/phish#",
        "evil.example?",
        "user@evil.example",
        "evil.example:80@x",
        "evil.example\\phish",
        "evil.example:https",
        "evil.example:80/x",
        "evil.example:99999",
        "evil example",
        "evil%2eexample",
        "[evil.example]",
        "[::1",
        "",
    ];
    for host in hostile {
        let loc = location(&app, "/connections/abc/", host).await;
        assert_eq!(loc, "/connections/abc", "Host {host:?} gives the path alone");
        let loc = location(&app, "/healthz//?next=1", host).await;
        assert_eq!(loc, "/healthz?next=1", "Host {host:?} gives the path alone, with the query");
    }
}

crate::both_backends!(trailing_slash_redirects_never_reflect_a_hostile_host);
