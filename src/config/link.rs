//! Link: the customer-facing flow that connects a retailer account.
use clap::Args;

/// The help heading of these flags, and the configuration file's `[link]` section.
pub(super) const HEADING: &str = "Link";

/// How long a Link session lasts and which URLs it may use.
#[derive(Args, Clone, Debug)]
pub struct LinkArgs {
    /// Seconds a customer has to get through one Link session (choosing a retailer,
    /// consenting, signing in at the connector).
    #[arg(long, env = "TESSERA_LINK_SESSION_TTL", default_value_t = 1800,
          value_parser = clap::value_parser!(u32).range(5..=86_400))]
    pub link_session_ttl: u32,

    /// Allow plain `http://` redirect URLs and connector sign-in pages off loopback (closed
    /// networks). Off by default: https, or http on loopback for development.
    #[arg(long, env = "TESSERA_LINK_ALLOW_HTTP", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub link_allow_http: bool,
}
