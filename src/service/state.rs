//! `AppState`: what every request handler can reach.
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use crate::auth::cache::ApiKeyCache;
use crate::auth::metrics_token::MetricsToken;
use crate::crypto::kek::Kek;
use crate::domain::ids::ApiKeyId;
use crate::metrics::{Gauges, Metrics};
use crate::rate_limit::Limiter;
use crate::rate_limit::shared::SharedStore;
use crate::token::clock::{Clock, ClockGuard};
use crate::token::keyring::Keyring;
use crate::token::mint::Minter;

/// The rate limits applied when authenticating.
pub struct AuthLimits {
    /// Requests per API key.
    pub per_key: Limiter<ApiKeyId>,
    /// Failed authentications per source address.
    pub auth_failures: Limiter<IpAddr>,
    /// The store every replica's limits are kept in, when one is configured (the console's
    /// sign-in limits use it too).
    pub shared: Option<Arc<SharedStore>>,
}

/// What every request handler can reach: one shared allocation, so that the copies the
/// router's layers and extractors take of it cost one reference count each.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// The application core: every use case goes through it.
    pub core: Arc<crate::service::Core>,
    pub minter: Arc<Minter>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
    /// Whether the clock may be trusted to sign (see [`ClockGuard`]).
    pub clock_guard: Arc<ClockGuard>,
    pub metrics: Arc<Metrics>,
    /// How long a request body may take to arrive.
    pub body_timeout: Duration,
    pub limits: Arc<AuthLimits>,
    /// Live API keys, for the token endpoint (see [`ApiKeyCache`]).
    pub key_cache: Arc<ApiKeyCache>,
    /// Seals what must not be readable at rest (stored idempotent answers).
    pub kek: Arc<Kek>,
    /// Which webhook destinations are allowed.
    pub webhook_policy: crate::webhooks::destination::Policy,
    /// Throttles the writes of API keys' last use (once a minute per key).
    pub key_usage: Arc<crate::auth::usage::KeyUsage>,
    /// The Link flow's settings.
    pub link: crate::service::link::Settings,
    /// When set, `/metrics` answers only `Authorization: Bearer <this token>`.
    pub metrics_token: Option<Arc<MetricsToken>>,
    /// The trusted authorization servers whose partner access tokens are accepted; `None`
    /// when none is configured (bearer tokens are then API keys only).
    pub partners: Option<Arc<crate::token::partners::Issuers>>,
}

impl Shared {
    /// The metrics page, with gauges read now.
    pub fn render_metrics(&self) -> String {
        self.metrics.render(&Gauges {
            pool: self.core.store().pool_stats(),
            issuance_queue_depth: self.minter.issuance.queue_depth(),
            clock: Some((self.clock_guard.skew_secs(), self.clock_guard.trusted())),
            clock_states: {
                let now = self.clock_guard.state();
                crate::token::clock::ClockState::ALL.iter().map(|s| (s.name(), *s == now)).collect()
            },
        })
    }
}
