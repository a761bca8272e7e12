//! `tessera sandbox`: a pretend retailer and its connector, for trying Link end to end
//! without a real retailer, and the reference example of a connector.
//!
//! It is a client of tessera's connector API over HTTP and nothing more: it never touches
//! tessera's database or its internals, so everything it does, an operator's own connector
//! can do the same way. On start it adds its retailers to the catalogue
//! (`PUT /connector/retailers/{id}`) and registers its sign-in page for them
//! (`PUT /connector/link-url`); tessera then hands customers who pick one of them to
//! `{public-url}/sign-in?session=<reference>`, where [`server`] signs them in with the test
//! credentials in [`accounts`] and completes the session.
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context as _;

pub(crate) mod accounts;
pub(crate) mod client;
pub(crate) mod pages;
pub mod purchases;
pub(crate) mod server;

pub use client::Credential;
use client::{CallError, ConnectorClient};

/// The retailers the sandbox plays: (retailer_id, name).
pub const RETAILERS: [(&str, &str); 3] = [
    ("sandbox-books", "Sandbox Books"),
    ("sandbox-grocer", "Sandbox Grocer"),
    ("sandbox-outfitters", "Sandbox Outfitters"),
];

/// The longest wait between two start-up attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(4);

/// How the sandbox runs.
#[derive(Debug)]
pub struct Settings {
    /// tessera's API base (`http://127.0.0.1:8000`).
    pub tessera_url: String,
    pub credential: Credential,
    pub listen: SocketAddr,
    /// Where browsers reach the sandbox; `http://<listening address>` when not given.
    pub public_url: Option<String>,
    /// How long `user_expiring`'s connection stays active.
    pub expire_after: Duration,
    /// How long start-up keeps trying to reach tessera.
    pub retry_window: Duration,
}

/// A sandbox that has registered with tessera and is ready to serve.
pub struct Running {
    listener: tokio::net::TcpListener,
    state: Arc<server::Sandbox>,
    sign_in_url: String,
}

/// Listens, then registers the retailers and the sign-in page with tessera, trying again
/// while tessera is not reachable yet (it may be starting at the same time).
pub async fn start(settings: Settings) -> anyhow::Result<Running> {
    let client = ConnectorClient::new(&settings.tessera_url, &settings.credential)?;
    let listener = tokio::net::TcpListener::bind(settings.listen)
        .await
        .with_context(|| format!("--listen {}: cannot listen there", settings.listen))?;
    let public = match settings.public_url {
        Some(url) => url,
        None => format!("http://{}", listener.local_addr()?),
    };
    let sign_in_url = format!("{}/sign-in", public.trim_end_matches('/'));
    register(&client, &sign_in_url, settings.retry_window).await?;
    let state = Arc::new(server::Sandbox::new(client, settings.expire_after));
    Ok(Running { listener, state, sign_in_url })
}

impl Running {
    /// The line printed at start: where the sandbox serves, and the test credentials.
    pub fn announcement(&self) -> String {
        let ids: Vec<&str> = RETAILERS.iter().map(|(id, _)| *id).collect();
        format!(
            "tessera sandbox: sign-in page {} for {} (tessera {}); test credentials: user_good / {pw} (links), \
             user_otp / {pw} then code {code}, user_expiring / {pw} (unauthenticated after {secs} s)",
            self.sign_in_url,
            ids.join(", "),
            self.state.client.base(),
            pw = accounts::PASSWORD,
            code = accounts::OTP_CODE,
            secs = self.state.expire_after.as_secs(),
        )
    }

    /// Serves until `shutdown` resolves.
    pub async fn serve(self, shutdown: impl std::future::Future<Output = ()> + Send + 'static) -> anyhow::Result<()> {
        axum::serve(self.listener, server::router(self.state)).with_graceful_shutdown(shutdown).await?;
        Ok(())
    }
}

/// The start-up registration, tried again with backoff for up to `window` while tessera is
/// unreachable or briefly unavailable; any other refusal fails at once, saying what to fix.
async fn register(client: &ConnectorClient, sign_in_url: &str, window: Duration) -> anyhow::Result<()> {
    let deadline = Instant::now() + window;
    let mut delay = Duration::from_millis(250);
    loop {
        let (what, e) = match register_once(client, sign_in_url).await {
            Ok(()) => return Ok(()),
            Err(failure) => failure,
        };
        let now = Instant::now();
        if !e.is_transient() || now >= deadline {
            return Err(explain(client.base(), what, &e, window));
        }
        tracing::info!(error = %e, "sandbox: tessera is not answering yet; trying again");
        tokio::time::sleep(delay.min(deadline - now)).await;
        delay = (delay * 2).min(MAX_BACKOFF);
    }
}

/// Every retailer, then the sign-in page; on failure, which call failed and why.
async fn register_once(client: &ConnectorClient, sign_in_url: &str) -> Result<(), (&'static str, CallError)> {
    for (id, name) in RETAILERS {
        client.put_retailer(id, name).await.map_err(|e| ("PUT /connector/retailers/{retailer_id}", e))?;
    }
    let ids: Vec<&str> = RETAILERS.iter().map(|(id, _)| *id).collect();
    client.put_link_url(sign_in_url, &ids).await.map_err(|e| ("PUT /connector/link-url", e))
}

/// A start-up failure as a message that says what to do about it.
fn explain(base: &str, what: &str, e: &CallError, window: Duration) -> anyhow::Error {
    match e {
        CallError::Unreachable(cause) => anyhow::anyhow!(
            "tessera at {base} could not be reached within {} s ({cause}): start it (`tessera serve`) \
             or set --tessera-url to where it listens",
            window.as_secs_f32()
        ),
        CallError::Status { status: 401 | 403, detail } => anyhow::anyhow!(
            "tessera at {base} refused the connector credential ({detail}): set --connector-credential \
             to a live one (`tessera connector create --name sandbox` makes one)"
        ),
        CallError::Status { status: 404, .. } => anyhow::anyhow!(
            "tessera at {base} has no {what}: is --tessera-url tessera's API base, and is it a release with Link?"
        ),
        other => anyhow::anyhow!("{what} at {base}: {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn start_up_failures_say_what_to_fix() {
        let window = Duration::from_secs(30);
        let unreachable = explain("http://t", "x", &CallError::Unreachable("refused".into()), window).to_string();
        assert!(unreachable.contains("could not be reached within 30 s") && unreachable.contains("--tessera-url"));
        let refused = CallError::Status { status: 401, detail: "Invalid connector credential".into() };
        assert!(explain("http://t", "x", &refused, window).to_string().contains("--connector-credential"));
        let missing = CallError::Status { status: 404, detail: "Not Found".into() };
        assert!(explain("http://t", "PUT /connector/link-url", &missing, window).to_string().contains("link-url"));
    }

    #[test]
    fn the_settings_never_show_the_credential() {
        let settings = Settings {
            tessera_url: "http://127.0.0.1:8000".into(),
            credential: Credential::new("tsc_01J0000000000000000000000A_topsecretvalue").expect("valid"),
            listen: SocketAddr::from(([127, 0, 0, 1], 8100)),
            public_url: None,
            expire_after: Duration::from_secs(60),
            retry_window: Duration::from_secs(30),
        };
        assert!(!format!("{settings:?}").contains("topsecretvalue"));
    }
}
