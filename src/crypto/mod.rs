//! Cryptographic building blocks that are not tokens themselves.
pub mod kek;
