//! `tessera sandbox`: runs the sandbox retailer and its connector (see [`crate::sandbox`]),
//! a separate process that reaches tessera only through its connector API.
use std::net::SocketAddr;
use std::time::Duration;

use clap::Args;

use crate::sandbox::{self, Credential, Settings};

/// The sandbox's options. `Debug` never shows the credential.
#[derive(Args)]
#[command(after_help = "Test credentials (shown on the sign-in page too): user_good / pass_good links at once; \
user_otp / pass_good then asks for the code 123456; user_expiring / pass_good links, and --expire-after \
seconds later the sandbox reports the connection unauthenticated. Anything else: \"Wrong username or \
password\"; five failures end the sign-in as failed. Set RUST_LOG (e.g. RUST_LOG=debug) for more logging.")]
pub struct SandboxArgs {
    /// tessera's API base, as the sandbox reaches it (`serve`'s default address).
    #[arg(long, env = "TESSERA_URL", default_value = "http://127.0.0.1:8080")]
    pub tessera_url: String,

    /// A connector credential (tsc_...), made with `tessera connector create`.
    #[arg(long, env = "TESSERA_CONNECTOR_CREDENTIAL", hide_env_values = true)]
    pub connector_credential: String,

    /// Where the sandbox's sign-in page listens: HOST:PORT, :PORT or PORT.
    #[arg(long, env = "TESSERA_SANDBOX_LISTEN", default_value = "127.0.0.1:8100",
          value_parser = crate::config::parse_bind)]
    pub listen: SocketAddr,

    /// The sandbox's address as browsers reach it (default http://<listen address>).
    // Its own id: `serve`'s `public_url` from a configuration file is tessera's, not this.
    #[arg(id = "sandbox_public_url", long = "public-url", env = "TESSERA_SANDBOX_PUBLIC_URL")]
    pub public_url: Option<String>,

    /// Seconds user_expiring's connection stays active before the sandbox reports it unauthenticated.
    #[arg(long, env = "TESSERA_SANDBOX_EXPIRE_AFTER", default_value_t = 60,
          value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub expire_after: u64,

    /// Stop when the process that started this one is gone (set by `serve --sandbox`, so a
    /// server killed outright leaves no sandbox behind holding its port).
    #[arg(long, hide = true)]
    pub with_parent: bool,

    /// Seconds start-up keeps trying to reach tessera (for tests).
    #[arg(long, default_value_t = 30, hide = true, value_parser = clap::value_parser!(u64).range(1..=3600))]
    pub startup_retry_window: u64,
}

impl std::fmt::Debug for SandboxArgs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxArgs")
            .field("tessera_url", &self.tessera_url)
            .field("connector_credential", &"<redacted>")
            .field("listen", &self.listen)
            .field("public_url", &self.public_url)
            .field("expire_after", &self.expire_after)
            .finish_non_exhaustive()
    }
}

/// Checks the options, registers with tessera, prints where the sandbox serves, and serves
/// until SIGINT or SIGTERM.
pub(crate) async fn run(args: SandboxArgs) -> anyhow::Result<()> {
    crate::telemetry::init(crate::telemetry::LogFormat::Text);
    let args_with_parent = args.with_parent;
    let settings = settings(args)?;
    let running = sandbox::start(settings).await?;
    super::shared::announce(&running.announcement());
    let parent_gone = async move {
        if !args_with_parent {
            return std::future::pending().await;
        }
        let parent = std::os::unix::process::parent_id();
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        tracing::info!("the server that started the sandbox is gone: stopping");
    };
    running
        .serve(async move {
            tokio::select! {
                () = super::shared::shutdown_signal() => {},
                () = parent_gone => {},
            }
        })
        .await
}

/// The name of the connector credential `serve --sandbox` makes for the sandbox it starts.
pub(crate) const BESIDE_NAME: &str = "sandbox (serve --sandbox)";

/// The sandbox retailer started by `serve --sandbox`: a child process, a plain client of the
/// connector API like any connector, stopped when this is dropped (the server stops).
pub(crate) struct Beside {
    child: std::process::Child,
}

impl Beside {
    /// Makes the sandbox's credential (revoking the one the last start made) and starts
    /// `tessera sandbox` against `tessera_url`, the credential in its environment only.
    pub(crate) async fn start(state: &crate::service::AppState, tessera_url: &str) -> anyhow::Result<Self> {
        let (record, credential) =
            state.core.connectors().replace(crate::service::Actor::System, BESIDE_NAME, state.clock.now()).await?;
        let exe = std::env::current_exe().map_err(|e| anyhow::anyhow!("--sandbox: this program's path: {e}"))?;
        let child = std::process::Command::new(exe)
            .args(["sandbox", "--with-parent", "--tessera-url", tessera_url])
            .env("TESSERA_CONNECTOR_CREDENTIAL", credential.expose())
            .stdin(std::process::Stdio::null())
            .spawn()
            .map_err(|e| anyhow::anyhow!("--sandbox: could not start the sandbox: {e}"))?;
        tracing::info!(connector = %record.id, pid = child.id(), "started the sandbox retailer beside the server");
        Ok(Self { child })
    }

    /// `Some` with its exit status once the sandbox has stopped on its own.
    pub(crate) fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }
}

impl Drop for Beside {
    fn drop(&mut self) {
        if self.exited().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The options as the sandbox takes them, each checked with a message naming its flag.
fn settings(args: SandboxArgs) -> anyhow::Result<Settings> {
    let tessera_url = web_url("--tessera-url", &args.tessera_url)?;
    let public_url = args.public_url.as_deref().map(|u| web_url("--public-url", u)).transpose()?;
    Ok(Settings {
        tessera_url,
        credential: Credential::new(&args.connector_credential)?,
        listen: args.listen,
        public_url,
        expire_after: Duration::from_secs(args.expire_after),
        retry_window: Duration::from_secs(args.startup_retry_window),
    })
}

/// An http(s) URL without a trailing slash, or an error naming `flag`.
fn web_url(flag: &str, value: &str) -> anyhow::Result<String> {
    let parsed = url::Url::parse(value.trim()).map_err(|e| anyhow::anyhow!("{flag} {value:?}: {e}"))?;
    if !matches!(parsed.scheme(), "http" | "https") || parsed.host().is_none() {
        anyhow::bail!("{flag} {value:?}: expected an http or https URL such as http://127.0.0.1:8000");
    }
    if parsed.query().is_some() || parsed.fragment().is_some() {
        anyhow::bail!("{flag} {value:?}: a base URL has no query or fragment");
    }
    Ok(parsed.as_str().trim_end_matches('/').to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_checked_and_the_credential_never_shown() {
        assert_eq!(web_url("--tessera-url", "http://127.0.0.1:8000/").expect("ok"), "http://127.0.0.1:8000");
        assert_eq!(web_url("--public-url", "https://sb.example/shop/").expect("ok"), "https://sb.example/shop");
        for bad in ["127.0.0.1:8000", "ftp://x", "http://x/?a=1", "nonsense"] {
            assert!(web_url("--tessera-url", bad).is_err(), "{bad}");
        }
        let args = SandboxArgs {
            tessera_url: "http://127.0.0.1:8000".into(),
            connector_credential: "tsc_01J0000000000000000000000A_topsecret".into(),
            listen: SocketAddr::from(([127, 0, 0, 1], 8100)),
            public_url: None,
            expire_after: 60,
            with_parent: false,
            startup_retry_window: 30,
        };
        assert!(!format!("{args:?}").contains("topsecret"));
        let settings = settings(args).expect("valid");
        assert!(!format!("{settings:?}").contains("topsecret"));
    }
}
