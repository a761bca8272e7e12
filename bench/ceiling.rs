//! The two limits a token service on this machine is measured against (`bench/run.sh`).
//!
//!     ceiling http PORT              answer POST /connections/{id}/token at once
//!     ceiling durable PORT FILE      answer only once a 128-byte record of the request is
//!                                    appended to FILE and fdatasync'ed
//!
//! Both answer 201 with a fixed body the size of tessera's answer. The durable one commits as a
//! group: one writer thread takes every record queued at that moment, writes them with one
//! call, syncs once, then releases those requests. That is HTTP plus the cost of a durable
//! record on this disk, with no database, no signing and no other work: the limit a durable
//! token service can approach. FILE belongs on the same disk as the database being compared.
use std::io::Write as _;
use std::sync::mpsc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::routing::post;
use tokio::sync::oneshot;

/// A JWS of the size tessera's EdDSA tokens have, in tessera's answer.
const ANSWER: &str = concat!(
    r#"{"connection_token":""#,
    "eyJhbGciOiJFZERTQSIsImtpZCI6ImsxIiwidHlwIjoiSldUIn0.",
    "eyJpc3MiOiJ0ZXNzZXJhIiwiYXVkIjoic3VidG90YWwiLCJzdWIiOiIwMUJFTkNIMDAwMDAwMDAwMDAwMDAwMDAwMDEi",
    "LCJjbGllbnRfaWQiOiIwMUtCNDRGMFNKNkpGNVE2RDBHQ1BKN1ZCNyIsImN1c3RvbWVyX2lkIjoiY3VzdC0xIiwic2Nv",
    "cGUiOiJhY2Nlc3MiLCJpYXQiOjE3OTU4MzY3ODksIm5iZiI6MTc5NTgzNjc4OSwiZXhwIjoxNzk1ODM3Njg5LCJqdGki",
    "OiIwMUtCNDRHMlJSN1FKQjNNQ1dYNDBZWlBFOCJ9.",
    "0h2VFvtQt5OIHUHAj9zY3jm-wou71vNDZHJufmOjowE0h2VFvtQt5OIHUHAj9zY3jm-wou71vNDZHJufmOjowE0h2VFvtQt5OI",
    r#""}"#
);

type Answer = (StatusCode, [(header::HeaderName, &'static str); 1], &'static str);

fn answer() -> Answer {
    (StatusCode::CREATED, [(header::CONTENT_TYPE, "application/json")], ANSWER)
}

/// A record to make durable, and the request waiting for it.
type Record = ([u8; 128], oneshot::Sender<()>);

async fn at_once(Path(_id): Path<String>, _body: Bytes) -> Answer {
    answer()
}

async fn durably(State(log): State<mpsc::Sender<Record>>, Path(id): Path<String>, _body: Bytes) -> Answer {
    let mut record = [b' '; 128];
    let id = &id.as_bytes()[..id.len().min(96)];
    record[..id.len()].copy_from_slice(id);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    let stamp = now.as_micros().to_string();
    record[100..100 + stamp.len().min(27)].copy_from_slice(&stamp.as_bytes()[..stamp.len().min(27)]);
    record[127] = b'\n';
    let (synced, wait) = oneshot::channel();
    if log.send((record, synced)).is_err() || wait.await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "application/json")], "{}");
    }
    answer()
}

/// The group commit: everything queued goes out in one write and one fdatasync.
fn writer(file: std::fs::File, queue: mpsc::Receiver<Record>) {
    let mut file = std::io::BufWriter::with_capacity(1 << 20, file);
    let mut group = Vec::with_capacity(4096);
    while let Ok(first) = queue.recv() {
        group.push(first);
        group.extend(queue.try_iter());
        for (record, _) in &group {
            file.write_all(record).expect("the log is writable");
        }
        file.flush().expect("the log is writable");
        file.get_ref().sync_data().expect("the log can be synced");
        for (_, synced) in group.drain(..) {
            let _ = synced.send(());
        }
    }
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let usage = "usage: ceiling http PORT | ceiling durable PORT FILE";
    let (mode, port) = match (args.first(), args.get(1)) {
        (Some(mode), Some(port)) => (mode.as_str(), port.as_str()),
        _ => panic!("{usage}"),
    };
    let route = "/connections/{id}/token";
    let app = match mode {
        "http" => Router::new().route(route, post(at_once)),
        "durable" => {
            let path = args.get(2).expect(usage);
            let file = std::fs::OpenOptions::new().create(true).append(true).open(path).expect("the log opens");
            let (log, queue) = mpsc::channel();
            std::thread::spawn(move || writer(file, queue));
            Router::new().route(route, post(durably)).with_state(log)
        }
        _ => panic!("{usage}"),
    };
    let listener = tokio::net::TcpListener::bind(format!("127.0.0.1:{port}")).await.expect("the port is free");
    println!("listening on 127.0.0.1:{port}");
    axum::serve(listener, app).await.expect("serving");
}
