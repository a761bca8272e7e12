//! Clients' API keys: an operator's new key is audited in the same commit; a revocation is
//! kept at its first time.
use super::{NOW, World};
use crate::support::TestDb;
use tessera::domain::ids::{ApiKeyId, ClientId};
use tessera::service::{Actor, CoreError, Missing};

async fn an_operators_new_key_is_stored_with_one_audit_entry(db: TestDb) {
    let w = World::new(db).await;
    let (record, plain) = w.core.keys().create(Actor::Operator(&w.operator), &w.client.id, NOW).await.expect("key");
    let stored = w.store.find_api_key(&record.id).await.expect("find").expect("the key is stored");
    assert_eq!(stored, record);
    assert_eq!(stored.digest, plain.digest(), "the key is kept as its digest");
    assert_eq!((stored.client_id.clone(), stored.created_at, stored.revoked_at), (w.client.id.clone(), NOW, None));

    let audit = w.audit().await;
    assert_eq!(audit.len(), 1);
    assert_eq!(
        (audit[0].operator.as_str(), audit[0].action.as_str(), audit[0].target.as_str(), audit[0].at),
        ("olivia", "api_key.create", record.id.as_str(), NOW)
    );

    // Not by an operator: the key is made, and the console's log has nothing to show.
    let (by_cli, _) = w.core.keys().create(Actor::CommandLine, &w.client.id, NOW).await.expect("key");
    assert!(w.store.find_api_key(&by_cli.id).await.expect("find").is_some());
    assert_eq!(w.audit().await.len(), 1);
    w.finish().await;
}

async fn a_key_for_a_missing_client_is_refused_and_leaves_nothing(db: TestDb) {
    let w = World::new(db).await;
    let nobody = ClientId::generate();
    let answer = w.core.keys().create(Actor::Operator(&w.operator), &nobody, NOW).await;
    assert!(matches!(&answer, Err(CoreError::NotFound(Missing::Client(c))) if *c == nobody), "{answer:?}");
    assert!(w.store.list_api_keys(&nobody).await.expect("list").is_empty());
    assert!(w.audit().await.is_empty());
    w.finish().await;
}

async fn revoking_a_key_twice_keeps_the_first_revocation_time(db: TestDb) {
    let w = World::new(db).await;
    let keys = w.core.keys();
    let first = keys.revoke(Actor::Operator(&w.operator), Some(&w.client.id), &w.key.id, NOW).await.expect("revoke");
    assert_eq!(first.revoked_at, Some(NOW));
    let again =
        keys.revoke(Actor::Operator(&w.operator), Some(&w.client.id), &w.key.id, NOW + 60).await.expect("revoke");
    assert_eq!(again.revoked_at, Some(NOW), "the first revocation stays");
    let stored = w.store.find_api_key(&w.key.id).await.expect("find").expect("the key");
    assert_eq!(stored.revoked_at, Some(NOW));
    let audit: Vec<_> = w.audit().await.into_iter().map(|e| (e.action, e.target, e.at)).collect();
    let target = w.key.id.as_str().to_owned();
    assert_eq!(audit, [("api_key.revoke".into(), target.clone(), NOW), ("api_key.revoke".into(), target, NOW + 60)]);
    w.finish().await;
}

async fn another_clients_key_is_not_revoked_in_its_name(db: TestDb) {
    let w = World::new(db).await;
    let (other, other_key) = w.other_client().await;
    let keys = w.core.keys();
    for key in [&w.key.id, &ApiKeyId::generate()] {
        let answer = keys.revoke(Actor::Operator(&w.operator), Some(&other.id), key, NOW).await;
        assert!(matches!(&answer, Err(CoreError::NotFound(Missing::ApiKey(k))) if k == key), "{answer:?}");
    }
    assert_eq!(w.store.find_api_key(&w.key.id).await.expect("find").expect("key").revoked_at, None);
    assert!(w.audit().await.is_empty());
    // Its own key, named with its client, or with none (the command line's way).
    keys.revoke(Actor::CommandLine, Some(&other.id), &other_key.id, NOW).await.expect("revoke");
    keys.revoke(Actor::CommandLine, None, &w.key.id, NOW).await.expect("revoke");
    for key in [&other_key.id, &w.key.id] {
        assert_eq!(w.store.find_api_key(key).await.expect("find").expect("key").revoked_at, Some(NOW));
    }
    w.finish().await;
}

both_backends!(
    an_operators_new_key_is_stored_with_one_audit_entry,
    a_key_for_a_missing_client_is_refused_and_leaves_nothing,
    revoking_a_key_twice_keeps_the_first_revocation_time,
    another_clients_key_is_not_revoked_in_its_name,
);
