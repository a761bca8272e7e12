//! The core's use cases, called as a front end calls them (no HTTP in between), on both
//! backends: what each leaves in the store - the records, the connection's activity events,
//! the webhook outbox's deliveries and the console's audit log - read back after the call.
//!
//! Time never passes on its own here: every call is given its `now`, and the core's clock is a
//! [`ManualClock`] standing at [`NOW`].
use std::sync::Arc;

use tessera::auth::api_key::PlainApiKey;
use tessera::crypto::kek::Kek;
use tessera::domain::api_key::ApiKeyRecord;
use tessera::domain::client::Client;
use tessera::domain::connection::{Connection, NewConnection};
use tessera::domain::event::Event;
use tessera::domain::ids::{ApiKeyId, ClientId, ConnectionId, Kid, OperatorId, TokenId, WebhookId};
use tessera::domain::operator::{AuditEntry, Operator};
use tessera::domain::signing_key::Algorithm;
use tessera::domain::token::IssuedToken;
use tessera::domain::webhook::{EventType, Webhook};
use tessera::service::Core;
use tessera::service::core::{LinkSettings, Serving};
use tessera::storage::Store;
use tessera::token::clock::{ClockGuard, ManualClock};
use tessera::token::issuance::{IssuanceLog, IssuanceWriter};
use tessera::token::keyring::{KeyPolicy, Keyring};
use tessera::token::mint::Minter;

use crate::support::TestDb;

mod connection_changes;
mod keys;
mod link_completion;
mod partners;
mod status_reports;

/// The time every use case is called at, unless a test moves on from it.
pub const NOW: i64 = 1_800_000_000;

/// A store with one client, its API key and an operator, and a serving core over it (Link
/// needs the minter of a serving process).
pub struct World {
    pub store: Arc<dyn Store>,
    pub core: Core,
    pub client: Client,
    pub key: ApiKeyRecord,
    pub operator: Operator,
    pub db: TestDb,
    writer: Option<IssuanceWriter>,
}

impl World {
    pub async fn new(db: TestDb) -> World {
        let store = tessera::storage::connect(&db.url).await.expect("store opens");
        let clock = Arc::new(ManualClock::new(NOW));
        let kek = Kek::generate();
        let policy = KeyPolicy { prepublish_secs: 0, rotation_period_secs: 0, retired_publish_secs: 1_200 };
        let keyring = Arc::new(
            Keyring::open(store.clone(), kek.clone(), Algorithm::EdDsa, clock.clone(), policy, None)
                .await
                .expect("keyring"),
        );
        let (issuance, writer) = IssuanceLog::start(store.clone()).expect("issuance writer");
        let minter = Arc::new(Minter {
            keyring: keyring.clone(),
            issuance,
            clock: clock.clone(),
            issuer: "https://tessera.test".into(),
            audience: "tessera-test".into(),
            ttl_secs: 900,
            customers: Default::default(),
            clock_guard: Arc::new(ClockGuard::new(clock.clone(), store.clone(), 5, 60, 60)),
        });
        let link =
            LinkSettings { public_url: "https://tessera.test".into(), session_ttl_secs: 1_800, allow_http: false };
        let core = Core::serving(store.clone(), clock, Arc::new(kek), link, Serving { minter, keyring });

        let client = Client { id: ClientId::generate(), name: "shop".into(), created_at: NOW };
        store.create_client(&client).await.expect("client");
        let key = key_of(&client.id);
        store.create_api_key(&key).await.expect("key");
        let operator =
            Operator { id: OperatorId::generate(), name: "olivia".into(), password_hash: None, created_at: NOW };
        store.create_operator(&operator).await.expect("operator");
        World { store, core, client, key, operator, db, writer: Some(writer) }
    }

    /// Stops the issuance writer (it holds a connection of its own).
    pub async fn finish(mut self) {
        if let Some(writer) = self.writer.take() {
            writer.shutdown().await;
        }
    }

    /// Another client, with a key of its own.
    pub async fn other_client(&self) -> (Client, ApiKeyRecord) {
        let other = Client { id: ClientId::generate(), name: "other".into(), created_at: NOW };
        self.store.create_client(&other).await.expect("client");
        let key = key_of(&other.id);
        self.store.create_api_key(&key).await.expect("key");
        (other, key)
    }

    /// A connection of the world's client, made by its key through the core.
    pub async fn connection(&self, customer: &str) -> Connection {
        let new = NewConnection {
            customer_id: customer.into(),
            retailer_id: "walmart".into(),
            email: Some(format!("{customer}@example.com")),
            mobile: Some("+15550100".into()),
        };
        self.core.connections().create(&self.client.id, &self.key.id, new, NOW).await.expect("connection created")
    }

    /// The connection as stored now.
    pub async fn stored(&self, id: &ConnectionId) -> Option<Connection> {
        self.store.find_connection(&self.client.id, id).await.expect("find connection")
    }

    /// The connection's activity events, oldest first (token issuance left out).
    pub async fn events(&self, id: &ConnectionId) -> Vec<Event> {
        let mut events = self.store.list_events(&self.client.id, id, None, 100).await.expect("events");
        events.retain(|e| e.kind != "token_issued");
        events.reverse();
        events
    }

    /// The kinds of the connection's activity events, oldest first.
    pub async fn event_kinds(&self, id: &ConnectionId) -> Vec<String> {
        self.events(id).await.into_iter().map(|e| e.kind).collect()
    }

    /// An active webhook endpoint of the client, subscribed to every event type.
    pub async fn webhook(&self) -> WebhookId {
        let hook = Webhook {
            id: WebhookId::generate(),
            client_id: self.client.id.clone(),
            name: "hook".into(),
            url: "https://hooks.example/tessera".into(),
            event_types: EventType::ALL.to_vec(),
            is_active: true,
            secret_sealed: vec![1; 48],
            previous_secret_sealed: None,
            previous_expires_at: None,
            created_at: NOW,
            updated_at: NOW,
            last_success_at: None,
            disabled_reason: None,
        };
        self.store.create_webhook(&hook).await.expect("webhook");
        hook.id
    }

    /// The webhook's queued deliveries, oldest first: (event type, connection id).
    pub async fn deliveries(&self, hook: &WebhookId) -> Vec<(EventType, String)> {
        let mut list = self.store.list_deliveries(&self.client.id, hook, None, 100).await.expect("deliveries");
        list.sort_by(|a, b| a.event_id.as_str().cmp(b.event_id.as_str()));
        list.into_iter().map(|d| (d.kind, d.connection_id)).collect()
    }

    /// Deliveries waiting in the outbox, for every webhook.
    pub async fn outbox_depth(&self) -> i64 {
        self.store.outbox_depth().await.expect("outbox depth").0
    }

    /// The console's audit log, oldest first.
    pub async fn audit(&self) -> Vec<AuditEntry> {
        let mut entries = self.store.list_audit(None, 100).await.expect("audit");
        entries.sort_by(|a, b| a.id.cmp(&b.id));
        entries
    }

    /// A live token of the connection, as the issuance log records one.
    pub async fn token(&self, connection: &Connection) -> TokenId {
        let token = IssuedToken {
            jti: TokenId::generate(),
            connection_id: connection.id.clone(),
            client_id: connection.client_id.clone(),
            api_key_id: self.key.id.clone(),
            kid: Kid::generate(),
            issued_at: NOW,
            expires_at: NOW + 900,
            revoked_at: None,
        };
        let recorded = self.store.record_tokens_issued(std::slice::from_ref(&token)).await.expect("record");
        assert!(recorded[0].is_some(), "the token is recorded");
        token.jti
    }

    /// When the token was revoked, if it was.
    pub async fn token_revoked_at(&self, jti: &TokenId) -> Option<i64> {
        self.store.find_issued_token(jti).await.expect("find token").expect("the token's record").revoked_at
    }
}

/// A new API key record of `client`.
pub fn key_of(client: &ClientId) -> ApiKeyRecord {
    let (id, plain): (ApiKeyId, PlainApiKey) = PlainApiKey::generate();
    ApiKeyRecord { id, client_id: client.clone(), digest: plain.digest(), created_at: NOW, revoked_at: None }
}
