//! Domain types: identifiers, connections and their statuses, parsed once at the edge.
pub mod api_key;
pub mod client;
pub mod connection;
pub mod connector;
pub mod event;
pub mod ids;
pub mod link;
pub(crate) mod name;
pub mod operator;
pub mod partner;
pub mod purchase;
pub mod retailer;
pub mod signing_key;
pub mod time;
pub mod token;
pub mod webhook;
