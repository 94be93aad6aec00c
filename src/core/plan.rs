//! Trade plans: what `evaluate` decided to enter, with a deterministic id and a lifecycle.

use crate::core::types::PositionSide;
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;
use std::str::FromStr;

/// Length of a plan id: 12 lowercase hex characters (48 bits), inside CONTRACT §5's `[a-z0-9]{6,12}`.
pub const PLAN_ID_LEN: usize = 12;

/// The deterministic plan id: the same (bot, symbol, interval, candle close) always gives the same
/// id, so re-evaluating a candle can never create a second plan (CONTRACT §5).
pub fn plan_id(bot_id: &str, symbol: &str, interval: &str, candle_close_ms: i64) -> String {
    let mut h = Sha256::new();
    h.update(format!("{bot_id}|{symbol}|{interval}|{candle_close_ms}").as_bytes());
    let digest = h.finalize();
    hex::encode(digest)[..PLAN_ID_LEN].to_string()
}

/// True for strings that can be plan ids.
pub fn is_plan_id(s: &str) -> bool {
    (6..=12).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

/// Where a plan is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PlanStatus {
    /// Decided, waiting for `enter`.
    Planned,
    /// Not entered before the next candle closed; never entered late.
    Expired,
    /// Pre-flight refused it; never entered.
    Refused,
    /// ENTRY intent committed.
    Entering,
    /// ENTRY fully filled.
    Filled,
    /// ENTRY partly filled.
    Partial,
    /// ENTRY ended with nothing filled.
    NotFilled,
    /// The position from this plan is closed.
    Closed,
}

impl PlanStatus {
    pub const ALL: [PlanStatus; 8] = [
        PlanStatus::Planned,
        PlanStatus::Expired,
        PlanStatus::Refused,
        PlanStatus::Entering,
        PlanStatus::Filled,
        PlanStatus::Partial,
        PlanStatus::NotFilled,
        PlanStatus::Closed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            PlanStatus::Planned => "PLANNED",
            PlanStatus::Expired => "EXPIRED",
            PlanStatus::Refused => "REFUSED",
            PlanStatus::Entering => "ENTERING",
            PlanStatus::Filled => "FILLED",
            PlanStatus::Partial => "PARTIAL",
            PlanStatus::NotFilled => "NOT_FILLED",
            PlanStatus::Closed => "CLOSED",
        }
    }
    /// The allowed plan transitions.
    pub fn can_become(self, to: PlanStatus) -> bool {
        use PlanStatus as P;
        matches!(
            (self, to),
            (P::Planned, P::Expired | P::Refused | P::Entering)
                | (P::Entering, P::Filled | P::Partial | P::NotFilled)
                | (P::Partial, P::Filled | P::Partial | P::Closed)
                | (P::Filled, P::Closed)
                | (P::Entering, P::Closed)
        )
    }
}

impl fmt::Display for PlanStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for PlanStatus {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        PlanStatus::ALL.into_iter().find(|p| p.as_str() == s).ok_or_else(|| format!("not a plan status: {s:?}"))
    }
}

/// A trade plan, as decided on one closed candle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TradePlan {
    pub id: String,
    pub symbol: String,
    pub interval: String,
    /// Close time (ms) of the candle the plan was decided on.
    pub candle_close_ms: i64,
    pub side: PositionSide,
    /// The close of that candle: the reference for slippage and the initial R.
    pub entry_ref: Decimal,
    /// Quantised stop trigger price.
    pub stop_price: Decimal,
    /// Quantised quantity.
    pub qty: Decimal,
    /// USDT put at risk by the plan (qty x R).
    pub risk_usdt: Decimal,
    /// The plan may be entered until this instant (ms): the close of the next candle.
    pub valid_until_ms: i64,
    pub status: PlanStatus,
}

impl TradePlan {
    /// Risk per unit: |entry_ref - stop|.
    pub fn r_per_unit(&self) -> Decimal {
        (self.entry_ref - self.stop_price).abs()
    }
    pub fn is_stale(&self, now_ms: i64) -> bool {
        now_ms >= self.valid_until_ms
    }
}

/// The take-profit trigger at exactly `r_multiple` R from the actual average fill, where R is the
/// distance from that fill to the plan's stop (seed 000 §4 step 4: "TP at exactly 2R").
pub fn take_profit_price(side: PositionSide, avg_fill: Decimal, stop_price: Decimal, r_multiple: Decimal) -> Decimal {
    let r = (avg_fill - stop_price).abs();
    avg_fill + side.sign() * r * r_multiple
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    #[test]
    fn plan_id_is_deterministic_and_well_formed() {
        let a = plan_id("mc", "BTCUSDT", "4h", 1_700_000_000_000);
        let b = plan_id("mc", "BTCUSDT", "4h", 1_700_000_000_000);
        let c = plan_id("mc", "BTCUSDT", "4h", 1_700_014_400_000);
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert!(is_plan_id(&a), "{a}");
        assert_eq!(a.len(), PLAN_ID_LEN);
    }

    #[test]
    fn tp_is_exactly_two_r_from_actual_fill() {
        // long: fill 100, stop 90 -> R 10 -> TP 120
        assert_eq!(take_profit_price(PositionSide::Long, dec!(100), dec!(90), dec!(2)), dec!(120));
        // short: fill 100, stop 108 -> R 8 -> TP 84
        assert_eq!(take_profit_price(PositionSide::Short, dec!(100), dec!(108), dec!(2)), dec!(84));
    }

    #[test]
    fn plan_transitions() {
        use PlanStatus as P;
        assert!(P::Planned.can_become(P::Entering));
        assert!(!P::Expired.can_become(P::Entering));
        assert!(!P::Closed.can_become(P::Planned));
        assert!(P::Partial.can_become(P::Closed));
        for s in P::ALL {
            assert_eq!(s.as_str().parse::<P>(), Ok(s));
        }
    }
}
