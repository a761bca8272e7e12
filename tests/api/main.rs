//! HTTP integration tests: one binary, files mirror the routes.
mod connections;
mod connector;
mod contract;
mod hardening;
mod health;
mod helpers;
mod jwks;
mod lifecycle;
mod limits;
mod metrics;
mod openapi;
mod redirects;
#[path = "../support/mod.rs"]
mod support;
mod tokens;
mod webhooks;
