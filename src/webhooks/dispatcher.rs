//! Delivering the outbox. Every replica runs one dispatcher: it claims due deliveries (a
//! lease, so replicas never send the same one at once, and a replica that dies mid-send
//! loses nothing: its lease runs out and another sends it), signs and posts each on a task of
//! its own with a per-attempt timeout, and records the outcome. A failure is retried with
//! exponential backoff and jitter until the retry window closes; a delivery still failing
//! then is given up, and an endpoint that delivered nothing in that whole window is turned
//! off. A slow or dead endpoint holds at most [`PER_ENDPOINT`] attempts at once, so it never
//! delays other endpoints, and the API never waits for any of this.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::Rng as _;

use super::destination::{GuardedResolver, Policy};
use super::signing;
use crate::crypto::kek::Kek;
use crate::domain::ids::WebhookId;
use crate::domain::webhook::{Attempt, ClaimedDelivery};
use crate::metrics::{DeliveryOutcome, Metrics};
use crate::storage::Store;
use crate::telemetry::Chain;
use crate::token::clock::Clock;

/// The most attempts in flight at once, in all.
const IN_FLIGHT: usize = 64;
/// The most attempts in flight to one endpoint.
pub(crate) const PER_ENDPOINT: usize = 4;
/// The longest wait between two attempts.
const MAX_BACKOFF_SECS: f64 = 3600.0;

/// How deliveries are made.
#[derive(Clone, Debug)]
pub(crate) struct Settings {
    pub policy: Policy,
    /// Longest wait for one attempt's answer.
    pub timeout: Duration,
    /// The wait before the second attempt; each later wait doubles (with ±20% jitter).
    pub retry_base: Duration,
    /// How long after its event a delivery is retried before it is given up.
    pub retry_window_secs: i64,
    /// How often the outbox is checked for due deliveries.
    pub poll: Duration,
}

/// The dispatcher of one process.
pub(crate) struct Dispatcher {
    store: Arc<dyn Store>,
    kek: Arc<Kek>,
    clock: Arc<dyn Clock>,
    metrics: Arc<Metrics>,
    settings: Settings,
    client: reqwest::Client,
    in_flight: Mutex<HashMap<WebhookId, usize>>,
}

impl Dispatcher {
    pub(crate) fn new(
        store: Arc<dyn Store>,
        kek: Arc<Kek>,
        clock: Arc<dyn Clock>,
        metrics: Arc<Metrics>,
        settings: Settings,
    ) -> anyhow::Result<Arc<Self>> {
        let mut client = reqwest::Client::builder()
            .timeout(settings.timeout)
            .connect_timeout(settings.timeout)
            // A redirect could lead anywhere: it counts as a failed attempt instead.
            .redirect(reqwest::redirect::Policy::none())
            .user_agent(concat!("tessera-webhooks/", env!("CARGO_PKG_VERSION")));
        if !settings.policy.allow_private {
            client = client.dns_resolver(Arc::new(GuardedResolver));
        }
        let client = client.build()?;
        Ok(Arc::new(Self { store, kek, clock, metrics, settings, client, in_flight: Mutex::new(HashMap::new()) }))
    }

    /// Delivers until `stop` turns true, then lets attempts under way finish.
    pub(crate) async fn run(self: Arc<Self>, mut stop: tokio::sync::watch::Receiver<bool>) {
        let mut tasks = tokio::task::JoinSet::new();
        let mut tick = tokio::time::interval(self.settings.poll);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut gauges_at = 0;
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.wait_for(|s| *s) => break,
            }
            while tasks.try_join_next().is_some() {}
            let now = self.clock.now();
            if now >= gauges_at {
                gauges_at = now + 5;
                if let Ok((depth, oldest)) = self.store.outbox_depth().await {
                    self.metrics.webhook_outbox(depth, oldest.map_or(0, |t| (now - t).max(0)));
                }
            }
            let room = IN_FLIGHT.saturating_sub(tasks.len());
            if room == 0 {
                continue;
            }
            let lease = now + i64::try_from(self.settings.timeout.as_secs()).unwrap_or(60) + 30;
            let claimed = match self.store.claim_deliveries(now, lease, u32::try_from(room).unwrap_or(64)).await {
                Ok(claimed) => claimed,
                Err(e) => {
                    tracing::warn!(error = %Chain(&e), "could not read the webhook outbox");
                    continue;
                }
            };
            for delivery in claimed {
                if !self.enter(&delivery.webhook_id) {
                    // That endpoint is busy enough: the next pass takes this one.
                    let _ = self.store.release_claim(&delivery.webhook_id, delivery.event_seq).await;
                    continue;
                }
                let this = self.clone();
                tasks.spawn(async move {
                    let webhook = delivery.webhook_id.clone();
                    this.deliver(delivery).await;
                    this.leave(&webhook);
                });
            }
        }
        let _ = tokio::time::timeout(self.settings.timeout + Duration::from_secs(1), async {
            while tasks.join_next().await.is_some() {}
        })
        .await;
    }

    fn enter(&self, webhook: &WebhookId) -> bool {
        let mut busy = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        let n = busy.entry(webhook.clone()).or_default();
        if *n >= PER_ENDPOINT {
            return false;
        }
        *n += 1;
        true
    }

    fn leave(&self, webhook: &WebhookId) {
        let mut busy = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(n) = busy.get_mut(webhook) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                busy.remove(webhook);
            }
        }
    }

    /// One attempt, and its outcome recorded.
    async fn deliver(&self, d: ClaimedDelivery) {
        let result = self.attempt(&d).await;
        let now = self.clock.now();
        let attempt = match result {
            Ok(status) if (200..300).contains(&status) => Attempt::Delivered { status },
            other => {
                let (status, error) = match other {
                    Ok(status) => (Some(status), format!("answered {status}")),
                    Err(error) => (None, error),
                };
                let retry_at = now + self.backoff_secs(d.attempts + 1);
                let open = retry_at <= d.event.created_at + self.settings.retry_window_secs;
                Attempt::Failed { status, error, retry_at: open.then_some(retry_at) }
            }
        };
        let outcome = match &attempt {
            Attempt::Delivered { .. } => DeliveryOutcome::Delivered,
            Attempt::Failed { retry_at: Some(_), .. } => DeliveryOutcome::Retried,
            Attempt::Failed { retry_at: None, error, .. } => {
                tracing::warn!(webhook = %d.webhook_id, event = %d.event.id, %error, "gave up a webhook delivery");
                DeliveryOutcome::GivenUp
            }
        };
        self.metrics.webhook_attempt(outcome);
        if let Err(e) = self.store.finish_delivery(&d.webhook_id, d.event_seq, &attempt, now).await {
            // Its lease runs out and the delivery is attempted again: at least once.
            tracing::warn!(error = %Chain(&e), webhook = %d.webhook_id, "could not record a webhook attempt");
        }
    }

    /// Posts the event, signed; the status answered, or why there was none.
    async fn attempt(&self, d: &ClaimedDelivery) -> Result<u16, String> {
        let url = super::destination::check_url(&d.url, self.settings.policy)?;
        let current = signing::open(&self.kek, &d.webhook_id, &d.secret_sealed).map_err(|e| e.to_string())?;
        let previous = match &d.previous_secret_sealed {
            Some(sealed) => Some(signing::open(&self.kek, &d.webhook_id, sealed).map_err(|e| e.to_string())?),
            None => None,
        };
        let mut secrets = vec![current.as_str()];
        secrets.extend(previous.as_ref().map(|p| p.as_str()));
        let body = d.event.body();
        let timestamp = self.clock.now();
        let response = self
            .client
            .post(url)
            .header("content-type", "application/json")
            .header("x-subtotal-timestamp", timestamp.to_string())
            .header("x-subtotal-signature", signing::header(&secrets, timestamp, &body))
            .body(body)
            .send()
            .await
            .map_err(|e| Chain(&e.without_url()).to_string())?;
        Ok(response.status().as_u16())
    }

    /// Seconds before the attempt after `attempts` failed ones: base × 2^(attempts - 1),
    /// at most an hour, within ±20%.
    fn backoff_secs(&self, attempts: i64) -> i64 {
        let exponent = i32::try_from(attempts.saturating_sub(1).clamp(0, 30)).unwrap_or(30);
        let base = self.settings.retry_base.as_secs_f64() * 2f64.powi(exponent);
        let jittered = base.min(MAX_BACKOFF_SECS) * rand::thread_rng().gen_range(0.8..1.2);
        // Whole seconds, at least one: small and positive, so the conversion is exact.
        #[expect(clippy::cast_possible_truncation, reason = "a few thousand seconds at most")]
        let secs = jittered.ceil().max(1.0) as i64;
        secs
    }
}
