//! tessera: a self-hostable service that mints Subtotal-compatible connection tokens.
//!
//! The binary (`main.rs`) only parses the command line and dispatches into [`cli`]; all
//! behaviour lives in this library so tests can drive it directly.
#![forbid(unsafe_code)]

pub mod app;
pub mod auth;
pub mod cli;
pub mod config;
pub mod console;
pub mod crypto;
pub mod domain;
pub mod http;
pub(crate) mod link;
pub mod metrics;
pub mod rate_limit;
pub mod retention;
pub mod sandbox;
pub mod service;
pub mod storage;
pub mod telemetry;
pub mod token;
pub(crate) mod webhooks;
