//! Authentication of callers: API key format, hashing and verification.
pub mod api_key;
