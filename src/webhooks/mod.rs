//! Webhooks: where deliveries may go, how they are signed, and the dispatcher that sends the
//! outbox.
pub(crate) mod destination;
pub(crate) mod dispatcher;
pub(crate) mod signing;
