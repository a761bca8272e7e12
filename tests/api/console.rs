//! The operator console's security properties over HTTP (the flows themselves run in
//! Chromium: tests/console/console_check.py): the session cookie's attributes, sign-out and
//! expiry ending sessions server-side, anti-forgery tokens and origin checks on every POST,
//! rate-limited sign-ins, escaping of tenant data, the CSP, the audit record, and the console
//! turned off or moved to a listener of its own.
use std::sync::Arc;

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use tessera::auth::operator::hash_password;
use tessera::config::ServeConfig;
use tessera::domain::ids::OperatorId;
use tessera::domain::operator::Operator;
use tessera::token::clock::{Clock as _, ManualClock, SystemClock};

use super::helpers::TestApp;
use crate::support::TestDb;
use crate::support::server::{cli_json, start};

/// Form fields or headers.
type Pairs<'a> = &'a [(&'a str, &'a str)];

const PASSWORD: &str = "a long enough password";

/// An HTTP client that shows redirects instead of following them.
fn browser() -> reqwest::Client {
    reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client")
}

async fn add_operator(app: &TestApp, name: &str) {
    let op = Operator {
        id: OperatorId::generate(),
        name: name.into(),
        password_hash: Some(hash_password(PASSWORD).expect("hash")),
        created_at: SystemClock.now(),
    };
    app.store.create_operator(&op).await.expect("operator");
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: String,
}

async fn send(req: reqwest::RequestBuilder) -> Answer {
    let r = req.send().await.expect("sent");
    let (status, headers) = (r.status(), r.headers().clone());
    Answer { status, headers, body: r.text().await.expect("body") }
}

fn location(a: &Answer) -> &str {
    a.headers.get("location").and_then(|v| v.to_str().ok()).unwrap_or_default()
}

async fn sign_in(base: &str, name: &str, password: &str, extra: &[(&str, &str)]) -> Answer {
    let mut req = browser().post(format!("{base}/console/sign-in")).form(&[("name", name), ("password", password)]);
    for (k, v) in extra {
        req = req.header(*k, *v);
    }
    send(req).await
}

/// Signs in; returns the `Cookie` header value of the session.
async fn session(base: &str, name: &str) -> String {
    let a = sign_in(base, name, PASSWORD, &[]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER, "{}", a.body);
    let set = a.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("a cookie");
    set.split(';').next().expect("name=value").to_owned()
}

async fn get(base: &str, path: &str, cookie: &str) -> Answer {
    send(browser().get(format!("{base}{path}")).header("cookie", cookie)).await
}

/// The anti-forgery token in a page's forms.
fn csrf_of(page: &str) -> String {
    let at = page.find("name=\"csrf\" value=\"").expect("a form with a token") + "name=\"csrf\" value=\"".len();
    page[at..].split('"').next().expect("value").to_owned()
}

async fn post(base: &str, path: &str, cookie: &str, form: &[(&str, &str)], headers: &[(&str, &str)]) -> Answer {
    let mut req = browser().post(format!("{base}{path}")).header("cookie", cookie).form(form);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    send(req).await
}

async fn session_cookie_is_strict_http_only_and_sign_out_ends_it(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    let a = sign_in(&app.base, "ops", PASSWORD, &[]).await;
    assert_eq!(a.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&a), "/console");
    let set = a.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").to_owned();
    for attribute in ["tessera_console=", "; Path=/console", "; HttpOnly", "; SameSite=Strict", "; Max-Age=43200"] {
        assert!(set.contains(attribute), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP without a proxy: {set}");
    // Behind a proxy that says the browser used HTTPS, the cookie is Secure.
    let behind = sign_in(&app.base, "ops", PASSWORD, &[("x-forwarded-proto", "https")]).await;
    assert!(behind.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie").contains("; Secure"));

    let cookie = set.split(';').next().expect("pair").to_owned();
    let page = get(&app.base, "/console", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Signed in as <strong>ops</strong>"), "{}", page.body);
    // A small database is counted on every view: the default client and its key.
    assert!(page.body.contains("<dt>Clients</dt><dd>1</dd>"), "{}", page.body);
    assert!(page.body.contains("<dt>Live API keys</dt><dd>1</dd>"), "{}", page.body);
    // Retention's line: every retained table, with its oldest row and what was pruned.
    for rule in tessera::storage::retention::RULES {
        assert!(page.body.contains(&format!("<code>{}</code>", rule.table)), "{}", page.body);
    }
    let csrf = csrf_of(&page.body);
    let out = post(&app.base, "/console/sign-out", &cookie, &[("csrf", &csrf)], &[]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    assert!(out.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("cleared").contains("Max-Age=0"));
    // The server forgot the session: the same cookie, replayed, signs nobody in.
    let after = get(&app.base, "/console", &cookie).await;
    assert_eq!(after.status, StatusCode::SEE_OTHER);
    assert_eq!(location(&after), "/console/sign-in");
    let audit = app.store.list_audit(None, 10).await.expect("audit");
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(actions, ["sign_out", "sign_in.password", "sign_in.password"]);
    assert!(audit.iter().all(|e| e.operator == "ops"));
}

async fn posts_need_the_session_token_and_the_console_origin(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    let cookie = session(&app.base, "ops").await;
    let csrf = csrf_of(&get(&app.base, "/console/clients", &cookie).await.body);
    let host = app.base.trim_start_matches("http://").to_owned();
    let own_origin = format!("http://{host}");
    let refused: [(Pairs<'_>, Pairs<'_>); 5] = [
        (&[("name", "no token")], &[]),
        (&[("name", "wrong token"), ("csrf", "AAAA")], &[]),
        (&[("name", "evil origin"), ("csrf", &csrf)], &[("origin", "http://evil.example")]),
        (&[("name", "cross site"), ("csrf", &csrf)], &[("sec-fetch-site", "cross-site")]),
        (&[("name", "same site other origin"), ("csrf", &csrf)], &[("sec-fetch-site", "same-site")]),
    ];
    for (form, headers) in refused {
        let a = post(&app.base, "/console/clients", &cookie, form, headers).await;
        assert_eq!(a.status, StatusCode::FORBIDDEN, "{form:?} {headers:?}");
        assert!(a.body.contains("Refused"), "{}", a.body);
    }
    // A form from another origin cannot sign anyone in either (login forgery).
    let forged = sign_in(&app.base, "ops", PASSWORD, &[("origin", "http://evil.example")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN);
    assert_eq!(app.store.list_clients().await.expect("clients").len(), 1, "only the default client");

    let ok = post(
        &app.base,
        "/console/clients",
        &cookie,
        &[("name", "made here"), ("csrf", &csrf)],
        &[("origin", &own_origin), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    let clients = app.store.list_clients().await.expect("clients");
    assert_eq!(clients.iter().map(|c| c.name.as_str()).collect::<Vec<_>>(), ["default", "made here"]);
    // Another session's token is not this session's.
    add_operator(&app, "other").await;
    let other = session(&app.base, "other").await;
    let stolen = post(&app.base, "/console/clients", &other, &[("name", "x"), ("csrf", &csrf)], &[]).await;
    assert_eq!(stolen.status, StatusCode::FORBIDDEN);
    let audit = app.store.list_audit(None, 10).await.expect("audit");
    let created = audit.iter().find(|e| e.action == "client.create").expect("recorded");
    assert_eq!((created.operator.as_str(), created.target.as_str()), ("ops", clients[1].id.as_str()));
}

async fn sessions_end_when_idle_or_too_old(db: TestDb) {
    let clock = Arc::new(ManualClock::new(SystemClock.now()));
    let mut config = ServeConfig::for_tests();
    config.console.console_idle_timeout = 60;
    config.console.console_session_lifetime = 300;
    // The test moves its own clock: the clock check is off here.
    config.tokens.clock_max_skew = 0;
    let app = TestApp::spawn_with(db, config, clock.clone()).await;
    add_operator(&app, "ops").await;

    let idle = session(&app.base, "ops").await;
    clock.advance(59);
    assert_eq!(get(&app.base, "/console", &idle).await.status, StatusCode::OK, "used within the idle limit");
    clock.advance(59);
    assert_eq!(get(&app.base, "/console", &idle).await.status, StatusCode::OK, "each use restarts the idle limit");
    clock.advance(61);
    let expired = get(&app.base, "/console", &idle).await;
    assert_eq!((expired.status, location(&expired)), (StatusCode::SEE_OTHER, "/console/sign-in"), "idle too long");

    let busy = session(&app.base, "ops").await;
    for _ in 0..5 {
        clock.advance(55);
        assert_eq!(get(&app.base, "/console", &busy).await.status, StatusCode::OK);
    }
    clock.advance(55);
    let old = get(&app.base, "/console", &busy).await;
    assert_eq!((old.status, location(&old)), (StatusCode::SEE_OTHER, "/console/sign-in"), "past the absolute limit");
    // Signing in again starts a fresh session.
    let fresh = session(&app.base, "ops").await;
    assert_eq!(get(&app.base, "/console", &fresh).await.status, StatusCode::OK);
}

async fn failed_sign_ins_are_rate_limited(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    for i in 0..10 {
        let a = sign_in(&app.base, "ops", &format!("wrong password {i:02}"), &[]).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "attempt {i}");
        assert!(a.body.contains("Wrong operator name or password"));
        assert!(!a.body.contains(&format!("wrong password {i:02}")), "the password is never echoed");
    }
    let unknown = sign_in(&app.base, "nobody", PASSWORD, &[]).await;
    assert_eq!(unknown.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(unknown.headers.get("retry-after").is_some());
    // Even the right password waits: guessing gets no answer while limited.
    assert_eq!(sign_in(&app.base, "ops", PASSWORD, &[]).await.status, StatusCode::TOO_MANY_REQUESTS);
    let link = send(browser().post(format!("{}/console/sign-in/link", app.base)).form(&[("token", "guess")])).await;
    assert_eq!(link.status, StatusCode::TOO_MANY_REQUESTS, "sign-in links share the limit");
}

/// A client whose connections come from `ip` (any 127.0.0.0/8 address reaches the server).
fn browser_from(ip: [u8; 4]) -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .local_address(std::net::IpAddr::from(ip))
        .build()
        .expect("client")
}

/// Guesses at one operator spread over many source addresses, each far under its own
/// allowance, still run out of the operator's; and password checks running at once are
/// bounded, whatever the number of addresses.
async fn sign_in_guesses_are_limited_per_operator_and_hashes_are_bounded(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    let attempt = async |ip: [u8; 4], name: &str, password: &str| {
        let req = browser_from(ip)
            .post(format!("{}/console/sign-in", app.base))
            .form(&[("name", name), ("password", password)]);
        send(req).await
    };
    for i in 0..10u8 {
        let a = attempt([127, 0, 1, i + 1], "ops", "wrong password here").await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "guess {i}");
    }
    for i in 0..5u8 {
        let a = attempt([127, 0, 2, i + 1], " OPS ", "wrong password here").await;
        assert_eq!(a.status, StatusCode::TOO_MANY_REQUESTS, "the name's allowance is spent, from any address");
        assert!(a.headers.get("retry-after").is_some());
    }
    let right = attempt([127, 0, 3, 1], "ops", PASSWORD).await;
    assert_eq!(right.status, StatusCode::TOO_MANY_REQUESTS, "no answer to a guess while the name is limited");
    // Another operator's name, from a fresh address, is not held back by it.
    add_operator(&app, "other").await;
    assert_eq!(attempt([127, 0, 3, 2], "other", PASSWORD).await.status, StatusCode::SEE_OTHER);

    // Many names at once from many addresses: at most a few checks run, the rest are 429.
    let mut tasks = Vec::new();
    for i in 0..24u8 {
        let base = app.base.clone();
        tasks.push(tokio::spawn(async move {
            let req = browser_from([127, 0, 4, i + 1])
                .post(format!("{base}/console/sign-in"))
                .form(&[("name", format!("nobody-{i}")), ("password", "wrong password here".into())]);
            send(req).await.status
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.expect("task"));
    }
    assert!(
        statuses.iter().all(|s| *s == StatusCode::UNAUTHORIZED || *s == StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    assert!(statuses.contains(&StatusCode::TOO_MANY_REQUESTS), "concurrent password checks are bounded: {statuses:?}");
    assert!(statuses.contains(&StatusCode::UNAUTHORIZED), "{statuses:?}");
}

async fn tenant_data_is_text_and_pages_carry_the_csp(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    let hostile = "<script>alert(1)</script>\"><img src=x onerror=alert(2)>";
    let r = app
        .call(
            "POST",
            "/connections",
            &app.api_key,
            Some(serde_json::json!({"customer_id": hostile, "retailer_id": "<b>r</b>", "email": hostile})),
        )
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["connection_id"].as_str().expect("id").to_owned();
    let cookie = session(&app.base, "ops").await;
    let query = url::form_urlencoded::Serializer::new(String::new()).append_pair("q", hostile).finish();
    for path in [format!("/console/connections/{id}"), format!("/console/connections?{query}")] {
        let page = get(&app.base, &path, &cookie).await;
        assert_eq!(page.status, StatusCode::OK, "{path}");
        assert!(!page.body.contains("<script>alert") && !page.body.contains("<img src=x"), "{path}: {}", page.body);
        assert!(!page.body.contains("<b>r</b>"), "{path}");
        assert!(page.body.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img"), "{path}: {}", page.body);
        let csp = page.headers.get("content-security-policy").and_then(|v| v.to_str().ok()).expect("a CSP");
        assert_eq!(csp, tessera::console::CSP);
        assert!(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"), "{csp}");
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("form-action 'self'"), "{csp}");
        assert_eq!(page.headers.get("cache-control").and_then(|v| v.to_str().ok()), Some("no-store"));
        assert_eq!(page.headers.get("referrer-policy").and_then(|v| v.to_str().ok()), Some("no-referrer"));
        assert_eq!(page.headers.get("x-frame-options").and_then(|v| v.to_str().ok()), Some("DENY"));
    }
    // The sign-in page (no session) has them too; its script and style are files of its own.
    let open = get(&app.base, "/console/sign-in", "").await;
    assert_eq!(open.headers.get("content-security-policy").and_then(|v| v.to_str().ok()), Some(tessera::console::CSP));
    assert!(!open.body.contains("<script>") && !open.body.contains("style="), "nothing inline: {}", open.body);
    for asset in ["/console/assets/console.js", "/console/assets/console.css"] {
        assert_eq!(get(&app.base, asset, "").await.status, StatusCode::OK, "{asset}");
    }
}

async fn the_console_can_be_turned_off_or_given_its_own_listener(db: TestDb) {
    let mut off = ServeConfig::for_tests();
    off.console.enabled = false;
    let other = TestDb::new(db.backend).await.expect("a second database");
    let app = TestApp::spawn_with(other, off, Arc::new(SystemClock)).await;
    let a = get(&app.base, "/console/sign-in", "").await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "turned off: {}", a.body);
    drop(app);

    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let listen = format!("127.0.0.1:{port}");
    let server = start(&db, &["--console-listen", &listen]);
    let main = get(&server.base, "/console/sign-in", "").await;
    assert_eq!(main.status, StatusCode::NOT_FOUND, "moved off the main listener");
    let own = format!("http://{listen}");
    let page = get(&own, "/console/sign-in", "").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("Operator name"));
    assert_eq!(location(&get(&own, "/", "").await), "/console");
    assert_eq!(get(&own, "/connections", "").await.status, StatusCode::NOT_FOUND, "only the console there");
}

async fn operator_cli_prints_a_link_that_signs_in_once(db: TestDb) {
    let server = start(&db, &[]);
    let addr = server.base.trim_start_matches("http://").to_owned();
    let created = cli_json(&db, &["operator", "create", "ann", "--bind", &addr, "--json"]);
    let url = created["sign_in_url"].as_str().expect("url").to_owned();
    let prefix = format!("{}/console/sign-in/link?token=", server.base);
    assert!(url.starts_with(&prefix), "{url}");
    let token = &url[prefix.len()..];
    // Opening the link only shows a button: a link preview fetching it signs nobody in.
    assert_eq!(get(&server.base, &url[server.base.len()..], "").await.status, StatusCode::OK);
    let redeem = || send(browser().post(format!("{}/console/sign-in/link", server.base)).form(&[("token", token)]));
    let first = redeem().await;
    assert_eq!((first.status, location(&first)), (StatusCode::SEE_OTHER, "/console"));
    let cookie = first.headers.get("set-cookie").and_then(|v| v.to_str().ok()).expect("cookie");
    let cookie = cookie.split(';').next().expect("pair").to_owned();
    assert_eq!(get(&server.base, "/console", &cookie).await.status, StatusCode::OK);
    assert_eq!(redeem().await.status, StatusCode::UNAUTHORIZED, "a link works once");

    let listed = cli_json(&db, &["operator", "list", "--json"]);
    assert_eq!(listed[0]["name"], "ann");
    assert_eq!(listed[0]["password"], false);
    assert!(!listed.to_string().contains(token));
    cli_json(&db, &["operator", "remove", "ann", "--json"]);
    let gone = get(&server.base, "/console", &cookie).await;
    assert_eq!((gone.status, location(&gone)), (StatusCode::SEE_OTHER, "/console/sign-in"), "removal ends sessions");
}

async fn lists_are_paged_by_id(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    for _ in 0..55 {
        app.new_key(&app.client_id).await;
    }
    for _ in 0..53 {
        app.create_connection(&app.api_key, "many").await;
    }
    let cookie = session(&app.base, "ops").await;
    let rows = |body: &str, marker: &str| body.matches(marker).count();
    let next_of = |body: &str| {
        let at = body.find("rel=\"next\"").map(|i| body[..i].rfind("href=\"").expect("href") + 6)?;
        Some(body[at..].split('"').next().expect("link").replace("&amp;", "&"))
    };
    // 56 keys (the default one and 55): 50, then 6.
    let first = get(&app.base, &format!("/console/clients/{}", app.client_id), &cookie).await.body;
    assert_eq!(rows(&first, "/revoke\">Revoke"), 50);
    let next = next_of(&first).expect("a next page");
    let second = get(&app.base, &next, &cookie).await.body;
    assert_eq!(rows(&second, "/revoke\">Revoke"), 6);
    assert!(next_of(&second).is_none());
    // 53 connections of one customer, newest first: 50, then 3, none twice.
    let first = get(&app.base, "/console/connections?q=many", &cookie).await.body;
    let ids = |body: &str| -> Vec<String> {
        body.match_indices("<a href=\"/console/connections/")
            .map(|(i, m)| body[i + m.len()..].split('"').next().expect("id").to_owned())
            .collect()
    };
    let (page1, next) = (ids(&first), next_of(&first).expect("a next page"));
    let page2 = ids(&get(&app.base, &next, &cookie).await.body);
    assert_eq!((page1.len(), page2.len()), (50, 3));
    let mut all: Vec<String> = page1.iter().chain(&page2).cloned().collect();
    assert!(all.windows(2).all(|w| w[0] > w[1]), "newest first, across pages");
    all.dedup();
    assert_eq!(all.len(), 53);
}

async fn operators_manage_the_retailer_catalogue(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    let cookie = session(&app.base, "ops").await;
    let page = get(&app.base, "/console/retailers", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("<code>walmart</code>"), "the default catalogue is listed: {}", page.body);
    let csrf = csrf_of(&page.body);
    // A bad id is a 400 that says why, and adds nothing.
    let bad = post(
        &app.base,
        "/console/retailers",
        &cookie,
        &[("csrf", &csrf), ("retailer_id", "no spaces"), ("name", "x")],
        &[],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("1 to 26 of a-z A-Z 0-9 _ -"), "{}", bad.body);
    let name = "Shop<script>alert(1)</script>";
    let added = post(
        &app.base,
        "/console/retailers",
        &cookie,
        &[("csrf", &csrf), ("retailer_id", "corner-shop"), ("name", name)],
        &[],
    )
    .await;
    assert_eq!((added.status, location(&added)), (StatusCode::SEE_OTHER, "/console/retailers?done=retailer-saved"));
    let listed = get(&app.base, "/console/retailers", &cookie).await.body;
    assert!(listed.contains("Shop&lt;script&gt;alert(1)&lt;/script&gt;") && !listed.contains(name), "the name is text");
    // The API's catalogue answers with it.
    let api = reqwest::Client::new();
    let merchants: serde_json::Value = api
        .get(format!("{}/merchants", app.base))
        .header("x-api-key", &app.api_key)
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    assert!(
        merchants["merchants"]
            .as_array()
            .expect("list")
            .iter()
            .any(|m| m["merchant_id"] == "corner-shop" && m["name"] == name),
        "{merchants}"
    );
    // Removal asks first, then takes it out of the catalogue.
    let confirm = get(&app.base, "/console/retailers/corner-shop/remove", &cookie).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("refused (409)"), "{}", confirm.body);
    let removed = post(&app.base, "/console/retailers/corner-shop/remove", &cookie, &[("csrf", &csrf)], &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(app.store.find_retailer("corner-shop").await.expect("read").is_none());
    let again = post(&app.base, "/console/retailers/corner-shop/remove", &cookie, &[("csrf", &csrf)], &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let audit = app.store.list_audit(None, 10).await.expect("audit");
    let actions: Vec<(&str, &str)> = audit.iter().map(|e| (e.action.as_str(), e.target.as_str())).collect();
    assert_eq!(&actions[..2], [("retailer.remove", "corner-shop"), ("retailer.put", "corner-shop")]);
}

/// The Link page lists a customer's link tokens (metadata, never a token) and Link sessions
/// with their state; a client's page registers and removes redirect URLs, audited.
async fn operators_see_link_sessions_and_manage_redirect_urls(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    let cookie = session(&app.base, "ops").await;
    let client_page = format!("/console/clients/{}", app.client_id);
    let page = get(&app.base, &client_page, &cookie).await;
    assert!(page.body.contains("None registered"), "{}", page.body);
    let csrf = csrf_of(&page.body);
    let action = format!("{client_page}/redirect-urls");
    let bad = post(&app.base, &action, &cookie, &[("csrf", &csrf), ("url", "ftp://x.example/")], &[]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("Redirect URL"), "{}", bad.body);
    let url = "https://app.example/linked?from=<b>";
    let added = post(&app.base, &action, &cookie, &[("csrf", &csrf), ("url", url)], &[]).await;
    assert_eq!(added.status, StatusCode::SEE_OTHER, "{}", added.body);
    let shown = get(&app.base, &client_page, &cookie).await.body;
    assert!(shown.contains("https://app.example/linked?from=&lt;b&gt;"), "{shown}");

    // A link token and a Link session started with it, through the API and the Link page.
    let created: serde_json::Value = reqwest::Client::new()
        .post(format!("{}/link-tokens", app.base))
        .header("x-api-key", &app.api_key)
        .json(&serde_json::json!({"customer_id": "cust-console", "email": "c@example.com"}))
        .send()
        .await
        .expect("sent")
        .json()
        .await
        .expect("json");
    let token = created["link_token"].as_str().expect("a token").to_owned();
    let start = browser().get(format!("{}/link/{token}", app.base)).query(&[("redirect_url", url)]).send().await;
    let start = start.expect("sent").status();
    assert!(start.is_success() || start.is_redirection(), "{start}");
    let link = format!("/console/link?client={}&customer_id=cust-console", app.client_id);
    let listed = get(&app.base, &link, &cookie).await;
    assert_eq!(listed.status, StatusCode::OK);
    assert!(!listed.body.contains(&token) && !listed.body.contains("lt_v1_"), "no token is shown");
    assert!(listed.body.contains("c@example.com") && listed.body.contains(">active<"), "{}", listed.body);
    assert!(listed.body.contains(">started<") && listed.body.contains("link token"), "{}", listed.body);
    let unknown = get(&app.base, "/console/link?client=cl_unknown&customer_id=x", &cookie).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    let other = get(&app.base, "/console/link?customer_id=someone-else", &cookie).await.body;
    assert!(other.contains("No Link session matches"), "{other}");

    // Removing asks first, then Link refuses the URL.
    let q = format!("url={}", percent_encoding::utf8_percent_encode(url, percent_encoding::NON_ALPHANUMERIC));
    let confirm = get(&app.base, &format!("{client_page}/redirect-urls/remove?{q}"), &cookie).await;
    assert_eq!(confirm.status, StatusCode::OK);
    assert!(confirm.body.contains("Remove the redirect URL"), "{}", confirm.body);
    let removed =
        post(&app.base, &format!("{client_page}/redirect-urls/remove?{q}"), &cookie, &[("csrf", &csrf)], &[]).await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(get(&app.base, &client_page, &cookie).await.body.contains("None registered"));
    let again =
        post(&app.base, &format!("{client_page}/redirect-urls/remove?{q}"), &cookie, &[("csrf", &csrf)], &[]).await;
    assert_eq!(again.status, StatusCode::NOT_FOUND);
    let refused = browser().get(format!("{}/link/{token}", app.base)).query(&[("redirect_url", url)]).send().await;
    assert_eq!(refused.expect("sent").status(), StatusCode::BAD_REQUEST);
    let audit = app.store.list_audit(None, 10).await.expect("audit");
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(&actions[..2], ["redirect_url.remove", "redirect_url.add"]);
}

async fn operators_allow_and_revoke_partner_apps_with_an_audit_trail(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    let cookie = session(&app.base, "ops").await;
    let page = get(&app.base, "/console/partners", &cookie).await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("--oauth-issuer"), "says no issuer is trusted yet");
    let csrf = csrf_of(&page.body);
    let client = app.client_id.as_str();
    let issuer = "https://sso.example.com/realms/partners";
    let bad = post(
        &app.base,
        "/console/partners",
        &cookie,
        &[("csrf", &csrf), ("issuer", "not a url"), ("partner_client_id", "acme"), ("client_id", client)],
        &[],
    )
    .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("issuer URL"), "{}", bad.body);
    let form = [("csrf", csrf.as_str()), ("issuer", issuer), ("partner_client_id", "acme<b>"), ("client_id", client)];
    let allowed = post(&app.base, "/console/partners", &cookie, &form, &[]).await;
    assert_eq!((allowed.status, location(&allowed)), (StatusCode::SEE_OTHER, "/console/partners?done=partner-allowed"));
    let again = post(&app.base, "/console/partners", &cookie, &form, &[]).await;
    assert_eq!(again.status, StatusCode::BAD_REQUEST, "already allowed");
    let listed = get(&app.base, "/console/partners", &cookie).await.body;
    assert!(listed.contains("acme&lt;b&gt;") && listed.contains(issuer), "{listed}");
    let grants = app.core.partners().list().await.expect("list");
    assert_eq!(grants.len(), 1);
    let id = grants[0].id.clone();
    let confirm = get(&app.base, &format!("/console/partners/{id}/revoke"), &cookie).await;
    assert_eq!(confirm.status, StatusCode::OK);
    let revoked = post(&app.base, &format!("/console/partners/{id}/revoke"), &cookie, &[("csrf", &csrf)], &[]).await;
    assert_eq!(revoked.status, StatusCode::SEE_OTHER);
    let grants = app.core.partners().list().await.expect("list");
    assert!(grants[0].revoked_at.is_some());
    // The grant's credential record is revoked with it.
    let key = app.store.find_api_key(&grants[0].api_key_id).await.expect("read").expect("record");
    assert!(key.revoked_at.is_some());
    let audit = app.store.list_audit(None, 10).await.expect("audit");
    let actions: Vec<&str> = audit.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(&actions[..2], ["partner.revoke", "partner.allow"]);
    assert!(
        audit[0].target.contains("acme<b>") && audit[0].target.contains(issuer) && audit[0].target.contains(client)
    );
}

/// An operator renames a client from its page: the form carries the session's token, a bad
/// name is refused beside the form (400) and changes nothing, a good one is shown (as text),
/// and the audit log says who renamed what from which name to which.
async fn operators_rename_a_client_with_an_audit_trail(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    let cookie = session(&app.base, "ops").await;
    let client_page = format!("/console/clients/{}", app.client_id);
    let page = get(&app.base, &client_page, &cookie).await;
    assert!(page.body.contains(&format!("href=\"{client_page}/rename\"")), "{}", page.body);
    let form = get(&app.base, &format!("{client_page}/rename"), &cookie).await;
    assert_eq!(form.status, StatusCode::OK);
    assert!(form.body.contains("value=\"default\""), "the form starts from the current name: {}", form.body);
    let csrf = csrf_of(&form.body);
    let action = format!("{client_page}/rename");
    let forged = post(&app.base, &action, &cookie, &[("name", "Forged")], &[]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "no anti-forgery token, no rename");
    for bad in ["   ", "two\nlines", &"x".repeat(201)] {
        let refused = post(&app.base, &action, &cookie, &[("csrf", &csrf), ("name", bad)], &[]).await;
        assert_eq!(refused.status, StatusCode::BAD_REQUEST, "{bad:?}");
        assert!(refused.body.contains("role=\"alert\"") && refused.body.contains("name"), "{}", refused.body);
    }
    let renamed = post(&app.base, &action, &cookie, &[("csrf", &csrf), ("name", "  Acme <Budgeting>  ")], &[]).await;
    assert_eq!(renamed.status, StatusCode::SEE_OTHER, "{}", renamed.body);
    assert_eq!(location(&renamed), format!("{client_page}?done=client-renamed"));
    let shown = get(&app.base, location(&renamed), &cookie).await.body;
    assert!(shown.contains("Client renamed") && shown.contains("Acme &lt;Budgeting&gt;"), "{shown}");
    let c = app.store.find_client(&app.client_id).await.expect("read").expect("client");
    assert_eq!(c.name, "Acme <Budgeting>");
    let audit = app.store.list_audit(None, 10).await.expect("audit");
    let entry = audit.iter().find(|e| e.action == "client.rename").expect("recorded");
    assert_eq!(entry.operator, "ops");
    assert_eq!(entry.target, format!("{}: \"default\" -> \"Acme <Budgeting>\"", app.client_id));
    assert_eq!(audit.iter().filter(|e| e.action == "client.rename").count(), 1, "refusals change nothing");
    let log = get(&app.base, "/console/audit", &cookie).await.body;
    assert!(log.contains("client.rename") && log.contains("&quot;default&quot; -&gt; &quot;Acme"), "{log}");
    let unknown = get(&app.base, "/console/clients/cl_nobody/rename", &cookie).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
}

/// The overview's retention table says how long each table keeps a row and when its oldest
/// row may go: for a live token, a week after the token expires (a time in the future, and
/// said so), never the expiry itself as if it were the row's age.
async fn the_retention_table_says_when_each_oldest_row_may_go(db: TestDb) {
    let app = TestApp::spawn(db).await;
    add_operator(&app, "ops").await;
    let cookie = session(&app.base, "ops").await;
    let connection = app.create_connection(&app.api_key, "cust-retention").await;
    let minted = app.mint(&app.api_key, &connection).await;
    let token = minted.body["connection_token"].as_str().expect("a token");
    let claims = token.split('.').nth(1).expect("claims");
    let claims: serde_json::Value = serde_json::from_slice(
        &base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, claims).expect("base64"),
    )
    .expect("json");
    let exp = claims["exp"].as_i64().expect("exp");
    let page = get(&app.base, "/console", &cookie).await.body;
    let row = page.split("<code>issued_tokens</code>").nth(1).and_then(|r| r.split("</tr>").next()).expect("a row");
    assert!(row.contains("7 days after its token expires"), "{row}");
    let goes = tessera::domain::time::rfc3339(exp + 7 * 86_400);
    assert!(row.contains(&format!("datetime=\"{goes}\"")), "the oldest row goes a week after exp: {row}");
    assert!(!row.contains("due"), "{row}");
    let events = page.split("<code>connection_events</code>").nth(1).and_then(|r| r.split("</tr>").next());
    assert!(events.expect("a row").contains("90 days after it happened"), "{page}");
    let idle = page.split("<code>idempotency_keys</code>").nth(1).and_then(|r| r.split("</tr>").next());
    assert!(idle.expect("a row").contains("no row to remove"), "{page}");
    assert!(!page.contains("Oldest row ages from"), "{page}");
}

both_backends!(
    the_retention_table_says_when_each_oldest_row_may_go,
    operators_rename_a_client_with_an_audit_trail,
    operators_allow_and_revoke_partner_apps_with_an_audit_trail,
    operators_see_link_sessions_and_manage_redirect_urls,
    operators_manage_the_retailer_catalogue,
    lists_are_paged_by_id,
    session_cookie_is_strict_http_only_and_sign_out_ends_it,
    posts_need_the_session_token_and_the_console_origin,
    sessions_end_when_idle_or_too_old,
    failed_sign_ins_are_rate_limited,
    sign_in_guesses_are_limited_per_operator_and_hashes_are_bounded,
    tenant_data_is_text_and_pages_carry_the_csp,
    the_console_can_be_turned_off_or_given_its_own_listener,
    operator_cli_prints_a_link_that_signs_in_once,
);
