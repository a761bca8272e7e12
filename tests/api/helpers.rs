//! A real tessera server on an ephemeral port with a fresh SQLite database, and a client.
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tessera::app::App;
use tessera::auth::api_key::PlainApiKey;
use tessera::config::ServeConfig;
use tessera::crypto::kek::Kek;
use tessera::domain::api_key::ApiKeyRecord;
use tessera::domain::client::Client;
use tessera::domain::ids::ClientId;
use tessera::storage::Store;
use tessera::token::clock::{Clock, SystemClock};

use crate::support::TestDb;

pub struct TestApp {
    pub base: String,
    pub store: Arc<dyn Store>,
    /// The server's application core.
    pub core: Arc<tessera::service::Core>,
    pub app_state: tessera::http::AppState,
    /// The default client's key, created by bootstrap.
    pub api_key: String,
    pub client_id: ClientId,
    pub http: reqwest::Client,
    /// The key-encryption key the server seals signing keys with.
    pub kek: Kek,
    _shutdown: tokio::sync::oneshot::Sender<()>,
    _db: TestDb,
}

pub struct Response {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl TestApp {
    pub async fn spawn(db: TestDb) -> TestApp {
        Self::spawn_with(db, ServeConfig::for_tests(), Arc::new(SystemClock)).await
    }

    pub async fn spawn_with(db: TestDb, config: ServeConfig, clock: Arc<dyn Clock>) -> TestApp {
        let timeout = std::time::Duration::from_secs(crate::support::server::TEST_DB_TIMEOUT.parse().expect("secs"));
        let options = tessera::storage::DbOptions { timeout, ..Default::default() };
        let store = tessera::storage::connect_with(&db.url, &options).await.expect("store");
        let kek = Kek::generate();
        let app = App::build(&config, store.clone(), kek.clone(), clock).await.expect("app builds");
        let bootstrap = app.bootstrap.as_ref().expect("empty database bootstraps");
        let (api_key, client_id) = (bootstrap.api_key.expose().to_owned(), bootstrap.client_id.clone());
        let base = format!("http://{}", app.local_addr());
        let app_state = app.state().clone();
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until(async move {
            let _ = rx.await;
        }));
        TestApp {
            base,
            store,
            core: app_state.core.clone(),
            app_state,
            api_key,
            client_id,
            http: reqwest::Client::new(),
            kek,
            _shutdown: tx,
            _db: db,
        }
    }

    /// A second tenant with its own key: returns (client id, api key).
    pub async fn new_client(&self, name: &str) -> (ClientId, String) {
        let client = Client { id: ClientId::generate(), name: name.into(), created_at: SystemClock.now() };
        self.store.create_client(&client).await.expect("client");
        let key = self.new_key(&client.id).await;
        (client.id, key)
    }

    pub async fn new_key(&self, client: &ClientId) -> String {
        let (id, key) = PlainApiKey::generate();
        self.store
            .create_api_key(&ApiKeyRecord {
                id,
                client_id: client.clone(),
                digest: key.digest(),
                created_at: SystemClock.now(),
                revoked_at: None,
            })
            .await
            .expect("key");
        key.expose().to_owned()
    }

    /// Sends raw bytes with exactly the given headers.
    pub async fn raw(&self, method: &str, path: &str, headers: &[(&str, &str)], body: Vec<u8>) -> Response {
        let mut req =
            self.http.request(Method::from_bytes(method.as_bytes()).expect("method"), format!("{}{path}", self.base));
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let resp = req.body(body).send().await.expect("request sent");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| json!({"_raw": String::from_utf8_lossy(&bytes)}))
        };
        Response { status, headers, body }
    }

    /// A JSON request authenticated with `key`.
    pub async fn call(&self, method: &str, path: &str, key: &str, body: Option<Value>) -> Response {
        let body = body.map(|b| b.to_string().into_bytes()).unwrap_or_default();
        self.raw(method, path, &[("x-api-key", key), ("content-type", "application/json")], body).await
    }

    pub async fn create_connection(&self, key: &str, customer_id: &str) -> String {
        let r = self
            .call("POST", "/connections", key, Some(json!({"customer_id": customer_id, "retailer_id": "walmart"})))
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        r.body["connection_id"].as_str().expect("id").to_owned()
    }

    pub async fn mint(&self, key: &str, connection_id: &str) -> Response {
        self.call("POST", &format!("/connections/{connection_id}/token"), key, Some(json!({"scope": "access"}))).await
    }
}
