//! Partner apps' OAuth access tokens: tessera as a resource server for a trusted issuer.
//!
//! The issuer here is a real HTTP server the test starts (RFC 8414 metadata and a JWKS whose
//! keys, cache lifetime and availability the test controls), signing Ed25519 JWT access
//! tokens (RFC 9068) itself; `tests/oauth/` runs a real authorization server end to end.
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::Signer as _;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::config::ServeConfig;
use tessera::service::Actor;
use tessera::token::clock::SystemClock;

use crate::api::helpers::{Response, TestApp};
use crate::support::TestDb;

pub(super) const AUDIENCE: &str = "https://api.tessera.test";
pub(super) const PARTNER: &str = "partner-app";
pub(super) const ALL: &str = "connections:read connections:write purchases:brand_products webhooks:read webhooks:write";

/// One signing key of the issuer.
#[derive(Clone)]
pub(super) struct Key {
    pub(super) kid: String,
    signing: ed25519_dalek::SigningKey,
    /// The `alg` its JWK names, if any.
    pub(super) alg: Option<&'static str>,
}

impl Key {
    pub(super) fn new(kid: &str) -> Self {
        Key { kid: kid.into(), signing: ed25519_dalek::SigningKey::generate(&mut rand::rngs::OsRng), alg: None }
    }

    fn jwk(&self) -> Value {
        let mut jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": self.kid, "use": "sig",
                             "x": URL_SAFE_NO_PAD.encode(self.signing.verifying_key().as_bytes())});
        if let Some(alg) = self.alg {
            jwk["alg"] = json!(alg);
        }
        jwk
    }
}

/// A stand-in authorization server: metadata and JWKS over HTTP.
pub(super) struct Issuer {
    pub(super) url: String,
    pub(super) published: Arc<Mutex<Vec<Key>>>,
    pub(super) down: Arc<AtomicBool>,
    /// Its metadata names another issuer than itself (a misconfigured issuer URL).
    pub(super) mismatch: Arc<AtomicBool>,
    jwks_fetches: Arc<AtomicUsize>,
    /// Opaque tokens and what introspection answers for them.
    pub(super) opaque: Arc<Mutex<std::collections::HashMap<String, Value>>>,
    introspections: Arc<AtomicUsize>,
    /// Every request it received: method, path, and for introspection the token asked about.
    pub(super) log: Arc<Mutex<Vec<String>>>,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl Issuer {
    pub(super) async fn start(max_age: u32) -> Issuer {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let published = Arc::new(Mutex::new(vec![Key::new("k1")]));
        let down = Arc::new(AtomicBool::new(false));
        let jwks_fetches = Arc::new(AtomicUsize::new(0));
        let metadata = json!({"issuer": url, "jwks_uri": format!("{url}/jwks"), "token_endpoint": format!("{url}/token"),
                              "introspection_endpoint": format!("{url}/introspect")});
        let opaque = Arc::new(Mutex::new(std::collections::HashMap::<String, Value>::new()));
        let introspections = Arc::new(AtomicUsize::new(0));
        let log = Arc::new(Mutex::new(Vec::<String>::new()));
        let mismatch = Arc::new(AtomicBool::new(false));
        let (known, asked, logged, down_introspect) =
            (opaque.clone(), introspections.clone(), log.clone(), down.clone());
        let introspect = move |headers: axum::http::HeaderMap, body: String| {
            let (known, asked, logged, down) = (known.clone(), asked.clone(), logged.clone(), down_introspect.clone());
            async move {
                // Down means every endpoint: a keep-alive connection opened before the outage
                // must not still be answered.
                if down.load(Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response_tuple();
                }
                asked.fetch_add(1, Ordering::SeqCst);
                let expected =
                    format!("Basic {}", base64::engine::general_purpose::STANDARD.encode("tessera:rs-secret"));
                if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(expected.as_str()) {
                    return (axum::http::StatusCode::UNAUTHORIZED, json!({"error": "invalid_client"}).to_string());
                }
                let token = url::form_urlencoded::parse(body.as_bytes())
                    .find(|(k, _)| k == "token")
                    .map(|(_, v)| v.into_owned())
                    .unwrap_or_default();
                logged.lock().expect("lock").push(format!("POST /introspect token={token}"));
                let answer = known.lock().expect("lock").get(&token).cloned().unwrap_or(json!({"active": false}));
                (axum::http::StatusCode::OK, answer.to_string())
            }
        };
        let (keys, is_down, fetches) = (published.clone(), down.clone(), jwks_fetches.clone());
        let jwks = move || {
            let (keys, is_down, fetches) = (keys.clone(), is_down.clone(), fetches.clone());
            async move {
                if is_down.load(Ordering::SeqCst) {
                    return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response_tuple();
                }
                fetches.fetch_add(1, Ordering::SeqCst);
                let set: Vec<Value> = keys.lock().expect("lock").iter().map(Key::jwk).collect();
                (axum::http::StatusCode::OK, json!({"keys": set}).to_string())
            }
        };
        let (down_meta, mismatch_meta) = (down.clone(), mismatch.clone());
        let logged = log.clone();
        let app = axum::Router::new()
            .route(
                "/.well-known/oauth-authorization-server",
                axum::routing::get(move || {
                    let (mut metadata, down, mismatch) = (metadata.clone(), down_meta.clone(), mismatch_meta.clone());
                    async move {
                        if down.load(Ordering::SeqCst) {
                            return axum::http::StatusCode::SERVICE_UNAVAILABLE.into_response_tuple();
                        }
                        if mismatch.load(Ordering::SeqCst) {
                            metadata["issuer"] = json!("https://elsewhere.example");
                        }
                        (axum::http::StatusCode::OK, metadata.to_string())
                    }
                }),
            )
            .route("/jwks", axum::routing::get(jwks))
            .route("/introspect", axum::routing::post(introspect))
            .fallback(|| async { axum::http::StatusCode::NOT_FOUND.into_response_tuple() })
            .layer(axum::middleware::from_fn(move |req: axum::extract::Request, next: axum::middleware::Next| {
                let logged = logged.clone();
                async move {
                    if req.uri().path() != "/introspect" {
                        logged.lock().expect("lock").push(format!("{} {}", req.method(), req.uri().path()));
                    }
                    next.run(req).await
                }
            }))
            .layer(axum::middleware::map_response(move |mut r: axum::response::Response| async move {
                r.headers_mut().insert("cache-control", format!("max-age={max_age}").parse().expect("header"));
                r.headers_mut().insert("content-type", "application/json".parse().expect("header"));
                r
            }));
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Issuer { url, published, down, mismatch, jwks_fetches, opaque, introspections, log, _stop: stop }
    }

    pub(super) fn key(&self) -> Key {
        self.published.lock().expect("lock")[0].clone()
    }

    /// An access token for `client` with `scope`, signed by `key`, with `edit` applied to
    /// its claims.
    pub(super) fn token_with(&self, key: &Key, client: &str, scope: &str, edit: impl FnOnce(&mut Value)) -> String {
        self.token_headed(key, "EdDSA", "at+jwt", client, scope, edit)
    }

    /// As [`Issuer::token_with`], with the header's `alg` and `typ` given.
    pub(super) fn token_headed(
        &self,
        key: &Key,
        alg: &str,
        typ: &str,
        client: &str,
        scope: &str,
        edit: impl FnOnce(&mut Value),
    ) -> String {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("time").as_secs() as i64;
        let mut claims = json!({
            "iss": self.url, "aud": [AUDIENCE], "sub": "partner-user", "client_id": PARTNER,
            "subtotal_client_id": client, "scope": scope, "iat": now, "nbf": now, "exp": now + 300,
            "jti": ulid::Ulid::new().to_string()
        });
        edit(&mut claims);
        sign(&json!({"alg": alg, "typ": typ, "kid": key.kid}), &claims, key)
    }

    pub(super) fn token(&self, client: &str, scope: &str) -> String {
        self.token_with(&self.key(), client, scope, |_| {})
    }
}

/// `(status, body)` as an axum answer, for the two arms of a handler.
trait IntoResponseTuple {
    fn into_response_tuple(self) -> (axum::http::StatusCode, String);
}

impl IntoResponseTuple for axum::http::StatusCode {
    fn into_response_tuple(self) -> (axum::http::StatusCode, String) {
        (self, "{}".into())
    }
}

fn sign(header: &Value, claims: &Value, key: &Key) -> String {
    let input =
        format!("{}.{}", URL_SAFE_NO_PAD.encode(header.to_string()), URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = key.signing.sign(input.as_bytes());
    format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig.to_bytes()))
}

pub(super) async fn spawn(db: TestDb, issuer: &Issuer) -> TestApp {
    let mut config = ServeConfig::for_tests();
    config.oauth.oauth_issuers = vec![issuer.url.clone()];
    config.oauth.oauth_audience = Some(AUDIENCE.into());
    config.oauth.oauth_jwks_min_refetch = 1;
    TestApp::spawn_with(db, config, Arc::new(SystemClock)).await
}

pub(super) async fn allow(app: &TestApp, issuer: &Issuer, client: &tessera::domain::ids::ClientId) -> String {
    let now = tessera::token::clock::Clock::now(&SystemClock);
    app.core.partners().allow(Actor::CommandLine, &issuer.url, PARTNER, client, now).await.expect("allowed").id
}

pub(super) async fn bearer(app: &TestApp, method: &str, path: &str, token: &str, body: Option<Value>) -> Response {
    let auth = format!("Bearer {token}");
    let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
    app.raw(method, path, &[("authorization", &auth), ("content-type", "application/json")], body).await
}

async fn a_partner_acts_for_its_client_as_the_clients_key_would(db: TestDb) {
    let issuer = Issuer::start(300).await;
    let app = spawn(db, &issuer).await;
    let (other, other_key) = app.new_client("other").await;
    allow(&app, &issuer, &app.client_id).await;
    let token = issuer.token(app.client_id.as_str(), ALL);

    // Create a connection and mint a connection token on the seed endpoint, as a partner.
    let r =
        bearer(&app, "POST", "/connections", &token, Some(json!({"customer_id": "c", "retailer_id": "walmart"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let conn = r.body["connection_id"].as_str().expect("id").to_owned();
    let r = bearer(&app, "POST", &format!("/connections/{conn}/token"), &token, Some(json!({"scope": "access"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let minted = r.body["connection_token"].as_str().expect("token").to_owned();
    // The connection token is the client's like any other: its key introspects it as live.
    let r = app.call("POST", "/tokens/introspect", &app.api_key, Some(json!({"token": minted}))).await;
    assert_eq!((r.body["active"].clone(), r.body["client_id"].clone()), (json!(true), json!(app.client_id.as_str())));
    // The seed endpoint's validation is unchanged for a partner.
    let r = bearer(&app, "POST", &format!("/connections/{conn}/token"), &token, Some(json!({"scope": "link"}))).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = bearer(&app, "GET", &format!("/connections/{conn}"), &token, None).await;
    assert_eq!(r.status, StatusCode::OK);

    // Another client's connection does not exist for this partner.
    let theirs = app.create_connection(&other_key, "c").await;
    for (method, path) in [("GET", format!("/connections/{theirs}")), ("POST", format!("/connections/{theirs}/token"))]
    {
        let r = bearer(&app, method, &path, &token, Some(json!({"scope": "access"}))).await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{method} {path}");
    }
    // Purchases with the partner's token alone (no connection token), only of its client.
    let r = bearer(&app, "GET", &format!("/connections/{conn}/purchases"), &token, None).await;
    assert_eq!((r.status, r.body["purchases"].clone()), (StatusCode::OK, json!([])), "{}", r.body);
    let r = bearer(&app, "GET", &format!("/connections/{theirs}/purchases"), &token, None).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // A token naming a client the partner is not allowed for: refused.
    let r = bearer(&app, "GET", "/connections?customer_id=c", &issuer.token(other.as_str(), ALL), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    // GET /account: the client and the token's scopes; null scopes for an API key.
    let r = bearer(&app, "GET", "/account", &token, None).await;
    assert_eq!(r.body["client_id"], app.client_id.as_str());
    assert_eq!(r.body["scopes"], json!(ALL.split(' ').collect::<Vec<_>>()));
    assert_eq!(r.body["partner"], json!({"issuer": issuer.url, "client_id": PARTNER}));
    let r = app.call("GET", "/account", &app.api_key, None).await;
    assert_eq!((r.body["scopes"].clone(), r.body["partner"].clone()), (Value::Null, Value::Null));
    // PATCH /account (renaming the client) takes an API key only, whatever the token's scopes.
    let r = bearer(&app, "PATCH", "/account", &token, Some(json!({"name": "Renamed by a partner"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let client = app.store.find_client(&app.client_id).await.expect("read").expect("client");
    assert_ne!(client.name, "Renamed by a partner");
    // An API key as a bearer token still works beside the partner path.
    let r = bearer(&app, "GET", &format!("/connections/{conn}"), &app.api_key, None).await;
    assert_eq!(r.status, StatusCode::OK);
    // Introspection and revocation take no partner token: refused as on any key-only route.
    let r = bearer(&app, "POST", "/tokens/introspect", &token, Some(json!({"token": minted}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

async fn each_route_group_needs_its_scope_before_the_body_is_read(db: TestDb) {
    let issuer = Issuer::start(300).await;
    let app = spawn(db, &issuer).await;
    allow(&app, &issuer, &app.client_id).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let groups: Vec<(&str, String, &str)> = vec![
        ("GET", "/connections?customer_id=c".into(), "connections:read"),
        ("GET", format!("/connections/{conn}"), "connections:read"),
        ("GET", format!("/connections/{conn}/activity"), "connections:read"),
        ("POST", "/connections".into(), "connections:write"),
        ("PATCH", format!("/connections/{conn}"), "connections:write"),
        ("POST", format!("/connections/{conn}/token"), "connections:write"),
        ("POST", "/link-tokens".into(), "connections:write"),
        ("GET", format!("/connections/{conn}/purchases"), "purchases:brand_products"),
        ("GET", "/webhooks".into(), "webhooks:read"),
        ("POST", "/webhooks".into(), "webhooks:write"),
    ];
    for (method, path, needed) in &groups {
        // Every scope but the one needed; and a body that would be a 422.
        let others: Vec<&str> = ALL.split(' ').filter(|s| s != needed).collect();
        let token = issuer.token(app.client_id.as_str(), &others.join(" "));
        let r = app
            .raw(
                method,
                path,
                &[("authorization", &format!("Bearer {token}")), ("content-type", "application/json")],
                b"{".to_vec(),
            )
            .await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{method} {path}: {}", r.body);
        assert_eq!(r.body, json!({"detail": "insufficient_scope"}));
        let challenge = r.headers.get("www-authenticate").and_then(|v| v.to_str().ok()).unwrap_or_default();
        assert_eq!(challenge, format!("Bearer error=\"insufficient_scope\", scope=\"{needed}\""), "{method} {path}");
        // With the scope, the same request gets past authorization (to the body's 422, or an answer).
        let token = issuer.token(app.client_id.as_str(), needed);
        let r = app
            .raw(
                method,
                path,
                &[("authorization", &format!("Bearer {token}")), ("content-type", "application/json")],
                b"{".to_vec(),
            )
            .await;
        assert!(
            r.status != StatusCode::FORBIDDEN && r.status != StatusCode::UNAUTHORIZED,
            "{method} {path}: {}",
            r.status
        );
    }
    // An API key is unscoped.
    let r = app.call("GET", &format!("/connections/{conn}"), &app.api_key, None).await;
    assert_eq!(r.status, StatusCode::OK);
    // A route only an API key may use.
    let r = bearer(&app, "GET", "/redirect-urls", &issuer.token(app.client_id.as_str(), ALL), None).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}

async fn bad_and_foreign_tokens_are_401(db: TestDb) {
    let issuer = Issuer::start(300).await;
    let stranger = Issuer::start(300).await;
    let app = spawn(db, &issuer).await;
    allow(&app, &issuer, &app.client_id).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let client = app.client_id.as_str().to_owned();
    let key = issuer.key();
    let good = issuer.token(&client, ALL);
    let mut forged_key = Key::new(&key.kid);
    forged_key.kid = key.kid.clone();
    let payload = good.split('.').nth(1).expect("payload").to_owned();
    let cases = vec![
        ("expired", issuer.token_with(&key, &client, ALL, |c| c["exp"] = json!(c["iat"].as_i64().expect("iat") - 1))),
        (
            "not valid yet",
            issuer.token_with(&key, &client, ALL, |c| c["nbf"] = json!(c["iat"].as_i64().expect("iat") + 3600)),
        ),
        ("wrong audience", issuer.token_with(&key, &client, ALL, |c| c["aud"] = json!("someone-else"))),
        ("no client claim", issuer.token_with(&key, &client, ALL, |c| c["subtotal_client_id"] = Value::Null)),
        ("signed by another key", issuer.token_with(&forged_key, &client, ALL, |_| {})),
        ("unknown kid", issuer.token_with(&Key::new("nope"), &client, ALL, |_| {})),
        (
            "alg none",
            format!("{}.{payload}.", URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": key.kid}).to_string())),
        ),
        ("alg HS256", {
            let h = URL_SAFE_NO_PAD.encode(json!({"alg": "HS256", "kid": key.kid}).to_string());
            format!("{h}.{payload}.{}", good.split('.').nth(2).expect("sig"))
        }),
        ("tampered", {
            let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
            let mut claims: Value =
                serde_json::from_slice(&URL_SAFE_NO_PAD.decode(&parts[1]).expect("b64")).expect("json");
            claims["scope"] = json!("connections:read connections:write purchases:brand_products");
            claims["subtotal_client_id"] = json!("01J00000000000000000000000");
            parts[1] = URL_SAFE_NO_PAD.encode(claims.to_string());
            parts.join(".")
        }),
        ("another issuer's token", stranger.token(&client, ALL)),
        (
            "wrong iss, right key",
            issuer
                .token_with(&key, &client, ALL, |c| c["iss"] = json!(format!("{}/", c["iss"].as_str().expect("iss")))),
        ),
    ];
    for (what, token) in cases {
        let r = bearer(&app, "GET", &format!("/connections/{conn}"), &token, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{what}: {}", r.body);
        assert!(r.headers.contains_key("www-authenticate"), "{what}");
    }
    let r = bearer(&app, "GET", &format!("/connections/{conn}"), &good, None).await;
    assert_eq!(r.status, StatusCode::OK, "the good token still works");
}

async fn a_revoked_partner_is_refused_at_once(db: TestDb) {
    let issuer = Issuer::start(300).await;
    let app = spawn(db, &issuer).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let token = issuer.token(app.client_id.as_str(), ALL);
    let path = format!("/connections/{conn}");
    let get = || bearer(&app, "GET", &path, &token, None);
    assert_eq!(get().await.status, StatusCode::FORBIDDEN, "not allowed yet");
    let grant = allow(&app, &issuer, &app.client_id).await;
    assert_eq!(get().await.status, StatusCode::OK);
    let listed = app.core.partners().list().await.expect("list");
    assert_eq!((listed.len(), listed[0].partner_client_id.as_str()), (1, PARTNER));
    let now = tessera::token::clock::Clock::now(&SystemClock);
    app.core.partners().revoke(Actor::CommandLine, &grant, now).await.expect("revoked");
    let r = get().await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = bearer(&app, "POST", &format!("/connections/{conn}/token"), &token, Some(json!({"scope": "access"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Allowed again: a new grant works.
    allow(&app, &issuer, &app.client_id).await;
    assert_eq!(get().await.status, StatusCode::OK);
}

async fn an_issuer_that_is_down_fails_only_its_own_tokens(db: TestDb) {
    // max-age 0: every request refetches, so the outage is seen at once.
    let issuer = Issuer::start(0).await;
    let app = spawn(db, &issuer).await;
    allow(&app, &issuer, &app.client_id).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let token = issuer.token(app.client_id.as_str(), ALL);
    assert_eq!(bearer(&app, "GET", &format!("/connections/{conn}"), &token, None).await.status, StatusCode::OK);
    issuer.down.store(true, Ordering::SeqCst);
    let r = bearer(&app, "GET", &format!("/connections/{conn}"), &token, None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body["detail"].as_str().expect("detail").contains("authorization server"));
    // API keys keep working, as X-Api-Key and as a bearer token.
    assert_eq!(app.call("GET", &format!("/connections/{conn}"), &app.api_key, None).await.status, StatusCode::OK);
    let r = bearer(&app, "GET", &format!("/connections/{conn}"), &app.api_key, None).await;
    assert_eq!(r.status, StatusCode::OK);
    issuer.down.store(false, Ordering::SeqCst);
    // Back once the failure's backoff (--oauth-jwks-min-refetch, 1 s here) has passed.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    assert_eq!(bearer(&app, "GET", &format!("/connections/{conn}"), &token, None).await.status, StatusCode::OK);
}

async fn a_rotated_issuer_key_is_picked_up_and_forged_kids_do_not_hammer_it(db: TestDb) {
    let issuer = Issuer::start(300).await;
    let app = spawn(db, &issuer).await;
    allow(&app, &issuer, &app.client_id).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let client = app.client_id.as_str().to_owned();
    let path = format!("/connections/{conn}");
    assert_eq!(bearer(&app, "GET", &path, &issuer.token(&client, ALL), None).await.status, StatusCode::OK);
    assert_eq!(bearer(&app, "GET", &path, &issuer.token(&client, ALL), None).await.status, StatusCode::OK);
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 1, "cached for its max-age");

    // Rotation: the issuer publishes k2 and signs with it.
    let k2 = Key::new("k2");
    issuer.published.lock().expect("lock").insert(0, k2.clone());
    // Past the refetch interval (1 s here, 30 s by default), the unknown kid causes one refetch.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let rotated = issuer.token_with(&k2, &client, ALL, |_| {});
    assert_eq!(bearer(&app, "GET", &path, &rotated, None).await.status, StatusCode::OK);
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 2);
    // Forged kids within the interval fetch nothing.
    for i in 0..5 {
        let forged = issuer.token_with(&Key::new(&format!("forged-{i}")), &client, ALL, |_| {});
        assert_eq!(bearer(&app, "GET", &path, &forged, None).await.status, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(issuer.jwks_fetches.load(Ordering::SeqCst), 2, "forged kids are not refetched for");
}

async fn opaque_tokens_are_introspected_and_cached_no_longer_than_their_exp(db: TestDb) {
    let issuer = Issuer::start(300).await;
    let now = tessera::token::clock::Clock::now(&SystemClock);
    let clock = Arc::new(tessera::token::clock::ManualClock::new(now));
    let mut config = ServeConfig::for_tests();
    config.oauth.oauth_issuers = vec![issuer.url.clone()];
    config.oauth.oauth_audience = Some(AUDIENCE.into());
    config.oauth.oauth_introspection_client_id = Some("tessera".into());
    config.oauth.oauth_introspection_client_secret =
        Some(tessera::token::partners::ClientSecret::from_arg("rs-secret").expect("secret"));
    config.oauth.oauth_introspection_cache = 60;
    // A clock of its own: the clock check is off here.
    config.tokens.clock_max_skew = 0;
    let app = TestApp::spawn_with(db, config, clock.clone()).await;
    allow(&app, &issuer, &app.client_id).await;
    let conn = app.create_connection(&app.api_key, "c").await;
    let path = format!("/connections/{conn}");
    let active = |exp: i64, scope: &str| {
        json!({"active": true, "iss": issuer.url, "aud": AUDIENCE, "client_id": PARTNER,
               "subtotal_client_id": app.client_id.as_str(), "scope": scope, "exp": exp, "token_type": "Bearer"})
    };
    let asked = || issuer.introspections.load(Ordering::SeqCst);
    {
        let mut known = issuer.opaque.lock().expect("lock");
        known.insert("opaque-long".into(), active(now + 3600, ALL));
        known.insert("opaque-short".into(), active(now + 30, ALL));
        known.insert("opaque-read".into(), active(now + 3600, "connections:read"));
    }
    // Active: accepted, and the answer reused.
    assert_eq!(bearer(&app, "GET", &path, "opaque-long", None).await.status, StatusCode::OK);
    assert_eq!(bearer(&app, "GET", &path, "opaque-long", None).await.status, StatusCode::OK);
    assert_eq!(asked(), 1, "cached");
    let r = bearer(&app, "POST", &format!("{path}/token"), "opaque-long", Some(json!({"scope": "access"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    // Scopes hold for opaque tokens too.
    let r = bearer(&app, "POST", &format!("{path}/token"), "opaque-read", Some(json!({"scope": "access"}))).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    // Unknown to the issuer: 401; an API key is never sent to the issuer.
    let before = asked();
    assert_eq!(bearer(&app, "GET", &path, "opaque-unknown", None).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(bearer(&app, "GET", &path, &app.api_key, None).await.status, StatusCode::OK);
    assert_eq!(asked(), before + 1, "the API key was not introspected");

    // Revoked at the issuer: still accepted while cached, refused once the cache (bounded by
    // the token's exp, 30 s here, under the 60 s setting) has run out.
    assert_eq!(bearer(&app, "GET", &path, "opaque-short", None).await.status, StatusCode::OK);
    issuer.opaque.lock().expect("lock").insert("opaque-short".into(), json!({"active": false}));
    issuer.opaque.lock().expect("lock").insert("opaque-long".into(), json!({"active": false}));
    clock.advance(29);
    assert_eq!(bearer(&app, "GET", &path, "opaque-short", None).await.status, StatusCode::OK, "cached");
    clock.advance(2);
    assert_eq!(bearer(&app, "GET", &path, "opaque-short", None).await.status, StatusCode::UNAUTHORIZED, "past exp");
    assert_eq!(bearer(&app, "GET", &path, "opaque-long", None).await.status, StatusCode::OK, "cached up to 60 s");
    clock.advance(30);
    assert_eq!(bearer(&app, "GET", &path, "opaque-long", None).await.status, StatusCode::UNAUTHORIZED, "after 60 s");
    // The issuer down: 503 for opaque tokens, API keys fine.
    issuer.down.store(true, Ordering::SeqCst);
    issuer.opaque.lock().expect("lock").insert("opaque-new".into(), active(now + 3600, ALL));
    // (Metadata is already known; `down` covers the introspection endpoint as well.)
    let r = bearer(&app, "GET", &path, "opaque-new", None).await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert_eq!(app.call("GET", &path, &app.api_key, None).await.status, StatusCode::OK);
}

crate::both_backends!(
    opaque_tokens_are_introspected_and_cached_no_longer_than_their_exp,
    a_partner_acts_for_its_client_as_the_clients_key_would,
    each_route_group_needs_its_scope_before_the_body_is_read,
    bad_and_foreign_tokens_are_401,
    a_revoked_partner_is_refused_at_once,
    an_issuer_that_is_down_fails_only_its_own_tokens,
    a_rotated_issuer_key_is_picked_up_and_forged_kids_do_not_hammer_it,
);
