//! `/openapi.json`: the seed operation as the reference service states it, and every route
//! documented with every status it can answer.
use reqwest::StatusCode;
use serde_json::Value;

use crate::api::helpers::TestApp;
use crate::support::TestDb;

const SEED: &str = include_str!("../fixtures/seed_create_connection_token.md");

fn seed_document() -> Value {
    let start = SEED.find("````yaml").expect("yaml block");
    let body = &SEED[start..];
    let body = &body[body.find('\n').expect("newline") + 1..];
    let end = body.find("````").expect("end of yaml block");
    serde_yaml::from_str(&body[..end]).expect("seed YAML parses")
}

/// Everything `expected` states is in `actual`: objects may add keys, arrays must be equal.
fn contains(expected: &Value, actual: &Value, path: &str, problems: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            for (k, v) in e {
                match a.get(k) {
                    Some(av) => contains(v, av, &format!("{path}/{k}"), problems),
                    None => problems.push(format!("{path}/{k} is missing")),
                }
            }
        }
        _ if expected == actual => {}
        _ => problems.push(format!("{path}: expected {expected}, got {actual}")),
    }
}

async fn served(app: &TestApp) -> Value {
    let r = app.raw("GET", "/openapi.json", &[], vec![]).await;
    assert_eq!(r.status, StatusCode::OK);
    r.body
}

async fn seed_operation_and_schemas_are_as_the_seed_states_them(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let doc = served(&app).await;
    let seed = seed_document();
    assert_eq!(doc["openapi"], "3.1.0");
    assert_eq!(doc["info"]["title"], seed["info"]["title"]);
    let mut problems = Vec::new();
    contains(&seed["paths"], &doc["paths"], "paths", &mut problems);
    contains(&seed["components"], &doc["components"], "components", &mut problems);
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // The statuses the seed leaves out but tessera answers are documented beside its own.
    let responses = &doc["paths"]["/connections/{connection_id}/token"]["post"]["responses"];
    for code in ["201", "401", "404", "409", "413", "422"] {
        assert!(responses.get(code).is_some(), "token endpoint documents {code}");
    }
}

async fn every_route_is_documented_with_the_statuses_it_answers(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let doc = served(&app).await;
    // Every documented route of the router's table is in the document, and nothing else is.
    let mut documented = 0;
    for route in tessera::http::routes::table().into_iter().filter(|r| r.operation.is_some()) {
        let method = route.method.as_str().to_ascii_lowercase();
        let op = &doc["paths"][route.path][method.as_str()];
        assert!(op["operationId"].is_string(), "{method} {} is documented with an operationId", route.path);
        let responses = op["responses"].as_object().expect("responses");
        assert!(responses.keys().any(|code| code.starts_with('2')), "{method} {} documents success", route.path);
        // Whatever takes an API key documents its refusal, and whatever names a connection, 404.
        let params = op["parameters"].to_string();
        if params.contains("x-api-key") {
            assert!(responses.contains_key("401") && responses.contains_key("429"), "{method} {}", route.path);
        }
        if route.path.contains("{connection_id}") {
            assert!(responses.contains_key("404"), "{method} {} documents 404", route.path);
        }
        documented += 1;
    }
    assert!(documented >= 14, "the table lists the API ({documented} operations)");
    let ops: usize =
        doc["paths"].as_object().expect("paths").values().map(|p| p.as_object().map_or(0, |m| m.len())).sum();
    assert_eq!(ops, documented, "no undocumented or unexpected operations");
    // Every $ref points at a schema that exists.
    let text = doc.to_string();
    let mut refs = 0;
    for piece in text.split("\"$ref\":\"#/components/schemas/").skip(1) {
        let name = &piece[..piece.find('"').expect("closing quote")];
        assert!(doc["components"]["schemas"].get(name).is_some(), "schema {name} exists");
        refs += 1;
    }
    // The document refers to its schemas (so the loop above checked something), and only in
    // the form that loop reads.
    assert!(refs > 0, "no $ref to a component schema was found");
    assert_eq!(refs, text.matches("\"$ref\":").count(), "every $ref points into #/components/schemas/");
}

async fn the_authorize_button_has_schemes_for_every_route_that_takes_a_key(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let doc = served(&app).await;
    let schemes = &doc["components"]["securitySchemes"];
    assert_eq!(schemes["APIKeyHeader"]["type"], "apiKey");
    assert_eq!(schemes["APIKeyHeader"]["in"], "header");
    assert_eq!(schemes["APIKeyHeader"]["name"], "X-Api-Key");
    assert_eq!(schemes["HTTPBearer"]["type"], "http");
    assert_eq!(schemes["HTTPBearer"]["scheme"], "bearer");
    let either = serde_json::json!([{"APIKeyHeader": []}, {"HTTPBearer": []}]);
    // Partner apps' access tokens, with the scope each route needs.
    let with_scope = |scope: &str| {
        let mut list = either.as_array().expect("list").clone();
        list.push(serde_json::json!({"PartnerOAuth": [scope]}));
        serde_json::Value::Array(list)
    };
    assert_eq!(doc["paths"]["/connections/{connection_id}/token"]["post"]["security"], with_scope("connections:write"));
    assert_eq!(doc["paths"]["/connections"]["get"]["security"], with_scope("connections:read"));
    assert_eq!(
        doc["paths"]["/connections/{connection_id}/purchases"]["get"]["security"],
        with_scope("purchases:brand_products")
    );
    assert_eq!(doc["paths"]["/webhooks"]["post"]["security"], with_scope("webhooks:write"));
    assert_eq!(doc["paths"]["/redirect-urls"]["get"]["security"], either, "an API key only");
    assert_eq!(schemes["PartnerOAuth"]["type"], "oauth2");
    let scopes = schemes["PartnerOAuth"]["flows"]["clientCredentials"]["scopes"].as_object().expect("scopes");
    assert_eq!(scopes.len(), 5);
    assert_eq!(doc["paths"]["/metrics"]["get"]["security"], serde_json::json!([{}, {"HTTPBearer": []}]));
    for open in
        ["/healthz", "/readyz", "/.well-known/jwks.json", "/.well-known/oauth-authorization-server", "/openapi.json"]
    {
        assert!(doc["paths"][open]["get"].get("security").is_none(), "{open} needs no credential");
    }
    // The OAuth endpoints also take HTTP Basic client authentication.
    assert_eq!(schemes["HTTPBasic"]["scheme"], "basic");
    let oauth = serde_json::json!([{"HTTPBasic": []}, {"APIKeyHeader": []}, {"HTTPBearer": []}]);
    // Every operation that takes a key says so; every scheme named exists.
    for (path, methods) in doc["paths"].as_object().expect("paths") {
        for (method, op) in methods.as_object().expect("methods") {
            if op["parameters"].to_string().contains("x-api-key") {
                let expected = if path.starts_with("/tokens/") { &oauth } else { &either };
                // A route a partner app may use also names its OAuth scope.
                let mut security = op["security"].as_array().expect("security").clone();
                security.retain(|s| s.get("PartnerOAuth").is_none());
                assert_eq!(&serde_json::Value::Array(security), expected, "{method} {path}");
            }
        }
    }
    assert!(doc["info"]["description"].as_str().expect("description").contains(env!("CARGO_PKG_VERSION")));
}

async fn the_front_page_leads_to_the_docs_whose_assets_are_cached_and_compressed(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
    let r = http.get(format!("{}/", app.base)).send().await.expect("sent");
    assert_eq!(r.status(), StatusCode::TEMPORARY_REDIRECT);
    assert_eq!(r.headers()["location"], "/docs");
    let page = http.get(format!("{}/docs", app.base)).send().await.expect("sent").text().await.expect("html");
    for path in ["/docs/swagger-ui-bundle.js", "/docs/swagger-ui.css", "/redoc/redoc.standalone.js"] {
        if path.starts_with("/docs/") {
            assert!(page.contains(&format!("{path}?v={}", env!("CARGO_PKG_VERSION"))), "the page names {path}");
        }
        let plain = http.get(format!("{}{path}", app.base)).send().await.expect("sent");
        assert_eq!(plain.status(), StatusCode::OK);
        assert_eq!(plain.headers()["cache-control"], "public, max-age=31536000, immutable");
        assert!(plain.headers().get("content-encoding").is_none(), "{path}: no gzip unless asked");
        assert_eq!(plain.headers()["vary"], "accept-encoding");
        let plain = plain.bytes().await.expect("body");
        let zipped = http
            .get(format!("{}{path}", app.base))
            .header("accept-encoding", "gzip, deflate, br")
            .send()
            .await
            .expect("sent");
        assert_eq!(zipped.headers()["content-encoding"], "gzip");
        assert_eq!(zipped.headers()["cache-control"], "public, max-age=31536000, immutable");
        let zipped = zipped.bytes().await.expect("body");
        assert!(zipped.len() * 2 < plain.len(), "{path}: {} compressed of {}", zipped.len(), plain.len());
        let mut back = Vec::new();
        std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(&zipped[..]), &mut back).expect("gunzip");
        assert_eq!(back, plain, "{path}");
    }
}

/// The whole served document, as reviewed: any change to it shows up in the diff of
/// `tests/api/snapshots/`.
#[tokio::test]
async fn the_served_document_is_the_reviewed_one() {
    let db = TestDb::new(crate::support::Backend::Sqlite).await.expect("sqlite");
    let app = TestApp::spawn(db).await;
    insta::assert_json_snapshot!("openapi", served(&app).await);
}

crate::both_backends!(
    seed_operation_and_schemas_are_as_the_seed_states_them,
    every_route_is_documented_with_the_statuses_it_answers,
    the_authorize_button_has_schemes_for_every_route_that_takes_a_key,
    the_front_page_leads_to_the_docs_whose_assets_are_cached_and_compressed
);
