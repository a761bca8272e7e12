//! `tessera sandbox`: a pretend retailer and its connector, for trying Link end to end
//! without a real retailer, and the reference example of a connector.
//!
//! It is a client of tessera's connector API over HTTP and nothing more: it never touches
//! tessera's database or its internals, so everything it does, an operator's own connector
//! can do the same way. On start it adds its retailers to the catalogue
//! (`PUT /connector/retailers/{id}`) and registers its sign-in page for them
//! (`PUT /connector/link-url`); tessera then hands customers who pick one of them to
//! `{public-url}/sign-in?session=<reference>`, where [`server`] signs them in with the test
//! credentials in [`accounts`] and completes the session.
pub mod accounts;
pub mod client;
pub mod purchases;

pub use client::Credential;
