//! The HTTP suite: in-process servers, one file per area of the API (files mirror the routes).
mod clock;
mod connections;
mod connector;
mod console;
mod contract;
mod hardening;
mod health;
mod helpers;
mod jwks;
mod lifecycle;
mod limits;
mod metrics;
mod openapi;
mod purchases;
mod redirects;
mod tokens;
mod webhooks;
