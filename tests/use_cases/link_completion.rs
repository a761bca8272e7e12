//! Link, through the core: a customer's session is started from a link token, a retailer is
//! chosen, the session is handed off to the connector's sign-in page, and the connector
//! completes it with its word on the sign-in. The steps are those the hosted pages and the
//! connector's API take (tests/api/link_pages.rs, tests/link.rs), without the HTTP.
use serde_json::json;

use super::{NOW, World};
use crate::support::TestDb;
use tessera::domain::connection::{Connection, ConnectionStatus};
use tessera::domain::ids::{ConnectionId, ConnectorId};
use tessera::domain::link::{LinkSession, Outcome, Secret, SessionState};
use tessera::domain::webhook::EventType;
use tessera::service::Actor;
use tessera::service::link::{SessionView, StartParams};
use tessera::storage::StatusChange;

/// The catalogue and the connector a Link session needs: `walmart`, and a connector with a
/// sign-in page for every retailer.
async fn connector(w: &World) -> ConnectorId {
    w.core.retailers().put(Actor::CommandLine, "walmart", "Walmart", NOW).await.expect("retailer");
    let (credential, _secret) =
        w.core.connectors().create(Actor::CommandLine, "sandbox", NOW).await.expect("connector");
    w.core
        .link()
        .register_sign_in(&credential.id, "https://connector.example/sign-in", None, NOW)
        .await
        .expect("sign-in page");
    credential.id
}

/// A session of `customer`'s, handed to the connector: the session's cookie and the reference
/// the connector is given. With `relink`, the session signs in again to that connection (the
/// retailer is the connection's; none is chosen).
async fn at_connector(w: &World, customer: &str, relink: Option<&ConnectionId>) -> (Secret, String) {
    let (_token, secret) = w
        .core
        .link()
        .create_token(&w.client.id, customer.into(), Some(format!("{customer}@example.com")), None, NOW)
        .await
        .expect("link token");
    let params = StartParams { connection_id: relink.map(|id| id.as_str().to_owned()), ..Default::default() };
    let (mut session, cookie) = w.core.link().start(secret.expose(), params, NOW).await.expect("session starts");
    assert_eq!(session.state, SessionState::Started);
    if relink.is_none() {
        session = w.core.link().choose_retailer(&session, "walmart", NOW).await.expect("retailer chosen");
    }
    let sign_in = w.core.link().hand_off(&session, NOW).await.expect("handed off");
    let reference = url::Url::parse(&sign_in)
        .expect("a URL")
        .query_pairs()
        .find(|(k, _)| k == "session")
        .map(|(_, v)| v.into_owned())
        .expect("the sign-in URL carries the reference");
    assert!(sign_in.starts_with("https://connector.example/sign-in?session="), "{sign_in}");
    (cookie, reference)
}

/// The session as stored now.
async fn session(w: &World, cookie: &Secret) -> LinkSession {
    w.core.link().by_cookie(cookie.expose()).await.expect("read").expect("the session")
}

/// A connection of the world's client moved to `to` by the connector's reports.
async fn connection_in(w: &World, customer: &str, connector: &ConnectorId, path: &[ConnectionStatus]) -> Connection {
    let c = w.connection(customer).await;
    for to in path {
        let moved = w.core.connections().report_status(connector, &c.id, *to, None, NOW).await.expect("report");
        assert!(matches!(moved, StatusChange::Moved { .. }), "{moved:?}");
    }
    w.stored(&c.id).await.expect("the connection")
}

async fn a_completed_link_creates_one_active_connection_and_announces_it(db: TestDb) {
    let w = World::new(db).await;
    let connector = connector(&w).await;
    let hook = w.webhook().await;
    let (cookie, reference) = at_connector(&w, "cust-1", None).await;
    let at = NOW + 60;

    let (done, linked, return_url) = w
        .core
        .link()
        .complete(&connector, &reference, Outcome::Active, None, at)
        .await
        .expect("complete")
        .expect("the connector's session");
    let linked = linked.expect("a connection");
    assert_eq!(return_url, format!("https://tessera.test/link/return?session={reference}"));
    assert_eq!(done.state, SessionState::Completed);
    assert_eq!(done.connection_id.as_ref(), Some(&linked.id));

    // The connection, as stored: the customer's, at the chosen retailer, active.
    let stored = w.stored(&linked.id).await.expect("stored");
    assert_eq!(stored, linked);
    assert_eq!(
        (stored.customer_id.as_str(), stored.retailer_id.as_str(), stored.email.as_deref(), stored.status),
        ("cust-1", "walmart", Some("cust-1@example.com"), ConnectionStatus::Active)
    );
    assert_eq!((stored.created_at, stored.updated_at), (at, at));

    // Its activity: made, then activated, both by the connector via Link.
    let events = w.events(&linked.id).await;
    let kinds: Vec<&str> = events.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["created", "status_changed"]);
    assert_eq!(events[0].data["via"], "link");
    assert_eq!(events[0].data["connector_id"], json!(connector.as_str()));
    assert_eq!(
        (&events[1].data["from"], &events[1].data["to"], &events[1].data["via"]),
        (&json!("initialized"), &json!("active"), &json!("link"))
    );
    assert!(events.iter().all(|e| e.at == at && e.api_key_id.is_none()));

    // Its webhooks: created and activated, queued for the client's endpoint.
    let id = linked.id.as_str().to_owned();
    let announced = vec![(EventType::ConnectionCreated, id.clone()), (EventType::ConnectionActivated, id)];
    assert_eq!(w.deliveries(&hook).await, announced);

    // The session as stored is done, and names the connection.
    let stored_session = session(&w, &cookie).await;
    assert_eq!(stored_session.state, SessionState::Completed);
    assert_eq!(stored_session.connection_id.as_ref(), Some(&linked.id));
    assert_eq!(stored_session.reason, None);

    // The reference completes once: a second word on it changes nothing.
    let again = w.core.link().complete(&connector, &reference, Outcome::Active, None, at + 1).await.expect("complete");
    assert!(again.is_none(), "a reference completes once");
    assert_eq!(w.store.list_connections(&w.client.id, "cust-1").await.expect("list").len(), 1);
    assert_eq!(w.events(&linked.id).await.len(), 2);
    assert_eq!(w.deliveries(&hook).await, announced);
    assert_eq!(session(&w, &cookie).await, stored_session);
    w.finish().await;
}

async fn a_relink_reactivates_the_connection_it_names(db: TestDb) {
    let w = World::new(db).await;
    let connector = connector(&w).await;
    let stopped =
        connection_in(&w, "cust-2", &connector, &[ConnectionStatus::Active, ConnectionStatus::Unauthenticated]).await;
    let before = w.events(&stopped.id).await.len();
    let (cookie, reference) = at_connector(&w, "cust-2", Some(&stopped.id)).await;
    assert!(w.core.link().is_relink(&session(&w, &cookie).await).await.expect("relink?"));

    let (done, linked, _) = w
        .core
        .link()
        .complete(&connector, &reference, Outcome::Active, Some("signed in again"), NOW + 60)
        .await
        .expect("complete")
        .expect("the connector's session");
    assert_eq!(done.state, SessionState::Completed);
    assert_eq!(linked.expect("the connection").id, stopped.id);

    // The same connection, active again; no second one.
    let stored = w.stored(&stopped.id).await.expect("stored");
    assert_eq!((stored.status, stored.updated_at), (ConnectionStatus::Active, NOW + 60));
    assert_eq!(w.store.list_connections(&w.client.id, "cust-2").await.expect("list"), vec![stored]);

    // One move recorded, with the connector's reason; no endpoint, so nothing queued.
    let events = w.events(&stopped.id).await;
    assert_eq!(events.len(), before + 1);
    let last = events.last().expect("an event");
    assert_eq!(last.kind, "status_changed");
    assert_eq!(
        (&last.data["from"], &last.data["to"], &last.data["via"], &last.data["reason"]),
        (&json!("unauthenticated"), &json!("active"), &json!("link"), &json!("signed in again"))
    );
    assert_eq!(w.outbox_depth().await, 0, "the client has no webhook endpoint");
    assert_eq!(session(&w, &cookie).await.state, SessionState::Completed);
    w.finish().await;
}

async fn a_refused_or_failed_sign_in_fails_the_session_and_creates_nothing(db: TestDb) {
    let w = World::new(db).await;
    let connector = connector(&w).await;
    w.webhook().await;
    for (customer, outcome, why) in [
        ("cust-3", Outcome::Unauthenticated, "the retailer did not accept the sign-in"),
        ("cust-4", Outcome::Failed, "the connector could not link the account"),
    ] {
        let (cookie, reference) = at_connector(&w, customer, None).await;
        let (done, linked, _) = w
            .core
            .link()
            .complete(&connector, &reference, outcome, None, NOW + 60)
            .await
            .expect("complete")
            .expect("the connector's session");
        assert_eq!(linked, None, "{outcome:?}");
        let stored = session(&w, &cookie).await;
        assert_eq!(stored, done);
        assert_eq!((stored.state, stored.reason.as_deref()), (SessionState::Failed, Some(why)), "{outcome:?}");
        assert_eq!(stored.connection_id, None);
        assert!(w.store.list_connections(&w.client.id, customer).await.expect("list").is_empty(), "{outcome:?}");
    }
    assert_eq!(w.outbox_depth().await, 0, "nothing to announce");
    w.finish().await;
}

/// On a relink the connector's word applies to the connection as it is at completion, as far
/// as its lifecycle allows: a refused sign-in of a connection that became active meanwhile
/// makes it unauthenticated; a failure leaves it as it is.
async fn a_relink_that_fails_maps_the_outcome_onto_the_connection(db: TestDb) {
    let w = World::new(db).await;
    let connector = connector(&w).await;
    let hook = w.webhook().await;
    let path = [ConnectionStatus::Active, ConnectionStatus::Unauthenticated];

    // Failed: the connection stays unauthenticated, nothing is recorded.
    let c = connection_in(&w, "cust-5", &connector, &path).await;
    let (events, queued) = (w.events(&c.id).await.len(), w.deliveries(&hook).await.len());
    let (cookie, reference) = at_connector(&w, "cust-5", Some(&c.id)).await;
    let (done, linked, _) =
        w.core.link().complete(&connector, &reference, Outcome::Failed, None, NOW + 60).await.expect("ok").expect("s");
    assert_eq!((done.state, linked.map(|l| l.status)), (SessionState::Failed, Some(ConnectionStatus::Unauthenticated)));
    assert_eq!(session(&w, &cookie).await.state, SessionState::Failed);
    assert_eq!(w.stored(&c.id).await.expect("stored"), c, "the connection is untouched");
    assert_eq!((w.events(&c.id).await.len(), w.deliveries(&hook).await.len()), (events, queued));

    // Unauthenticated, after the connection was reported active while the customer signed in.
    let c = connection_in(&w, "cust-6", &connector, &path).await;
    let (cookie, reference) = at_connector(&w, "cust-6", Some(&c.id)).await;
    w.core.connections().report_status(&connector, &c.id, ConnectionStatus::Active, None, NOW).await.expect("report");
    let queued = w.deliveries(&hook).await.len();
    let (done, linked, _) = w
        .core
        .link()
        .complete(&connector, &reference, Outcome::Unauthenticated, None, NOW + 60)
        .await
        .expect("complete")
        .expect("the connector's session");
    assert_eq!(done.state, SessionState::Failed);
    assert_eq!(done.reason.as_deref(), Some("the retailer did not accept the sign-in"));
    assert_eq!(linked.map(|l| l.status), Some(ConnectionStatus::Unauthenticated));
    assert_eq!(w.stored(&c.id).await.expect("stored").status, ConnectionStatus::Unauthenticated);
    let last = w.events(&c.id).await.pop().expect("an event");
    assert_eq!((&last.data["from"], &last.data["to"]), (&json!("active"), &json!("unauthenticated")));
    let deliveries = w.deliveries(&hook).await;
    assert_eq!(deliveries.len(), queued + 1);
    assert_eq!(deliveries.last(), Some(&(EventType::ConnectionUnauthenticated, c.id.as_str().to_owned())));
    assert_eq!(session(&w, &cookie).await.state, SessionState::Failed);

    // Deleted meanwhile: the session fails, saying so, and nothing is made in its place.
    let c = connection_in(&w, "cust-7", &connector, &path).await;
    let (cookie, reference) = at_connector(&w, "cust-7", Some(&c.id)).await;
    assert!(w.core.connections().delete(&w.client.id, &w.key.id, &c.id, NOW).await.expect("delete"));
    let (done, linked, _) =
        w.core.link().complete(&connector, &reference, Outcome::Active, None, NOW + 60).await.expect("ok").expect("s");
    assert_eq!(linked, None);
    assert_eq!((done.state, done.reason.as_deref()), (SessionState::Failed, Some("the connection no longer exists")));
    assert_eq!(session(&w, &cookie).await.state, SessionState::Failed);
    assert!(w.store.list_connections(&w.client.id, "cust-7").await.expect("list").is_empty());
    w.finish().await;
}

/// Only a live session at the connector's own sign-in page completes; anything else is
/// answered alike (`None`) and leaves every record as it was.
async fn completing_an_unknown_expired_or_foreign_session_does_nothing(db: TestDb) {
    let w = World::new(db).await;
    let connector = connector(&w).await;
    let (other, _) = w.core.connectors().create(Actor::CommandLine, "other", NOW).await.expect("connector");
    let (cookie, reference) = at_connector(&w, "cust-8", None).await;
    let handed = session(&w, &cookie).await;
    assert_eq!(handed.state, SessionState::AtConnector);
    let complete = |connector: ConnectorId, reference: String, now: i64| {
        let link = w.core.link();
        async move { link.complete(&connector, &reference, Outcome::Active, None, now).await.expect("complete") }
    };

    let unknown = Secret::reference().expose().to_owned();
    assert!(complete(connector.clone(), unknown, NOW).await.is_none(), "an unknown reference");
    assert!(complete(other.id.clone(), reference.clone(), NOW).await.is_none(), "another connector's session");
    assert!(complete(connector.clone(), reference.clone(), handed.expires_at).await.is_none(), "expired");
    assert_eq!(session(&w, &cookie).await, handed, "the session is as it was");
    assert!(w.store.list_connections(&w.client.id, "cust-8").await.expect("list").is_empty());

    // A session whose link token was revoked meanwhile does not complete either.
    let (cookie, reference) = at_connector(&w, "cust-9", None).await;
    let token = session(&w, &cookie).await.link_token_digest.expect("entered with a link token");
    assert!(w.store.revoke_link_token(&w.client.id, &token, NOW).await.expect("revoke"));
    assert!(complete(connector.clone(), reference, NOW + 1).await.is_none(), "its token is revoked");
    assert_eq!(session(&w, &cookie).await.state, SessionState::AtConnector);
    assert!(w.store.list_connections(&w.client.id, "cust-9").await.expect("list").is_empty());
    w.finish().await;
}

/// On SQLite a unit of work holds the database's one write lock, and a read through the
/// store's pool may need a new pooled connection, whose `PRAGMA auto_vacuum` waits for that
/// lock: a completion that read the link token, the retailer or the client inside its work
/// would wait for itself until the pool's acquire timeout. Here other readers keep the pool's
/// idle connection busy, as concurrent requests do in a server; the completion reads what it
/// needs before its work begins, and completes.
async fn a_completion_does_not_wait_for_its_own_write_lock(db: TestDb) {
    let w = World::new(db).await;
    let connector = connector(&w).await;
    let (_cookie, reference) = at_connector(&w, "cust-10", None).await;
    // A store of its own, as a server opens it: one idle read connection to begin with.
    let options = tessera::storage::DbOptions { timeout: std::time::Duration::from_secs(2), ..Default::default() };
    let store = tessera::storage::connect_with(&w.db.url, &options).await.expect("store");
    let core =
        tessera::service::Core::new(store.clone(), std::sync::Arc::new(tessera::token::clock::ManualClock::new(NOW)));
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..2)
        .map(|_| {
            let (store, done, client) = (store.clone(), done.clone(), w.client.id.clone());
            tokio::spawn(async move {
                while !done.load(std::sync::atomic::Ordering::Relaxed) {
                    let _ = store.find_client(&client).await;
                }
            })
        })
        .collect();
    let completed = core.link().complete(&connector, &reference, Outcome::Active, None, NOW + 60).await;
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    for r in readers {
        r.await.expect("reader");
    }
    let (session, linked, _) = completed.expect("complete").expect("the connector's session");
    assert_eq!(session.state, SessionState::Completed);
    assert!(linked.is_some());
    w.finish().await;
}

/// The session page asks the core once what the customer sees: the choice of a retailer
/// (filtered by the query), then the consent for the chosen one, then the connector's sign-in.
async fn each_step_of_a_session_shows_what_comes_next(db: TestDb) {
    let w = World::new(db).await;
    let _connector = connector(&w).await;
    w.core.retailers().put(Actor::CommandLine, "target", "Target", NOW).await.expect("retailer");
    let (_token, secret) =
        w.core.link().create_token(&w.client.id, "cust-v".into(), None, None, NOW).await.expect("link token");
    let (session, cookie) = w.core.link().start(secret.expose(), StartParams::default(), NOW).await.expect("start");
    match w.core.link().view(&session, "wal").await.expect("view") {
        SessionView::Choose { client, found } => {
            assert_eq!(client.id, w.client.id);
            assert_eq!(found.iter().map(|r| r.retailer_id.as_str()).collect::<Vec<_>>(), ["walmart"]);
        }
        other => panic!("a new session chooses a retailer: {other:?}"),
    }
    let session = w.core.link().choose_retailer(&session, "walmart", NOW).await.expect("chosen");
    match w.core.link().view(&session, "").await.expect("view") {
        SessionView::Consent { retailer, relink, .. } => {
            assert_eq!((retailer.retailer_id.as_str(), relink), ("walmart", false))
        }
        other => panic!("a chosen retailer asks for consent: {other:?}"),
    }
    w.core.link().hand_off(&session, NOW).await.expect("handed off");
    let session = w.core.link().by_cookie(cookie.expose()).await.expect("read").expect("the session");
    match w.core.link().view(&session, "").await.expect("view") {
        SessionView::AtConnector { retailer } => {
            assert_eq!(retailer.map(|r| r.retailer_id), Some("walmart".to_owned()))
        }
        other => panic!("a handed-off session is at the connector: {other:?}"),
    }
    w.finish().await;
}

both_backends!(
    each_step_of_a_session_shows_what_comes_next,
    a_completion_does_not_wait_for_its_own_write_lock,
    a_completed_link_creates_one_active_connection_and_announces_it,
    a_relink_reactivates_the_connection_it_names,
    a_refused_or_failed_sign_in_fails_the_session_and_creates_nothing,
    a_relink_that_fails_maps_the_outcome_onto_the_connection,
    completing_an_unknown_expired_or_foreign_session_does_nothing,
);
