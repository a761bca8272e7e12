//! Replays the contract corpus (requests and the reference stack's exact answers) over HTTP.
use base64::Engine as _;
use serde_json::Value;

use crate::api::helpers::TestApp;
use crate::support::TestDb;

const CORPUS: &str = include_str!("../fixtures/token_endpoint_cases.json");

fn is_compact_jws(v: &Value) -> bool {
    v.as_str().is_some_and(|s| {
        let parts: Vec<_> = s.split('.').collect();
        parts.len() == 3
            && parts
                .iter()
                .all(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
    })
}

fn matches(expected: &Value, actual: &Value) -> bool {
    if expected.get("connection_token").and_then(Value::as_str) == Some("<jwt>") {
        return actual.as_object().is_some_and(|o| o.len() == 1) && is_compact_jws(&actual["connection_token"]);
    }
    expected == actual
}

async fn every_corpus_case_answers_like_the_reference(db: TestDb) {
    let app = TestApp::spawn(db).await;
    let conn = app.create_connection(&app.api_key, "cust-1").await;
    let cases: Vec<Value> = serde_json::from_str(CORPUS).expect("corpus parses");
    assert!(cases.len() >= 18);
    let mut failures = Vec::new();
    for case in &cases {
        let path = case["path"].as_str().expect("path").replace("{connection_id}", &conn);
        let headers: Vec<(String, String)> = case["headers"]
            .as_object()
            .map(|h| {
                h.iter()
                    .map(|(k, v)| (k.clone(), v.as_str().unwrap_or("").replace("{api_key}", &app.api_key)))
                    .collect()
            })
            .unwrap_or_default();
        let header_refs: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let body = match (case.get("body_b64"), case.get("body")) {
            (Some(b64), _) => {
                base64::engine::general_purpose::STANDARD.decode(b64.as_str().expect("b64")).expect("b64 decodes")
            }
            (None, Some(Value::String(s))) => s.clone().into_bytes(),
            _ => Vec::new(),
        };
        let r = app.raw(case["method"].as_str().unwrap_or("POST"), &path, &header_refs, body).await;
        let expect = &case["expect"];
        if r.status.as_u16() as u64 != expect["status"].as_u64().expect("status") || !matches(&expect["body"], &r.body)
        {
            failures.push(format!(
                "{}: expected {} {}, got {} {}",
                case["name"], expect["status"], expect["body"], r.status, r.body
            ));
        }
    }
    assert!(failures.is_empty(), "{} of {} cases differ:\n{}", failures.len(), cases.len(), failures.join("\n"));
}

crate::both_backends!(every_corpus_case_answers_like_the_reference);
