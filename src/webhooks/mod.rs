//! Webhooks: where deliveries may go, how they are signed, and the dispatcher that sends the
//! outbox.
pub mod destination;
pub mod dispatcher;
pub mod signing;
