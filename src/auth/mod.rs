//! Authentication of callers: API key format, hashing, verification and caching.
pub mod api_key;
pub mod browser;
pub mod cache;
pub mod metrics_token;
pub mod operator;
pub mod usage;
