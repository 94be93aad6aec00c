//! Which journal events become operator alerts, at what level, and when an undelivered alert is
//! retried or given up (CONTRACT §12). Pure: the store calls it while appending an audit event.

use serde::Serialize;

/// An alert's level; a sink's `min_level` filters on it. Ordered `Info < Warn < Critical`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AlertLevel {
    Info,
    Warn,
    Critical,
}

impl AlertLevel {
    pub fn as_str(self) -> &'static str {
        match self {
            AlertLevel::Info => "info",
            AlertLevel::Warn => "warn",
            AlertLevel::Critical => "critical",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "info" => Some(AlertLevel::Info),
            "warn" => Some(AlertLevel::Warn),
            "critical" => Some(AlertLevel::Critical),
            _ => None,
        }
    }
}

/// Audit kinds worth telling the operator about even at INFO severity: trades opened and closed.
const INFO_KINDS: &[&str] = &[crate::core::audit::ENTRY_FILLED, crate::core::audit::POSITION_CLOSED];

/// The alert an audit event raises, if any. The audit severity is the floor: every WARN and
/// CRITICAL event is an alert, so a new failure kind cannot be silently left out; INFO events
/// only for the trade lifecycle (an alert per reconcile would bury the ones that matter).
pub(crate) fn level_for(severity: &str, kind: &str) -> Option<AlertLevel> {
    match severity {
        "CRITICAL" => Some(AlertLevel::Critical),
        "WARN" => Some(AlertLevel::Warn),
        _ if INFO_KINDS.contains(&kind) => Some(AlertLevel::Info),
        _ => None,
    }
}

/// How long an undelivered alert is retried before it is marked expired: a day. Older news
/// (a halt from yesterday) is still visible in `status`; a sink down for a day is itself an incident.
pub(crate) const ALERT_TTL_MS: i64 = 24 * 60 * 60 * 1000;

/// Delay before retry number `attempts` (1 = after the first failure): 1 min, doubling, capped
/// at one 4h candle so that a bot run by the candle still retries every run.
pub(crate) fn backoff_ms(attempts: u32) -> i64 {
    const BASE_MS: i64 = 60_000;
    const CAP_MS: i64 = 4 * 60 * 60 * 1000;
    let shift = attempts.saturating_sub(1).min(20);
    BASE_MS.saturating_mul(1_i64 << shift).min(CAP_MS)
}

/// A stable alert id from the journal row that raised it, so a receiver can drop repeats.
pub(crate) fn alert_id(seq: i64, row_hash: &str) -> String {
    let short = row_hash.get(..12).unwrap_or(row_hash);
    format!("a{seq}-{short}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_warn_and_critical_event_is_an_alert_info_only_for_trades() {
        assert_eq!(level_for("CRITICAL", "forced_close"), Some(AlertLevel::Critical));
        assert_eq!(level_for("CRITICAL", "a_kind_added_later"), Some(AlertLevel::Critical));
        assert_eq!(level_for("WARN", "halt"), Some(AlertLevel::Warn));
        assert_eq!(level_for("INFO", "entry_filled"), Some(AlertLevel::Info));
        assert_eq!(level_for("INFO", "position_closed"), Some(AlertLevel::Info));
        assert_eq!(level_for("INFO", "reconcile_done"), None);
        assert_eq!(level_for("INFO", "entry_submitted"), None);
    }

    #[test]
    fn levels_order_and_round_trip() {
        assert!(AlertLevel::Info < AlertLevel::Warn && AlertLevel::Warn < AlertLevel::Critical);
        for l in [AlertLevel::Info, AlertLevel::Warn, AlertLevel::Critical] {
            assert_eq!(AlertLevel::parse(l.as_str()), Some(l));
        }
        assert_eq!(AlertLevel::parse("CRITICAL"), None);
    }

    #[test]
    fn backoff_doubles_and_is_capped_at_a_candle() {
        assert_eq!(backoff_ms(0), 60_000);
        assert_eq!(backoff_ms(1), 60_000);
        assert_eq!(backoff_ms(2), 120_000);
        assert_eq!(backoff_ms(3), 240_000);
        assert_eq!(backoff_ms(9), 4 * 60 * 60 * 1000);
        assert_eq!(backoff_ms(u32::MAX), 4 * 60 * 60 * 1000);
    }

    #[test]
    fn alert_id_is_stable_and_safe_on_short_hashes() {
        assert_eq!(alert_id(7, "abcdef0123456789"), "a7-abcdef012345");
        assert_eq!(alert_id(7, "ab"), "a7-ab");
    }
}
