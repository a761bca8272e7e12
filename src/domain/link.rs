//! Link: link tokens (a client's bearer secret that lets one customer start the hosted Link
//! flow), the redirect URLs a client registers for the way back, the connector's sign-in
//! URLs, and Link sessions (one pass of a customer through the flow).
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use rand::RngCore as _;
use sha2::{Digest as _, Sha256};

use super::ids::{ClientId, ConnectionId, ConnectorId, LinkSessionId};

/// What every link token starts with.
pub const LINK_TOKEN_PREFIX: &str = "lt_v1_";
/// A link token's length: the prefix and 43 base64url characters (32 random bytes).
pub const LINK_TOKEN_LEN: usize = 49;
/// The pattern a link token matches (as Subtotal's document states it).
pub const LINK_TOKEN_PATTERN: &str = "^lt_v1_[A-Za-z0-9_-]{43}$";
/// What every Link session reference (the connector's handle on a session) starts with.
pub const REFERENCE_PREFIX: &str = "lsr_";

/// The SHA-256 of a bearer secret: all the database keeps of a link token, a Link session's
/// cookie or a session reference.
pub fn digest(secret: &str) -> Vec<u8> {
    Sha256::digest(secret.as_bytes()).to_vec()
}

fn random_43() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    URL_SAFE_NO_PAD.encode(bytes)
}

/// A bearer secret in plain text (a link token, a session reference, a Link session's cookie):
/// shown once to whom it belongs, never logged; `Debug` is redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl Secret {
    /// A new link token: `lt_v1_` and 43 base64url characters.
    pub fn link_token() -> Self {
        Self(format!("{LINK_TOKEN_PREFIX}{}", random_43()))
    }

    /// A new session reference, for the connector.
    pub fn reference() -> Self {
        Self(format!("{REFERENCE_PREFIX}{}", random_43()))
    }

    /// A new Link session cookie.
    pub fn session() -> Self {
        Self(random_43())
    }

    /// A presented secret, as it came.
    pub fn presented(text: &str) -> Self {
        Self(text.to_owned())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn digest(&self) -> Vec<u8> {
        digest(&self.0)
    }
}

/// Whether `text` has the shape of a link token (`lt_v1_` and 43 base64url characters).
pub fn is_link_token(text: &str) -> bool {
    text.len() == LINK_TOKEN_LEN
        && text
            .strip_prefix(LINK_TOKEN_PREFIX)
            .is_some_and(|rest| rest.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'))
}

/// A link token as stored: its digest, never the token.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkToken {
    /// Orders a customer's tokens as they were made (a ULID: increasing within a process).
    pub id: String,
    pub digest: Vec<u8>,
    pub client_id: ClientId,
    pub customer_id: String,
    pub email: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub revoked_at: Option<i64>,
}

/// Where a link token stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LinkTokenStatus {
    Active,
    Expired,
    Revoked,
}

impl LinkTokenStatus {
    pub const ALL: [LinkTokenStatus; 3] = [LinkTokenStatus::Active, LinkTokenStatus::Expired, LinkTokenStatus::Revoked];

    pub fn as_str(self) -> &'static str {
        match self {
            LinkTokenStatus::Active => "active",
            LinkTokenStatus::Expired => "expired",
            LinkTokenStatus::Revoked => "revoked",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl LinkToken {
    /// Revoked wins over expired: a token revoked before it ran out says so for good.
    pub fn status(&self, now: i64) -> LinkTokenStatus {
        if self.revoked_at.is_some() {
            LinkTokenStatus::Revoked
        } else if now >= self.expires_at {
            LinkTokenStatus::Expired
        } else {
            LinkTokenStatus::Active
        }
    }
}

/// A link token's lifetime, in whole days: 1 to 365, 30 unless asked.
pub const LINK_TOKEN_DAYS: std::ops::RangeInclusive<i64> = 1..=365;
pub const LINK_TOKEN_DEFAULT_DAYS: i64 = 30;

/// A URL a client registered for the way back from Link (compared exactly).
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct RedirectUrl {
    pub client_id: ClientId,
    pub url: String,
    pub created_at: i64,
}

/// The longest redirect or sign-in URL accepted.
pub const MAX_URL_LEN: usize = 2048;

/// Checks a URL a browser is to be sent to: absolute `https` (or `http` when `allow_http`,
/// for loopback development), with a host, no user name or password, and no fragment.
/// Returns it as given (compared exactly, never normalized).
pub fn check_browser_url(text: &str, allow_http: bool) -> Result<String, String> {
    if text.is_empty() || text.len() > MAX_URL_LEN {
        return Err(format!("a URL of 1 to {MAX_URL_LEN} characters"));
    }
    let url = url::Url::parse(text).map_err(|e| format!("not an absolute URL ({e})"))?;
    let http_ok = allow_http || url.host_str().is_some_and(is_loopback_host);
    match url.scheme() {
        "https" => {}
        "http" if http_ok => {}
        "http" => {
            return Err("plain http is only for loopback addresses (localhost, 127.0.0.1, [::1]): use https".into());
        }
        other => return Err(format!("the scheme {other:?} is not a web address: use https")),
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err("a URL with a host".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("a URL without a user name or password".into());
    }
    if url.fragment().is_some() {
        return Err("a URL without a #fragment".into());
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("a URL without spaces or control characters".into());
    }
    Ok(text.to_owned())
}

fn is_loopback_host(host: &str) -> bool {
    host == "localhost" || host == "127.0.0.1" || host == "[::1]" || host.ends_with(".localhost")
}

/// A connector's sign-in page for Link: for one retailer, or (`retailer_id` `*`) for every
/// retailer no other registration names.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct ConnectorLinkUrl {
    pub connector_id: ConnectorId,
    pub retailer_id: String,
    pub url: String,
    pub created_at: i64,
}

/// The `retailer_id` of a registration for every retailer.
pub const ANY_RETAILER: &str = "*";

/// Where a Link session is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// The customer is choosing a retailer or reading the consent page.
    Started,
    /// Sent to the connector's sign-in page.
    AtConnector,
    /// The connector linked the connection.
    Completed,
    /// The connector could not link it.
    Failed,
    /// The customer left.
    Exited,
}

impl SessionState {
    pub const ALL: [SessionState; 5] = [
        SessionState::Started,
        SessionState::AtConnector,
        SessionState::Completed,
        SessionState::Failed,
        SessionState::Exited,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SessionState::Started => "started",
            SessionState::AtConnector => "at_connector",
            SessionState::Completed => "completed",
            SessionState::Failed => "failed",
            SessionState::Exited => "exited",
        }
    }

    /// Whether the session has ended (nothing more may happen in it).
    pub fn is_final(self) -> bool {
        matches!(self, SessionState::Completed | SessionState::Failed | SessionState::Exited)
    }
}

impl TryFrom<String> for SessionState {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        Self::ALL.into_iter().find(|st| st.as_str() == s).ok_or_else(|| format!("unknown Link session state {s:?}"))
    }
}

/// How a Link session was entered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Entry {
    /// With a link token: the flow creates a connection for its customer (or, with
    /// `connection_id`, re-authenticates one of theirs).
    LinkToken,
    /// With a `link`-scope connection token: the flow links that connection.
    ConnectionToken,
}

impl Entry {
    pub fn as_str(self) -> &'static str {
        match self {
            Entry::LinkToken => "link_token",
            Entry::ConnectionToken => "connection_token",
        }
    }
}

impl TryFrom<String> for Entry {
    type Error = String;

    fn try_from(s: String) -> Result<Self, Self::Error> {
        match s.as_str() {
            "link_token" => Ok(Entry::LinkToken),
            "connection_token" => Ok(Entry::ConnectionToken),
            _ => Err(format!("unknown Link entry {s:?}")),
        }
    }
}

/// A Link session as stored. Its cookie and its reference are kept as digests only.
#[derive(Clone, Debug, PartialEq, Eq, sqlx::FromRow)]
pub struct LinkSession {
    pub id: LinkSessionId,
    pub cookie_digest: Vec<u8>,
    pub client_id: ClientId,
    pub customer_id: String,
    pub email: Option<String>,
    #[sqlx(try_from = "String")]
    pub entry: Entry,
    /// The link token it was entered with (re-checked at every step).
    pub link_token_digest: Option<Vec<u8>>,
    /// The connection-token id it was entered with (re-checked at every step).
    pub token_jti: Option<String>,
    /// The connection linked or re-authenticated; for a link token's new connection, set
    /// when the connector completes.
    pub connection_id: Option<ConnectionId>,
    pub retailer_id: Option<String>,
    pub redirect_url: Option<String>,
    #[sqlx(try_from = "String")]
    pub state: SessionState,
    pub reference_digest: Option<Vec<u8>>,
    pub connector_id: Option<ConnectorId>,
    pub reason: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub expires_at: i64,
}

impl LinkSession {
    /// What the console shows: the state, or `expired` for an unfinished session past its time.
    pub fn shown_state(&self, now: i64) -> &'static str {
        if !self.state.is_final() && now >= self.expires_at { "expired" } else { self.state.as_str() }
    }
}

/// How the connector says a sign-in ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Signed in: the connection is active.
    Active,
    /// The retailer refused the credentials (for a connection that exists: it becomes
    /// `unauthenticated`).
    Unauthenticated,
    /// Linking failed for another reason.
    Failed,
}

impl Outcome {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Outcome::Active),
            "unauthenticated" => Some(Outcome::Unauthenticated),
            "failed" => Some(Outcome::Failed),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn link_tokens_have_the_documented_shape() {
        let t = Secret::link_token();
        assert_eq!(t.expose().len(), LINK_TOKEN_LEN);
        assert!(is_link_token(t.expose()));
        assert!(!is_link_token(&t.expose()[1..]));
        assert!(!is_link_token(&format!("lt_v2_{}", &t.expose()[6..])));
        assert!(!is_link_token(&format!("{}!", &t.expose()[..48])));
        assert_ne!(Secret::link_token(), t);
        assert!(!format!("{t:?}").contains(t.expose()));
    }

    #[test]
    fn revoked_wins_over_expired() {
        let mut t = LinkToken {
            id: "01".into(),
            digest: vec![0; 32],
            client_id: ClientId::generate(),
            customer_id: "c".into(),
            email: None,
            created_at: 0,
            expires_at: 100,
            revoked_at: None,
        };
        assert_eq!(t.status(99), LinkTokenStatus::Active);
        assert_eq!(t.status(100), LinkTokenStatus::Expired);
        t.revoked_at = Some(150);
        assert_eq!(t.status(200), LinkTokenStatus::Revoked);
    }

    #[test]
    fn browser_urls_are_absolute_web_addresses() {
        assert!(check_browser_url("https://app.example/done?x=1", false).is_ok());
        assert!(check_browser_url("http://127.0.0.1:3000/cb", false).is_ok());
        assert!(check_browser_url("http://app.example/cb", false).is_err());
        assert!(check_browser_url("http://app.example/cb", true).is_ok());
        for bad in [
            "",
            "/relative",
            "javascript:alert(1)",
            "https://u:p@app.example/",
            "https://app.example/#f",
            "data:text/html,x",
        ] {
            assert!(check_browser_url(bad, true).is_err(), "{bad}");
        }
    }
}
