//! Configuration: command-line flags, each with a `TESSERA_*` environment equivalent.
//! Values are checked at start-up, with messages that say what to fix.
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::auth::metrics_token::MetricsToken;
use crate::telemetry::LogFormat;
use crate::token::keyring::Algorithm;

mod console;
mod database;
mod listen;
mod parse;

pub use console::{ConsoleArgs, console_base_url};
pub use database::{DEFAULT_DATABASE_URL, DatabaseArgs, KekArgs, KekSource, check_database_url, sqlite_file_beside};
pub use listen::{DEFAULT_ADMIN_BIND, Place, TlsArgs, place};
use parse::{parse_algorithm, parse_issuer, parse_opaque_prefix};
pub use parse::{parse_bind, parse_public_url};

/// Everything `tessera serve` needs.
#[derive(Args, Clone, Debug)]
pub struct ServeConfig {
    /// Address to listen on: HOST:PORT (a name is resolved, e.g. localhost:8080), or :PORT or
    /// PORT alone for 127.0.0.1:PORT. Port 0 picks a free port.
    #[arg(long, env = "TESSERA_BIND", default_value = "127.0.0.1:8080", value_parser = parse_bind)]
    pub bind: SocketAddr,

    /// The `iss` claim of minted tokens.
    #[arg(long, env = "TESSERA_ISSUER", default_value = "tessera")]
    pub issuer: String,

    /// The `aud` claim of minted tokens.
    #[arg(long, env = "TESSERA_AUDIENCE", default_value = "subtotal")]
    pub audience: String,

    /// Signing algorithm: EdDSA (Ed25519, published in the JWKS) or HS256 (a shared secret).
    #[arg(long, env = "TESSERA_ALGORITHM", default_value = "EdDSA", value_parser = parse_algorithm)]
    pub algorithm: Algorithm,

    /// Token lifetime in seconds (60 to 86400).
    #[arg(long, env = "TESSERA_TOKEN_TTL", default_value_t = 900,
          value_parser = clap::value_parser!(u32).range(60..=86_400))]
    pub token_ttl: u32,

    /// Seconds between re-reads of the signing keyring (picks up rotations by other processes).
    #[arg(long, env = "TESSERA_KEY_REFRESH", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub key_refresh: u32,

    /// Seconds the clock may differ from the database's before tokens are refused: from
    /// PostgreSQL's clock either way, or (SQLite) by a step while serving; a clock behind the
    /// newest recorded time by more than the verifiers' leeway (60 s) is refused too. 0 turns
    /// the check off.
    #[arg(long, env = "TESSERA_CLOCK_MAX_SKEW", default_value_t = 5,
          value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub clock_max_skew: u32,

    /// Seconds a step of the clock must hold, on SQLite (which has no clock of its own to ask),
    /// before tessera takes it as a correction rather than a fault. Until then, and while a
    /// step is not confirmed by PostgreSQL's clock, tokens are refused and tessera keeps its
    /// own time.
    #[arg(long, env = "TESSERA_CLOCK_STEP_SETTLE", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(1..=86_400))]
    pub clock_step_settle: u32,

    /// Seconds a new signing key is published in the JWKS before it signs. Must be at least
    /// the JWKS cache lifetime (300) plus --key-refresh, so no verifier meets an unknown key.
    #[arg(long, env = "TESSERA_KEY_PREPUBLISH", default_value_t = 600,
          value_parser = clap::value_parser!(u32).range(0..=31_536_000))]
    pub key_prepublish: u32,

    /// Seconds between automatic signing-key rotations (default 30 days); 0 turns them off.
    #[arg(long, env = "TESSERA_KEY_ROTATION_PERIOD", default_value_t = 2_592_000,
          value_parser = clap::value_parser!(u32).range(0..=315_360_000))]
    pub key_rotation_period: u32,

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
    #[arg(long, env = "TESSERA_RATE_LIMIT_STORE_DOWN", value_enum, default_value_t = crate::rate_limit::shared::WhenDown::Open)]
    pub rate_limit_store_down: crate::rate_limit::shared::WhenDown,

    /// Serve `/metrics` on this separate address instead of the main listener (written as for
    /// --bind).
    #[arg(long, env = "TESSERA_METRICS_BIND", value_parser = parse_bind)]
    pub metrics_bind: Option<SocketAddr>,

    /// A secret that `/metrics` requires as `Authorization: Bearer <token>` (401 otherwise):
    /// 16 to 256 printable ASCII characters without spaces, e.g. `openssl rand -hex 32`.
    /// Unset, `/metrics` needs no credential.
    #[arg(long, env = "TESSERA_METRICS_TOKEN", hide_env_values = true, value_parser = MetricsToken::from_arg)]
    pub metrics_token: Option<MetricsToken>,

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

    /// tessera's address as customers' browsers reach it (e.g. https://link.example.com):
    /// Link URLs are `{public-url}/link/<token>`, and the connector sends customers back to
    /// `{public-url}/link/return`. Unset: http:// and the main listener's address.
    #[arg(long, env = "TESSERA_PUBLIC_URL", value_parser = parse_public_url)]
    pub public_url: Option<String>,

    /// A trusted OAuth authorization server's issuer URL (repeat the flag, or separate by
    /// commas in TESSERA_OAUTH_ISSUERS): partner apps' JWT access tokens it issues are accepted
    /// as `Authorization: Bearer`. Its metadata is discovered at
    /// /.well-known/oauth-authorization-server or OpenID Connect discovery. None: bearer tokens
    /// are API keys only.
    #[arg(long = "oauth-issuer", env = "TESSERA_OAUTH_ISSUERS", value_delimiter = ',', value_parser = parse_issuer)]
    pub oauth_issuers: Vec<String>,

    /// The audience partner access tokens must name in `aud` (default: the public URL).
    #[arg(long, env = "TESSERA_OAUTH_AUDIENCE")]
    pub oauth_audience: Option<String>,

    /// The claim of a partner access token that names the tessera client it acts for.
    #[arg(long, env = "TESSERA_OAUTH_CLIENT_CLAIM", default_value = crate::token::partners::DEFAULT_CLIENT_CLAIM)]
    pub oauth_client_claim: String,

    /// The least seconds between two fetches of an issuer's JWKS caused by tokens naming an
    /// unknown `kid` (a rotation is picked up after at most this long; forged kids cannot make
    /// tessera fetch more often).
    #[arg(long, env = "TESSERA_OAUTH_JWKS_MIN_REFETCH", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub oauth_jwks_min_refetch: u32,

    /// tessera's own client id at the trusted issuers' introspection endpoints (RFC 7662): with
    /// its secret, opaque partner access tokens are accepted and checked there.
    #[arg(long, env = "TESSERA_OAUTH_INTROSPECTION_CLIENT_ID", requires = "oauth_introspection_client_secret")]
    pub oauth_introspection_client_id: Option<String>,

    /// That client's secret.
    #[arg(long, env = "TESSERA_OAUTH_INTROSPECTION_CLIENT_SECRET", hide_env_values = true,
          requires = "oauth_introspection_client_id",
          value_parser = crate::token::partners::ClientSecret::from_arg)]
    pub oauth_introspection_client_secret: Option<crate::token::partners::ClientSecret>,

    /// Which trusted issuer an opaque access token is introspected at, as ISSUER=PREFIX
    /// (repeat the flag, or separate by commas): a token starting with PREFIX goes to ISSUER
    /// only (the longest matching prefix wins), and ISSUER= (empty prefix) takes every opaque
    /// token no prefix claims. Unset: with one trusted issuer, that issuer; with several,
    /// opaque tokens are refused. An opaque token is never sent to more than one issuer.
    #[arg(long = "oauth-opaque-token-prefix", env = "TESSERA_OAUTH_OPAQUE_TOKEN_PREFIXES", value_delimiter = ',',
          value_parser = parse_opaque_prefix)]
    pub oauth_opaque_token_prefixes: Vec<(String, String)>,

    /// Refuse partner JWT access tokens whose header `typ` is not `at+jwt` (RFC 9068). Off by
    /// default: Keycloak, for one, types its access tokens `JWT`.
    #[arg(long, env = "TESSERA_OAUTH_REQUIRE_AT_JWT", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub oauth_require_at_jwt: bool,

    /// The longest seconds an active introspection answer is reused (never past the token's
    /// exp): a token revoked at the authorization server is refused after at most this long.
    #[arg(long, env = "TESSERA_OAUTH_INTROSPECTION_CACHE", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub oauth_introspection_cache: u32,

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

    /// Also run the sandbox retailer (`tessera sandbox`) beside the server, as a child process
    /// with a connector credential of its own (made anew at each start, the last one revoked),
    /// for trying Link end to end. Its TESSERA_SANDBOX_* settings are taken from the
    /// environment. Not for production.
    #[arg(long, env = "TESSERA_SANDBOX", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub sandbox: bool,

    /// Seconds an issuance record is kept after its token expires (default 7 days: a misused
    /// token reported within a week can still be traced to its key and connection). At least
    /// 60: a token still verifies for 60 s past its expiry.
    #[arg(long, env = "TESSERA_RETENTION_ISSUANCE", default_value_t = 604_800,
          value_parser = clap::value_parser!(u32).range(60..=315_360_000))]
    pub retention_issuance: u32,

    /// Seconds an activity event (connection created, changed, deleted, token revoked) is
    /// kept (default 90 days).
    #[arg(long, env = "TESSERA_RETENTION_EVENTS", default_value_t = 7_776_000,
          value_parser = clap::value_parser!(u32).range(0..=315_360_000))]
    pub retention_events: u32,

    /// Seconds a webhook delivery, and its event, are kept after it was delivered or given up
    /// (default 30 days); pending deliveries are never removed.
    #[arg(long, env = "TESSERA_RETENTION_WEBHOOKS", default_value_t = 2_592_000,
          value_parser = clap::value_parser!(u32).range(0..=315_360_000))]
    pub retention_webhooks: u32,

    /// Seconds between pruning passes, which remove rows past their retention; 0 turns
    /// pruning off.
    #[arg(long, env = "TESSERA_PRUNE_INTERVAL", default_value_t = 60,
          value_parser = clap::value_parser!(u32).range(0..=86_400))]
    pub prune_interval: u32,

    /// Rows one pruning transaction deletes at most.
    #[arg(long, env = "TESSERA_PRUNE_BATCH", default_value_t = 500,
          value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub prune_batch: u32,

    /// Seconds in-flight requests get to finish after SIGTERM or SIGINT.
    #[arg(long, env = "TESSERA_SHUTDOWN_GRACE", default_value_t = 30,
          value_parser = clap::value_parser!(u32).range(0..=3600))]
    pub shutdown_grace: u32,

    /// Seconds a client gets to send a request's headers (also how long an idle kept-alive
    /// connection stays open).
    #[arg(long, env = "TESSERA_HEADER_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub header_timeout: u32,

    /// Seconds to send a request's body before 408, on every route; bodies waiting are capped (429).
    #[arg(long, env = "TESSERA_BODY_TIMEOUT", default_value_t = 10,
          value_parser = clap::value_parser!(u32).range(1..=3600))]
    pub body_timeout: u32,

    /// Log format: `text` for people, `json` for log pipelines. The level is set with the
    /// RUST_LOG environment variable (default `info`; e.g. RUST_LOG=debug, or
    /// RUST_LOG=info,tessera=debug).
    #[arg(long, env = "TESSERA_LOG_FORMAT", value_enum, ignore_case = true, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// The admin listener: where the operator console and `/metrics` are served when the main
    /// listener is not loopback (unless --console-listen or --metrics-bind place them). Set, it
    /// takes them off a loopback main listener too. Unset: 127.0.0.1:8081, when needed.
    #[arg(long, env = "TESSERA_ADMIN_BIND", value_parser = parse_bind)]
    pub admin_bind: Option<SocketAddr>,

    /// Where the first start writes the default client's API key (a new file, mode 0600) when
    /// standard output is not a terminal (a service, a container, a pipe). Unset: beside a
    /// SQLite database (`tessera.db.first-api-key`), else in $STATE_DIRECTORY, else in the
    /// working directory. Set, the key goes to this file even when there is a terminal.
    #[arg(long, env = "TESSERA_FIRST_KEY_FILE")]
    pub first_key_file: Option<PathBuf>,

    #[command(flatten)]
    pub tls: TlsArgs,

    #[command(flatten)]
    pub kek: KekArgs,

    #[command(flatten)]
    pub console: ConsoleArgs,
}

impl ServeConfig {
    /// tessera's public base URL (no trailing slash), given the main listener's address.
    pub fn public_base_url(&self, listening: SocketAddr) -> String {
        if let Some(url) = &self.public_url {
            return url.clone();
        }
        let scheme = if self.tls.enabled() { "https" } else { "http" };
        format!("{scheme}://{}", listen::reachable(listening))
    }

    /// Where the operator console is served, when it is on.
    pub fn console_place(&self) -> Option<Place> {
        self.console.enabled.then(|| place(self.bind, self.console.console_listen, self.admin_bind))
    }

    /// Where `/metrics` is served.
    pub fn metrics_place(&self) -> Place {
        place(self.bind, self.metrics_bind, self.admin_bind)
    }

    /// How the pruner runs.
    pub fn retention(&self) -> crate::retention::Settings {
        crate::retention::Settings {
            windows: crate::storage::retention::Windows {
                issuance: i64::from(self.retention_issuance),
                events: i64::from(self.retention_events),
                webhooks: i64::from(self.retention_webhooks),
            },
            interval: (self.prune_interval > 0).then(|| std::time::Duration::from_secs(u64::from(self.prune_interval))),
            batch: self.prune_batch,
            pause: std::time::Duration::from_millis(10),
        }
    }

    /// A configuration for tests: an ephemeral port, and every other setting's default as
    /// the flags declare it.
    pub fn for_tests() -> Self {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            serve: ServeConfig,
        }
        <Flags as clap::Parser>::try_parse_from(["tessera", "--bind", "127.0.0.1:0"]).expect("the defaults parse").serve
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::{DEFAULT_ADMIN_BIND, DatabaseArgs, KekArgs, MetricsToken, Place, ServeConfig, console_base_url, place};
    use crate::storage::DatabaseUrl;

    #[test]
    fn metrics_tokens_are_checked_compared_and_never_shown() {
        let secret = "s3cret-metrics-token-0123456789";
        let token = MetricsToken::new(secret).expect("a good token");
        assert!(token.matches(secret.as_bytes()));
        assert!(!token.matches(b"s3cret-metrics-token-012345678"));
        assert!(!token.matches(b""));
        for bad in ["", "short", "has a space in the token", &"x".repeat(257), "t\u{e9}t\u{e9}-0123456789abcdef"] {
            let err = MetricsToken::new(bad).expect_err("refused").to_string();
            assert!(err.contains("TESSERA_METRICS_TOKEN"), "{err}");
            assert!(bad.is_empty() || !err.contains(bad), "the message never repeats the value");
        }
        let config = ServeConfig { metrics_token: Some(token), ..ServeConfig::for_tests() };
        for shown in [format!("{config:?}"), format!("{config:#?}")] {
            assert!(!shown.contains(secret) && !shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("MetricsToken(<redacted>)"), "{shown}");
        }
    }

    #[test]
    fn retention_settings_default_as_documented_and_refuse_a_window_shorter_than_the_leeway() {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            serve: ServeConfig,
        }
        let parse = |args: &[&str]| {
            <Flags as clap::Parser>::try_parse_from(["tessera"].iter().chain(args)).map(|f| f.serve.retention())
        };
        let defaults = parse(&[]).expect("defaults");
        assert_eq!(defaults.windows, crate::storage::retention::Windows::default());
        assert_eq!(defaults.interval, Some(std::time::Duration::from_secs(60)));
        assert_eq!(defaults.batch, 500);
        let set = parse(&["--retention-issuance", "120", "--retention-events", "0", "--prune-interval", "0"])
            .expect("settings");
        assert_eq!(set.windows.issuance, 120);
        assert_eq!(set.windows.events, 0);
        assert_eq!(set.interval, None, "0 turns pruning off");
        let leeway = crate::storage::retention::TOKEN_LEEWAY_SECS;
        assert_eq!(leeway, crate::token::verify::LEEWAY_SECS, "records outlive every token that still verifies");
        assert_eq!(crate::storage::retention::IDEMPOTENCY_TTL_SECS, crate::http::idempotency::TTL_SECS);
        assert!(parse(&["--retention-issuance", "59"]).is_err());
        assert!(parse(&["--prune-batch", "0"]).is_err());
    }

    #[test]
    fn the_console_and_metrics_leave_a_public_main_listener_for_the_admin_one() {
        let addr = |s: &str| s.parse::<SocketAddr>().expect("addr");
        let (public, local, own) = (addr("0.0.0.0:8080"), addr("127.0.0.1:8080"), addr("10.0.0.5:9090"));
        assert_eq!(place(local, None, None), Place::Main);
        assert_eq!(place(public, None, None), Place::Admin(DEFAULT_ADMIN_BIND));
        assert_eq!(DEFAULT_ADMIN_BIND, addr("127.0.0.1:8081"));
        assert_eq!(place(public, Some(own), None), Place::Own(own), "asked for: served there");
        assert_eq!(place(local, None, Some(addr("127.0.0.1:9000"))), Place::Admin(addr("127.0.0.1:9000")));

        // Under TLS every URL tessera builds is https, so Link's cookie is Secure.
        let mut config = ServeConfig::for_tests();
        assert_eq!(config.public_base_url(addr("0.0.0.0:8443")), "http://127.0.0.1:8443");
        config.tls.tls_cert = Some("cert.pem".into());
        config.tls.tls_key = Some("key.pem".into());
        assert_eq!(config.public_base_url(addr("0.0.0.0:8443")), "https://127.0.0.1:8443");
        config.public_url = Some("https://tessera.example.com".into());
        assert_eq!(config.public_base_url(addr("0.0.0.0:8443")), "https://tessera.example.com");
        let console = &config.console;
        let url = |on_main, tls| console_base_url(console, Some("https://t.example"), on_main, DEFAULT_ADMIN_BIND, tls);
        assert_eq!(url(true, false), "https://t.example/console");
        assert_eq!(url(false, true), "https://127.0.0.1:8081/console");
        assert_eq!(url(false, false), "http://127.0.0.1:8081/console");
        config.tls.tls_key = None;
        assert!(config.tls.files().expect_err("half a pair").to_string().contains("--tls-key"));
    }

    #[test]
    fn debug_output_never_shows_the_kek_or_a_database_password() {
        let kek = "dGVzc2VyYS10ZXN0LWtlay0zMi1ieXRlcy1leGFjdCE=";
        let config = ServeConfig { kek: KekArgs { kek: Some(kek.into()), kek_file: None }, ..ServeConfig::for_tests() };
        let db = DatabaseArgs {
            database_url: DatabaseUrl::new("postgres://app:hunter2@db/tessera"),
            db_pool_size: 8,
            db_timeout: 5,
        };
        for shown in [format!("{config:?}"), format!("{config:#?}"), format!("{db:?}"), format!("{db:#?}")] {
            assert!(!shown.contains(kek) && !shown.contains("hunter2"), "{shown}");
        }
        assert!(format!("{config:?}").contains("<redacted>"));
        assert!(format!("{db:?}").contains("app:***@db"));
    }
}
