//! Domain types: identifiers, connections and their statuses, parsed once at the edge.
pub mod connection;
pub mod ids;
