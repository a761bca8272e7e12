//! Prometheus metrics, kept in-process and rendered in the text exposition format.
//!
//! Hand-written rather than a metrics crate: the set is small and fixed. The request series
//! of every route template in the route table are made at start-up, so a request counts itself
//! with a few atomic additions: no lock, no allocation.
//!
//! Every label value comes from a closed set, never from request bytes: the method is one of
//! the standard methods or [`OTHER_METHOD`], and the route is a route template or
//! [`UNMATCHED_ROUTE`]. A client sending endless distinct methods or paths therefore cannot
//! grow the series, the page, or the process.
use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use axum::http::Method;

use crate::storage::PoolStats;
use process::ProcessStats;
use requests::{BUCKETS, FixedSeries, METHOD_LABELS, RouteStats};
use text::{escape, header};

mod process;
mod requests;
#[cfg(test)]
mod tests;
mod text;

/// The method label of any method outside the standard ones.
pub const OTHER_METHOD: &str = "other";
/// The route label of a request no route template matched.
pub const UNMATCHED_ROUTE: &str = "<unmatched>";

/// The route template a front end nested as a whole service (the Link pages) answered with,
/// carried out on the response for the request log and metrics: that service's routes are
/// matched inside it, out of the outer router's sight.
#[derive(Clone, Copy, Debug)]
pub struct RouteLabel(pub &'static str);

/// A method's label: its name for the nine standard methods, else [`OTHER_METHOD`].
pub fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        Method::TRACE => "TRACE",
        Method::CONNECT => "CONNECT",
        _ => OTHER_METHOD,
    }
}

/// Every metric tessera exposes.
#[derive(Default)]
pub struct Metrics {
    /// By (method label, route template): both from closed sets.
    fixed: FixedSeries,
    /// Route templates outside the table (the console's, nested under it), by lock.
    other_routes: Mutex<BTreeMap<(&'static str, String), RouteStats>>,
    tokens_minted: AtomicU64,
    auth_failures: AtomicU64,
    rate_limited: AtomicU64,
    /// With a shared rate-limit store: whether it is configured, whether it answered last,
    /// and the checks decided without it.
    shared_limits_configured: std::sync::atomic::AtomicBool,
    shared_limits_down: std::sync::atomic::AtomicBool,
    shared_limits_fallbacks: AtomicU64,
    /// Webhook attempts by outcome: delivered, to be retried, given up.
    webhook_delivered: AtomicU64,
    webhook_retried: AtomicU64,
    webhook_given_up: AtomicU64,
    /// Undelivered webhook deliveries, and the age of the oldest, as last read.
    webhook_outbox_depth: std::sync::atomic::AtomicI64,
    webhook_oldest_age_secs: std::sync::atomic::AtomicI64,
    /// Per retained table: rows pruned, and the oldest row's age as last read.
    retention: Mutex<BTreeMap<&'static str, (u64, i64)>>,
}

/// How one webhook attempt ended, for the delivery counter.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeliveryOutcome {
    Delivered,
    Retried,
    GivenUp,
}

/// Totals since the process started, from [`Metrics::summary`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    pub requests: u64,
    pub client_errors: u64,
    pub server_errors: u64,
    pub rate_limited: u64,
    pub tokens_minted: u64,
    pub auth_failures: u64,
}

/// Values read at render time from elsewhere in the process.
pub struct Gauges {
    pub pool: PoolStats,
    pub issuance_queue_depth: usize,
    /// The clock's measured skew from the database's reference (seconds) and whether it is
    /// trusted; `None` where no guard runs.
    pub clock: Option<(f64, bool)>,
    /// The clock guard's states, each with whether it is the current one.
    pub clock_states: Vec<(&'static str, bool)>,
}

impl Metrics {
    /// Metrics with a series made now for each method label and each of `templates` (the
    /// route table's paths).
    pub fn with_routes(templates: impl IntoIterator<Item = &'static str>) -> Self {
        Self { fixed: FixedSeries::new(templates), ..Self::default() }
    }

    /// Every request series with a request in it, by (method, route).
    fn request_series(&self) -> BTreeMap<(&'static str, String), RouteStats> {
        let mut all = BTreeMap::new();
        for (m, method) in METHOD_LABELS.iter().enumerate() {
            for (r, route) in self.fixed.names.iter().enumerate() {
                let series = &self.fixed.series[m * self.fixed.names.len() + r];
                if series.count.load(Ordering::Relaxed) > 0 {
                    all.insert((*method, (*route).to_owned()), series.stats());
                }
            }
        }
        let others = self.other_routes.lock().unwrap_or_else(|p| p.into_inner());
        for (key, stats) in others.iter() {
            all.insert(
                key.clone(),
                RouteStats {
                    by_status: stats.by_status.clone(),
                    buckets: stats.buckets,
                    count: stats.count,
                    sum_secs: stats.sum_secs,
                },
            );
        }
        all
    }

    /// Counts one answered request under its method's label (see [`method_label`]) and its
    /// route template (never the raw path; [`UNMATCHED_ROUTE`] when no route matched).
    pub fn observe_request(&self, method: &Method, route: &str, status: u16, latency: Duration) {
        let method = method_label(method);
        if let Some(series) = self.fixed.get(method, route) {
            series.observe(status, latency);
            return;
        }
        let secs = latency.as_secs_f64();
        let mut routes = self.other_routes.lock().unwrap_or_else(|p| p.into_inner());
        let stats = routes.entry((method, route.to_owned())).or_default();
        *stats.by_status.entry(status).or_default() += 1;
        stats.count += 1;
        stats.sum_secs += secs;
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            stats.buckets[i] += 1;
        }
    }

    pub fn token_minted(&self) {
        self.tokens_minted.fetch_add(1, Ordering::Relaxed);
    }

    pub fn auth_failed(&self) {
        self.auth_failures.fetch_add(1, Ordering::Relaxed);
    }

    pub fn webhook_attempt(&self, outcome: DeliveryOutcome) {
        let counter = match outcome {
            DeliveryOutcome::Delivered => &self.webhook_delivered,
            DeliveryOutcome::Retried => &self.webhook_retried,
            DeliveryOutcome::GivenUp => &self.webhook_given_up,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The webhook outbox as last read: undelivered deliveries and the oldest one's age.
    pub fn webhook_outbox(&self, depth: i64, oldest_age_secs: i64) {
        self.webhook_outbox_depth.store(depth, Ordering::Relaxed);
        self.webhook_oldest_age_secs.store(oldest_age_secs, Ordering::Relaxed);
    }

    /// Counts `n` rows of `table` removed by retention.
    pub fn rows_pruned(&self, table: &'static str, n: u64) {
        let mut retention = self.retention.lock().unwrap_or_else(|p| p.into_inner());
        retention.entry(table).or_default().0 += n;
    }

    /// The age, in seconds, of `table`'s oldest row as retention last read it.
    pub fn oldest_row_age(&self, table: &'static str, secs: i64) {
        let mut retention = self.retention.lock().unwrap_or_else(|p| p.into_inner());
        retention.entry(table).or_default().1 = secs;
    }

    /// A shared rate-limit store is configured.
    pub fn shared_limits(&self, configured: bool) {
        self.shared_limits_configured.store(configured, Ordering::Relaxed);
    }

    /// The shared rate-limit store answered (`true`) or could not be reached.
    pub fn shared_limits_up(&self, up: bool) {
        self.shared_limits_down.store(!up, Ordering::Relaxed);
    }

    /// A rate-limit check decided without the shared store.
    pub fn shared_limits_fallback(&self) {
        self.shared_limits_fallbacks.fetch_add(1, Ordering::Relaxed);
    }

    pub fn rate_limited(&self) {
        self.rate_limited.fetch_add(1, Ordering::Relaxed);
    }

    /// Requests answered since start: all, with a 4xx, with a 5xx, and refused with 429; plus
    /// tokens minted and failed authentications (the console's overview).
    pub fn summary(&self) -> Summary {
        let routes = self.request_series();
        let mut out = Summary {
            tokens_minted: self.tokens_minted.load(Ordering::Relaxed),
            auth_failures: self.auth_failures.load(Ordering::Relaxed),
            ..Summary::default()
        };
        for stats in routes.values() {
            for (status, n) in &stats.by_status {
                out.requests += n;
                match status {
                    429 => {
                        out.client_errors += n;
                        out.rate_limited += n;
                    }
                    400..=499 => out.client_errors += n,
                    500..=599 => out.server_errors += n,
                    _ => {}
                }
            }
        }
        out
    }

    /// Rows removed by retention in this process, per retained table (tables retention has not
    /// touched yet count 0).
    pub fn rows_pruned_by_table(&self) -> Vec<(&'static str, u64)> {
        let retention = self.retention.lock().unwrap_or_else(|p| p.into_inner());
        crate::storage::retention::RULES
            .iter()
            .map(|r| (r.table, retention.get(r.table).map_or(0, |(n, _)| *n)))
            .collect()
    }

    /// The Prometheus text format.
    pub fn render(&self, gauges: &Gauges) -> String {
        let mut out = String::with_capacity(4096);
        let routes = self.request_series();
        header(
            &mut out,
            "tessera_http_requests_total",
            "counter",
            "HTTP requests answered, by method, route template and status.",
        );
        for ((method, route), stats) in routes.iter() {
            for (status, n) in &stats.by_status {
                let _ = writeln!(
                    out,
                    "tessera_http_requests_total{{method=\"{method}\",route=\"{}\",status=\"{status}\"}} {n}",
                    escape(route)
                );
            }
        }
        header(
            &mut out,
            "tessera_http_request_duration_seconds",
            "histogram",
            "Time to answer, by method and route template.",
        );
        for ((method, route), stats) in routes.iter() {
            let labels = format!("method=\"{method}\",route=\"{}\"", escape(route));
            let mut cumulative = 0;
            for (bound, n) in BUCKETS.iter().zip(stats.buckets) {
                cumulative += n;
                let _ = writeln!(
                    out,
                    "tessera_http_request_duration_seconds_bucket{{{labels},le=\"{bound}\"}} {cumulative}"
                );
            }
            let _ =
                writeln!(out, "tessera_http_request_duration_seconds_bucket{{{labels},le=\"+Inf\"}} {}", stats.count);
            let _ = writeln!(out, "tessera_http_request_duration_seconds_sum{{{labels}}} {}", stats.sum_secs);
            let _ = writeln!(out, "tessera_http_request_duration_seconds_count{{{labels}}} {}", stats.count);
        }
        drop(routes);
        let counters = [
            ("tessera_tokens_minted_total", "Connection tokens minted and durably recorded.", &self.tokens_minted),
            (
                "tessera_auth_failures_total",
                "Requests refused for a missing, unknown or revoked credential.",
                &self.auth_failures,
            ),
            ("tessera_rate_limited_requests_total", "Requests refused with 429 by a rate limit.", &self.rate_limited),
        ];
        for (name, help, value) in counters {
            header(&mut out, name, "counter", help);
            let _ = writeln!(out, "{name} {}", value.load(Ordering::Relaxed));
        }
        if self.shared_limits_configured.load(Ordering::Relaxed) {
            let up = u8::from(!self.shared_limits_down.load(Ordering::Relaxed));
            header(
                &mut out,
                "tessera_rate_limit_store_up",
                "gauge",
                "1 while the shared rate-limit store answers, 0 while limits are per process (or refuse).",
            );
            let _ = writeln!(out, "tessera_rate_limit_store_up {up}");
            header(
                &mut out,
                "tessera_rate_limit_store_fallbacks_total",
                "counter",
                "Rate-limit checks decided without the shared store because it could not be reached.",
            );
            let _ = writeln!(
                out,
                "tessera_rate_limit_store_fallbacks_total {}",
                self.shared_limits_fallbacks.load(Ordering::Relaxed)
            );
        }
        header(
            &mut out,
            "tessera_db_pool_connections",
            "gauge",
            "Database connections held by this process, by state.",
        );
        let in_use = gauges.pool.size.saturating_sub(gauges.pool.idle);
        let _ = writeln!(out, "tessera_db_pool_connections{{state=\"idle\"}} {}", gauges.pool.idle);
        let _ = writeln!(out, "tessera_db_pool_connections{{state=\"in_use\"}} {in_use}");
        header(&mut out, "tessera_db_pool_max_connections", "gauge", "The database pool's size limit.");
        let _ = writeln!(out, "tessera_db_pool_max_connections {}", gauges.pool.max);
        header(
            &mut out,
            "tessera_webhook_deliveries_total",
            "counter",
            "Webhook delivery attempts, by outcome: delivered (2xx), retried later, or given up.",
        );
        for (outcome, counter) in [
            ("delivered", &self.webhook_delivered),
            ("retried", &self.webhook_retried),
            ("given_up", &self.webhook_given_up),
        ] {
            let _ = writeln!(
                out,
                "tessera_webhook_deliveries_total{{outcome=\"{outcome}\"}} {}",
                counter.load(Ordering::Relaxed)
            );
        }
        header(&mut out, "tessera_webhook_outbox_depth", "gauge", "Webhook deliveries not yet delivered or given up.");
        let _ = writeln!(out, "tessera_webhook_outbox_depth {}", self.webhook_outbox_depth.load(Ordering::Relaxed));
        header(
            &mut out,
            "tessera_webhook_oldest_undelivered_age_seconds",
            "gauge",
            "Age of the oldest webhook delivery not yet delivered or given up.",
        );
        let _ = writeln!(
            out,
            "tessera_webhook_oldest_undelivered_age_seconds {}",
            self.webhook_oldest_age_secs.load(Ordering::Relaxed)
        );
        self.render_retention(&mut out);
        header(&mut out, "tessera_issuance_queue_depth", "gauge", "Issuance records waiting to be committed.");
        let _ = writeln!(out, "tessera_issuance_queue_depth {}", gauges.issuance_queue_depth);
        if let Some((skew, trusted)) = gauges.clock {
            header(
                &mut out,
                "tessera_clock_skew_seconds",
                "gauge",
                "This server's clock minus the database's reference (PostgreSQL's clock; on SQLite, the newest \
                 recorded time when behind it, else the size of an unconfirmed step).",
            );
            let _ = writeln!(out, "tessera_clock_skew_seconds {skew}");
            header(
                &mut out,
                "tessera_clock_trusted",
                "gauge",
                "1 while the clock may sign tokens, 0 while it may not.",
            );
            let _ = writeln!(out, "tessera_clock_trusted {}", u8::from(trusted));
            header(
                &mut out,
                "tessera_clock_state",
                "gauge",
                "1 for what the clock guard makes of the clock now: agreed (tokens are signed), stepped (a step \
                 not yet confirmed or undone), skewed (PostgreSQL: too far from the database server's clock), \
                 behind (SQLite: behind the newest recorded time).",
            );
            for (state, now) in &gauges.clock_states {
                let _ = writeln!(out, "tessera_clock_state{{state=\"{state}\"}} {}", u8::from(*now));
            }
        }
        header(
            &mut out,
            "tessera_build_info",
            "gauge",
            "The running release and the commit it was built from; always 1.",
        );
        let _ = writeln!(
            out,
            "tessera_build_info{{version=\"{}\",commit=\"{}\"}} 1",
            escape(env!("CARGO_PKG_VERSION")),
            escape(env!("TESSERA_COMMIT"))
        );
        if let Some(process) = ProcessStats::read() {
            process.render(&mut out);
        }
        out
    }
}

impl Metrics {
    /// One series per retained table from the start, zero until the first pass.
    fn render_retention(&self, out: &mut String) {
        let retention = self.retention.lock().unwrap_or_else(|p| p.into_inner());
        let of = |table: &str| retention.get(table).copied().unwrap_or_default();
        header(out, "tessera_retention_pruned_rows_total", "counter", "Rows removed by retention, by table.");
        for rule in crate::storage::retention::RULES {
            let _ =
                writeln!(out, "tessera_retention_pruned_rows_total{{table=\"{}\"}} {}", rule.table, of(rule.table).0);
        }
        header(
            out,
            "tessera_retention_oldest_row_age_seconds",
            "gauge",
            "Seconds since the oldest row of each retained table started to age (its token expired, its event \
             happened, its delivery ended), as the last pruning pass read it; at most about the table's window.",
        );
        for rule in crate::storage::retention::RULES {
            let _ = writeln!(
                out,
                "tessera_retention_oldest_row_age_seconds{{table=\"{}\"}} {}",
                rule.table,
                of(rule.table).1
            );
        }
    }
}
