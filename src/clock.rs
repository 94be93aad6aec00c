//! Time as a port: `SystemClock` for real runs, `ManualClock` for tests and `sim`, where `sleep`
//! advances virtual time instead of waiting.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// The one source of "now" and "wait" in mcbot.
pub trait Clock: Send + Sync {
    /// Unix time in milliseconds, UTC.
    fn now_ms(&self) -> i64;
    /// Waits `ms` milliseconds (virtually, for a manual clock).
    fn sleep_ms(&self, ms: u64);
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // the one sanctioned wall-clock read
    fn now_ms(&self) -> i64 {
        let now = std::time::SystemTime::now();
        match now.duration_since(std::time::UNIX_EPOCH) {
            Ok(d) => i64::try_from(d.as_millis()).unwrap_or(i64::MAX),
            Err(_) => 0,
        }
    }
    #[allow(clippy::disallowed_methods)] // the one sanctioned real sleep
    fn sleep_ms(&self, ms: u64) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

/// A clock that only moves when told to (or when something sleeps on it). Clones share time.
#[derive(Debug, Clone, Default)]
pub struct ManualClock {
    now: Arc<AtomicI64>,
}

impl ManualClock {
    pub fn new(start_ms: i64) -> Self {
        ManualClock { now: Arc::new(AtomicI64::new(start_ms)) }
    }
    pub fn set_ms(&self, ms: i64) {
        self.now.store(ms, Ordering::SeqCst);
    }
    pub fn advance_ms(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now_ms(&self) -> i64 {
        self.now.load(Ordering::SeqCst)
    }
    fn sleep_ms(&self, ms: u64) {
        self.advance_ms(i64::try_from(ms).unwrap_or(i64::MAX));
    }
}

/// The exchange's clock against ours, as one time sync measured it: what a process starts with
/// instead of a fresh `/fapi/v1/time` round trip while it is young enough (issue 16 item 6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockSync {
    /// Exchange clock minus local clock, ms.
    pub offset_ms: i64,
    /// Local time of the measurement, ms.
    pub measured_ms: i64,
}

impl ClockSync {
    /// Measured at most `max_age_ms` before `now_ms` (and not in the future: a local clock that
    /// jumped back makes every older measurement suspect).
    pub fn is_fresh(&self, now_ms: i64, max_age_ms: i64) -> bool {
        let age = now_ms.saturating_sub(self.measured_ms);
        (0..=max_age_ms).contains(&age)
    }
}

/// RFC 3339 UTC text for a ms timestamp (CONTRACT §3: times are RFC 3339 UTC).
pub fn rfc3339(ms: i64) -> String {
    match chrono::DateTime::from_timestamp_millis(ms) {
        Some(t) => t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        None => format!("invalid-time({ms})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manual_clock_sleep_advances() {
        let c = ManualClock::new(1000);
        c.sleep_ms(250);
        assert_eq!(c.now_ms(), 1250);
        let d = c.clone();
        d.advance_ms(5);
        assert_eq!(c.now_ms(), 1255);
    }

    #[test]
    fn a_clock_sync_is_fresh_only_inside_its_age_and_never_from_the_future() {
        let s = ClockSync { offset_ms: -40, measured_ms: 10_000 };
        assert!(s.is_fresh(10_000, 600));
        assert!(s.is_fresh(10_600, 600));
        assert!(!s.is_fresh(10_601, 600));
        assert!(!s.is_fresh(9_999, 600), "measured after now: the local clock went back");
        assert!(!ClockSync { offset_ms: 0, measured_ms: i64::MIN }.is_fresh(i64::MAX, 600));
    }

    #[test]
    fn rfc3339_format() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00.000Z");
    }
}
