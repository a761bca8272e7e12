//! The request series: by method label and route template, counted with atomics.
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{OTHER_METHOD, UNMATCHED_ROUTE};

/// Latency bucket upper bounds, in seconds.
pub(super) const BUCKETS: [f64; 12] = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0];

#[derive(Default)]
pub(super) struct RouteStats {
    pub(super) by_status: BTreeMap<u16, u64>,
    pub(super) buckets: [u64; BUCKETS.len()],
    pub(super) count: u64,
    pub(super) sum_secs: f64,
}

/// Every method label, in the order of the fixed series.
pub(super) const METHOD_LABELS: [&str; 10] =
    ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT", OTHER_METHOD];

/// The statuses tessera answers, counted without a lock; any other goes to a series' map.
pub(super) const STATUSES: [u16; 20] =
    [200, 201, 204, 301, 303, 304, 307, 400, 401, 403, 404, 405, 408, 409, 413, 422, 429, 431, 500, 503];

/// One (method, route template) series, counted with atomics.
#[derive(Default)]
pub(super) struct Series {
    pub(super) statuses: [AtomicU64; STATUSES.len()],
    pub(super) other_statuses: Mutex<BTreeMap<u16, u64>>,
    pub(super) buckets: [AtomicU64; BUCKETS.len()],
    pub(super) count: AtomicU64,
    pub(super) sum_nanos: AtomicU64,
}

impl Series {
    pub(super) fn observe(&self, status: u16, latency: Duration) {
        match STATUSES.iter().position(|s| *s == status) {
            Some(i) => {
                self.statuses[i].fetch_add(1, Ordering::Relaxed);
            }
            None => *self.other_statuses.lock().unwrap_or_else(|p| p.into_inner()).entry(status).or_default() += 1,
        }
        let secs = latency.as_secs_f64();
        if let Some(i) = BUCKETS.iter().position(|b| secs <= *b) {
            self.buckets[i].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_nanos.fetch_add(u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX), Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn stats(&self) -> RouteStats {
        let mut by_status = self.other_statuses.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for (status, n) in STATUSES.iter().zip(&self.statuses) {
            let n = n.load(Ordering::Relaxed);
            if n > 0 {
                by_status.insert(*status, n);
            }
        }
        RouteStats {
            by_status,
            buckets: std::array::from_fn(|i| self.buckets[i].load(Ordering::Relaxed)),
            count: self.count.load(Ordering::Relaxed),
            sum_secs: self.sum_nanos.load(Ordering::Relaxed) as f64 / 1e9,
        }
    }
}

/// The series made at start-up: one per method label and route template of the table (and
/// [`UNMATCHED_ROUTE`]).
#[derive(Default)]
pub(super) struct FixedSeries {
    pub(super) routes: std::collections::HashMap<&'static str, usize>,
    pub(super) names: Vec<&'static str>,
    pub(super) series: Vec<Series>,
}

impl FixedSeries {
    pub(super) fn new(templates: impl IntoIterator<Item = &'static str>) -> Self {
        let mut names: Vec<&'static str> = templates.into_iter().collect();
        names.push(UNMATCHED_ROUTE);
        names.sort_unstable();
        names.dedup();
        let routes = names.iter().enumerate().map(|(i, n)| (*n, i)).collect();
        let series = (0..names.len() * METHOD_LABELS.len()).map(|_| Series::default()).collect();
        Self { routes, names, series }
    }

    pub(super) fn get(&self, method: &'static str, route: &str) -> Option<&Series> {
        let r = *self.routes.get(route)?;
        let m = METHOD_LABELS.iter().position(|l| *l == method)?;
        self.series.get(m * self.names.len() + r)
    }
}
