//! [`Millis`]: a span of milliseconds checked once, where it enters (config validation), so the
//! code that adds it to a clock or hands it to a timer never converts or clamps it again
//! (issue 16 item 4).

use std::fmt;
use std::time::Duration;

/// A non-negative span of milliseconds, at most `u32::MAX` (about 49.7 days). Every conversion
/// it offers is lossless, and adding it to an epoch-ms clock reading cannot overflow an `i64`
/// for any clock before the year 292 million; [`Millis::after`] saturates all the same, so
/// even a nonsense clock reading yields a deadline, never a panic or a wrap into the past.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(u32);

impl Millis {
    pub const ZERO: Millis = Millis(0);

    pub const fn from_ms(ms: u32) -> Self {
        Millis(ms)
    }

    /// `None` when `ms` is negative or longer than a `Millis` can hold.
    pub fn new(ms: i64) -> Option<Self> {
        u32::try_from(ms).ok().map(Millis)
    }

    pub fn as_i64(self) -> i64 {
        i64::from(self.0)
    }

    pub fn as_u64(self) -> u64 {
        u64::from(self.0)
    }

    pub fn as_duration(self) -> Duration {
        Duration::from_millis(self.as_u64())
    }

    /// The epoch-ms instant this span after `now_ms`: where a timeout or a window ends.
    pub fn after(self, now_ms: i64) -> i64 {
        now_ms.saturating_add(self.as_i64())
    }
}

/// The bare number, as the config file spells it (messages add the unit themselves).
impl fmt::Display for Millis {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn holds_only_spans_that_fit() {
        assert_eq!(Millis::new(-1), None);
        assert_eq!(Millis::new(i64::from(u32::MAX) + 1), None);
        assert_eq!(Millis::new(0), Some(Millis::ZERO));
        let m = Millis::new(3_600_000).unwrap();
        assert_eq!((m.as_i64(), m.as_u64(), m.as_duration()), (3_600_000, 3_600_000, Duration::from_secs(3600)));
        assert_eq!(m.to_string(), "3600000");
    }

    #[test]
    fn a_deadline_never_wraps() {
        let m = Millis::from_ms(u32::MAX);
        assert_eq!(m.after(1_700_000_000_000), 1_700_000_000_000 + i64::from(u32::MAX));
        assert_eq!(m.after(i64::MAX - 1), i64::MAX);
        assert_eq!(Millis::from_ms(5).after(-10), -5);
    }
}
