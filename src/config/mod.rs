//! Configuration: command-line flags, each with a `TESSERA_*` environment equivalent.
//! Values are checked at start-up, with messages that say what to fix.
//!
//! One module per concern, each a group of flags that `ServeConfig` flattens; each group has
//! its own heading in `--help` and its own section of the configuration file ([`SECTIONS`]).
use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Args;

use crate::telemetry::LogFormat;

mod console;
mod database;
mod limits;
mod link;
mod listen;
mod oauth;
mod parse;
mod retention;
mod tokens;
mod webhooks;

pub use console::{ConsoleArgs, console_base_url};
pub use database::{DEFAULT_DATABASE_URL, DatabaseArgs, KekArgs, KekSource, check_database_url, sqlite_file_beside};
pub use limits::LimitArgs;
pub use link::LinkArgs;
pub use listen::{DEFAULT_ADMIN_BIND, ListenArgs, MetricsArgs, Place, TlsArgs, place};
pub use oauth::OauthArgs;
pub use parse::{parse_bind, parse_public_url};
pub use retention::RetentionArgs;
pub use tokens::TokenArgs;
pub use webhooks::WebhookArgs;

/// A section of the configuration file: the settings under one `--help` heading.
#[derive(Clone, Copy, Debug)]
pub struct Section {
    /// The section's name in the file: `[tokens]`.
    pub name: &'static str,
    /// The heading its flags have in `tessera serve --help`.
    pub heading: &'static str,
    /// Taken off the front of a setting's name inside the section: `token_ttl` is `ttl`.
    pub prefixes: &'static [&'static str],
}

impl Section {
    /// A setting's key inside this section, from its name (the flag's field, `token_ttl`).
    pub fn key<'a>(&self, name: &'a str) -> &'a str {
        self.prefixes.iter().find_map(|p| name.strip_prefix(p)).unwrap_or(name)
    }
}

/// The configuration file's sections, in the order `tessera config example` prints them.
/// Settings under no heading (`log_format`, `sandbox`, `first_key_file`) stay at the top.
pub const SECTIONS: &[Section] = &[
    Section { name: "database", heading: database::HEADING, prefixes: &["database_", "db_"] },
    Section { name: "listen", heading: listen::HEADING, prefixes: &[] },
    Section { name: "tls", heading: listen::TLS_HEADING, prefixes: &["tls_"] },
    Section { name: "metrics", heading: listen::METRICS_HEADING, prefixes: &["metrics_"] },
    Section { name: "console", heading: console::HEADING, prefixes: &["console_"] },
    Section { name: "tokens", heading: tokens::HEADING, prefixes: &["token_"] },
    Section { name: "limits", heading: limits::HEADING, prefixes: &[] },
    Section { name: "oauth", heading: oauth::HEADING, prefixes: &["oauth_"] },
    Section { name: "webhooks", heading: webhooks::HEADING, prefixes: &["webhook_"] },
    Section { name: "link", heading: link::HEADING, prefixes: &["link_"] },
    Section { name: "retention", heading: retention::HEADING, prefixes: &["retention_"] },
];

/// Everything `tessera serve` needs: one group of flags per concern, each under its own
/// heading in `--help` and its own section of the configuration file (see [`SECTIONS`]).
#[derive(Args, Clone, Debug)]
pub struct ServeConfig {
    /// Log format: `text` for people, `json` for log pipelines. The level is set with the
    /// RUST_LOG environment variable (default `info`; e.g. RUST_LOG=debug, or
    /// RUST_LOG=info,tessera=debug).
    #[arg(long, env = "TESSERA_LOG_FORMAT", value_enum, ignore_case = true, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Also run the sandbox retailer (`tessera sandbox`) beside the server, as a child process
    /// with a connector credential of its own (made anew at each start, the last one revoked),
    /// for trying Link end to end. Its TESSERA_SANDBOX_* settings are taken from the
    /// environment. Not for production.
    #[arg(long, env = "TESSERA_SANDBOX", default_value_t = false, num_args = 0..=1,
          default_missing_value = "true", value_parser = clap::builder::BoolishValueParser::new())]
    pub sandbox: bool,

    /// Where the first start writes the default client's API key (a new file, mode 0600) when
    /// standard output is not a terminal (a service, a container, a pipe). Unset: beside a
    /// SQLite database (`tessera.db.first-api-key`), else in $STATE_DIRECTORY, else in the
    /// working directory. Set, the key goes to this file even when there is a terminal.
    #[arg(long, env = "TESSERA_FIRST_KEY_FILE")]
    pub first_key_file: Option<PathBuf>,

    // Each group after the ungrouped settings: a heading carries on to every flag after it.
    #[command(flatten, next_help_heading = listen::HEADING)]
    pub listen: ListenArgs,

    #[command(flatten, next_help_heading = listen::TLS_HEADING)]
    pub tls: TlsArgs,

    #[command(flatten, next_help_heading = listen::METRICS_HEADING)]
    pub metrics: MetricsArgs,

    #[command(flatten, next_help_heading = console::HEADING)]
    pub console: ConsoleArgs,

    #[command(flatten, next_help_heading = database::HEADING)]
    pub kek: KekArgs,

    #[command(flatten, next_help_heading = tokens::HEADING)]
    pub tokens: TokenArgs,

    #[command(flatten, next_help_heading = limits::HEADING)]
    pub limits: LimitArgs,

    #[command(flatten, next_help_heading = oauth::HEADING)]
    pub oauth: OauthArgs,

    #[command(flatten, next_help_heading = webhooks::HEADING)]
    pub webhooks: WebhookArgs,

    #[command(flatten, next_help_heading = link::HEADING)]
    pub link: LinkArgs,

    #[command(flatten, next_help_heading = retention::HEADING)]
    pub retention: RetentionArgs,
}

impl ServeConfig {
    /// tessera's public base URL (no trailing slash), given the main listener's address.
    pub fn public_base_url(&self, listening: SocketAddr) -> String {
        if let Some(url) = &self.listen.public_url {
            return url.clone();
        }
        let scheme = if self.tls.enabled() { "https" } else { "http" };
        format!("{scheme}://{}", listen::reachable(listening))
    }

    /// Where the operator console is served, when it is on.
    pub fn console_place(&self) -> Option<Place> {
        let listen = &self.listen;
        self.console.enabled.then(|| place(listen.bind, self.console.console_listen, listen.admin_bind))
    }

    /// Where `/metrics` is served.
    pub fn metrics_place(&self) -> Place {
        place(self.listen.bind, self.metrics.metrics_bind, self.listen.admin_bind)
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

    use super::{DEFAULT_ADMIN_BIND, DatabaseArgs, KekArgs, Place, ServeConfig, console_base_url, place};
    use crate::auth::metrics_token::MetricsToken;
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
        let mut config = ServeConfig::for_tests();
        config.metrics.metrics_token = Some(token);
        for shown in [format!("{config:?}"), format!("{config:#?}")] {
            assert!(!shown.contains(secret) && !shown.contains("s3cret"), "{shown}");
            assert!(shown.contains("MetricsToken(<redacted>)"), "{shown}");
        }
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
        config.listen.public_url = Some("https://tessera.example.com".into());
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
