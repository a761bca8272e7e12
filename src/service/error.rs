//! Why a use case did not happen: kinds with their fields, for the front ends to answer each
//! in their own terms (a status and a `detail`, a page, a command's message). Each kind's
//! `Display` is the plain sentence the front ends use unless they word it themselves.
use crate::domain::ids::{ApiKeyId, ClientId, ConnectorId};
use crate::storage::StoreError;

/// Why a use case did not happen, in terms every front end can answer.
#[derive(Debug, thiserror::Error)]
pub enum CoreError {
    /// The input is not acceptable: which rule it breaks.
    #[error(transparent)]
    Invalid(#[from] Invalid),
    /// What it acts on does not exist.
    #[error(transparent)]
    NotFound(#[from] Missing),
    /// The connection lifecycle does not allow the move (see
    /// [`ConnectionStatus::can_move_to`](crate::domain::connection::ConnectionStatus::can_move_to)).
    #[error("a connection cannot move from {from} to {to}")]
    Lifecycle { from: crate::domain::connection::ConnectionStatus, to: crate::domain::connection::ConnectionStatus },
    /// This process does not sign tokens (a command-line run): a use case that needs the
    /// minter or the keyring was asked of it.
    #[error("this process does not sign tokens")]
    NotServing,
    #[error(transparent)]
    Kek(#[from] crate::crypto::kek::KekError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// An input a use case refuses, with what the front end needs to say which and why.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Invalid {
    /// A client's, connector credential's or retailer's name outside its limits (the
    /// domain's statement of them).
    #[error("{0}")]
    Name(String),
    /// An operator's name outside its limits.
    #[error("an operator's name must be 1 to 100 characters, none of them control characters")]
    OperatorName,
    /// An operator by that name exists.
    #[error("an operator named {0:?} exists already")]
    OperatorExists(String),
    /// A retailer id outside its alphabet or length.
    #[error("retailer id {0:?}: use 1 to 26 of a-z A-Z 0-9 _ -")]
    RetailerId(String),
    /// A sign-in page registered for no retailer at all.
    #[error("retailer_ids: name at least one, or null for every retailer")]
    NoRetailers,
    /// A URL a browser is sent to that the rules refuse: which URL, and the rule.
    #[error("{which}: {why}")]
    Url { which: &'static str, why: String },
    /// A link token's lifetime outside 1 to 365 days.
    #[error("a link token lives 1 to 365 days, not {0}")]
    LinkTokenDays(i64),
    /// A partner's issuer that is no authorization server's issuer URL.
    #[error(
        "the issuer must be the authorization server's issuer URL (http:// or https://, at most {max} characters), as its tokens' iss states it"
    )]
    PartnerIssuer { max: usize },
    /// A partner's client id outside its length.
    #[error("the partner's client id must be 1 to {max} characters: its tokens' client_id (or azp)")]
    PartnerClientId { max: usize },
    /// The partner is allowed to act for the client already.
    #[error("{partner} of {issuer} is already allowed to act for client {client}")]
    PartnerExists { partner: String, issuer: String, client: ClientId },
}

/// What a use case looked for and did not find.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Missing {
    #[error("no client {0}")]
    Client(ClientId),
    #[error("no API key {0}")]
    ApiKey(ApiKeyId),
    #[error("no operator {0:?} (see `tessera operator list`)")]
    Operator(String),
    #[error("no connector credential {0}")]
    Connector(ConnectorId),
    #[error("no retailer {0:?} in the catalogue")]
    Retailer(String),
    #[error("no partner grant {0}")]
    PartnerGrant(String),
    #[error("Link token not found")]
    LinkToken,
    #[error("Redirect URL not registered")]
    RedirectUrl,
}
