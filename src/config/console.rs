//! The operator console's settings and its base URL.
use std::net::SocketAddr;

use clap::Args;

use super::listen::reachable;
use super::parse::parse_bind;

/// The help heading of these flags, and the configuration file's `[console]` section.
pub(super) const HEADING: &str = "Console";

/// The console's base URL as operators' browsers reach it: --console-public-url; else, for a
/// console on the main listener, the public URL's `/console`; else the listening address.
pub fn console_base_url(
    console: &ConsoleArgs,
    public_url: Option<&str>,
    on_main: bool,
    listening: SocketAddr,
    tls: bool,
) -> String {
    if let Some(url) = &console.console_public_url {
        return url.trim_end_matches('/').to_owned();
    }
    if let (true, Some(url)) = (on_main, public_url) {
        return format!("{}/console", url.trim_end_matches('/'));
    }
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}/console", reachable(listening))
}

/// The operator console's settings.
#[derive(Args, Clone, Debug)]
pub struct ConsoleArgs {
    /// Serve the operator console at /console (on by default; `false` turns it off).
    #[arg(long = "console", env = "TESSERA_CONSOLE", default_value_t = true, num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub enabled: bool,

    /// Serve the console on this separate address instead of the main listener (written as
    /// for --bind).
    #[arg(long, env = "TESSERA_CONSOLE_LISTEN", value_parser = parse_bind)]
    pub console_listen: Option<SocketAddr>,

    /// The console's address as operators' browsers reach it (e.g.
    /// https://tessera.example.com/console), for the sign-in links `tessera operator` prints.
    /// Unset: http:// and the console's listening address.
    #[arg(long, env = "TESSERA_CONSOLE_PUBLIC_URL")]
    pub console_public_url: Option<String>,

    /// Seconds a console session may go unused before it ends.
    #[arg(long, env = "TESSERA_CONSOLE_IDLE_TIMEOUT", default_value_t = 1800,
          value_parser = clap::value_parser!(u32).range(60..=crate::storage::retention::SESSION_IDLE_MAX_SECS))]
    pub console_idle_timeout: u32,

    /// Seconds a console session lasts at most, however busy.
    #[arg(long, env = "TESSERA_CONSOLE_SESSION_LIFETIME", default_value_t = 43_200,
          value_parser = clap::value_parser!(u32).range(60..=2_592_000))]
    pub console_session_lifetime: u32,

    /// Always mark the console's session cookie `Secure` (it is anyway under --tls-cert, when
    /// a proxy says `X-Forwarded-Proto: https`, or when the console's public URL is https).
    #[arg(long, env = "TESSERA_CONSOLE_SECURE_COOKIE", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub console_secure_cookie: bool,
}
