//! `tessera serve`: run the HTTP server until SIGINT or SIGTERM.
use std::sync::Arc;

use crate::app::{App, Listeners};
use crate::config::{DatabaseArgs, KekSource, ServeConfig};
use crate::token::clock::SystemClock;

pub(crate) async fn run(db: &DatabaseArgs, config: ServeConfig) -> anyhow::Result<()> {
    crate::telemetry::init(config.log_format);
    // From here on SIGHUP (`systemctl reload`) never ends the process: once tokio has a
    // handler for a signal it keeps it for the process's life, even with this stream dropped.
    // The serve loop reloads the TLS certificate on it, or says there is nothing to reload.
    #[cfg(unix)]
    drop(tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()));
    // Listen first: a start that cannot bind creates no database, no key-encryption key file
    // and no default client's key it would exit without printing.
    let listeners = Listeners::bind(&config).await?;
    let (kek, source) = config.kek.resolve(&db.database_url)?;
    match &source {
        KekSource::File { path, created: true } => tracing::warn!(
            path = %path.display(),
            "created a key-encryption key file for signing keys; keep it with the database and back it up (or set TESSERA_KEK)"
        ),
        KekSource::Named(path) => tracing::info!(path = %path.display(), "read the key-encryption key from its file"),
        KekSource::Ephemeral => {
            tracing::warn!("in-memory database: signing keys are sealed under a throwaway key")
        }
        _ => {}
    }
    let store = super::shared::open_store(db, true).await?;
    let app = App::build_on(&config, listeners, store, kek, Arc::new(SystemClock)).await?;
    if let Some(b) = &app.bootstrap {
        super::first_key::hand_over(&config, &db.database_url, &b.client_id, &b.api_key)?;
    }
    let addr = app.local_addr();
    let scheme = if app.tls() { "https" } else { "http" };
    tracing::info!(%addr, database = %db.database_url, algorithm = %config.tokens.algorithm, tls = app.tls(), "tessera listening");
    // Before the main line, which is the last a supervisor (or a test) waits for.
    // Where browsers reach it (the public URL when one is set, not a bind address like 0.0.0.0).
    let docs = config
        .listen
        .public_url
        .as_deref()
        .map_or_else(|| format!("{scheme}://{addr}"), |u| u.trim_end_matches('/').to_owned());
    super::shared::announce(&format!("tessera API documentation at {docs}/docs"));
    if app.console_enabled() {
        let own = app.console_addr();
        let url = crate::config::console_base_url(
            &config.console,
            config.listen.public_url.as_deref(),
            own.is_none(),
            own.unwrap_or(addr),
            app.tls(),
        );
        super::shared::announce(&format!(
            "tessera operator console at {url} (create an operator: tessera operator create NAME)"
        ));
    }
    if let Some(metrics) = app.metrics_addr() {
        super::shared::announce(&format!("tessera metrics listening on {scheme}://{metrics}"));
    }
    let mut sandbox = match config.sandbox {
        true => Some(super::sandbox::Beside::start(app.state(), &format!("{scheme}://{addr}")).await?),
        false => None,
    };
    super::shared::announce(&format!("tessera listening on {scheme}://{addr}"));
    let served = app.run_until(super::shared::shutdown_signal()).await;
    if let Some(status) = sandbox.as_mut().and_then(super::sandbox::Beside::exited) {
        tracing::warn!(%status, "the sandbox retailer had stopped before the server");
    }
    drop(sandbox);
    served
}
