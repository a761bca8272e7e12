//! TLS on the listeners: a certificate chain and its key read from PEM files, and swapped in
//! without a restart when the files change (their modification times are polled) or on
//! SIGHUP. A pair that does not load (half written, mismatched) is logged and the previous
//! one kept, so a renewal never takes the listeners down.
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime};

use rustls::pki_types::pem::PemObject as _;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// What the files looked like when last read: modification time and length of each.
type Stamp = Option<[(SystemTime, u64); 2]>;

/// The certificate every TLS listener presents, and where it comes from.
pub(crate) struct Certificates {
    cert: PathBuf,
    key: PathBuf,
    current: RwLock<Arc<CertifiedKey>>,
    seen: Mutex<Stamp>,
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key: only where it is.
        f.debug_struct("Certificates").field("cert", &self.cert).field("key", &self.key).finish_non_exhaustive()
    }
}

impl Certificates {
    /// Reads the pair; fails with a message naming the file at fault.
    pub(crate) fn load(cert: &Path, key: &Path) -> anyhow::Result<Arc<Self>> {
        let seen = stamp(cert, key);
        let pair = read_pair(cert, key)?;
        Ok(Arc::new(Self {
            cert: cert.to_owned(),
            key: key.to_owned(),
            current: RwLock::new(Arc::new(pair)),
            seen: Mutex::new(seen),
        }))
    }

    /// An acceptor for one listener: HTTP/1.1 over TLS 1.2 or 1.3, presenting whichever
    /// certificate is current at each handshake.
    pub(crate) fn acceptor(self: &Arc<Self>) -> anyhow::Result<tokio_rustls::TlsAcceptor> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .with_no_client_auth()
            .with_cert_resolver(Arc::new(Resolver(self.clone())));
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
    }

    /// Loads the pair again if either file changed since it was last read. Returns whether a
    /// new certificate is now served.
    pub(crate) fn reload_if_changed(&self) -> bool {
        let now = stamp(&self.cert, &self.key);
        {
            let mut seen = self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            if now.is_none() || *seen == now {
                return false;
            }
            // Tried once per change: a broken pair is reported once, not at every look.
            *seen = now;
        }
        self.reload()
    }

    /// Loads the pair again. Returns whether a new certificate is now served.
    pub(crate) fn reload(&self) -> bool {
        match read_pair(&self.cert, &self.key) {
            Ok(pair) => {
                *self.current.write().unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(pair);
                tracing::info!(cert = %self.cert.display(), "loaded a new TLS certificate");
                true
            }
            Err(e) => {
                tracing::warn!(error = %format!("{e:#}"), "TLS certificate not reloaded: serving the previous one");
                false
            }
        }
    }

    /// Reloads on every change the poll sees (every `every`, when given) and on every SIGHUP.
    pub(crate) async fn watch(self: Arc<Self>, every: Option<Duration>) {
        #[cfg(unix)]
        let mut hup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
        let mut tick = every.map(tokio::time::interval);
        loop {
            let poll = async {
                match tick.as_mut() {
                    Some(t) => {
                        t.tick().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(unix)]
            let signal = async {
                match hup.as_mut() {
                    Some(s) => {
                        s.recv().await;
                    }
                    None => std::future::pending::<()>().await,
                }
            };
            #[cfg(not(unix))]
            let signal = std::future::pending::<()>();
            tokio::select! {
                () = poll => {
                    self.reload_if_changed();
                }
                () = signal => {
                    tracing::info!("SIGHUP: reading the TLS certificate and key again");
                    *self.seen.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = stamp(&self.cert, &self.key);
                    self.reload();
                }
            }
        }
    }
}

/// Without TLS, SIGHUP has nothing to reload, but must not end the process (its default
/// action), since `systemctl reload` sends it.
pub(crate) async fn ignore_hangups() {
    #[cfg(unix)]
    if let Ok(mut hup) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()) {
        while hup.recv().await.is_some() {
            tracing::info!("SIGHUP: nothing to reload (no --tls-cert)");
        }
    }
}

/// Hands every handshake the current certificate.
struct Resolver(Arc<Certificates>);

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("Resolver").field(&self.0).finish()
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.current.read().unwrap_or_else(std::sync::PoisonError::into_inner).clone())
    }
}

fn stamp(cert: &Path, key: &Path) -> Stamp {
    let one = |p: &Path| std::fs::metadata(p).ok().and_then(|m| Some((m.modified().ok()?, m.len())));
    Some([one(cert)?, one(key)?])
}

fn read_pair(cert: &Path, key: &Path) -> anyhow::Result<CertifiedKey> {
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(cert)
        .and_then(|certs| certs.collect::<Result<_, _>>())
        .map_err(|e| anyhow::anyhow!("TLS certificate {}: {e}", cert.display()))?;
    if chain.is_empty() {
        anyhow::bail!("TLS certificate {}: no PEM certificate in the file", cert.display());
    }
    // The error names the file, never its content.
    let der = PrivateKeyDer::from_pem_file(key).map_err(|e| anyhow::anyhow!("TLS key {}: {e}", key.display()))?;
    let signer = rustls::crypto::ring::sign::any_supported_type(&der)
        .map_err(|e| anyhow::anyhow!("TLS key {}: {e}", key.display()))?;
    let pair = CertifiedKey::new(chain, signer);
    pair.keys_match().map_err(|e| {
        anyhow::anyhow!("TLS key {} does not belong to the certificate {} ({e})", key.display(), cert.display())
    })?;
    Ok(pair)
}
