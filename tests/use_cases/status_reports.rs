//! The connector reports connection statuses, and an operator disconnects: a connection
//! moves along its lifecycle (`initialized -> active`, `active <-> unauthenticated`, anything
//! live -> `disconnected`, which is final), each move with one activity event and the webhook
//! of its new status; a move the lifecycle forbids, or to the status it has, records nothing.
use serde_json::json;

use super::{NOW, World};
use crate::support::TestDb;
use tessera::domain::connection::ConnectionStatus::{self, Active, Disconnected, Initialized, Unauthenticated};
use tessera::domain::ids::{ConnectionId, ConnectorId};
use tessera::domain::webhook::EventType;
use tessera::service::Actor;
use tessera::storage::StatusChange;

fn connector() -> ConnectorId {
    ConnectorId::generate()
}

async fn every_allowed_move_records_one_event_and_one_webhook(db: TestDb) {
    let w = World::new(db).await;
    let hook = w.webhook().await;
    let by = connector();
    let c = w.connection("cust").await;
    let token = w.token(&c).await;
    let mut at = NOW;
    let path = [
        (Initialized, Active, EventType::ConnectionActivated),
        (Active, Unauthenticated, EventType::ConnectionUnauthenticated),
        (Unauthenticated, Active, EventType::ConnectionActivated),
        (Active, Disconnected, EventType::ConnectionDisconnected),
    ];
    for (step, (from, to, announced)) in path.into_iter().enumerate() {
        at += 10;
        let moved = w.core.connections().report_status(&by, &c.id, to, Some("retailer says so"), at).await;
        let StatusChange::Moved { from: was, connection } = moved.expect("report") else { panic!("{from} -> {to}") };
        assert_eq!((was, connection.status, connection.updated_at), (from, to, at));
        assert_eq!(w.stored(&c.id).await.expect("stored"), connection);

        let events = w.events(&c.id).await;
        assert_eq!(events.len(), step + 2, "created, then one event a move");
        let last = events.last().expect("an event");
        assert_eq!((last.kind.as_str(), last.at, &last.api_key_id), ("status_changed", at, &None));
        assert_eq!(
            (&last.data["from"], &last.data["to"], &last.data["reason"], &last.data["connector_id"]),
            (&json!(from.as_str()), &json!(to.as_str()), &json!("retailer says so"), &json!(by.as_str()))
        );
        let deliveries = w.deliveries(&hook).await;
        assert_eq!(deliveries.len(), step + 2, "created, then one webhook a move");
        assert_eq!(deliveries.last(), Some(&(announced, c.id.as_str().to_owned())));
    }
    // Into disconnected, the connection's tokens are revoked with the move.
    assert_eq!(w.token_revoked_at(&token).await, Some(at));
    assert_eq!(w.events(&c.id).await.last().expect("event").data["tokens_revoked"], json!(1));
    w.finish().await;
}

async fn a_forbidden_move_is_refused_and_records_nothing(db: TestDb) {
    let w = World::new(db).await;
    let hook = w.webhook().await;
    let by = connector();
    let fresh = w.connection("fresh").await;
    let ended = w.connection("ended").await;
    w.core.connections().report_status(&by, &ended.id, Disconnected, None, NOW).await.expect("report");
    let ended = w.stored(&ended.id).await.expect("stored");
    let queued = w.deliveries(&hook).await;

    let refusals: [(&ConnectionId, ConnectionStatus, ConnectionStatus); 4] = [
        (&fresh.id, Initialized, Unauthenticated),
        (&ended.id, Disconnected, Active),
        (&ended.id, Disconnected, Unauthenticated),
        (&ended.id, Disconnected, Initialized),
    ];
    for (id, from, to) in refusals {
        let before = (w.stored(id).await, w.events(id).await);
        let answer = w.core.connections().report_status(&by, id, to, None, NOW + 60).await.expect("report");
        assert_eq!(answer, StatusChange::Refused { from, to });
        assert_eq!((w.stored(id).await, w.events(id).await), before, "{from} -> {to} changed something");
    }
    // Back to initialized is not a move the lifecycle knows either.
    w.core.connections().report_status(&by, &fresh.id, Active, None, NOW).await.expect("report");
    let answer = w.core.connections().report_status(&by, &fresh.id, Initialized, None, NOW + 60).await;
    assert_eq!(answer.expect("report"), StatusChange::Refused { from: Active, to: Initialized });
    assert_eq!(w.stored(&fresh.id).await.expect("stored").status, Active);

    let mut expected = queued;
    expected.push((EventType::ConnectionActivated, fresh.id.as_str().to_owned()));
    assert_eq!(w.deliveries(&hook).await, expected, "a refused move announces nothing");
    w.finish().await;
}

async fn reporting_the_status_a_connection_has_changes_nothing(db: TestDb) {
    let w = World::new(db).await;
    let hook = w.webhook().await;
    let by = connector();
    let c = w.connection("cust").await;
    for status in [Initialized, Active, Unauthenticated, Disconnected] {
        if status != Initialized {
            w.core.connections().report_status(&by, &c.id, status, None, NOW).await.expect("report");
        }
        let before = (w.stored(&c.id).await.expect("stored"), w.events(&c.id).await, w.deliveries(&hook).await);
        let answer = w.core.connections().report_status(&by, &c.id, status, None, NOW + 60).await.expect("report");
        assert_eq!(answer, StatusChange::Unchanged(before.0.clone()));
        let after = (w.stored(&c.id).await.expect("stored"), w.events(&c.id).await, w.deliveries(&hook).await);
        assert_eq!(after, before, "{status} again changed something");
    }
    w.finish().await;
}

async fn a_report_for_an_unknown_connection_is_not_found(db: TestDb) {
    let w = World::new(db).await;
    let answer = w.core.connections().report_status(&connector(), &ConnectionId::generate(), Active, None, NOW).await;
    assert_eq!(answer.expect("report"), StatusChange::NotFound);
    assert_eq!(w.outbox_depth().await, 0);
    w.finish().await;
}

/// An operator's disconnection revokes the connection's tokens and is audited once, in the
/// same commit; disconnecting again moves nothing and audits nothing.
async fn an_operators_disconnection_is_audited_once(db: TestDb) {
    let w = World::new(db).await;
    let hook = w.webhook().await;
    let c = w.connection("cust").await;
    let token = w.token(&c).await;

    let first = w.core.connections().disconnect(Actor::Operator(&w.operator), &c.id, NOW + 5).await.expect("ok");
    assert!(matches!(first, StatusChange::Moved { from: Initialized, .. }), "{first:?}");
    assert_eq!(w.stored(&c.id).await.expect("stored").status, Disconnected);
    assert_eq!(w.token_revoked_at(&token).await, Some(NOW + 5));
    let last = w.events(&c.id).await.pop().expect("an event");
    assert_eq!(last.data["reason"], json!("disconnected by operator olivia in the console"));
    let audit: Vec<_> = w.audit().await.into_iter().map(|e| (e.operator, e.action, e.target, e.at)).collect();
    let expected = vec![("olivia".to_owned(), "connection.disconnect".to_owned(), c.id.as_str().to_owned(), NOW + 5)];
    assert_eq!(audit, expected);

    let again = w.core.connections().disconnect(Actor::Operator(&w.operator), &c.id, NOW + 9).await.expect("ok");
    assert!(matches!(again, StatusChange::Unchanged(_)), "{again:?}");
    assert_eq!(w.audit().await.len(), 1, "a second disconnection is not audited");
    assert_eq!(w.token_revoked_at(&token).await, Some(NOW + 5));
    assert_eq!(w.event_kinds(&c.id).await, ["created", "status_changed"]);
    let kinds: Vec<EventType> = w.deliveries(&hook).await.into_iter().map(|d| d.0).collect();
    assert_eq!(kinds, [EventType::ConnectionCreated, EventType::ConnectionDisconnected]);

    // Not by an operator: moved and announced the same way, and nothing is audited.
    let other = w.connection("other").await;
    let moved = w.core.connections().disconnect(Actor::CommandLine, &other.id, NOW).await.expect("disconnect");
    assert!(matches!(moved, StatusChange::Moved { .. }), "{moved:?}");
    assert_eq!(w.audit().await.len(), 1);
    w.finish().await;
}

both_backends!(
    every_allowed_move_records_one_event_and_one_webhook,
    a_forbidden_move_is_refused_and_records_nothing,
    reporting_the_status_a_connection_has_changes_nothing,
    a_report_for_an_unknown_connection_is_not_found,
    an_operators_disconnection_is_audited_once,
);
