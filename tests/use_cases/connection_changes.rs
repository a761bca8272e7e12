//! A client's own changes to its connections, by its API key: created, patched, deleted; a
//! connection of another client is answered exactly like one that does not exist.
use serde_json::json;

use super::{NOW, World};
use crate::support::TestDb;
use tessera::domain::connection::{ConnectionPatch, ConnectionStatus};
use tessera::domain::ids::ConnectionId;
use tessera::domain::purchase::Purchase;
use tessera::domain::webhook::EventType;
use tessera::service::purchases::Upserted;
use tessera::service::{Actor, CoreError};

async fn creating_a_connection_records_it_with_its_event_and_webhook(db: TestDb) {
    let w = World::new(db).await;
    let hook = w.webhook().await;
    let c = w.connection("cust").await;
    assert_eq!(w.stored(&c.id).await, Some(c.clone()));
    assert_eq!(
        (c.status, c.customer_id.as_str(), c.retailer_id.as_str(), c.created_at),
        (ConnectionStatus::Initialized, "cust", "walmart", NOW)
    );

    let events = w.events(&c.id).await;
    assert_eq!(events.len(), 1);
    assert_eq!((events[0].kind.as_str(), events[0].at), ("created", NOW));
    assert_eq!(events[0].api_key_id.as_deref(), Some(w.key.id.as_str()), "the event names the key");
    assert_eq!(events[0].data, json!({"retailer_id": "walmart", "status": "initialized"}));
    assert_eq!(w.deliveries(&hook).await, vec![(EventType::ConnectionCreated, c.id.as_str().to_owned())]);
    w.finish().await;
}

async fn a_patch_changes_only_what_it_names(db: TestDb) {
    let w = World::new(db).await;
    let hook = w.webhook().await;
    let c = w.connection("cust").await;
    let patch = |p: ConnectionPatch, at: i64| {
        let (w, id) = (&w, c.id.clone());
        async move { w.core.connections().update(&w.client.id, &w.key.id, &id, &p, at).await.expect("patch") }
    };

    // The email alone.
    let patched = patch(ConnectionPatch { email: Some(Some("new@example.com".into())), ..Default::default() }, NOW + 1)
        .await
        .expect("the client's connection");
    let expected = tessera::domain::connection::Connection {
        email: Some("new@example.com".into()),
        updated_at: NOW + 1,
        ..c.clone()
    };
    assert_eq!(patched, expected);
    assert_eq!(w.stored(&c.id).await, Some(expected.clone()));
    let last = w.events(&c.id).await.pop().expect("an event");
    assert_eq!((last.kind.as_str(), &last.data), ("updated", &json!({"fields": ["email"]})));
    assert_eq!(last.api_key_id.as_deref(), Some(w.key.id.as_str()));

    // The mobile cleared and the customer id changed; the email stays.
    let patch_two = ConnectionPatch { customer_id: Some("cust-b".into()), mobile: Some(None), ..Default::default() };
    let patched = patch(patch_two, NOW + 2).await.expect("the client's connection");
    assert_eq!(
        (patched.customer_id.as_str(), patched.mobile.as_deref(), patched.email.as_deref()),
        ("cust-b", None, Some("new@example.com"))
    );
    assert_eq!(w.stored(&c.id).await, Some(patched.clone()));
    assert_eq!(w.events(&c.id).await.pop().expect("event").data, json!({"fields": ["customer_id", "mobile"]}));
    assert_eq!(w.event_kinds(&c.id).await, ["created", "updated", "updated"]);
    // Field changes are not announced to webhooks.
    assert_eq!(w.deliveries(&hook).await.len(), 1);

    // The status (the API's patch can only disconnect): a move, not an update; announced,
    // and the connection's tokens revoked with it.
    let token = w.token(&c).await;
    let patched =
        patch(ConnectionPatch { status: Some(ConnectionStatus::Disconnected), ..Default::default() }, NOW + 3)
            .await
            .expect("the client's connection");
    assert_eq!(patched.status, ConnectionStatus::Disconnected);
    assert_eq!(patched.customer_id, "cust-b");
    assert_eq!(w.event_kinds(&c.id).await, ["created", "updated", "updated", "status_changed"]);
    let last = w.events(&c.id).await.pop().expect("event");
    assert_eq!((&last.data["from"], &last.data["to"]), (&json!("initialized"), &json!("disconnected")));
    assert_eq!(w.deliveries(&hook).await.last(), Some(&(EventType::ConnectionDisconnected, c.id.as_str().to_owned())));
    assert_eq!(w.token_revoked_at(&token).await, Some(NOW + 3));

    // An empty patch records nothing (it only touches the update time).
    let before = w.events(&c.id).await;
    patch(ConnectionPatch::default(), NOW + 4).await.expect("the client's connection");
    assert_eq!(w.events(&c.id).await, before);
    w.finish().await;
}

/// The lifecycle says `disconnected` is final, and report_status refuses to leave it; a patch
/// naming another status is refused the same way (`CoreError::Lifecycle`), and records
/// nothing. The HTTP API cannot send it (its patch can only disconnect), but the core is the
/// one place the rule is kept for every front end.
async fn a_patch_cannot_bring_back_a_disconnected_connection(db: TestDb) {
    let w = World::new(db).await;
    let hook = w.webhook().await;
    let c = w.connection("cust").await;
    let disconnect = ConnectionPatch { status: Some(ConnectionStatus::Disconnected), ..Default::default() };
    w.core.connections().update(&w.client.id, &w.key.id, &c.id, &disconnect, NOW).await.expect("patch");
    let before = (w.stored(&c.id).await, w.events(&c.id).await, w.deliveries(&hook).await);
    for to in [ConnectionStatus::Active, ConnectionStatus::Unauthenticated, ConnectionStatus::Initialized] {
        let revive = ConnectionPatch { status: Some(to), ..Default::default() };
        let refused = w.core.connections().update(&w.client.id, &w.key.id, &c.id, &revive, NOW + 1).await;
        assert!(
            matches!(refused, Err(CoreError::Lifecycle { from: ConnectionStatus::Disconnected, to: t }) if t == to),
            "{refused:?}"
        );
        let after = (w.stored(&c.id).await, w.events(&c.id).await, w.deliveries(&hook).await);
        assert_eq!(after, before, "a patch moved a disconnected connection to {to}");
    }
    w.finish().await;
}

fn purchase(id: &str) -> Purchase {
    Purchase {
        purchase_id: id.into(),
        connection_id: ConnectionId::generate(),
        client_id: tessera::domain::ids::ClientId::generate(),
        date: "2027-01-02".into(),
        date_key: 1_798_848_000_000_000,
        total: "12.50".into(),
        tax: None,
        subtotal: None,
        item_count: 0,
        items: json!([]),
    }
}

async fn deleting_a_connection_removes_its_purchases_and_revokes_its_tokens(db: TestDb) {
    let w = World::new(db).await;
    let hook = w.webhook().await;
    w.core.retailers().put(Actor::CommandLine, "walmart", "Walmart", NOW).await.expect("retailer");
    let c = w.connection("cust").await;
    let kept = w.connection("kept").await;
    for conn in [&c, &kept] {
        let written = w.core.purchases().upsert(&conn.id, vec![purchase("p-1")], NOW).await.expect("upsert");
        assert!(matches!(written, Upserted::Written { .. }), "{written:?}");
    }
    let token = w.token(&c).await;
    let kept_token = w.token(&kept).await;

    assert!(w.core.connections().delete(&w.client.id, &w.key.id, &c.id, NOW + 9).await.expect("delete"));
    assert_eq!(w.stored(&c.id).await, None);
    assert_eq!(w.core.purchases().find(&w.client.id, &c.id, "p-1").await.expect("find"), None);
    assert_eq!(w.token_revoked_at(&token).await, Some(NOW + 9));
    assert_eq!(w.deliveries(&hook).await.last(), Some(&(EventType::ConnectionDeleted, c.id.as_str().to_owned())));

    // The other connection keeps everything.
    assert!(w.stored(&kept.id).await.is_some());
    assert!(w.core.purchases().find(&w.client.id, &kept.id, "p-1").await.expect("find").is_some());
    assert_eq!(w.token_revoked_at(&kept_token).await, None);

    // A second delete finds nothing, and announces nothing.
    let queued = w.deliveries(&hook).await;
    assert!(!w.core.connections().delete(&w.client.id, &w.key.id, &c.id, NOW + 10).await.expect("delete"));
    assert_eq!(w.deliveries(&hook).await, queued);
    w.finish().await;
}

async fn another_clients_connection_is_answered_like_a_missing_one(db: TestDb) {
    let w = World::new(db).await;
    let hook = w.webhook().await;
    let theirs = w.connection("cust").await;
    let (me, my_key) = w.other_client().await;
    let missing = ConnectionId::generate();
    let patch =
        ConnectionPatch { email: Some(None), status: Some(ConnectionStatus::Disconnected), ..Default::default() };
    let connections = w.core.connections();

    for id in [&theirs.id, &missing] {
        assert_eq!(connections.find(&me.id, id).await.expect("find"), None);
        assert_eq!(connections.update(&me.id, &my_key.id, id, &patch, NOW + 1).await.expect("update"), None);
        assert!(!connections.delete(&me.id, &my_key.id, id, NOW + 1).await.expect("delete"));
        assert!(connections.events(&me.id, id, None, 10).await.expect("events").is_empty());
    }
    // The owner's connection is untouched.
    assert_eq!(w.stored(&theirs.id).await, Some(theirs.clone()));
    assert_eq!(w.event_kinds(&theirs.id).await, ["created"]);
    assert_eq!(w.deliveries(&hook).await.len(), 1);
    w.finish().await;
}

both_backends!(
    a_patch_cannot_bring_back_a_disconnected_connection,
    creating_a_connection_records_it_with_its_event_and_webhook,
    a_patch_changes_only_what_it_names,
    deleting_a_connection_removes_its_purchases_and_revokes_its_tokens,
    another_clients_connection_is_answered_like_a_missing_one,
);
