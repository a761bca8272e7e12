//! The process's own figures, in the names Prometheus' client libraries give them: CPU time,
//! resident memory, open descriptors, start time (read from `/proc` on Linux).
use std::fmt::Write as _;

use super::text::header;

/// The usual `process_*` metrics, read from `/proc/self` (Linux only; elsewhere none).
#[derive(Debug, PartialEq)]
pub(super) struct ProcessStats {
    pub(super) cpu_seconds: f64,
    pub(super) resident_bytes: u64,
    pub(super) open_fds: u64,
    pub(super) start_time_seconds: f64,
}

/// Clock ticks per second in `/proc` times: USER_HZ, 100 on every Linux architecture tessera
/// runs on (as Prometheus' own clients assume).
const USER_HZ: f64 = 100.0;

impl ProcessStats {
    #[cfg(target_os = "linux")]
    pub(super) fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        let open_fds = u64::try_from(std::fs::read_dir("/proc/self/fd").ok()?.count()).ok()?;
        Self::parse(&stat, &status, &boot, open_fds)
    }

    #[cfg(not(target_os = "linux"))]
    pub(super) fn read() -> Option<Self> {
        None
    }

    /// From `/proc/self/stat`, `/proc/self/status` and `/proc/stat`'s texts.
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(super) fn parse(stat: &str, status: &str, boot: &str, open_fds: u64) -> Option<Self> {
        // The command name, in parentheses, may hold spaces: fields are counted after it,
        // from field 3 (the state).
        let fields: Vec<&str> = stat[stat.rfind(')')? + 1..].split_whitespace().collect();
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok());
        let ticks = field(14)? + field(15)?;
        let start_ticks = field(22)?;
        let rss_kib: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())?;
        let boot_time: u64 = boot.lines().find_map(|l| l.strip_prefix("btime ")).and_then(|v| v.trim().parse().ok())?;
        #[allow(clippy::cast_precision_loss)]
        Some(ProcessStats {
            cpu_seconds: ticks as f64 / USER_HZ,
            resident_bytes: rss_kib * 1024,
            open_fds,
            start_time_seconds: boot_time as f64 + start_ticks as f64 / USER_HZ,
        })
    }

    pub(super) fn render(&self, out: &mut String) {
        header(out, "process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds.");
        let _ = writeln!(out, "process_cpu_seconds_total {}", self.cpu_seconds);
        header(out, "process_resident_memory_bytes", "gauge", "Resident memory size in bytes.");
        let _ = writeln!(out, "process_resident_memory_bytes {}", self.resident_bytes);
        header(out, "process_open_fds", "gauge", "Number of open file descriptors.");
        let _ = writeln!(out, "process_open_fds {}", self.open_fds);
        header(out, "process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds.");
        let _ = writeln!(out, "process_start_time_seconds {}", self.start_time_seconds);
    }
}
