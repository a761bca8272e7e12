//! Listening: TLS, and where the console and `/metrics` are placed.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

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
