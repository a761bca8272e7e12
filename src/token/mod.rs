//! Connection tokens: claims, the signing keyring and JWKS, the clock, and the durable
//! issuance record; and the partner apps' access tokens tessera verifies as a resource server.
pub mod claims;
pub mod clock;
pub mod issuance;
pub mod keyring;
pub(crate) mod live;
pub mod mint;
pub mod partners;
pub mod verifier;
pub mod verify;
