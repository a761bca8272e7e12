//! The application: start-up (`App::build`) and the serve loop (`run_until`).
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use crate::auth::api_key::PlainApiKey;
use crate::auth::cache::ApiKeyCache;
use crate::config::{Place, ServeConfig};
use crate::crypto::kek::Kek;
use crate::domain::ids::ClientId;
use crate::http::tls::Certificates;
use crate::metrics::Metrics;
use crate::rate_limit::Limiter;
use crate::service::AppState;
use crate::service::state::AuthLimits;
use crate::service::state::Shared;
use crate::storage::Store;
use crate::token::clock::{Clock, ClockGuard};
use crate::token::issuance::{IssuanceLog, IssuanceWriter};
use crate::token::keyring::{KeyPolicy, Keyring, check_prepublish};
use crate::token::mint::Minter;
use crate::webhooks::destination::Policy;
use crate::webhooks::dispatcher::{Dispatcher, Settings};

/// The listeners a server serves on, bound before anything else happens at start-up.
pub struct Listeners {
    main: TcpListener,
    /// Listeners besides the main one: the console's, `/metrics`', or the admin one with both.
    sides: Vec<Side>,
    console_on_main: bool,
    metrics_on_main: bool,
    /// The certificate every listener presents, under --tls-cert.
    tls: Option<Arc<Certificates>>,
}

/// A listener besides the main one, and what it serves.
struct Side {
    listener: TcpListener,
    console: bool,
    metrics: bool,
}

impl Listeners {
    /// Reads the TLS certificate (when configured), binds the main listener and the ones the
    /// console and `/metrics` are placed on (see [`crate::config::place`]: off a main listener
    /// that is not loopback unless given their own), and warns about plain HTTP off loopback.
    pub async fn bind(config: &ServeConfig) -> anyhow::Result<Self> {
        let tls = match config.tls.files()? {
            Some((cert, key)) => Some(Certificates::load(&cert, &key)?),
            None => None,
        };
        let bind = |addr: SocketAddr, what: &'static str| async move {
            TcpListener::bind(addr).await.map_err(|e| anyhow::anyhow!("cannot listen on {addr} ({what}): {e}"))
        };
        let main = bind(config.listen.bind, "TESSERA_BIND / --bind").await?;
        let console = config.console_place();
        let metrics = config.metrics_place();
        let mut sides = Vec::new();
        let admin = [console, Some(metrics)].into_iter().flatten().find_map(|p| match p {
            Place::Admin(addr) => Some(addr),
            _ => None,
        });
        if let Some(addr) = admin {
            let what = "the admin listener for the console and /metrics, TESSERA_ADMIN_BIND / --admin-bind";
            sides.push(Side {
                listener: bind(addr, what).await?,
                console: matches!(console, Some(Place::Admin(_))),
                metrics: matches!(metrics, Place::Admin(_)),
            });
        }
        if let Some(Place::Own(addr)) = console {
            let listener = bind(addr, "TESSERA_CONSOLE_LISTEN / --console-listen").await?;
            sides.push(Side { listener, console: true, metrics: false });
        }
        if let Place::Own(addr) = metrics {
            let listener = bind(addr, "TESSERA_METRICS_BIND / --metrics-bind").await?;
            sides.push(Side { listener, console: false, metrics: true });
        }
        let listeners = Self {
            main,
            sides,
            console_on_main: console == Some(Place::Main),
            metrics_on_main: metrics == Place::Main,
            tls,
        };
        listeners.warn_exposure(config);
        Ok(listeners)
    }

    /// Says where the console and `/metrics` went when the main listener faces clients, and
    /// warns about every listener off loopback that serves plain HTTP.
    fn warn_exposure(&self, config: &ServeConfig) {
        if !config.listen.bind.ip().is_loopback() {
            for side in self.sides.iter().filter(|s| s.console || s.metrics) {
                if let Ok(addr) = side.listener.local_addr() {
                    let what = match (side.console, side.metrics) {
                        (true, true) => "the operator console and /metrics",
                        (true, false) => "the operator console",
                        _ => "/metrics",
                    };
                    tracing::info!(%addr, main = %config.listen.bind, "{what}: served here, not on the main listener");
                }
            }
        }
        if self.tls.is_some() {
            return;
        }
        let main = self.main.local_addr().ok();
        let sides = self.sides.iter().filter_map(|s| s.listener.local_addr().ok());
        for addr in main.into_iter().chain(sides).filter(|a| !a.ip().is_loopback()) {
            tracing::warn!(
                %addr,
                "serving plain HTTP off loopback: API keys and tokens cross the network unencrypted; set --tls-cert \
                 and --tls-key, or put a TLS-terminating proxy in front"
            );
        }
    }
}

/// The Link pages' rate limit per address: a burst of 60 pages, then two a second.
const LINK_RATE_PER_SEC: f64 = 2.0;
const LINK_BURST: u32 = 60;

/// The first client and key, created on an empty database.
pub struct Bootstrap {
    pub client_id: ClientId,
    pub api_key: PlainApiKey,
}

/// A built, bound application, ready to serve.
pub struct App {
    listener: TcpListener,
    sides: Vec<Side>,
    console_on_main: bool,
    metrics_on_main: bool,
    tls: Option<Arc<Certificates>>,
    tls_reload: Option<Duration>,
    /// The operator console (unless turned off).
    console: Option<crate::console::ConsoleState>,
    state: AppState,
    issuance_writer: IssuanceWriter,
    dispatcher: Arc<Dispatcher>,
    refresh_interval: Duration,
    retention: crate::retention::Settings,
    shutdown_grace: Duration,
    limits: crate::http::server::Limits,
    /// Set when this start created the default client and key.
    pub bootstrap: Option<Bootstrap>,
    /// The store, for the tasks that run beside the core (retention).
    store: Arc<dyn Store>,
}

impl App {
    /// Prepares the keyring, bootstraps an empty database, and binds the listeners.
    pub async fn build(
        config: &ServeConfig,
        store: Arc<dyn Store>,
        kek: Kek,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<App> {
        let listeners = Listeners::bind(config).await?;
        Self::build_on(config, listeners, store, kek, clock).await
    }

    /// [`App::build`] on listeners bound already (`serve` binds them before it opens or creates
    /// the database and its key-encryption key file, so a start that cannot listen leaves
    /// nothing behind).
    pub async fn build_on(
        config: &ServeConfig,
        listeners: Listeners,
        store: Arc<dyn Store>,
        kek: Kek,
        clock: Arc<dyn Clock>,
    ) -> anyhow::Result<App> {
        if let Some(token) = &config.metrics.metrics_token {
            token.check()?;
        }
        let Listeners { main: listener, sides, console_on_main, metrics_on_main, tls } = listeners;
        let (tokens, hooks) = (&config.tokens, &config.webhooks);
        let ttl = i64::from(tokens.token_ttl);
        check_prepublish(tokens.key_prepublish, tokens.key_refresh, "TESSERA_KEY_PREPUBLISH / --key-prepublish")
            .map_err(anyhow::Error::msg)?;
        let policy = KeyPolicy {
            prepublish_secs: i64::from(tokens.key_prepublish),
            rotation_period_secs: i64::from(tokens.key_rotation_period),
            // A retired key stays published for a full token lifetime plus five minutes' leeway.
            retired_publish_secs: ttl + 300,
        };
        let sealer = Arc::new(kek.clone());
        // The clock is judged before the keyring moves: a key is never activated, nor a
        // rotation scheduled, from a time the database's clock does not allow.
        let clock_guard = Arc::new(ClockGuard::new(
            clock.clone(),
            store.clone(),
            tokens.clock_max_skew,
            crate::token::verify::LEEWAY_SECS,
            tokens.clock_step_settle,
        ));
        clock_guard.measure().await;
        // From here on every part of the server takes its time from the guard: tessera's own
        // time, which a step of the system clock does not move.
        let clock: Arc<dyn Clock> = clock_guard.clone();
        let keyring = Arc::new(
            Keyring::open(store.clone(), kek, tokens.algorithm, clock.clone(), policy, Some(clock_guard.clone()))
                .await?,
        );
        // Last of all the start-up steps that can fail, so that a key created here is printed.
        let bootstrap = bootstrap_default_client(&crate::service::Core::new(store.clone(), clock.clone())).await?;
        let (issuance, issuance_writer) = IssuanceLog::start(store.clone())?;
        let minter = Arc::new(Minter {
            keyring: keyring.clone(),
            issuance,
            clock: clock.clone(),
            issuer: tokens.issuer.clone(),
            audience: tokens.audience.clone(),
            ttl_secs: ttl,
            customers: Default::default(),
            clock_guard: clock_guard.clone(),
        });
        let webhook_policy =
            Policy { allow_private: hooks.webhook_allow_private, allow_http: hooks.webhook_allow_http };
        let metrics = Arc::new(Metrics::with_routes(crate::http::routes::table().iter().map(|r| r.path)));
        let shared_limits = match &config.limits.rate_limit_store {
            Some(url) => Some(Arc::new(crate::rate_limit::shared::SharedStore::new(
                url,
                &config.limits.rate_limit_store_prefix,
                config.limits.rate_limit_store_down,
                metrics.clone(),
            )?)),
            None => None,
        };
        let shared = |name: &'static str| shared_limits.clone().map(|s| (s, name));
        let link = crate::service::link::Settings {
            public_url: config.public_base_url(listener.local_addr()?),
            session_ttl_secs: i64::from(config.link.link_session_ttl),
            allow_http: config.link.link_allow_http,
        };
        let core = Arc::new(crate::service::Core::serving(
            store.clone(),
            clock.clone(),
            sealer.clone(),
            link.clone(),
            crate::service::core::Serving { minter: minter.clone(), keyring: keyring.clone() },
        ));
        let state = AppState::new(Shared {
            core,
            minter,
            keyring,
            clock,
            clock_guard,
            metrics,
            body_timeout: Duration::from_secs(u64::from(config.limits.body_timeout)),
            limits: Arc::new(AuthLimits {
                per_key: Limiter::new(f64::from(config.limits.rate_limit), config.limits.rate_burst, shared("key")),
                auth_failures: Limiter::new(
                    f64::from(config.limits.auth_failure_rate),
                    config.limits.auth_failure_burst,
                    shared("auth-failures"),
                ),
                shared: shared_limits.clone(),
            }),
            key_cache: Arc::new(ApiKeyCache::new(10_000)),
            key_usage: Arc::default(),
            kek: sealer,
            metrics_token: config.metrics.metrics_token.clone().map(Arc::new),
            webhook_policy,
            partners: partner_issuers(config, &config.public_base_url(listener.local_addr()?))?,
            link,
        });
        let console = config.console.enabled.then(|| {
            crate::console::ConsoleState::new(
                state.clone(),
                crate::console::Settings {
                    idle_secs: i64::from(config.console.console_idle_timeout),
                    absolute_secs: i64::from(config.console.console_session_lifetime),
                    secure_cookie: config.console.console_secure_cookie
                        || tls.is_some()
                        || config.console.console_public_url.as_deref().is_some_and(|u| u.starts_with("https://"))
                        || (console_on_main
                            && config.listen.public_url.as_deref().is_some_and(|u| u.starts_with("https://"))),
                    algorithm: tokens.algorithm,
                    prepublish_secs: i64::from(tokens.key_prepublish),
                    // Ten failed sign-ins at once per address, then one every ten seconds.
                    sign_in_rate: 0.1,
                    sign_in_burst: 10,
                    retention: config.retention.settings(),
                },
            )
        });
        let dispatcher = Dispatcher::new(
            store.clone(),
            state.kek.clone(),
            state.clock.clone(),
            state.metrics.clone(),
            Settings {
                policy: webhook_policy,
                timeout: Duration::from_secs(u64::from(hooks.webhook_timeout)),
                retry_base: Duration::from_secs(u64::from(hooks.webhook_retry_base)),
                retry_window_secs: i64::from(hooks.webhook_retry_window),
                poll: Duration::from_millis(250),
            },
        )?;
        Ok(App {
            listener,
            sides,
            console_on_main,
            metrics_on_main,
            tls,
            tls_reload: (config.tls.tls_reload_interval > 0)
                .then(|| Duration::from_secs(u64::from(config.tls.tls_reload_interval))),
            console,
            state,
            store,
            issuance_writer,
            dispatcher,
            refresh_interval: Duration::from_secs(u64::from(tokens.key_refresh)),
            retention: config.retention.settings(),
            shutdown_grace: Duration::from_secs(u64::from(config.listen.shutdown_grace)),
            limits: crate::http::server::Limits {
                header_timeout: Duration::from_secs(u64::from(config.limits.header_timeout)),
                ..Default::default()
            },
            bootstrap,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        // A bound TCP listener always has a local address.
        self.listener.local_addr().expect("bound listener has an address")
    }

    /// The address of the listener besides the main one that serves `/metrics`, if any.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.sides.iter().find(|s| s.metrics).and_then(|s| s.listener.local_addr().ok())
    }

    /// The address of the listener besides the main one that serves the console, if any.
    pub fn console_addr(&self) -> Option<SocketAddr> {
        self.sides.iter().find(|s| s.console).and_then(|s| s.listener.local_addr().ok())
    }

    /// Whether the listeners serve HTTPS.
    pub fn tls(&self) -> bool {
        self.tls.is_some()
    }

    /// Whether the console is served (on the main listener or its own).
    pub fn console_enabled(&self) -> bool {
        self.console.is_some()
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Serves until `shutdown` completes; then stops accepting, lets in-flight requests finish
    /// within the grace period, and commits every queued issuance record before returning.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        let App {
            listener,
            sides,
            console_on_main,
            metrics_on_main,
            tls,
            tls_reload,
            console,
            state,
            store,
            issuance_writer,
            dispatcher,
            refresh_interval,
            retention,
            shutdown_grace,
            limits,
            ..
        } = self;
        let refresher = tokio::spawn(refresh_keys(state.keyring.clone(), refresh_interval));
        let clock_watch = tokio::spawn(state.clock_guard.clone().watch());
        let purger =
            tokio::spawn(crate::retention::run(store.clone(), state.clock.clone(), state.metrics.clone(), retention));
        let (stop_deliveries, deliveries_stopped) = tokio::sync::watch::channel(false);
        let deliveries = tokio::spawn(dispatcher.run(deliveries_stopped));
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            shutdown.await;
            let _ = stop_tx.send(true);
        });
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|s| *s).await;
        };

        let acceptor = match &tls {
            Some(certs) => Some(certs.acceptor()?),
            None => None,
        };
        let tls_watch = match tls {
            Some(certs) => tokio::spawn(certs.watch(tls_reload)),
            None => tokio::spawn(crate::http::tls::ignore_hangups()),
        };
        // The listeners besides the main one: the console's, /metrics', the admin one.
        let mut side_tasks = Vec::new();
        for side in sides {
            let router = match (&console, side.console, side.metrics) {
                (Some(console), true, metrics) => {
                    let router = crate::console::standalone_router(console.clone());
                    if metrics { router.merge(crate::http::metrics_router(state.clone())) } else { router }
                }
                (_, _, true) => crate::http::metrics_router(state.clone()),
                _ => continue,
            };
            side_tasks.push(tokio::spawn(crate::http::server::serve_on(
                side.listener,
                acceptor.clone(),
                router,
                limits,
                stopped(stop_rx.clone()),
                shutdown_grace,
            )));
        }
        let mut extra = axum::Router::new();
        if let (Some(console), true) = (console, console_on_main) {
            extra = extra.nest_service(crate::console::BASE, crate::console::router(console));
        }
        // The hosted Link pages: always on the main listener, where customers' browsers come.
        let link = crate::link::LinkState::new(state.clone(), LINK_RATE_PER_SEC, LINK_BURST);
        extra = extra.nest_service(crate::link::BASE, crate::link::router(link));
        let router = crate::http::router_with(state.clone(), metrics_on_main, extra);
        crate::http::server::serve_on(listener, acceptor, router, limits, stopped(stop_rx.clone()), shutdown_grace)
            .await;
        for t in side_tasks {
            t.abort();
        }
        tls_watch.abort();
        refresher.abort();
        clock_watch.abort();
        purger.abort();
        issuance_writer.shutdown().await;
        let _ = stop_deliveries.send(true);
        let _ = deliveries.await;
        tracing::info!("stopped: every issuance record is committed");
        Ok(())
    }
}

async fn refresh_keys(keyring: Arc<Keyring>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.tick().await;
    loop {
        tick.tick().await;
        if let Err(e) = keyring.refresh().await {
            tracing::warn!(error = %crate::telemetry::Chain(&e), "could not refresh the signing keyring");
        }
    }
}

async fn bootstrap_default_client(core: &crate::service::Core) -> anyhow::Result<Option<Bootstrap>> {
    let created = core.clients().bootstrap(core.now()).await?;
    Ok(created.map(|(client, api_key)| Bootstrap { client_id: client.id, api_key }))
}

/// The trusted authorization servers, when any is configured.
fn partner_issuers(
    config: &ServeConfig,
    public_url: &str,
) -> anyhow::Result<Option<Arc<crate::token::partners::Issuers>>> {
    let oauth = &config.oauth;
    if oauth.oauth_issuers.is_empty() {
        return Ok(None);
    }
    let settings = crate::token::partners::Settings {
        issuers: oauth.oauth_issuers.clone(),
        audience: oauth.oauth_audience.clone().unwrap_or_else(|| public_url.to_owned()),
        client_claim: oauth.oauth_client_claim.clone(),
        min_refetch: Duration::from_secs(u64::from(oauth.oauth_jwks_min_refetch)),
        timeout: Duration::from_secs(5),
        introspection: match (&oauth.oauth_introspection_client_id, &oauth.oauth_introspection_client_secret) {
            (Some(client_id), Some(secret)) => Some(crate::token::partners::IntrospectionClient {
                client_id: client_id.clone(),
                secret: secret.clone(),
            }),
            _ => None,
        },
        introspection_cache: Duration::from_secs(u64::from(oauth.oauth_introspection_cache)),
        opaque_prefixes: oauth.oauth_opaque_token_prefixes.clone(),
        require_at_jwt: oauth.oauth_require_at_jwt,
    };
    settings.check_opaque_prefixes()?;
    if settings.introspection.is_some() && settings.issuers.len() > 1 && settings.opaque_prefixes.is_empty() {
        tracing::warn!(
            "several trusted issuers and no --oauth-opaque-token-prefix: opaque access tokens are refused (each \
             is introspected at the one issuer its prefix names)"
        );
    }
    Ok(Some(Arc::new(crate::token::partners::Issuers::new(settings)?)))
}
