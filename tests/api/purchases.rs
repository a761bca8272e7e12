//! Purchases: written by the connector, read with an API key and an `access` connection
//! token; the retailer catalogue; and the older generation's paths beside the seed's.
use std::collections::HashSet;
use std::sync::Arc;

use reqwest::StatusCode;
use serde_json::{Value, json};
use tessera::auth::api_key::PlainApiKey;
use tessera::config::ServeConfig;
use tessera::domain::connector::ConnectorCredential;
use tessera::token::clock::ManualClock;

use crate::api::helpers::{Response, TestApp};
use crate::support::TestDb;

/// A connector credential made as `tessera connector create` makes one.
async fn connector(app: &TestApp) -> String {
    let (id, credential) = PlainApiKey::generate_connector();
    let record =
        ConnectorCredential { id, name: "c".into(), digest: credential.digest(), created_at: 1, revoked_at: None };
    app.store.create_connector(&record).await.expect("connector");
    credential.expose().to_owned()
}

fn purchase(id: &str, date: &str, total: &str) -> Value {
    json!({"purchase_id": id, "date": date, "total": total, "tax": "0.50", "subtotal": "9.49",
           "items": [{"item_id": format!("{id}-1"), "price": "9.49", "quantity": 1,
                      "product": {"product_id": "sku-1", "name": "Tea", "description": null, "brand": "Leaf", "upc": "012345678905"}}]})
}

async fn write(app: &TestApp, connector: &str, conn: &str, purchases: Vec<Value>) -> Response {
    app.call(
        "PUT",
        &format!("/connector/connections/{conn}/purchases"),
        connector,
        Some(json!({"purchases": purchases})),
    )
    .await
}

async fn token(app: &TestApp, key: &str, conn: &str, scope: &str) -> String {
    let r = app.call("POST", &format!("/connection/{conn}/token"), key, Some(json!({"scope": scope}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    r.body["connection_token"].as_str().expect("token").to_owned()
}

fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).expect("payload");
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(payload).expect("b64"))
        .expect("json")
}

/// A GET with the API key and a connection token.
async fn read(app: &TestApp, path: &str, key: &str, token: &str) -> Response {
    let bearer = format!("Bearer {token}");
    app.raw("GET", path, &[("x-api-key", key), ("authorization", &bearer)], vec![]).await
}

async fn the_connector_writes_purchases_idempotently_and_money_stays_exact(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let connector = connector(&app).await;
    let conn = app.create_connection(&app.api_key, "cust").await;
    // Money a float would round, and the documented pattern's corner cases.
    let exact = "12345678901234567890.000000000000000001";
    let batch = vec![
        purchase("p-1", "2025-01-01", exact),
        purchase("p-2", "2025-01-02T08:30:00.123456+02:00", "-0.10"),
        json!({"purchase_id": "p-3", "date": "2025-01-03T00:00:00Z", "total": "+.5"}),
    ];
    let r = write(&app, &connector, &conn, batch.clone()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body, json!({"created": ["p-1", "p-2", "p-3"], "updated": []}));
    // Again, with p-1 changed: nothing new, p-1 replaced.
    let mut again = batch.clone();
    again[0]["total"] = json!("7.00");
    let r = write(&app, &connector, &conn, again).await;
    assert_eq!(r.body, json!({"created": [], "updated": ["p-1", "p-2", "p-3"]}));

    let access = token(&app, &app.api_key, &conn, "access").await;
    let listed = read(&app, "/purchases", &app.api_key, &access).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.body);
    assert_eq!(
        listed.body,
        json!({"has_more": false, "purchases": [
            {"purchase_id": "p-3", "date": "2025-01-03T00:00:00Z", "total": "+.5", "tax": null, "subtotal": null, "item_count": 0},
            {"purchase_id": "p-2", "date": "2025-01-02T08:30:00.123456+02:00", "total": "-0.10", "tax": "0.50", "subtotal": "9.49", "item_count": 1},
            {"purchase_id": "p-1", "date": "2025-01-01", "total": "7.00", "tax": "0.50", "subtotal": "9.49", "item_count": 1},
        ]})
    );
    let mut p2 = batch[1].clone();
    p2["item_count"] = json!(1);
    assert_eq!(read(&app, "/purchases/p-2", &app.api_key, &access).await.body, p2, "returned exactly as written");
    let r = write(&app, &connector, &conn, vec![purchase("p-4", "2025-02-01", exact)]).await;
    assert_eq!(r.status, StatusCode::OK);
    let detail = read(&app, "/purchases/p-4", &app.api_key, &access).await;
    assert_eq!(detail.body["total"], exact);
    assert_eq!(detail.body["items"][0]["price"], "9.49");
    // The raw answer carries the digits as text, not a number that was ever a float.
    let raw = app
        .http
        .get(format!("{}/purchases/p-4", app.base))
        .header("x-api-key", &app.api_key)
        .header("authorization", format!("Bearer {access}"))
        .send()
        .await
        .expect("sent")
        .text()
        .await
        .expect("text");
    assert!(raw.contains(&format!("\"total\":\"{exact}\"")), "{raw}");
}

async fn bad_batches_are_422_each_failure_at_its_place(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let connector = connector(&app).await;
    let conn = app.create_connection(&app.api_key, "cust").await;
    let r = write(
        &app,
        &connector,
        &conn,
        vec![
            json!({"purchase_id": "a/b", "date": "2025-13-01", "total": 12.5, "tax": "1e3"}),
            json!({"purchase_id": "ok", "date": "2025-01-01", "total": "1", "items": [{"item_id": "i", "price": "x", "quantity": -1}]}),
            json!({"purchase_id": "ok", "date": "2025-01-01", "total": "1"}),
        ],
    )
    .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    let locs: Vec<Value> = r.body["detail"].as_array().expect("detail").iter().map(|e| e["loc"].clone()).collect();
    assert_eq!(
        locs,
        [
            json!(["body", "purchases", 0, "purchase_id"]),
            json!(["body", "purchases", 0, "date"]),
            json!(["body", "purchases", 0, "total"]),
            json!(["body", "purchases", 0, "tax"]),
            json!(["body", "purchases", 1, "items", 0, "price"]),
            json!(["body", "purchases", 1, "items", 0, "quantity"]),
            json!(["body", "purchases", 2, "purchase_id"]),
        ]
    );
    assert_eq!(r.body["detail"][2]["type"], "string_type", "a JSON number is no money: it may have been rounded");
    // "." and ".." match the id pattern: their refusal says why, and the pattern's does not.
    let dots = vec![
        json!({"purchase_id": ".", "date": "2025-01-01", "total": "1"}),
        json!({"purchase_id": "..", "date": "2025-01-01", "total": "1"}),
        json!({"purchase_id": "a b", "date": "2025-01-01", "total": "1"}),
    ];
    let r = write(&app, &connector, &conn, dots).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{}", r.body);
    for (i, id) in [".", ".."].iter().enumerate() {
        let e = &r.body["detail"][i];
        assert_eq!((&e["type"], &e["input"]), (&json!("value_error"), &json!(id)), "{e}");
        assert!(e["msg"].as_str().expect("msg").contains("cannot be \".\" or \"..\""), "{e}");
    }
    assert_eq!(r.body["detail"][2]["type"], "string_pattern_mismatch");
    // Batches are bounded: none, and more than 100, are refused; so is a body over 64 KiB.
    assert_eq!(write(&app, &connector, &conn, vec![]).await.status, StatusCode::UNPROCESSABLE_ENTITY);
    let many: Vec<Value> =
        (0..101).map(|i| json!({"purchase_id": format!("p{i}"), "date": "2025-01-01", "total": "1"})).collect();
    let r = write(&app, &connector, &conn, many).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(r.body["detail"][0]["msg"].as_str().expect("msg").contains("1 to 100"));
    let big: Vec<Value> = (0..100).map(|i| purchase(&format!("p{i}{}", "x".repeat(40)), "2025-01-01", "1")).collect();
    let big: Vec<Value> = big
        .into_iter()
        .map(|mut p| {
            p["items"][0]["product"]["description"] = json!("d".repeat(600));
            p
        })
        .collect();
    assert_eq!(write(&app, &connector, &conn, big).await.status, StatusCode::PAYLOAD_TOO_LARGE);
    // Nothing of a refused batch was written.
    let access = token(&app, &app.api_key, &conn, "access").await;
    assert_eq!(read(&app, "/purchases", &app.api_key, &access).await.body["purchases"], json!([]));
}

async fn only_the_connector_writes_and_only_for_catalogued_live_connections(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let connector = connector(&app).await;
    let conn = app.create_connection(&app.api_key, "cust").await;
    let one = || vec![purchase("p-1", "2025-01-01", "1.00")];
    // A client's API key is no connector credential.
    assert_eq!(write(&app, &app.api_key, &conn, one()).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(write(&app, &connector, "01JAAAAAAAAAAAAAAAAAAAAAAA", one()).await.status, StatusCode::NOT_FOUND);
    // A connection whose retailer is not in the catalogue is created and works as before, but
    // takes no purchases until the operator adds the retailer.
    let r = app
        .call("POST", "/connections", &app.api_key, Some(json!({"customer_id": "c", "retailer_id": "nowhere-mart"})))
        .await;
    assert_eq!((r.status, r.body["status"].clone()), (StatusCode::CREATED, json!("initialized")));
    let unknown = r.body["connection_id"].as_str().expect("id").to_owned();
    assert_eq!(app.mint(&app.api_key, &unknown).await.status, StatusCode::CREATED);
    let refused = write(&app, &connector, &unknown, one()).await;
    assert_eq!(refused.status, StatusCode::CONFLICT);
    assert!(refused.body["detail"].as_str().expect("detail").contains("nowhere-mart"), "{}", refused.body);
    let retailer = tessera::domain::retailer::Retailer {
        retailer_id: "nowhere-mart".into(),
        name: "Nowhere".into(),
        created_at: 1,
    };
    assert!(app.store.put_retailer(&retailer).await.expect("added"));
    assert_eq!(write(&app, &connector, &unknown, one()).await.status, StatusCode::OK);
    // Deleting a connection deletes its purchases; it takes no more.
    let unknown_id = tessera::domain::ids::ConnectionId::from_string(unknown.clone());
    assert!(app.store.find_purchase(&app.client_id, &unknown_id, "p-1").await.expect("read").is_some());
    assert_eq!(app.call("DELETE", &format!("/connections/{unknown}"), &app.api_key, None).await.status, 204);
    assert!(app.store.find_purchase(&app.client_id, &unknown_id, "p-1").await.expect("read").is_none());
    assert_eq!(write(&app, &connector, &unknown, one()).await.status, StatusCode::NOT_FOUND);
    // A disconnected connection takes none.
    let r =
        app.call("PATCH", &format!("/connections/{conn}"), &app.api_key, Some(json!({"status": "disconnected"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(write(&app, &connector, &conn, one()).await.status, StatusCode::CONFLICT);
}

/// Every purchases route refuses every token that is not a live `access` token of the key's
/// client for the connection, exactly as the activity log refuses it; another client's
/// purchase is 404.
async fn every_purchases_route_checks_the_token_and_the_tenant(db: TestDb) {
    let clock = Arc::new(ManualClock::new(1_800_000_000));
    // A clock of its own, years from the database's: the clock check is off here.
    let mut config = ServeConfig::for_tests();
    config.tokens.clock_max_skew = 0;
    let app = TestApp::spawn_with(db, config, clock.clone()).await;
    let connector = connector(&app).await;
    let (_, other_key) = app.new_client("other").await;
    let conn = app.create_connection(&app.api_key, "cust").await;
    let sibling = app.create_connection(&app.api_key, "cust-2").await;
    let foreign = app.create_connection(&other_key, "theirs").await;
    for c in [&conn, &sibling, &foreign] {
        assert_eq!(write(&app, &connector, c, vec![purchase(&format!("p-{c}"), "2025-01-01", "1")]).await.status, 200);
    }
    let good = token(&app, &app.api_key, &conn, "access").await;
    let routes =
        |c: &str| vec![format!("/connections/{c}/purchases"), "/purchases".to_owned(), format!("/purchases/p-{c}")];
    for path in routes(&conn) {
        let r = read(&app, &path, &app.api_key, &good).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    }
    let link = token(&app, &app.api_key, &conn, "link").await;
    let foreign_token = token(&app, &other_key, &foreign, "access").await;
    let revoked = token(&app, &app.api_key, &conn, "access").await;
    let r = app.call("POST", "/tokens/revoke", &app.api_key, Some(json!({"token": revoked}))).await;
    assert_eq!(r.status, StatusCode::OK);
    let invalid = json!({"detail": "Invalid connection token"});
    // What the activity log answers for each of these tokens is what the purchases routes answer.
    let refused_everywhere = async |what: &str, bad: &str| {
        let activity = read(&app, &format!("/connections/{conn}/activity"), &app.api_key, bad).await;
        assert_eq!((activity.status, activity.body.clone()), (StatusCode::UNAUTHORIZED, invalid.clone()), "{what}");
        for path in routes(&conn) {
            let r = read(&app, &path, &app.api_key, bad).await;
            assert_eq!(
                (r.status, r.body.clone()),
                (StatusCode::UNAUTHORIZED, invalid.clone()),
                "{what} token on {path}"
            );
        }
    };
    for (what, bad) in
        [("link", &link), ("revoked", &revoked), ("another client's", &foreign_token), ("garbage", &"a.b.c".to_owned())]
    {
        refused_everywhere(what, bad).await;
    }
    // Past its lifetime (and the verifier's leeway), the good token is refused too.
    clock.advance(900 + 61);
    refused_everywhere("expired", &good).await;
    let for_sibling = token(&app, &app.api_key, &sibling, "access").await;
    let fresh = token(&app, &app.api_key, &conn, "access").await;
    // A token for another connection of the same client opens only that connection.
    let r = read(&app, &format!("/connections/{conn}/purchases"), &app.api_key, &for_sibling).await;
    assert_eq!((r.status, r.body), (StatusCode::UNAUTHORIZED, invalid.clone()));
    let r = read(&app, &format!("/purchases/p-{conn}"), &app.api_key, &for_sibling).await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "another connection's purchase is not found");
    // Another client's connection, purchase, or key.
    let r = read(&app, &format!("/connections/{foreign}/purchases"), &app.api_key, &fresh).await;
    assert_eq!((r.status, r.body), (StatusCode::UNAUTHORIZED, invalid.clone()));
    let r = read(&app, &format!("/purchases/p-{foreign}"), &app.api_key, &fresh).await;
    assert_eq!((r.status, r.body), (StatusCode::NOT_FOUND, json!({"detail": "Purchase not found"})));
    for path in routes(&conn) {
        let r = read(&app, &path, &other_key, &fresh).await;
        assert_eq!((r.status, r.body.clone()), (StatusCode::UNAUTHORIZED, invalid.clone()), "other key on {path}");
        // No token at all: 401, saying what to send.
        let r = app.call("GET", &path, &app.api_key, None).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        assert!(r.body["detail"].as_str().expect("detail").contains("access connection token"), "{path}");
        // The token alone, without the key: the key is what is missing.
        let bearer = format!("Bearer {fresh}");
        let r = app.raw("GET", &path, &[("authorization", &bearer)], vec![]).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        let detail = r.body["detail"].as_str().expect("detail");
        assert!(detail.contains("X-Api-Key") && !detail.contains("Invalid API key"), "{path}: {detail}");
    }
    // A disconnected connection's tokens open nothing.
    let r =
        app.call("PATCH", &format!("/connections/{conn}"), &app.api_key, Some(json!({"status": "disconnected"}))).await;
    assert_eq!(r.status, StatusCode::OK);
    for path in routes(&conn) {
        assert_eq!(read(&app, &path, &app.api_key, &fresh).await.status, StatusCode::UNAUTHORIZED, "{path}");
    }
}

/// Paging newest first: `limit` 1-50 (default 10), `starting_after`, `has_more`; every purchase
/// written before the first page is seen exactly once while new ones are being written.
async fn paging_sees_every_purchase_once_while_new_ones_are_written(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let connector = connector(&app).await;
    let conn = app.create_connection(&app.api_key, "cust").await;
    let mut before = HashSet::new();
    for chunk in 0..3 {
        // Some share a date: the purchase id breaks the tie.
        let batch: Vec<Value> = (0..40)
            .map(|i| {
                let n = chunk * 40 + i;
                before.insert(format!("old-{n:03}"));
                purchase(&format!("old-{n:03}"), &format!("2024-06-{:02}", 1 + n % 28), "1.00")
            })
            .collect();
        assert_eq!(write(&app, &connector, &conn, batch).await.status, StatusCode::OK);
    }
    let access = token(&app, &app.api_key, &conn, "access").await;
    let r = read(&app, "/purchases", &app.api_key, &access).await;
    assert_eq!(r.body["purchases"].as_array().expect("page").len(), 10, "the default limit");
    for bad in ["0", "51", "x"] {
        let r = read(&app, &format!("/purchases?limit={bad}"), &app.api_key, &access).await;
        assert_eq!(
            (r.status, r.body["detail"][0]["loc"].clone()),
            (StatusCode::UNPROCESSABLE_ENTITY, json!(["query", "limit"]))
        );
    }
    let r = read(&app, "/purchases?starting_after=nope", &app.api_key, &access).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);

    let writer = {
        let (http, base, connector, conn) = (app.http.clone(), app.base.clone(), connector.clone(), conn.clone());
        tokio::spawn(async move {
            for n in 0..30 {
                // Newer and older than everything, and in between.
                let date = ["2025-01-01", "2023-01-01", "2024-06-15"][n % 3];
                let body = json!({"purchases": [purchase(&format!("new-{n:03}"), date, "2.00")]});
                let r = http
                    .put(format!("{base}/connector/connections/{conn}/purchases"))
                    .header("x-api-key", &connector)
                    .json(&body)
                    .send()
                    .await
                    .expect("sent");
                assert_eq!(r.status(), StatusCode::OK);
            }
        })
    };
    for path in ["/purchases".to_owned(), format!("/connections/{conn}/purchases")] {
        let mut seen = Vec::new();
        let mut last_key: Option<(String, String)> = None;
        let mut cursor: Option<String> = None;
        loop {
            let mut url = format!("{path}?limit=7");
            if let Some(c) = &cursor {
                url.push_str(&format!("&starting_after={c}"));
            }
            let page = read(&app, &url, &app.api_key, &access).await;
            assert_eq!(page.status, StatusCode::OK, "{}", page.body);
            for p in page.body["purchases"].as_array().expect("purchases") {
                let key =
                    (p["date"].as_str().expect("date").to_owned(), p["purchase_id"].as_str().expect("id").to_owned());
                if let Some(prev) = &last_key {
                    assert!(&key < prev, "newest first: {key:?} after {prev:?}");
                }
                last_key = Some(key);
                seen.push(p["purchase_id"].as_str().expect("id").to_owned());
            }
            if page.body["has_more"] != true {
                break;
            }
            cursor = seen.last().cloned();
        }
        let unique: HashSet<&String> = seen.iter().collect();
        assert_eq!(unique.len(), seen.len(), "{path}: no purchase twice");
        let old: HashSet<String> = seen.iter().filter(|id| id.starts_with("old-")).cloned().collect();
        assert_eq!(old, before, "{path}: every purchase written before the first page, once");
    }
    writer.await.expect("writer");
}

/// The older generation's paths answer in their shapes; the seed's token endpoint still
/// refuses `link`; retailers and merchants list the same catalogue.
async fn the_older_paths_answer_in_their_generations_shapes(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let with_id = |key: &str| {
        vec![
            ("x-api-key", key.to_owned()),
            ("x-api-key-id", "anything".to_owned()),
            ("content-type", "application/json".to_owned()),
        ]
    };
    let headers = with_id(&app.api_key);
    let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let r = app.raw("POST", "/connection", &headers, br#"{"merchant_id":"target","customer_id":"c-9"}"#.to_vec()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let id = r.body["connection_id"].as_str().expect("id").to_owned();
    assert_eq!(r.body, json!({"connection_id": id}));
    let r = app.call("POST", "/connection", &app.api_key, Some(json!({"merchant_id": 5}))).await;
    let errors: Vec<Value> =
        r.body["detail"].as_array().expect("detail").iter().map(|e| json!([e["type"], e["loc"]])).collect();
    assert_eq!(errors, [json!(["string_type", ["body", "merchant_id"]]), json!(["missing", ["body", "customer_id"]])]);

    let r = app.raw("GET", &format!("/connection/{id}"), &headers, vec![]).await;
    assert_eq!(
        r.body,
        json!({"connection_id": id, "customer_id": "c-9", "merchant_id": "target", "status": "Pending Link"})
    );
    // The same connection on the current paths.
    let r = app.call("GET", &format!("/connections/{id}"), &app.api_key, None).await;
    assert_eq!((r.body["retailer_id"].clone(), r.body["status"].clone()), (json!("target"), json!("initialized")));

    // link and access tokens, each recorded (the activity log lists both) and scoped.
    let mut jtis = Vec::new();
    for scope in ["link", "access"] {
        let r = app
            .raw("POST", &format!("/connection/{id}/token"), &headers, format!(r#"{{"scope":"{scope}"}}"#).into_bytes())
            .await;
        assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
        assert_eq!(r.body.as_object().expect("object").keys().collect::<Vec<_>>(), ["connection_token"]);
        let claims = claims_of(r.body["connection_token"].as_str().expect("token"));
        assert_eq!((claims["scope"].clone(), claims["sub"].clone()), (json!(scope), json!(id)));
        jtis.push(claims["jti"].clone());
    }
    let log = app.call("GET", &format!("/connections/{id}/activity"), &app.api_key, None).await;
    let issued: Vec<Value> = log.body["events"]
        .as_array()
        .expect("events")
        .iter()
        .filter(|e| e["type"] == "token_issued")
        .map(|e| e["data"]["jti"].clone())
        .collect();
    for jti in &jtis {
        assert!(issued.contains(jti), "{jti} is recorded");
    }
    let r = app.call("POST", &format!("/connection/{id}/token"), &app.api_key, Some(json!({"scope": "admin"}))).await;
    assert_eq!(
        (r.status, r.body["detail"][0]["msg"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("Input should be 'link' or 'access'"))
    );
    let r = app
        .call("POST", "/connection/01JAAAAAAAAAAAAAAAAAAAAAAA/token", &app.api_key, Some(json!({"scope": "link"})))
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    // The seed's endpoint is unchanged: access only.
    let r = app.call("POST", &format!("/connections/{id}/token"), &app.api_key, Some(json!({"scope": "link"}))).await;
    assert_eq!(
        (r.status, r.body["detail"][0]["msg"].clone()),
        (StatusCode::UNPROCESSABLE_ENTITY, json!("Input should be 'access'"))
    );
    // Another client sees none of it.
    let (_, other) = app.new_client("other").await;
    assert_eq!(app.call("GET", &format!("/connection/{id}"), &other, None).await.status, StatusCode::NOT_FOUND);
    assert_eq!(
        app.call("POST", &format!("/connection/{id}/token"), &other, Some(json!({"scope": "access"}))).await.status,
        StatusCode::NOT_FOUND
    );

    let retailers = app.call("GET", "/retailers", &app.api_key, None).await;
    let merchants = app.raw("GET", "/merchants", &headers, vec![]).await;
    let ids: Vec<Value> =
        retailers.body["retailers"].as_array().expect("retailers").iter().map(|r| r["retailer_id"].clone()).collect();
    assert_eq!(ids, ["amazon", "costco", "instacart", "kroger", "target", "walmart"], "the documented default list");
    let as_merchants: Vec<Value> = retailers.body["retailers"]
        .as_array()
        .expect("retailers")
        .iter()
        .map(|r| json!({"merchant_id": r["retailer_id"], "name": r["name"]}))
        .collect();
    assert_eq!(merchants.body, json!({"merchants": as_merchants}));
    assert_eq!(app.raw("GET", "/retailers", &[], vec![]).await.status, StatusCode::UNAUTHORIZED);
    assert_eq!(app.raw("GET", "/merchants", &[], vec![]).await.status, StatusCode::UNAUTHORIZED);
}

/// `tessera retailer add|list|remove` manage what `GET /retailers` and `GET /merchants` list,
/// on a running server.
async fn the_retailer_catalogue_is_managed_from_the_command_line(db: TestDb) {
    use crate::support::server::{cli, cli_json, start};
    let server = start(&db, &[]);
    let key = server.bootstrap_key.clone().expect("bootstrap key");
    let http = reqwest::Client::new();
    let listed = async |path: &str| -> Value {
        let r = http.get(format!("{}{path}", server.base)).header("x-api-key", &key).send().await.expect("sent");
        assert_eq!(r.status(), StatusCode::OK);
        r.json().await.expect("json")
    };
    let added = cli_json(&db, &["retailer", "add", "corner-shop", "--name", "Corner Shop", "--json"]);
    assert_eq!(added, json!({"retailer_id": "corner-shop", "name": "Corner Shop", "added": true}));
    let renamed = cli_json(&db, &["retailer", "add", "corner-shop", "--name", "The Corner Shop", "--json"]);
    assert_eq!(renamed["added"], false);
    assert!(
        listed("/retailers").await["retailers"]
            .as_array()
            .expect("list")
            .contains(&json!({"retailer_id": "corner-shop", "name": "The Corner Shop"}))
    );
    assert!(
        listed("/merchants").await["merchants"]
            .as_array()
            .expect("list")
            .contains(&json!({"merchant_id": "corner-shop", "name": "The Corner Shop"}))
    );
    let all = cli_json(&db, &["retailer", "list", "--json"]);
    assert_eq!(all.as_array().expect("list").len(), 7, "the six defaults and the one added: {all}");
    let (ok, _, err) = cli(&db, &["retailer", "add", "bad id!", "--name", "x"]);
    assert!(!ok && err.contains("1 to 26"), "{err}");
    cli_json(&db, &["retailer", "remove", "walmart", "--json"]);
    let ids: Vec<Value> = listed("/retailers").await["retailers"]
        .as_array()
        .expect("list")
        .iter()
        .map(|r| r["retailer_id"].clone())
        .collect();
    assert!(!ids.contains(&json!("walmart")) && ids.contains(&json!("corner-shop")), "{ids:?}");
    let (ok, _, err) = cli(&db, &["retailer", "remove", "walmart"]);
    assert!(!ok && err.contains("no retailer"), "{err}");
}

crate::both_backends!(
    the_retailer_catalogue_is_managed_from_the_command_line,
    the_connector_writes_purchases_idempotently_and_money_stays_exact,
    bad_batches_are_422_each_failure_at_its_place,
    only_the_connector_writes_and_only_for_catalogued_live_connections,
    every_purchases_route_checks_the_token_and_the_tenant,
    paging_sees_every_purchase_once_while_new_ones_are_written,
    the_older_paths_answer_in_their_generations_shapes,
);
