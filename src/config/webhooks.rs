//! Webhook deliveries: which destinations are allowed, how long an attempt takes, retries.
use clap::Args;

/// The help heading of these flags, and the configuration file's `[webhooks]` section.
pub(super) const HEADING: &str = "Webhooks";

/// Where webhooks may be delivered and how failed deliveries are retried.
#[derive(Args, Clone, Debug)]
pub struct WebhookArgs {
    /// Allow webhooks to loopback, private and link-local addresses (closed networks, tests).
    /// Off by default: such destinations are refused at registration and at every connection.
    #[arg(long, env = "TESSERA_WEBHOOK_ALLOW_PRIVATE", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_private: bool,

    /// Allow webhooks to plain `http://` URLs. Off by default: only https.
    #[arg(long, env = "TESSERA_WEBHOOK_ALLOW_HTTP", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub webhook_allow_http: bool,

    /// Seconds one webhook attempt may take (connecting included) before it counts as failed.
    #[arg(long, env = "TESSERA_WEBHOOK_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=120))]
    pub webhook_timeout: u32,

    /// Seconds before a failed webhook delivery's second attempt; each later wait doubles
    /// (with jitter), up to an hour.
    #[arg(long, env = "TESSERA_WEBHOOK_RETRY_BASE", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub webhook_retry_base: u32,

    /// Seconds after its event a failing webhook delivery is still retried (24 hours); an
    /// endpoint that delivers nothing for that long is turned off.
    #[arg(long, env = "TESSERA_WEBHOOK_RETRY_WINDOW", default_value_t = 86_400,
          value_parser = clap::value_parser!(u32).range(10..=604_800))]
    pub webhook_retry_window: u32,
}
