//! Partner grants: a partner app of a trusted authorization server allowed to act for a
//! client, through a credential record of its own; one live grant per partner and client.
use super::{NOW, World};
use crate::support::TestDb;
use tessera::service::{Actor, CoreError, Invalid, Missing};

const ISSUER: &str = "https://auth.example";
const PARTNER: &str = "budget-app";

async fn allowing_a_partner_twice_keeps_one_live_grant(db: TestDb) {
    let w = World::new(db).await;
    let partners = w.core.partners();
    let grant = partners.allow(Actor::Operator(&w.operator), ISSUER, PARTNER, &w.client.id, NOW).await.expect("allow");
    assert_eq!((grant.issuer.as_str(), grant.partner_client_id.as_str()), (ISSUER, PARTNER));
    assert_eq!(partners.find(ISSUER, PARTNER, &w.client.id).await.expect("find"), Some(grant.clone()));
    // Its credential record is the client's, live.
    let key = w.store.find_api_key(&grant.api_key_id).await.expect("find").expect("the grant's key");
    assert_eq!((key.client_id.clone(), key.revoked_at), (w.client.id.clone(), None));

    let again = partners.allow(Actor::Operator(&w.operator), ISSUER, PARTNER, &w.client.id, NOW + 1).await;
    assert!(matches!(again, Err(CoreError::Invalid(Invalid::PartnerExists { .. }))), "{again:?}");
    assert_eq!(partners.list().await.expect("list"), vec![grant.clone()]);
    // The refused grant's credential record went with it: the world's key and the grant's.
    let keys = w.store.list_api_keys(&w.client.id).await.expect("keys");
    assert_eq!(keys.len(), 2, "{keys:?}");
    let audit: Vec<_> = w.audit().await.into_iter().map(|e| e.action).collect();
    assert_eq!(audit, ["partner.allow"]);

    // Another client may allow the same partner.
    let (other, _) = w.other_client().await;
    partners.allow(Actor::CommandLine, ISSUER, PARTNER, &other.id, NOW).await.expect("allow for another client");
    assert_eq!(partners.list().await.expect("list").len(), 2);
    w.finish().await;
}

async fn revoking_a_grant_revokes_its_credential_once(db: TestDb) {
    let w = World::new(db).await;
    let partners = w.core.partners();
    let grant = partners.allow(Actor::Operator(&w.operator), ISSUER, PARTNER, &w.client.id, NOW).await.expect("allow");

    let revoked = partners.revoke(Actor::Operator(&w.operator), &grant.id, NOW + 10).await.expect("revoke");
    assert_eq!(revoked.revoked_at, Some(NOW + 10));
    assert_eq!(partners.find(ISSUER, PARTNER, &w.client.id).await.expect("find"), None, "no live grant");
    let key = w.store.find_api_key(&grant.api_key_id).await.expect("find").expect("key");
    assert_eq!(key.revoked_at, Some(NOW + 10), "its credential is revoked with it");

    // Again: the first time stays, for the grant and its credential.
    let again = partners.revoke(Actor::Operator(&w.operator), &grant.id, NOW + 20).await.expect("revoke");
    assert_eq!(again.revoked_at, Some(NOW + 10));
    let stored = partners.list().await.expect("list");
    assert_eq!(stored.iter().map(|g| g.revoked_at).collect::<Vec<_>>(), [Some(NOW + 10)]);
    let key = w.store.find_api_key(&grant.api_key_id).await.expect("find").expect("key");
    assert_eq!(key.revoked_at, Some(NOW + 10));
    let audit: Vec<_> = w.audit().await.into_iter().map(|e| (e.action, e.at)).collect();
    assert_eq!(
        audit,
        [("partner.allow".into(), NOW), ("partner.revoke".into(), NOW + 10), ("partner.revoke".into(), NOW + 20)]
    );

    // Once revoked, the partner may be allowed again: a new grant, with a new credential.
    let renewed =
        partners.allow(Actor::Operator(&w.operator), ISSUER, PARTNER, &w.client.id, NOW + 30).await.expect("allow");
    assert_ne!((&renewed.id, &renewed.api_key_id), (&grant.id, &grant.api_key_id));
    assert_eq!(partners.find(ISSUER, PARTNER, &w.client.id).await.expect("find"), Some(renewed));

    let unknown = partners.revoke(Actor::Operator(&w.operator), "01NOSUCHGRANT", NOW).await;
    assert!(matches!(unknown, Err(CoreError::NotFound(Missing::PartnerGrant(_)))), "{unknown:?}");
    w.finish().await;
}

async fn a_grant_needs_an_issuer_url_a_partner_id_and_a_client(db: TestDb) {
    let w = World::new(db).await;
    let partners = w.core.partners();
    let operator = Actor::Operator(&w.operator);
    for (issuer, partner) in [("auth.example", PARTNER), ("ftp://auth.example", PARTNER), (ISSUER, "  ")] {
        let answer = partners.allow(operator, issuer, partner, &w.client.id, NOW).await;
        assert!(
            matches!(answer, Err(CoreError::Invalid(Invalid::PartnerIssuer { .. } | Invalid::PartnerClientId { .. }))),
            "{issuer} {partner}: {answer:?}"
        );
    }
    let nobody = tessera::domain::ids::ClientId::generate();
    let answer = partners.allow(operator, ISSUER, PARTNER, &nobody, NOW).await;
    assert!(matches!(answer, Err(CoreError::NotFound(Missing::Client(_)))), "{answer:?}");
    assert!(partners.list().await.expect("list").is_empty());
    assert_eq!(w.store.list_api_keys(&w.client.id).await.expect("keys").len(), 1);
    assert!(w.audit().await.is_empty());
    w.finish().await;
}

both_backends!(
    allowing_a_partner_twice_keeps_one_live_grant,
    revoking_a_grant_revokes_its_credential_once,
    a_grant_needs_an_issuer_url_a_partner_id_and_a_client,
);
