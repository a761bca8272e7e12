//! Retention: every growing table loses its rows exactly once they are past their window,
//! and nothing else: live tokens, pending webhook deliveries and the events they point to stay.
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Backend, TestDb};
use tessera::auth::api_key::PlainApiKey;
use tessera::domain::api_key::ApiKeyRecord;
use tessera::domain::client::Client;
use tessera::domain::connection::{Connection, ConnectionStatus};
use tessera::domain::ids::{ClientId, ConnectionId, Kid, TokenId, WebhookId};
use tessera::domain::token::IssuedToken;
use tessera::domain::webhook::{Attempt, EventType, Webhook};
use tessera::metrics::{Gauges, Metrics};
use tessera::retention::{Settings, prune_once};
use tessera::storage::retention::{RULES, Rule, TOKEN_LEEWAY_SECS, Windows};
use tessera::storage::{Change, IdempotencyState, Store};

const NOW: i64 = 10_000_000;
const WINDOWS: Windows = Windows { issuance: 3_600, events: 7_200, webhooks: 1_800 };

fn settings() -> Settings {
    Settings { windows: WINDOWS, interval: None, batch: 2, pause: Duration::from_millis(1) }
}

struct World {
    store: Arc<dyn Store>,
    client: Client,
    key: ApiKeyRecord,
    plain: PlainApiKey,
    conn: Connection,
}

async fn world(db: &TestDb) -> World {
    let store = tessera::storage::connect(&db.url).await.expect("store opens");
    let client = Client { id: ClientId::generate(), name: "c".into(), created_at: 0 };
    store.create_client(&client).await.expect("client");
    let (id, plain) = PlainApiKey::generate();
    let key =
        ApiKeyRecord { id, client_id: client.id.clone(), digest: plain.digest(), created_at: 0, revoked_at: None };
    store.create_api_key(&key).await.expect("key");
    let conn = connection(&client.id);
    core_of(&store).connections().record_new(&conn, &Change::at(0)).await.expect("connection");
    World { store, client, key, plain, conn }
}

fn connection(client: &ClientId) -> Connection {
    Connection {
        id: ConnectionId::generate(),
        client_id: client.clone(),
        customer_id: "cust".into(),
        retailer_id: "walmart".into(),
        email: None,
        mobile: None,
        status: ConnectionStatus::Initialized,
        created_at: 0,
        updated_at: 0,
    }
}

impl World {
    async fn token(&self, expires_at: i64) -> TokenId {
        let t = IssuedToken {
            jti: TokenId::generate(),
            connection_id: self.conn.id.clone(),
            client_id: self.client.id.clone(),
            api_key_id: self.key.id.clone(),
            kid: Kid::generate(),
            issued_at: expires_at - 900,
            expires_at,
            revoked_at: None,
        };
        assert!(self.store.record_tokens_issued(std::slice::from_ref(&t)).await.expect("record")[0].is_some());
        t.jti
    }

    async fn has_token(&self, jti: &TokenId) -> bool {
        self.store.find_issued_token(jti).await.expect("find").is_some()
    }

    /// The activity log's own events (token issuance is read from the issuance records).
    async fn events(&self, connection: &ConnectionId) -> Vec<i64> {
        let events = self.store.list_events(&self.client.id, connection, None, 100).await.expect("events");
        events.iter().filter(|e| e.kind != "token_issued").map(|e| e.at).collect()
    }

    /// Deliveries of the webhook: (created_at, delivered_at, failed_at), newest first.
    async fn deliveries(&self, hook: &WebhookId) -> Vec<(i64, Option<i64>, Option<i64>)> {
        let list = self.store.list_deliveries(&self.client.id, hook, None, 100).await.expect("deliveries");
        let mut out: Vec<_> = list.iter().map(|d| (d.created_at, d.delivered_at, d.failed_at)).collect();
        out.sort_unstable_by(|a, b| b.cmp(a));
        out
    }
}

fn rule(table: &str) -> &'static Rule {
    Rule::of(table).expect("a rule")
}

/// Each table's rows go once their age is at or before the cutoff, and the rest stay.
async fn each_table_keeps_its_rows_until_exactly_past_the_window(db: TestDb) {
    let w = world(&db).await;
    let metrics = Metrics::default();

    // Issuance: kept for its window after the token expires; a live token always.
    let cutoff = rule("issued_tokens").cutoff(&WINDOWS, NOW);
    assert_eq!(cutoff, NOW - 3_600);
    let (gone, boundary, kept, live) =
        (w.token(cutoff - 1).await, w.token(cutoff).await, w.token(cutoff + 1).await, w.token(NOW + 600).await);

    // Activity events: by when they happened.
    let events_cutoff = rule("connection_events").cutoff(&WINDOWS, NOW);
    let other = connection(&w.client.id);
    core_of(&w.store).connections().record_new(&other, &Change::at(events_cutoff - 1)).await.expect("old event");
    for at in [events_cutoff, events_cutoff + 1] {
        assert!(
            core_of(&w.store)
                .tokens()
                .revoke(tessera::service::Actor::CommandLine, &w.client.id, &w.token(NOW - 10).await, at)
                .await
                .expect("revoke")
        );
    }

    // Idempotency keys: their 24 hours.
    let idem_cutoff = rule("idempotency_keys").cutoff(&WINDOWS, NOW);
    assert_eq!(idem_cutoff, NOW - 86_400);
    for (key, at) in [("old", idem_cutoff - 1), ("edge", idem_cutoff), ("new", idem_cutoff + 1)] {
        let state = w.store.idempotency_begin(&w.client.id, key, "f", at, 60, 86_400).await.expect("begin");
        assert_eq!(state, IdempotencyState::Claimed);
        w.store.idempotency_finish(&w.client.id, key, 201, "answer").await.expect("finish");
    }

    let pass = prune_once(w.store.as_ref(), &metrics, &settings(), NOW).await.expect("prune");
    let pruned = |table: &str| pass.pruned.iter().find(|(t, _)| *t == table).expect("table").1;

    assert!(!w.has_token(&gone).await && !w.has_token(&boundary).await, "past the window: gone");
    assert!(w.has_token(&kept).await && w.has_token(&live).await, "inside the window: kept");
    assert_eq!(pruned("issued_tokens"), 2);
    // The revoked tokens expired 10 s before NOW: inside the window, kept.
    assert_eq!(w.events(&other.id).await, Vec::<i64>::new(), "the old connection's event went");
    assert_eq!(w.events(&w.conn.id).await, vec![events_cutoff + 1], "the boundary event went, the newer stayed");
    // The old connection's event, this connection's creation (at 0) and the boundary event.
    assert_eq!(pruned("connection_events"), 3);
    assert_eq!(pruned("idempotency_keys"), 2);
    let replay = w.store.idempotency_begin(&w.client.id, "new", "f", NOW, 60, 86_400).await.expect("begin");
    assert_eq!(replay, IdempotencyState::Done { status: 201, body: "answer".into() });
    let fresh = w.store.idempotency_begin(&w.client.id, "edge", "f", NOW, 60, 86_400).await.expect("begin");
    assert_eq!(fresh, IdempotencyState::Claimed, "the boundary key is gone: a new request claims it");

    // Batches of 2 ran until nothing was left; a second pass finds nothing.
    let again = prune_once(w.store.as_ref(), &metrics, &settings(), NOW).await.expect("prune");
    assert!(again.pruned.iter().all(|(_, n)| *n == 0), "{again:?}");

    // The metrics count the rows and show each table's oldest row.
    let text = metrics.render(&Gauges {
        pool: w.store.pool_stats(),
        issuance_queue_depth: 0,
        clock: None,
        clock_states: vec![],
    });
    assert!(text.contains("tessera_retention_pruned_rows_total{table=\"issued_tokens\"} 2"), "{text}");
    assert!(text.contains("tessera_retention_pruned_rows_total{table=\"connection_events\"} 3"), "{text}");
    assert!(text.contains("tessera_retention_oldest_row_age_seconds{table=\"issued_tokens\"} 3599"), "{text}");

    // The overview for operators: rows and oldest row per table.
    let overview = w.store.retention_overview().await.expect("overview");
    assert_eq!(overview.iter().map(|t| t.table).collect::<Vec<_>>(), RULES.iter().map(|r| r.table).collect::<Vec<_>>());
    let issued = overview.iter().find(|t| t.table == "issued_tokens").expect("issued");
    assert_eq!(issued.oldest, Some(cutoff + 1));
    if db.backend == Backend::Sqlite {
        assert_eq!(issued.rows, 4, "kept, live and the two revoked");
    }
}

/// Delivered and given-up deliveries go after their window; pending ones never do, and an
/// outbox event stays while any delivery of it is left.
async fn webhook_deliveries_go_after_their_window_and_pending_ones_stay(db: TestDb) {
    let w = world(&db).await;
    let metrics = Metrics::default();
    let hook = Webhook {
        id: WebhookId::generate(),
        client_id: w.client.id.clone(),
        name: "h".into(),
        url: "https://example.com/hook".into(),
        event_types: vec![EventType::ConnectionCreated],
        is_active: true,
        secret_sealed: vec![1; 40],
        previous_secret_sealed: None,
        previous_expires_at: None,
        created_at: 0,
        updated_at: 0,
        last_success_at: None,
        disabled_reason: None,
    };
    w.store.create_webhook(&hook).await.expect("webhook");
    let cutoff = rule("webhook_deliveries").cutoff(&WINDOWS, NOW);
    // Four events long ago, each with one delivery: three end (before, at, after the
    // cutoff), one stays pending.
    for created in [1_000, 1_001, 1_002, 1_003] {
        core_of(&w.store)
            .connections()
            .record_new(&connection(&w.client.id), &Change::at(created))
            .await
            .expect("event");
    }
    let claimed = w.store.claim_deliveries(2_000, 2_100, 10).await.expect("claim");
    assert_eq!(claimed.len(), 4);
    let mut by_created: Vec<_> = claimed.iter().map(|c| (c.event.created_at, c.event_seq)).collect();
    by_created.sort_unstable();
    let given_up = Attempt::Failed { status: Some(500), error: "boom".into(), retry_at: None };
    w.store
        .finish_delivery(&hook.id, by_created[0].1, &Attempt::Delivered { status: 204 }, cutoff - 1)
        .await
        .expect("done");
    w.store.finish_delivery(&hook.id, by_created[1].1, &given_up, cutoff).await.expect("given up");
    w.store
        .finish_delivery(&hook.id, by_created[2].1, &Attempt::Delivered { status: 204 }, cutoff + 1)
        .await
        .expect("done");
    w.store.release_claim(&hook.id, by_created[3].1).await.expect("still pending");

    let pass = prune_once(w.store.as_ref(), &metrics, &settings(), NOW).await.expect("prune");
    let pruned = |table: &str| pass.pruned.iter().find(|(t, _)| *t == table).expect("table").1;
    assert_eq!(pruned("webhook_deliveries"), 2);
    assert_eq!(pruned("webhook_events"), 2, "the events of the removed deliveries, and only those");
    let left = w.deliveries(&hook.id).await;
    assert_eq!(left, vec![(1_003, None, None), (1_002, Some(cutoff + 1), None)], "pending and recent stay");
    // The pending delivery is still delivered: its event is still there to claim.
    let claimed = w.store.claim_deliveries(NOW, NOW + 60, 10).await.expect("claim");
    assert_eq!(claimed.iter().map(|c| c.event.created_at).collect::<Vec<_>>(), vec![1_003]);
    // Even far in the future, a pending delivery and its event are kept.
    prune_once(w.store.as_ref(), &metrics, &settings(), NOW * 2).await.expect("prune");
    assert_eq!(w.deliveries(&hook.id).await, vec![(1_003, None, None)]);
}

/// A token record is never removed while its token still verifies, whatever the setting.
async fn no_window_removes_a_token_that_still_verifies(db: TestDb) {
    let w = world(&db).await;
    let zero = Settings { windows: Windows { issuance: 0, events: 0, webhooks: 0 }, ..settings() };
    let expired_in_leeway = w.token(NOW - TOKEN_LEEWAY_SECS + 1).await;
    let past_leeway = w.token(NOW - TOKEN_LEEWAY_SECS).await;
    let live = w.token(NOW + 1).await;
    prune_once(w.store.as_ref(), &Metrics::default(), &zero, NOW).await.expect("prune");
    assert!(w.has_token(&expired_in_leeway).await && w.has_token(&live).await);
    assert!(!w.has_token(&past_leeway).await);
}

/// Through the real server: the pruner removes a long-expired record while a live token
/// still introspects as active, and the metrics show it.
async fn a_live_token_still_introspects_after_pruning(db: TestDb) {
    // A record expired a day ago, written before the server starts.
    let w = world(&db).await;
    let old = w.token(chrono_now() - 86_400).await;
    let key = w.plain.expose().to_owned();
    let id = w.conn.id.as_str().to_owned();
    drop(w);
    let server = crate::support::server::start(&db, &["--retention-issuance", "60", "--prune-interval", "1"]);
    let http = reqwest::Client::new();
    let r = http
        .post(format!("{}/connections/{id}/token", server.base))
        .header("x-api-key", &key)
        .json(&json!({"scope": "access"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 201);
    let token = r.json::<Value>().await.expect("json")["connection_token"].as_str().expect("token").to_owned();
    // Wait for a pass that removed the old record (polling; no time is asserted).
    let mut pruned = 0.0;
    for _ in 0..400 {
        let text =
            http.get(format!("{}/metrics", server.base)).send().await.expect("metrics").text().await.expect("text");
        pruned = text
            .lines()
            .find_map(|l| l.strip_prefix("tessera_retention_pruned_rows_total{table=\"issued_tokens\"} "))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        if pruned >= 1.0 {
            assert!(text.contains("tessera_retention_oldest_row_age_seconds{table=\"issued_tokens\"}"), "{text}");
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(pruned, 1.0, "the expired record was pruned, and only it");
    let store = tessera::storage::connect(&db.url).await.expect("store");
    assert!(store.find_issued_token(&old).await.expect("find").is_none());
    let r = http
        .post(format!("{}/tokens/introspect", server.base))
        .header("x-api-key", &key)
        .json(&json!({"token": token}))
        .send()
        .await
        .expect("sent");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["active"], true);
}

fn chrono_now() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64
}

/// Console sessions unused for the longest idle timeout are dead under any setting and go;
/// a session in use stays and keeps working.
async fn console_sessions_go_once_no_idle_timeout_could_keep_them(db: TestDb) {
    use tessera::domain::ids::OperatorId;
    use tessera::domain::operator::Operator;
    use tessera::storage::retention::SESSION_IDLE_MAX_SECS;
    let w = world(&db).await;
    let op = Operator { id: OperatorId::generate(), name: "ops".into(), password_hash: None, created_at: 0 };
    w.store.create_operator(&op).await.expect("operator");
    let cutoff = rule("operator_sessions").cutoff(&WINDOWS, NOW);
    assert_eq!(cutoff, NOW - SESSION_IDLE_MAX_SECS);
    for (digest, seen) in [(b"gone", cutoff - 1), (b"edge", cutoff), (b"kept", cutoff + 1), (b"used", NOW - 5)] {
        w.store.create_session(digest, &op.id, seen).await.expect("session");
    }
    let pass = prune_once(w.store.as_ref(), &Metrics::default(), &settings(), NOW).await.expect("prune");
    let pruned = pass.pruned.iter().find(|(t, _)| *t == "operator_sessions").expect("table").1;
    assert_eq!(pruned, 2, "the session past the longest idle timeout and the one at it");
    // The longest idle timeout still keeps the newer session; the one in use works.
    let idle_since = NOW - SESSION_IDLE_MAX_SECS;
    assert!(w.store.touch_session(b"kept", NOW, idle_since, 0).await.expect("touch").is_some());
    assert!(w.store.touch_session(b"used", NOW, NOW - 1800, 0).await.expect("touch").is_some());
    assert!(w.store.touch_session(b"edge", NOW, idle_since, 0).await.expect("touch").is_none());
}

/// Link sessions and link tokens go a window (the activity events') after they expire; the
/// newer ones stay, listed as before.
async fn link_sessions_and_tokens_go_a_window_after_they_expire(db: TestDb) {
    use tessera::domain::ids::{LinkSessionId, ordered_id};
    use tessera::domain::link::{Entry, LinkSession, LinkToken, SessionState};
    let w = world(&db).await;
    let cutoff = rule("link_sessions").cutoff(&WINDOWS, NOW);
    assert_eq!(cutoff, NOW - 7_200);
    assert_eq!(rule("link_tokens").cutoff(&WINDOWS, NOW), cutoff);
    for (n, expires_at) in [(1u8, cutoff - 1), (2, cutoff), (3, cutoff + 1), (4, NOW + 600)] {
        let token = LinkToken {
            id: ordered_id(),
            digest: vec![n; 32],
            client_id: w.client.id.clone(),
            customer_id: "cust".into(),
            email: None,
            created_at: expires_at - 86_400,
            expires_at,
            revoked_at: (n == 3).then_some(expires_at - 10),
        };
        w.store.create_link_token(&token).await.expect("token");
        let session = LinkSession {
            id: LinkSessionId::generate(),
            cookie_digest: vec![n; 16],
            client_id: w.client.id.clone(),
            customer_id: "cust".into(),
            email: None,
            entry: Entry::LinkToken,
            link_token_digest: Some(token.digest.clone()),
            token_jti: None,
            connection_id: None,
            retailer_id: None,
            redirect_url: None,
            state: if n == 1 { SessionState::Completed } else { SessionState::Started },
            reference_digest: None,
            connector_id: None,
            reason: None,
            created_at: expires_at - 1_800,
            updated_at: expires_at - 1_800,
            expires_at,
        };
        w.store.create_link_session(&session).await.expect("session");
    }
    let pass = prune_once(w.store.as_ref(), &Metrics::default(), &settings(), NOW).await.expect("prune");
    let pruned = |table: &str| pass.pruned.iter().find(|(t, _)| *t == table).expect("table").1;
    assert_eq!((pruned("link_sessions"), pruned("link_tokens")), (2, 2), "the one past the window and the one at it");
    let sessions = w.store.list_link_sessions(Some(&w.client.id), Some("cust"), 10).await.expect("sessions");
    assert_eq!(sessions.iter().map(|s| s.expires_at).collect::<Vec<_>>(), vec![NOW + 600, cutoff + 1]);
    let tokens = w.store.list_link_tokens(&w.client.id, "cust").await.expect("tokens");
    assert_eq!(tokens.iter().map(|t| t.expires_at).collect::<Vec<_>>(), vec![cutoff + 1, NOW + 600]);
}

both_backends!(
    link_sessions_and_tokens_go_a_window_after_they_expire,
    console_sessions_go_once_no_idle_timeout_could_keep_them,
    each_table_keeps_its_rows_until_exactly_past_the_window,
    webhook_deliveries_go_after_their_window_and_pending_ones_stay,
    no_window_removes_a_token_that_still_verifies,
    a_live_token_still_introspects_after_pruning,
);

/// SQLite gives the space of pruned rows back to the file system, and a database file made
/// before retention is switched to incremental vacuum when it is migrated.
mod sqlite_space {
    use super::*;
    use sqlx::Connection as _;

    async fn pragma(url: &str, name: &str) -> i64 {
        let mut c = sqlx::SqliteConnection::connect(url).await.expect("connect");
        sqlx::query_scalar(&format!("PRAGMA {name}")).fetch_one(&mut c).await.expect("pragma")
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn pruned_pages_go_back_to_the_file_system() {
        let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
        let w = world(&db).await;
        assert_eq!(pragma(&db.url, "auto_vacuum").await, 2, "a new file keeps a free-page map");
        let batch: Vec<IssuedToken> = (0..4_000)
            .map(|_| IssuedToken {
                jti: TokenId::generate(),
                connection_id: w.conn.id.clone(),
                client_id: w.client.id.clone(),
                api_key_id: w.key.id.clone(),
                kid: Kid::generate(),
                issued_at: 1_000,
                expires_at: 1_900,
                revoked_at: None,
            })
            .collect();
        for chunk in batch.chunks(500) {
            w.store.record_tokens_issued(chunk).await.expect("record");
        }
        let full = pragma(&db.url, "page_count").await;
        let batch = Settings { batch: 500, ..settings() };
        let pass = prune_once(w.store.as_ref(), &Metrics::default(), &batch, NOW).await.expect("prune");
        assert_eq!(pass.pruned[0], ("issued_tokens", 4_000));
        assert!(pass.reclaimed_pages > 0, "{pass:?}");
        let after = pragma(&db.url, "page_count").await;
        assert!(after < full / 2, "pages {full} -> {after}");
        assert_eq!(pragma(&db.url, "freelist_count").await, 0);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn an_older_file_is_switched_to_incremental_vacuum_once() {
        let db = TestDb::new(Backend::Sqlite).await.expect("sqlite");
        let w = world(&db).await;
        let jti = w.token(NOW).await;
        drop(w);
        {
            // The file as a release before retention left it: no free-page map.
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.expect("connect");
            sqlx::query("PRAGMA auto_vacuum = NONE").execute(&mut c).await.expect("pragma");
            sqlx::query("VACUUM").execute(&mut c).await.expect("vacuum");
        }
        assert_eq!(pragma(&db.url, "auto_vacuum").await, 0);
        let store = tessera::storage::connect(&db.url).await.expect("store opens and migrates");
        assert_eq!(pragma(&db.url, "auto_vacuum").await, 2);
        assert!(store.find_issued_token(&jti).await.expect("find").is_some(), "its data kept");
    }
}

/// The application core over `store`, on the system clock.
fn core_of(store: &std::sync::Arc<dyn tessera::storage::Store>) -> tessera::service::Core {
    tessera::service::Core::new(store.clone(), std::sync::Arc::new(tessera::token::clock::SystemClock))
}
