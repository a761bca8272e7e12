//! How long records are kept, and how the pruner that removes older ones runs.
use std::time::Duration;

use clap::Args;

/// The help heading of these flags, and the configuration file's `[retention]` section.
pub(super) const HEADING: &str = "Retention";

/// Retention windows for issuance records, events and webhook deliveries; the pruner's pace.
#[derive(Args, Clone, Debug)]
pub struct RetentionArgs {
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
}

impl RetentionArgs {
    /// How the pruner runs.
    pub fn settings(&self) -> crate::retention::Settings {
        crate::retention::Settings {
            windows: crate::storage::retention::Windows {
                issuance: i64::from(self.retention_issuance),
                events: i64::from(self.retention_events),
                webhooks: i64::from(self.retention_webhooks),
            },
            interval: (self.prune_interval > 0).then(|| Duration::from_secs(u64::from(self.prune_interval))),
            batch: self.prune_batch,
            pause: Duration::from_millis(10),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::RetentionArgs;

    #[test]
    fn retention_settings_default_as_documented_and_refuse_a_window_shorter_than_the_leeway() {
        #[derive(clap::Parser)]
        struct Flags {
            #[command(flatten)]
            retention: RetentionArgs,
        }
        let parse = |args: &[&str]| {
            <Flags as clap::Parser>::try_parse_from(["tessera"].iter().chain(args)).map(|f| f.retention.settings())
        };
        let defaults = parse(&[]).expect("defaults");
        assert_eq!(defaults.windows, crate::storage::retention::Windows::default());
        assert_eq!(defaults.interval, Some(Duration::from_secs(60)));
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
}
