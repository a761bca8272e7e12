//! The application: shared state, start-up (`App::build`) and the serve loop (`run_until`).
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::api_key::PlainApiKey;
use crate::config::ServeConfig;
use crate::crypto::kek::Kek;
use crate::domain::ids::ClientId;
use crate::storage::{ApiKeyRecord, Client, Store};
use crate::token::clock::Clock;
use crate::token::issuance::IssuanceLog;
use crate::token::keyring::Keyring;
use crate::token::mint::Minter;

/// What every request handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Arc<dyn Store>,
    pub minter: Arc<Minter>,
    pub keyring: Arc<Keyring>,
    pub clock: Arc<dyn Clock>,
}

/// The first client and key, created on an empty database.
pub struct Bootstrap {
    pub client_id: ClientId,
    pub api_key: PlainApiKey,
}

/// A built, bound application, ready to serve.
pub struct App {
    listener: TcpListener,
    router: axum::Router,
    state: AppState,
    issuance_task: tokio::task::JoinHandle<()>,
    refresh_interval: Duration,
    /// Set when this start created the default client and key.
    pub bootstrap: Option<Bootstrap>,
}

impl App {
    /// Prepares the keyring, bootstraps an empty database, and binds the listener.
    pub async fn build(
        config: &ServeConfig,
        store: Arc<dyn Store>,
        kek: Kek,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<App> {
        let bootstrap = bootstrap_default_client(store.as_ref(), clock.now()).await?;
        let ttl = i64::from(config.token_ttl);
        // A retired key stays published for a full token lifetime plus five minutes' leeway.
        let keyring = Arc::new(
            Keyring::open(
                store.clone(),
                kek,
                config.algorithm,
                clock.clone(),
                ttl + 300,
            )
            .await?,
        );
        let (issuance, issuance_task) = IssuanceLog::start(store.clone());
        let minter = Arc::new(Minter {
            keyring: keyring.clone(),
            issuance,
            clock: clock.clone(),
            issuer: config.issuer.clone(),
            audience: config.audience.clone(),
            ttl_secs: ttl,
        });
        let state = AppState {
            store,
            minter,
            keyring,
            clock,
        };
        let router = crate::http::router(state.clone());
        let listener = TcpListener::bind(config.bind).await.map_err(|e| {
            anyhow::anyhow!(
                "cannot listen on {} (TESSERA_BIND / --bind): {e}",
                config.bind
            )
        })?;
        Ok(App {
            listener,
            router,
            state,
            issuance_task,
            refresh_interval: Duration::from_secs(u64::from(config.key_refresh)),
            bootstrap,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        // A bound TCP listener always has a local address.
        self.listener
            .local_addr()
            .expect("bound listener has an address")
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes, then finishes in-flight requests and commits every
    /// queued issuance record before returning.
    pub async fn run_until(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let App {
            listener,
            router,
            state,
            issuance_task,
            refresh_interval,
            ..
        } = self;
        let refresher = tokio::spawn(refresh_keys(state.keyring.clone(), refresh_interval));
        axum::serve(listener, router)
            .with_graceful_shutdown(shutdown)
            .await?;
        refresher.abort();
        // Dropping the last handles lets the issuance writer drain and stop.
        drop(state);
        let _ = issuance_task.await;
        Ok(())
    }
}

async fn refresh_keys(keyring: Arc<Keyring>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = keyring.refresh().await {
            tracing::warn!(error = %e, "could not refresh the signing keyring");
        }
    }
}

async fn bootstrap_default_client(
    store: &dyn Store,
    now: i64,
) -> anyhow::Result<Option<Bootstrap>> {
    let client = Client {
        id: ClientId::generate(),
        name: "default".into(),
        created_at: now,
    };
    let (key_id, api_key) = PlainApiKey::generate();
    let record = ApiKeyRecord {
        id: key_id,
        client_id: client.id.clone(),
        digest: api_key.digest(),
        created_at: now,
        revoked_at: None,
    };
    let created = store.bootstrap_client(&client, &record).await?;
    Ok(created.then_some(Bootstrap {
        client_id: client.id,
        api_key,
    }))
}
