//! Authentication of callers: API key format, hashing, verification and caching.
pub mod api_key;
pub(crate) mod browser;
pub(crate) mod cache;
pub mod metrics_token;
pub mod operator;
pub(crate) mod usage;
