//! [`Core`]: the application object. Built once at start-up (or once per command), it owns
//! the store, the clock, the key-encryption key, the minter and keyring of a serving process
//! and the core's settings; front ends hold it and never a store.
//!
//! Its use cases are grouped by what they act on, one room per module of the core:
//! `core.connections().create(..)`, `core.link().complete(..)`, `core.keys().revoke(..)`.
use std::sync::Arc;

use super::CoreError;
use crate::crypto::kek::{Kek, KekError};
use crate::storage::Store;
use crate::token::clock::Clock;
use crate::token::keyring::Keyring;
use crate::token::mint::Minter;

/// The application object.
pub struct Core {
    store: Arc<dyn Store>,
    clock: Arc<dyn Clock>,
    kek: Option<Arc<Kek>>,
    link: LinkSettings,
    serving: Option<Serving>,
}

/// What only a serving process has: the keyring it signs with and its minter.
pub struct Serving {
    pub minter: Arc<Minter>,
    pub keyring: Arc<Keyring>,
}

impl Core {
    /// The core of a command-line run: the store and the clock; [`Core::with_kek`] and
    /// [`Core::with_link`] add what a command needs.
    pub fn new(store: Arc<dyn Store>, clock: Arc<dyn Clock>) -> Self {
        Self { store, clock, kek: None, link: LinkSettings::default(), serving: None }
    }

    /// The core of a serving process.
    pub fn serving(
        store: Arc<dyn Store>,
        clock: Arc<dyn Clock>,
        kek: Arc<Kek>,
        link: LinkSettings,
        serving: Serving,
    ) -> Self {
        Self { store, clock, kek: Some(kek), link, serving: Some(serving) }
    }

    /// This core with a key-encryption key (sealing webhook secrets and signing keys).
    #[must_use]
    pub fn with_kek(mut self, kek: Arc<Kek>) -> Self {
        self.kek = Some(kek);
        self
    }

    /// This core with the Link flow's settings.
    #[must_use]
    pub fn with_link(mut self, link: LinkSettings) -> Self {
        self.link = link;
        self
    }

    /// The store, for the core's own use cases and the start-up wiring only.
    pub(crate) fn store(&self) -> &dyn Store {
        self.store.as_ref()
    }

    /// tessera's own time (see [`crate::token::clock::ClockGuard`]), in Unix seconds.
    pub fn now(&self) -> i64 {
        self.clock.now()
    }

    /// The clock.
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The key-encryption key.
    pub(crate) fn kek(&self) -> Result<&Kek, KekError> {
        self.kek.as_deref().ok_or(KekError::NotGiven)
    }

    /// The Link flow's settings.
    pub fn link_settings(&self) -> &LinkSettings {
        &self.link
    }

    /// The minter of a serving process.
    pub(crate) fn minter(&self) -> Result<&Minter, CoreError> {
        self.serving.as_ref().map(|s| s.minter.as_ref()).ok_or(CoreError::NotServing)
    }

    /// The signing keyring of a serving process.
    pub(crate) fn keyring(&self) -> Result<&Keyring, CoreError> {
        self.serving.as_ref().map(|s| s.keyring.as_ref()).ok_or(CoreError::NotServing)
    }
}

/// The Link flow's settings.
#[derive(Clone, Debug)]
pub struct LinkSettings {
    /// tessera's address as browsers reach it (no trailing slash): the connector sends the
    /// customer back to `{public_url}/link/return`.
    pub public_url: String,
    /// How long a customer has to get through one Link session.
    pub session_ttl_secs: i64,
    /// Whether redirect URLs and sign-in pages may be plain `http` off loopback.
    pub allow_http: bool,
}

impl Default for LinkSettings {
    fn default() -> Self {
        Self { public_url: "http://127.0.0.1:8000".into(), session_ttl_secs: 30 * 60, allow_http: false }
    }
}

/// The rooms: one handle per module of the core, borrowed from the [`Core`].
macro_rules! rooms {
    ($($(#[$doc:meta])* $method:ident => $room:ident,)*) => {
        $(
            $(#[$doc])*
            pub struct $room<'a> {
                pub(in crate::service) core: &'a Core,
            }
        )*
        impl Core {
            $(
                $(#[$doc])*
                pub fn $method(&self) -> $room<'_> {
                    $room { core: self }
                }
            )*
        }
    };
}

rooms! {
    /// Clients: created, renamed, listed.
    clients => Clients,
    /// Connections and their lifecycle, activity and history.
    connections => Connections,
    /// Connector services and their credentials.
    connectors => Connectors,
    /// Whether the store answers and takes writes.
    health => Health,
    /// Idempotent answers stored for replay.
    idempotency => Idempotency,
    /// The signing keyring: listed, rotated, scheduled.
    signing_keys => SigningKeys,
    /// Clients' API keys.
    keys => Keys,
    /// Link: link tokens, redirect URLs, sessions and their completion.
    link => Link,
    /// Console operators, their sessions and the audit log.
    operators => Operators,
    /// The console's overview figures.
    overview => Overview,
    /// Partner grants.
    partners => Partners,
    /// Purchases, written by connectors and read by clients.
    purchases => Purchases,
    /// The retailer catalogue.
    retailers => Retailers,
    /// Minted tokens: found, checked, revoked.
    tokens => Tokens,
    /// Webhook endpoints and their deliveries.
    webhooks => Webhooks,
}
