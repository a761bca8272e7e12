//! Renaming a client: over the API (`PATCH /account`, the client itself with an API key) and
//! from the command line (`tessera client rename`, the real binary), each validated and
//! recorded in the audit log with who, which client, the old and the new name.
use reqwest::StatusCode;
use serde_json::json;
use tessera::domain::ids::ClientId;

use super::helpers::TestApp;
use crate::support::TestDb;
use crate::support::server::{cli, cli_json};

async fn a_client_renames_itself_over_the_api(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let r = app.call("PATCH", "/account", &app.api_key, Some(json!({"name": "  Acme Budgeting "}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["name"], "Acme Budgeting");
    assert_eq!(r.body["client_id"], app.client_id.as_str());
    let r = app.call("GET", "/account", &app.api_key, None).await;
    assert_eq!(r.body["name"], "Acme Budgeting", "GET /account shows the new name");
    // The customer's Link page names the client by its new name.
    let r = app.call("POST", "/link-tokens", &app.api_key, Some(json!({"customer_id": "cust-rename"}))).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.body);
    let lt = r.body["link_token"].as_str().expect("a link token");
    let browser = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let start = browser.get(format!("{}/link/{lt}", app.base)).send().await.expect("sent");
    let cookie = start.headers().get("set-cookie").and_then(|v| v.to_str().ok()).expect("a Link session cookie");
    let cookie = cookie.split(';').next().expect("name=value").to_owned();
    let page = browser.get(format!("{}/link/session", app.base)).header("cookie", cookie).send().await.expect("sent");
    let page = page.text().await.expect("a page");
    assert!(page.contains("<strong>Acme Budgeting</strong>") && !page.contains(">default<"), "{page}");

    for (bad, why) in [
        (json!({"name": ""}), "string_too_short"),
        (json!({"name": "x".repeat(201)}), "string_too_long"),
        (json!({}), "missing"),
        (json!({"name": 7}), "string_type"),
    ] {
        let r = app.call("PATCH", "/account", &app.api_key, Some(bad.clone())).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad}: {}", r.body);
        assert_eq!(r.body["detail"][0]["type"], why, "{}", r.body);
    }
    for bad in ["a\nb", "bell\u{7}", "   "] {
        let r = app.call("PATCH", "/account", &app.api_key, Some(json!({"name": bad}))).await;
        assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{bad:?}: {}", r.body);
        assert_eq!(r.body["detail"][0]["loc"], json!(["body", "name"]), "{}", r.body);
    }
    let r = app.call("PATCH", "/account", "sk_live_not_a_key", Some(json!({"name": "x"}))).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Another client's key renames that client only.
    let (other, other_key) = app.new_client("other").await;
    let r = app.call("PATCH", "/account", &other_key, Some(json!({"name": "Other Ltd"}))).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let mine = app.store.find_client(&app.client_id).await.expect("read").expect("client");
    assert_eq!(mine.name, "Acme Budgeting");

    let audit = app.store.list_audit(None, 10).await.expect("audit");
    let renames: Vec<_> = audit.iter().filter(|e| e.action == "client.rename").collect();
    assert_eq!(renames.len(), 2, "refusals change nothing: {audit:?}");
    assert_eq!(renames[1].target, format!("{}: \"default\" -> \"Acme Budgeting\"", app.client_id));
    assert!(renames[1].operator.starts_with("api key "), "{:?}", renames[1]);
    assert_eq!(renames[0].target, format!("{other}: \"other\" -> \"Other Ltd\""));
    assert!(!renames.iter().any(|e| e.operator.contains(&app.api_key)), "the key's id, never the key");
}

async fn the_command_line_renames_a_client(db: TestDb) {
    let (ok, _, stderr) = cli(&db, &["migrate"]);
    assert!(ok, "{stderr}");
    let created = cli_json(&db, &["client", "create", "--name", "default", "--json"]);
    let id = created["client_id"].as_str().expect("id").to_owned();
    let renamed = cli_json(&db, &["client", "rename", &id, "--name", "Acme Budgeting", "--json"]);
    assert_eq!(renamed, json!({"client_id": id, "name": "Acme Budgeting"}));
    let listed = cli_json(&db, &["client", "list", "--json"]);
    assert_eq!(listed[0]["name"], "Acme Budgeting");
    let (ok, stdout, _) = cli(&db, &["client", "rename", &id, "--name", "Acme"]);
    assert!(ok && stdout.contains(&format!("renamed client {id} to Acme")), "{stdout}");

    let (ok, _, stderr) = cli(&db, &["client", "rename", &id, "--name", "two\nlines"]);
    assert!(!ok && stderr.contains("--name") && stderr.contains("control characters"), "{stderr}");
    let long = "x".repeat(201);
    let (ok, _, stderr) = cli(&db, &["client", "rename", &id, "--name", &long]);
    assert!(!ok && stderr.contains("1 to 200 characters"), "{stderr}");
    let (ok, _, stderr) = cli(&db, &["client", "rename", "cl_nobody", "--name", "x"]);
    assert!(!ok && stderr.contains("no client cl_nobody"), "{stderr}");

    let options = tessera::storage::DbOptions::default();
    let store = tessera::storage::connect_with(&db.url, &options).await.expect("store");
    let client = store.find_client(&ClientId::from_string(id.clone())).await.expect("read").expect("client");
    assert_eq!(client.name, "Acme");
    let audit = store.list_audit(None, 10).await.expect("audit");
    let targets: Vec<(&str, &str)> = audit
        .iter()
        .filter(|e| e.action == "client.rename")
        .map(|e| (e.operator.as_str(), e.target.as_str()))
        .collect();
    assert_eq!(
        targets,
        [
            ("command line", format!("{id}: \"Acme Budgeting\" -> \"Acme\"").as_str()),
            ("command line", format!("{id}: \"default\" -> \"Acme Budgeting\"").as_str()),
        ]
    );
}

both_backends!(a_client_renames_itself_over_the_api, the_command_line_renames_a_client);
