//! Route handlers, one file per area of the API.
pub mod activity;
pub mod connections;
pub mod docs;
pub mod health;
pub mod introspection;
pub mod jwks;
pub mod tokens;
