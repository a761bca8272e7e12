//! Times as people read them.

/// Unix seconds as RFC 3339 in UTC (`2024-05-01T12:00:00Z`).
pub fn rfc3339(unix: i64) -> String {
    let days = unix.div_euclid(86_400);
    let secs = unix.rem_euclid(86_400);
    // Howard Hinnant's days-to-civil algorithm (proleptic Gregorian calendar).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}Z", secs / 3600, secs % 3600 / 60, secs % 60)
}

/// The boot-time clock in milliseconds: it counts time suspended and is never stepped (NTP
/// only slews it), so differences between two readings are true elapsed time.
pub fn boot_ms() -> i64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Boottime);
    t.tv_sec.saturating_mul(1000).saturating_add(t.tv_nsec / 1_000_000)
}

/// The wall-clock time ids are made from: the boot-time clock plus an offset taken from the
/// system clock at the first id, and moved only by the clock guard when it accepts a new
/// reading. A step of the system clock that the guard refuses never reaches an id, so ids
/// keep the order of their creation across the step and after a restart.
pub fn id_time() -> std::time::SystemTime {
    use std::sync::atomic::Ordering;
    let boot = boot_ms();
    let mut offset = ID_OFFSET_MS.load(Ordering::Relaxed);
    if offset == UNSET {
        let wall = wall_ms();
        // Only the first caller sets it; the others take what it set.
        offset = match ID_OFFSET_MS.compare_exchange(UNSET, wall - boot, Ordering::Relaxed, Ordering::Relaxed) {
            Ok(_) => wall - boot,
            Err(current) => current,
        };
    }
    let ms = u64::try_from(boot.saturating_add(offset)).unwrap_or(0);
    std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)
}

/// Moves the time ids are made from to `offset_ms` (the system clock minus the boot-time
/// clock), once the clock guard has accepted the system clock's reading.
pub fn adopt_id_offset(offset_ms: i64) {
    ID_OFFSET_MS.store(offset_ms, std::sync::atomic::Ordering::Relaxed);
}

const UNSET: i64 = i64::MIN;
static ID_OFFSET_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(UNSET);

/// The system clock in milliseconds since the Unix epoch.
pub fn wall_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .ok()
        .and_then(|d| i64::try_from(d.as_millis()).ok())
        .unwrap_or(0)
}
