//! Rate limits (per API key, failed authentications, the shared store) and the caps on
//! how long a request may take to arrive.
use clap::Args;

use crate::rate_limit::shared::WhenDown;

/// The help heading of these flags, and the configuration file's `[limits]` section.
pub(super) const HEADING: &str = "Limits";

/// Rate limits, where they are kept, and request header and body timeouts.
#[derive(Args, Clone, Debug)]
pub struct LimitArgs {
    /// Requests per second each API key may make (per process), sustained.
    #[arg(long, env = "TESSERA_RATE_LIMIT", default_value_t = 1000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rate_limit: u32,

    /// Requests an API key may make at once before --rate-limit applies.
    #[arg(long, env = "TESSERA_RATE_BURST", default_value_t = 2000,
          value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    pub rate_burst: u32,

    /// Failed authentications per second allowed from one address, sustained.
    #[arg(long, env = "TESSERA_AUTH_FAILURE_RATE", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub auth_failure_rate: u32,

    /// Failed authentications one address may make at once before it is refused with 429.
    #[arg(long, env = "TESSERA_AUTH_FAILURE_BURST", default_value_t = 100,
          value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    pub auth_failure_burst: u32,

    /// Keep the rate limits (per key, failed authentications, console sign-ins) in this Redis,
    /// shared by every replica: redis://[:PASSWORD@]HOST[:PORT][/DB] (rediss:// for TLS).
    /// Unset: each process keeps its own. Never logged.
    #[arg(long, env = "TESSERA_RATE_LIMIT_STORE", hide_env_values = true)]
    pub rate_limit_store: Option<String>,

    /// The prefix of this deployment's keys in the shared rate-limit store.
    #[arg(long, env = "TESSERA_RATE_LIMIT_STORE_PREFIX", default_value = "tessera")]
    pub rate_limit_store_prefix: String,

    /// While the shared rate-limit store cannot be reached: `open` (each process applies its
    /// own limits) or `closed` (limited requests are refused with 429).
    #[arg(long, env = "TESSERA_RATE_LIMIT_STORE_DOWN", value_enum, default_value_t = WhenDown::Open)]
    pub rate_limit_store_down: WhenDown,

    /// Seconds a client gets to send a request's headers (also how long an idle kept-alive
    /// connection stays open).
    #[arg(long, env = "TESSERA_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub header_timeout: u32,

    /// Seconds to send a request's body before 408, on every route; bodies waiting are capped (429).
    #[arg(long, env = "TESSERA_BODY_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub body_timeout: u32,
}
