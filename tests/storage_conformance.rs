//! One storage story, run against every backend: what the `Store` trait promises.
use std::sync::Arc;

use crate::support::TestDb;
use tessera::auth::api_key::PlainApiKey;
use tessera::domain::api_key::ApiKeyRecord;
use tessera::domain::client::Client;
use tessera::domain::connection::{Connection, ConnectionPatch, ConnectionStatus};
use tessera::domain::ids::{ApiKeyId, ClientId, ConnectionId, Kid, TokenId};
use tessera::domain::signing_key::{Algorithm, KeyState, SigningKeyRecord};
use tessera::domain::token::IssuedToken;
use tessera::service::{Actor, CoreError};
use tessera::storage::{Change, IdempotencyState, Store, StoreError};

fn client(name: &str) -> Client {
    Client { id: ClientId::generate(), name: name.into(), created_at: 1_000 }
}

fn key_for(client: &ClientId) -> ApiKeyRecord {
    let (id, key) = PlainApiKey::generate();
    ApiKeyRecord { id, client_id: client.clone(), digest: key.digest(), created_at: 1_000, revoked_at: None }
}

fn connection(client: &ClientId, customer: &str) -> Connection {
    Connection {
        id: ConnectionId::generate(),
        client_id: client.clone(),
        customer_id: customer.into(),
        retailer_id: "walmart".into(),
        email: Some("a@b.co".into()),
        mobile: None,
        status: ConnectionStatus::Initialized,
        created_at: 1_000,
        updated_at: 1_000,
    }
}

fn signing_key(alg: Algorithm, state: KeyState) -> SigningKeyRecord {
    SigningKeyRecord {
        kid: Kid::generate(),
        alg,
        state,
        public_key: Some(vec![7; 32]),
        private_key_sealed: vec![9; 60],
        created_at: 1_000,
        activated_at: Some(1_000),
        retired_at: None,
    }
}

fn issued(conn: &Connection, key: &ApiKeyId) -> IssuedToken {
    IssuedToken {
        jti: TokenId::generate(),
        connection_id: conn.id.clone(),
        client_id: conn.client_id.clone(),
        api_key_id: key.clone(),
        kid: Kid::generate(),
        issued_at: 1_000,
        expires_at: 1_900,
        revoked_at: None,
    }
}

async fn open(db: &TestDb) -> Arc<dyn Store> {
    tessera::storage::connect(&db.url).await.expect("store opens")
}

async fn clients_and_keys(db: TestDb) {
    let store = open(&db).await;
    store.ping().await.expect("ping");
    let first = client("first");
    let k = key_for(&first.id);
    assert!(store.bootstrap_client(&first, &k).await.expect("bootstrap"), "an empty database bootstraps");
    assert!(!store.bootstrap_client(&client("again"), &key_for(&first.id)).await.expect("bootstrap"));
    assert_eq!(store.find_client(&first.id).await.expect("find"), Some(first.clone()));
    assert_eq!(store.find_client(&ClientId::generate()).await.expect("find"), None);

    let second = key_for(&first.id);
    store.create_api_key(&second).await.expect("key");
    let found = store.find_api_key(&second.id).await.expect("find").expect("exists");
    assert_eq!(found, second);
    let listed = store.list_api_keys(&first.id).await.expect("list");
    assert_eq!(listed.len(), 2);
    assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "ordered by id");

    let revoke = |id: ApiKeyId, at: i64| {
        let store = store.clone();
        async move { core_of(&store).keys().revoke(Actor::CommandLine, None, &id, at).await }
    };
    let revoked = revoke(second.id.clone(), 2_000).await.expect("revoke");
    assert_eq!(revoked.revoked_at, Some(2_000));
    let again = revoke(second.id.clone(), 3_000).await.expect("revoke again");
    assert_eq!(again.revoked_at, Some(2_000), "revocation keeps its first time");
    assert_eq!(store.find_api_key(&second.id).await.expect("find").expect("kept").revoked_at, Some(2_000));
    assert!(matches!(revoke(ApiKeyId::generate(), 1).await, Err(CoreError::NotFound(_))));
    let theirs = core_of(&store).keys().revoke(Actor::CommandLine, Some(&ClientId::generate()), &k.id, 1).await;
    assert!(matches!(theirs, Err(CoreError::NotFound(_))), "another client's key is not found");

    // A key for a client that does not exist is refused by the schema.
    assert!(store.create_api_key(&key_for(&ClientId::generate())).await.is_err());
    // A duplicate id is a conflict.
    assert!(matches!(store.create_api_key(&second).await, Err(StoreError::Conflict(_))));
}

async fn concurrent_bootstraps_create_exactly_one_client(db: TestDb) {
    let store = open(&db).await;
    let mut tasks = Vec::new();
    for i in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let c = client(&format!("c{i}"));
            let k = key_for(&c.id);
            store.bootstrap_client(&c, &k).await
        }));
    }
    let mut created = 0;
    for t in tasks {
        if t.await.expect("joined").expect("bootstrap") {
            created += 1;
        }
    }
    assert_eq!(created, 1);
}

async fn connections_are_scoped_and_patched_exactly(db: TestDb) {
    let store = open(&db).await;
    let (a, b) = (client("a"), client("b"));
    store.create_client(&a).await.expect("a");
    store.create_client(&b).await.expect("b");
    let c1 = connection(&a.id, "cust");
    let c2 = connection(&a.id, "cust");
    let theirs = connection(&b.id, "cust");
    for c in [&c1, &c2, &theirs] {
        core_of(&store).connections().record_new(c, &Change::at(1_000)).await.expect("create");
    }
    assert_eq!(store.find_connection(&a.id, &c1.id).await.expect("find"), Some(c1.clone()));
    assert_eq!(store.find_connection(&b.id, &c1.id).await.expect("find"), None, "scoped to the owner");
    let listed = store.list_connections(&a.id, "cust").await.expect("list");
    let mut expected = vec![c1.id.clone(), c2.id.clone()];
    expected.sort();
    assert_eq!(listed.iter().map(|c| c.id.clone()).collect::<Vec<_>>(), expected, "ordered by id");
    assert!(store.list_connections(&a.id, "nobody").await.expect("list").is_empty());

    let patch = ConnectionPatch { mobile: Some(Some("+1555".into())), email: Some(None), ..Default::default() };
    let updated = core_of(&store)
        .connections()
        .apply_patch(&a.id, &c1.id, &patch, &Change::at(2_000))
        .await
        .expect("update")
        .expect("found");
    // Written out rather than computed with `patch.apply`, which is the code under test too.
    let expected = Connection {
        id: c1.id.clone(),
        client_id: a.id.clone(),
        customer_id: "cust".into(),
        retailer_id: "walmart".into(),
        email: None,
        mobile: Some("+1555".into()),
        status: ConnectionStatus::Initialized,
        created_at: 1_000,
        updated_at: 2_000,
    };
    assert_eq!(updated, expected);
    assert_eq!(store.find_connection(&a.id, &c1.id).await.expect("find"), Some(expected), "as stored");
    assert_eq!(updated.customer_id, "cust", "absent fields are unchanged");
    assert_eq!(updated.email, None, "null clears");
    assert_eq!(updated.updated_at, 2_000);
    assert_eq!(
        core_of(&store).connections().apply_patch(&b.id, &c1.id, &patch, &Change::at(3_000)).await.expect("update"),
        None
    );

    let disconnect = ConnectionPatch { status: Some(ConnectionStatus::Disconnected), ..Default::default() };
    let d = core_of(&store)
        .connections()
        .apply_patch(&a.id, &c2.id, &disconnect, &Change::at(2_000))
        .await
        .expect("update")
        .expect("found");
    assert_eq!(d.status, ConnectionStatus::Disconnected);

    assert!(
        !core_of(&store).connections().remove(&b.id, &c1.id, &Change::at(2_500)).await.expect("delete"),
        "not theirs to delete"
    );
    assert!(core_of(&store).connections().remove(&a.id, &c1.id, &Change::at(2_500)).await.expect("delete"));
    assert!(!core_of(&store).connections().remove(&a.id, &c1.id, &Change::at(2_500)).await.expect("delete twice"));
    assert_eq!(store.find_connection(&a.id, &c1.id).await.expect("find"), None);
}

async fn concurrent_patches_each_apply_whole(db: TestDb) {
    let store = open(&db).await;
    let a = client("a");
    store.create_client(&a).await.expect("client");
    let c = connection(&a.id, "cust");
    core_of(&store).connections().record_new(&c, &Change::at(1_000)).await.expect("create");
    let mut tasks = Vec::new();
    for i in 0..16 {
        let (store, client_id, id) = (store.clone(), a.id.clone(), c.id.clone());
        tasks.push(tokio::spawn(async move {
            // Each patch sets email and mobile to the same tag: a torn write would mix tags.
            let tag = format!("t{i}");
            let patch =
                ConnectionPatch { email: Some(Some(tag.clone())), mobile: Some(Some(tag)), ..Default::default() };
            (i, core_of(&store).connections().apply_patch(&client_id, &id, &patch, &Change::at(2_000 + i)).await)
        }));
    }
    for t in tasks {
        let (i, result) = t.await.expect("joined");
        // Every patch succeeded, and what it returned is its own write, whole.
        let updated = result.unwrap_or_else(|e| panic!("patch {i} failed: {e}")).expect("the connection exists");
        let tag = format!("t{i}");
        assert_eq!((updated.email.as_deref(), updated.mobile.as_deref()), (Some(&*tag), Some(&*tag)), "patch {i}");
        assert_eq!(updated.updated_at, 2_000 + i);
    }
    let last = store.find_connection(&a.id, &c.id).await.expect("find").expect("exists");
    assert_eq!(last.email, last.mobile, "one patch won whole");
    assert!(last.email.as_deref().is_some_and(|e| e.starts_with('t')), "{last:?}");
}

async fn one_active_signing_key_per_algorithm(db: TestDb) {
    let store = open(&db).await;
    let mut tasks = Vec::new();
    for _ in 0..8 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            store.insert_signing_key_if_none_active(&signing_key(Algorithm::EdDsa, KeyState::Active)).await
        }));
    }
    let mut inserted = 0;
    for t in tasks {
        if t.await.expect("joined").expect("insert") {
            inserted += 1;
        }
    }
    assert_eq!(inserted, 1, "exactly one racer creates the active key");
    assert!(
        store
            .insert_signing_key_if_none_active(&signing_key(Algorithm::Hs256, KeyState::Active))
            .await
            .expect("insert")
    );

    let next = signing_key(Algorithm::EdDsa, KeyState::Active);
    store.rotate_signing_key(&next, 5_000).await.expect("rotate");
    let keys = store.signing_keys().await.expect("keys");
    let active: Vec<_> = keys.iter().filter(|k| k.state == KeyState::Active && k.alg == Algorithm::EdDsa).collect();
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].kid, next.kid);
    let retired: Vec<_> = keys.iter().filter(|k| k.state == KeyState::Retired).collect();
    assert_eq!(retired.len(), 1);
    assert_eq!(retired[0].retired_at, Some(5_000));
    assert_eq!(
        keys.iter().filter(|k| k.alg == Algorithm::Hs256 && k.state == KeyState::Active).count(),
        1,
        "other algorithms untouched"
    );
    let stored = keys.iter().find(|k| k.kid == next.kid).expect("stored");
    assert_eq!(stored, &next, "key material round-trips byte for byte");
}

async fn issuance_batches_are_atomic(db: TestDb) {
    let store = open(&db).await;
    let a = client("a");
    store.create_client(&a).await.expect("client");
    let key = key_for(&a.id);
    store.create_api_key(&key).await.expect("key");
    let c = connection(&a.id, "cust");
    core_of(&store).connections().record_new(&c, &Change::by(1_000, &key.id)).await.expect("connection");
    // 100 records: chunks of 64, 32 and 4.
    let batch: Vec<_> = (0..100).map(|_| issued(&c, &key.id)).collect();
    let outcome = store.record_tokens_issued(&batch).await.expect("record");
    assert_eq!(outcome, vec![Some("cust".to_owned()); 100]);
    for t in &batch {
        assert_eq!(store.find_issued_token(&t.jti).await.expect("find").as_ref(), Some(t));
    }
    let events = store.list_events(&a.id, &c.id, None, 500).await.expect("events");
    assert_eq!(events.iter().filter(|e| e.kind == "token_issued").count(), 100);
    // A batch with a duplicate jti fails whole: nothing of it is kept.
    let fresh = issued(&c, &key.id);
    let bad = vec![fresh.clone(), batch[0].clone()];
    assert!(store.record_tokens_issued(&bad).await.is_err());
    assert_eq!(store.find_issued_token(&fresh.jti).await.expect("find"), None);
    assert_eq!(store.find_issued_token(&TokenId::generate()).await.expect("find"), None);
}

async fn issuance_refuses_what_may_not_be_issued_and_reads_current_claims(db: TestDb) {
    let store = open(&db).await;
    let (a, b) = (client("a"), client("b"));
    store.create_client(&a).await.expect("client");
    store.create_client(&b).await.expect("client");
    let (key, revoked, b_key) = (key_for(&a.id), key_for(&a.id), key_for(&b.id));
    for k in [&key, &revoked, &b_key] {
        store.create_api_key(k).await.expect("key");
    }
    core_of(&store).keys().revoke(Actor::CommandLine, None, &revoked.id, 1_500).await.expect("revoke");
    let change = Change::by(1_000, &key.id);
    let (live, gone, b_conn) = (connection(&a.id, "cust"), connection(&a.id, "gone"), connection(&b.id, "b"));
    for c in [&live, &gone, &b_conn] {
        core_of(&store).connections().record_new(c, &change).await.expect("connection");
    }
    let disconnect = ConnectionPatch { status: Some(ConnectionStatus::Disconnected), ..ConnectionPatch::default() };
    core_of(&store).connections().apply_patch(&a.id, &gone.id, &disconnect, &change).await.expect("patch");
    // The customer id signed into a token is the one current when it is recorded.
    let rename = ConnectionPatch { customer_id: Some("renamed".into()), ..ConnectionPatch::default() };
    core_of(&store).connections().apply_patch(&a.id, &live.id, &rename, &change).await.expect("patch");

    let mut other_clients = issued(&b_conn, &key.id);
    other_clients.client_id = a.id.clone();
    let batch = vec![
        issued(&live, &key.id),                   // recorded
        issued(&gone, &key.id),                   // disconnected
        issued(&live, &revoked.id),               // revoked key
        issued(&live, &b_key.id),                 // another client's key
        other_clients,                            // another client's connection
        issued(&connection(&a.id, "x"), &key.id), // no such connection
        issued(&live, &key.id),                   // recorded
    ];
    let outcome = store.record_tokens_issued(&batch).await.expect("record");
    let renamed = Some("renamed".to_owned());
    assert_eq!(outcome, vec![renamed.clone(), None, None, None, None, None, renamed]);
    for (t, o) in batch.iter().zip(&outcome) {
        assert_eq!(store.find_issued_token(&t.jti).await.expect("find").is_some(), o.is_some());
    }
    // A SQLite file's issuance writer has a connection of its own, which runs the same
    // statement one token at a time: it decides each case alike.
    if let Some(mut writer) = store.issuance_connection().expect("issuance connection") {
        let again: Vec<IssuedToken> =
            batch.iter().map(|t| IssuedToken { jti: TokenId::generate(), ..t.clone() }).collect();
        let recorded: Vec<Option<String>> =
            writer.record(&again).expect("record").into_iter().map(|r| r.expect("each token")).collect();
        assert_eq!(recorded, outcome, "the issuance writer decides as the pool's writer does");
        for (t, o) in again.iter().zip(&outcome) {
            assert_eq!(store.find_issued_token(&t.jti).await.expect("find").is_some(), o.is_some());
        }
    }
}

async fn upgrading_keeps_the_token_history_in_the_activity_log(db: TestDb) {
    // A database as the previous release left it: token issuance events in connection_events.
    let backend = match db.backend {
        crate::support::Backend::Sqlite => "sqlite",
        crate::support::Backend::Postgres => "postgres",
    };
    let old = tempfile::tempdir().expect("dir");
    let tree = format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR"));
    for entry in std::fs::read_dir(&tree).expect("migrations") {
        let path = entry.expect("entry").path();
        if path.file_name().expect("name").to_string_lossy().as_ref() < "20261128000005" {
            std::fs::copy(&path, old.path().join(path.file_name().expect("name"))).expect("copy");
        }
    }
    let migrator = sqlx::migrate::Migrator::new(old.path()).await.expect("old migrations");
    let history = [
        "INSERT INTO clients (id, name, created_at) VALUES ('c1', 'old', 1000)",
        "INSERT INTO connections (id, client_id, customer_id, retailer_id, status, created_at, updated_at)
         VALUES ('conn1', 'c1', 'cust', 'walmart', 'active', 1000, 1000)",
        "INSERT INTO issued_tokens (jti, connection_id, client_id, api_key_id, kid, issued_at, expires_at)
         VALUES ('01JTI', 'conn1', 'c1', 'k1', 'kid1', 1000, 1900)",
        "INSERT INTO connection_events (id, connection_id, client_id, kind, at, api_key_id, data)
         VALUES ('01EVT', 'conn1', 'c1', 'token_issued', 1000, 'k1', '{\"jti\": \"01JTI\", \"exp\": 1900}')",
        // An answer kept in plain text, as releases before sealing kept them.
        "INSERT INTO idempotency_keys (client_id, key, fingerprint, status, response, created_at)
         VALUES ('c1', 'k', 'f', 201, '{\"connection_token\": \"eyJ.live.token\"}', 1000)",
    ];
    match db.backend {
        crate::support::Backend::Sqlite => {
            let pool = sqlx::SqlitePool::connect(&format!("{}?mode=rwc", db.url)).await.expect("connect");
            migrator.run(&pool).await.expect("old schema");
            for sql in history {
                sqlx::query(sql).execute(&pool).await.expect("old data");
            }
            pool.close().await;
        }
        crate::support::Backend::Postgres => {
            let pool = sqlx::PgPool::connect(&db.url).await.expect("connect");
            migrator.run(&pool).await.expect("old schema");
            for sql in history {
                sqlx::query(sql).execute(&pool).await.expect("old data");
            }
            pool.close().await;
        }
    }
    let store = open(&db).await;
    let events = store
        .list_events(&ClientId::from_string("c1"), &ConnectionId::from_string("conn1"), None, 10)
        .await
        .expect("events");
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0].kind, "token_issued");
    assert_eq!(events[0].at, 1000);
    assert_eq!(events[0].api_key_id.as_deref(), Some("k1"));
    assert_eq!(events[0].data, serde_json::json!({"jti": "01JTI", "exp": 1900}));
    let token = store.find_issued_token(&TokenId::from_string("01JTI")).await.expect("find").expect("kept");
    assert_eq!((token.issued_at, token.expires_at, token.kid.as_str()), (1000, 1900, "kid1"));
    // The answer kept in plain text is gone: the same key now starts afresh.
    let state = store.idempotency_begin(&ClientId::from_string("c1"), "k", "f", 1_001, 60, 86_400).await;
    assert_eq!(state.expect("begin"), IdempotencyState::Claimed);
}

async fn a_schema_from_a_newer_release_is_refused(db: TestDb) {
    let store = open(&db).await;
    drop(store);
    // Pretend a newer tessera applied a migration this build does not have.
    let sql = "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
               VALUES (99990101000000, 'from the future', TRUE, X'00', 0)";
    let pg_sql = sql.replace("X'00'", "'\\x00'::bytea");
    match db.backend {
        crate::support::Backend::Sqlite => {
            use sqlx::Connection as _;
            let mut c = sqlx::SqliteConnection::connect(&db.url).await.expect("connect");
            sqlx::query(sql).execute(&mut c).await.expect("insert");
        }
        crate::support::Backend::Postgres => {
            use sqlx::Connection as _;
            let mut c = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query(&pg_sql).execute(&mut c).await.expect("insert");
        }
    }
    let err = match tessera::storage::connect(&db.url).await {
        Ok(_) => panic!("a newer schema must be refused"),
        Err(e) => e.to_string(),
    };
    assert!(err.contains("newer tessera"), "{err}");
}

async fn idempotency_keys_are_purged_after_their_lifetime(db: TestDb) {
    let store = open(&db).await;
    let c = client("c");
    store.create_client(&c).await.expect("client");
    let begin = |key: &'static str, now: i64| {
        let (store, id) = (store.clone(), c.id.clone());
        async move { store.idempotency_begin(&id, key, "f", now, 60, 86_400).await.expect("begin") }
    };
    assert_eq!(begin("old", 1_000).await, IdempotencyState::Claimed);
    store.idempotency_finish(&c.id, "old", 201, "sealed-old").await.expect("finish");
    assert_eq!(begin("new", 5_000).await, IdempotencyState::Claimed);
    store.idempotency_finish(&c.id, "new", 201, "sealed-new").await.expect("finish");
    assert_eq!(store.purge_idempotency(1_000).await.expect("purge"), 1);
    assert_eq!(store.purge_idempotency(1_000).await.expect("purge"), 0);
    // The old key is gone (a new request claims it); the newer one still replays.
    assert_eq!(begin("old", 5_001).await, IdempotencyState::Claimed);
    assert_eq!(begin("new", 5_001).await, IdempotencyState::Done { status: 201, body: "sealed-new".into() });
}

async fn clients_are_listed_oldest_first(db: TestDb) {
    let store = open(&db).await;
    assert!(store.list_clients().await.expect("list").is_empty());
    let (a, mut b) = (client("a"), client("b"));
    b.created_at += 1;
    store.create_client(&b).await.expect("b");
    store.create_client(&a).await.expect("a");
    assert_eq!(store.list_clients().await.expect("list"), vec![a, b]);
}

/// One request's row that the database refuses (here a NUL byte, which PostgreSQL cannot
/// store) must fail that request alone, never the others committed in the same batch.
async fn a_bad_row_fails_only_its_own_request(db: TestDb) {
    let store = open(&db).await;
    let c = client("c");
    store.create_client(&c).await.expect("client");
    let k = key_for(&c.id);
    store.create_api_key(&k).await.expect("key");
    let conn = connection(&c.id, "cust");
    core_of(&store).connections().record_new(&conn, &Change::at(1_000)).await.expect("conn");
    let (log, writer) = tessera::token::issuance::IssuanceLog::start(store.clone()).expect("writer");
    let mut good = Vec::new();
    let mut bad = Vec::new();
    for i in 0..200 {
        let log = log.clone();
        let mut token = issued(&conn, &k.id);
        if i % 2 == 1 {
            token.connection_id = ConnectionId::from_string(format!("{}\u{0}", conn.id));
            bad.push(tokio::spawn(async move { log.record(token).await }));
        } else {
            good.push(tokio::spawn(async move { log.record(token).await }));
        }
    }
    for g in good {
        assert_eq!(g.await.expect("task").expect("recorded"), Some("cust".into()));
    }
    for b in bad {
        // Refused, one way or the other, but never recorded.
        assert!(!matches!(b.await.expect("task"), Ok(Some(_))));
    }
    writer.shutdown().await;
}

/// A grant and its credential record, written in one unit of work.
async fn insert_grant(
    store: &dyn Store,
    grant: &tessera::domain::partner::PartnerGrant,
    key: &ApiKeyRecord,
) -> Result<(), StoreError> {
    let mut work = store.begin_work().await?;
    work.insert_api_key(key).await?;
    work.insert_partner_grant(grant).await?;
    work.commit().await
}

async fn partner_grants_hold_one_live_grant_and_revoke_their_record(db: TestDb) {
    use tessera::domain::partner::PartnerGrant;
    let store = open(&db).await;
    let c = client("brand");
    store.create_client(&c).await.expect("client");
    let grant = |key: &ApiKeyRecord| PartnerGrant {
        id: ulid::Ulid::new().to_string(),
        issuer: "https://sso.example".into(),
        partner_client_id: "acme".into(),
        client_id: c.id.clone(),
        api_key_id: key.id.clone(),
        created_at: 1_000,
        revoked_at: None,
    };
    let k1 = key_for(&c.id);
    let g1 = grant(&k1);
    insert_grant(store.as_ref(), &g1, &k1).await.expect("grant");
    assert_eq!(store.find_partner_grant("https://sso.example", "acme", &c.id).await.expect("find"), Some(g1.clone()));
    assert_eq!(store.find_partner_grant("https://sso.example", "other", &c.id).await.expect("find"), None);
    assert_eq!(
        store.find_partner_grant("https://sso.example", "acme", &ClientId::generate()).await.expect("find"),
        None
    );
    assert!(store.find_api_key(&k1.id).await.expect("key").is_some(), "the record is written with the grant");
    // One live grant per partner and client; the refused one leaves no record behind.
    let k2 = key_for(&c.id);
    assert!(matches!(insert_grant(store.as_ref(), &grant(&k2), &k2).await, Err(StoreError::Conflict(_))));
    assert!(store.find_api_key(&k2.id).await.expect("key").is_none(), "one transaction");
    // Revoking revokes the record too, keeps its first time, and frees the slot.
    let revoke = |id: String, at: i64| {
        let store = store.clone();
        async move { core_of(&store).partners().revoke(Actor::CommandLine, &id, at).await }
    };
    let revoked = revoke(g1.id.clone(), 2_000).await.expect("revoke");
    assert_eq!(revoked.revoked_at, Some(2_000));
    assert_eq!(revoke(g1.id.clone(), 3_000).await.expect("again").revoked_at, Some(2_000));
    assert_eq!(store.find_api_key(&k1.id).await.expect("key").expect("kept").revoked_at, Some(2_000));
    assert_eq!(store.find_partner_grant("https://sso.example", "acme", &c.id).await.expect("find"), None);
    assert!(matches!(revoke("nope".into(), 1).await, Err(CoreError::NotFound(_))));
    let k3 = key_for(&c.id);
    let g3 = grant(&k3);
    insert_grant(store.as_ref(), &g3, &k3).await.expect("allowed again");
    let all = store.list_partner_grants().await.expect("list");
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "ordered by id");
    let mut ids: Vec<&str> = all.iter().map(|g| g.id.as_str()).collect();
    ids.sort_unstable();
    let mut expected = [g1.id.as_str(), g3.id.as_str()];
    expected.sort_unstable();
    assert_eq!(ids, expected);
    assert_eq!(all.iter().filter(|g| g.revoked_at.is_none()).count(), 1);
}

/// The unit of work: what a committed one wrote is all there, what a dropped one wrote is
/// gone, and the outbox gets an event only where a webhook listens.
async fn a_unit_of_work_commits_whole_or_not_at_all(db: TestDb) {
    use tessera::domain::event::NewActivity;
    use tessera::domain::ids::WebhookId;
    use tessera::domain::webhook::{EventType, OutboxEvent, Webhook};
    let store = open(&db).await;
    let a = client("a");
    store.create_client(&a).await.expect("client");
    let c = connection(&a.id, "cust");
    let entry = |kind: &'static str, at: i64| NewActivity {
        id: tessera::domain::ids::ordered_id(),
        connection_id: c.id.clone(),
        client_id: a.id.clone(),
        kind,
        at,
        api_key_id: None,
        data: serde_json::json!({"n": at}),
    };

    // Dropped: nothing of it is kept.
    let mut work = store.begin_work().await.expect("begin");
    work.insert_connection(&c).await.expect("insert");
    work.append_activity(&entry("created", 1_000)).await.expect("activity");
    drop(work);
    assert_eq!(store.find_connection(&a.id, &c.id).await.expect("find"), None);
    assert!(store.list_events(&a.id, &c.id, None, 10).await.expect("events").is_empty());

    // No webhook listens: no outbox row.
    let mut work = store.begin_work().await.expect("begin");
    work.insert_connection(&c).await.expect("insert");
    work.append_activity(&entry("created", 1_000)).await.expect("activity");
    assert!(!work.enqueue(&OutboxEvent::about(&c, EventType::ConnectionCreated, 1_000)).await.expect("enqueue"));
    work.commit().await.expect("commit");
    assert_eq!(store.find_connection(&a.id, &c.id).await.expect("find"), Some(c.clone()));
    let events = store.list_events(&a.id, &c.id, None, 10).await.expect("events");
    assert_eq!(events.iter().map(|e| (e.kind.as_str(), e.at)).collect::<Vec<_>>(), [("created", 1_000)]);
    assert_eq!(store.outbox_depth().await.expect("depth").0, 0);

    // A webhook listens: the event and its delivery, saved with the row, locked and changed.
    let hook = Webhook {
        id: WebhookId::generate(),
        client_id: a.id.clone(),
        name: "h".into(),
        url: "https://example.com/h".into(),
        event_types: vec![EventType::ConnectionActivated],
        is_active: true,
        secret_sealed: vec![1, 2, 3],
        previous_secret_sealed: None,
        previous_expires_at: None,
        created_at: 1_000,
        updated_at: 1_000,
        last_success_at: None,
        disabled_reason: None,
    };
    store.create_webhook(&hook).await.expect("webhook");
    let mut work = store.begin_work().await.expect("begin");
    let mut locked = work.lock_connection(&c.id).await.expect("lock").expect("there");
    locked.status = ConnectionStatus::Active;
    locked.updated_at = 2_000;
    work.save_connection(&locked).await.expect("save");
    assert!(!work.enqueue(&OutboxEvent::about(&locked, EventType::ConnectionCreated, 2_000)).await.expect("enqueue"));
    assert!(work.enqueue(&OutboxEvent::about(&locked, EventType::ConnectionActivated, 2_000)).await.expect("enqueue"));
    work.commit().await.expect("commit");
    assert_eq!(store.find_connection(&a.id, &c.id).await.expect("find"), Some(locked));
    assert_eq!(store.outbox_depth().await.expect("depth").0, 1);

    // Deleting through the unit of work: the row and its purchases go.
    let mut work = store.begin_work().await.expect("begin");
    work.delete_connection(&c.id).await.expect("delete");
    assert_eq!(work.delete_purchases(&c.id).await.expect("purchases"), 0);
    work.commit().await.expect("commit");
    assert_eq!(store.find_connection(&a.id, &c.id).await.expect("find"), None);
}

both_backends!(
    a_unit_of_work_commits_whole_or_not_at_all,
    partner_grants_hold_one_live_grant_and_revoke_their_record,
    idempotency_keys_are_purged_after_their_lifetime,
    clients_are_listed_oldest_first,
    a_bad_row_fails_only_its_own_request,
    upgrading_keeps_the_token_history_in_the_activity_log,
    issuance_refuses_what_may_not_be_issued_and_reads_current_claims,
    clients_and_keys,
    concurrent_bootstraps_create_exactly_one_client,
    connections_are_scoped_and_patched_exactly,
    concurrent_patches_each_apply_whole,
    one_active_signing_key_per_algorithm,
    issuance_batches_are_atomic,
    a_schema_from_a_newer_release_is_refused,
);

#[test]
fn migration_trees_are_in_lockstep() {
    let names = |backend: &str| {
        let mut v: Vec<String> = std::fs::read_dir(format!("{}/migrations/{backend}", env!("CARGO_MANIFEST_DIR")))
            .expect("migrations dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    let sqlite = names("sqlite");
    assert!(!sqlite.is_empty());
    assert_eq!(sqlite, names("postgres"), "same versions and names in both trees");
}

/// The application core over `store`, on the system clock.
fn core_of(store: &std::sync::Arc<dyn tessera::storage::Store>) -> tessera::service::Core {
    tessera::service::Core::new(store.clone(), std::sync::Arc::new(tessera::token::clock::SystemClock))
}
