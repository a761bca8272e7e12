//! Listening: the main and admin listeners, TLS, `/metrics`, and where the console and
//! `/metrics` are placed.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use super::parse::{parse_bind, parse_public_url};
use crate::auth::metrics_token::MetricsToken;

/// The help heading of the listener flags, and the configuration file's `[listen]` section.
pub(super) const HEADING: &str = "Listeners";

/// The help heading of the TLS flags, and the configuration file's `[tls]` section.
pub(super) const TLS_HEADING: &str = "TLS";

/// The help heading of the metrics flags, and the configuration file's `[metrics]` section.
pub(super) const METRICS_HEADING: &str = "Metrics";

/// Where tessera listens and how browsers reach it.
#[derive(Args, Clone, Debug)]
pub struct ListenArgs {
    /// Address to listen on: HOST:PORT (a name is resolved, e.g. localhost:8080), or :PORT or
    /// PORT alone for 127.0.0.1:PORT. Port 0 picks a free port.
    #[arg(long, env = "TESSERA_BIND", default_value = "127.0.0.1:8080", value_parser = parse_bind)]
    pub bind: SocketAddr,

    /// tessera's address as customers' browsers reach it (e.g. https://link.example.com):
    /// Link URLs are `{public-url}/link/<token>`, and the connector sends customers back to
    /// `{public-url}/link/return`. Unset: http:// and the main listener's address.
    #[arg(long, env = "TESSERA_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// The admin listener: where the operator console and `/metrics` are served when the main
    /// listener is not loopback (unless --console-listen or --metrics-bind place them). Set, it
    /// takes them off a loopback main listener too. Unset: 127.0.0.1:8081, when needed.
    #[arg(long, env = "TESSERA_ADMIN_BIND", value_parser = parse_bind)]
    pub admin_bind: Option<SocketAddr>,

    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "TESSERA_SHUTDOWN_GRACE", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub shutdown_grace: u32,
}

/// Where `/metrics` is served and the credential it asks for.
#[derive(Args, Clone, Debug)]
pub struct MetricsArgs {
    /// Serve `/metrics` on this separate address instead of the main listener (written as for
    /// --bind).
    #[arg(long, env = "TESSERA_METRICS_BIND", value_parser = parse_bind)]
    pub metrics_bind: Option<SocketAddr>,

    /// A secret that `/metrics` requires as `Authorization: Bearer <token>` (401 otherwise):
    /// 16 to 256 printable ASCII characters without spaces, e.g. `openssl rand -hex 32`.
    /// Unset, `/metrics` needs no credential.
    #[arg(long, env = "TESSERA_METRICS_TOKEN", hide_env_values = true, value_parser = MetricsToken::from_arg)]
    pub metrics_token: Option<MetricsToken>,
}

/// HTTPS on every listener, from PEM files re-read when they change.
#[derive(Args, Clone, Debug)]
pub struct TlsArgs {
    /// A certificate chain (PEM, the server's own certificate first): every listener then
    /// serves HTTPS. Needs --tls-key. Re-read without a restart when the file changes, or on
    /// SIGHUP.
    #[arg(long, env = "TESSERA_TLS_CERT")]
    pub tls_cert: Option<PathBuf>,

    /// The certificate's private key (PEM: PKCS#8, PKCS#1 or SEC1). Needs --tls-cert.
    #[arg(long, env = "TESSERA_TLS_KEY")]
    pub tls_key: Option<PathBuf>,

    /// Seconds between looks at the certificate and key files' modification times; a changed
    /// pair is loaded without a restart (a pair that does not load is logged and the previous
    /// one kept). 0: only on SIGHUP.
    #[arg(long, env = "TESSERA_TLS_RELOAD_INTERVAL", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub tls_reload_interval: u32,
}

impl TlsArgs {
    /// The certificate and key files, when TLS is on; both or neither must be given.
    pub fn files(&self) -> anyhow::Result<Option<(PathBuf, PathBuf)>> {
        match (&self.tls_cert, &self.tls_key) {
            (Some(cert), Some(key)) => Ok(Some((cert.clone(), key.clone()))),
            (None, None) => Ok(None),
            (Some(_), None) => {
                anyhow::bail!("TESSERA_TLS_CERT / --tls-cert needs its key: set TESSERA_TLS_KEY / --tls-key")
            }
            (None, Some(_)) => {
                anyhow::bail!("TESSERA_TLS_KEY / --tls-key needs its certificate: set TESSERA_TLS_CERT / --tls-cert")
            }
        }
    }

    /// Whether the listeners serve HTTPS.
    pub fn enabled(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }
}

/// The admin listener's address when the main listener is not loopback and no --admin-bind
/// is given.
pub const DEFAULT_ADMIN_BIND: SocketAddr = SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::LOCALHOST), 8081);

/// Where the operator console or `/metrics` is served.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Place {
    /// On the main listener (a loopback one, or as asked).
    Main,
    /// On a listener of its own (--console-listen, --metrics-bind).
    Own(SocketAddr),
    /// On the admin listener.
    Admin(SocketAddr),
}

/// Where a side service goes: its own listener when it has one; else the admin listener when
/// one is set, or when the main listener is not loopback (clients reach that one); else the
/// main listener.
pub fn place(main: SocketAddr, own: Option<SocketAddr>, admin: Option<SocketAddr>) -> Place {
    match (own, admin) {
        (Some(addr), _) => Place::Own(addr),
        (None, Some(addr)) => Place::Admin(addr),
        (None, None) if main.ip().is_loopback() => Place::Main,
        (None, None) => Place::Admin(DEFAULT_ADMIN_BIND),
    }
}

/// An address as a URL's authority, with an unspecified address (0.0.0.0, ::) as loopback.
pub(super) fn reachable(mut addr: SocketAddr) -> SocketAddr {
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    addr
}
