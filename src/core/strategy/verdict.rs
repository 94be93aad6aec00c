//! Rule verdicts: each check keeps the exact numbers it compared and decides pass/fail in one
//! place ([`Check::passes`]); the text for people is rendered only when asked for, so a
//! simulator evaluating every candle pays for comparisons, not for formatting.

use super::sizing::{Sized, SizingError};
use crate::core::types::PositionSide;
use rust_decimal::Decimal;
use serde::ser::SerializeStruct;
use serde::{Serialize, Serializer};
use std::cmp::Ordering;

/// One rule with the values it was judged on.
#[derive(Debug, Clone, PartialEq)]
pub enum Check {
    /// close > EMA fast > EMA slow, and EMA fast above its value `lookback` candles earlier.
    TrendLong { close: f64, ema_fast: f64, ema_slow: f64, ema_fast_prev: f64, lookback: usize },
    /// close < EMA fast < EMA slow, and EMA fast below its value `lookback` candles earlier.
    TrendShort { close: f64, ema_fast: f64, ema_slow: f64, ema_fast_prev: f64, lookback: usize },
    /// close > highest high of the previous `lookback` candles.
    BreakoutLong { close: Decimal, highest_high: Decimal, lookback: usize },
    /// close < lowest low of the previous `lookback` candles.
    BreakoutShort { close: Decimal, lowest_low: Decimal, lookback: usize },
    /// ATR / close within [min_pct, max_pct] percent, both ends included.
    AtrRange { atr: f64, close: f64, min_pct: f64, max_pct: f64 },
    /// ATR ≥ SMA(ATR) × mult.
    AtrExpansion { atr: f64, atr_sma: f64, mult: f64 },
    /// No long while funding > +limit %.
    FundingLong { funding_pct: Decimal, limit_pct: Decimal },
    /// No short while funding < −limit %.
    FundingShort { funding_pct: Decimal, limit_pct: Decimal },
    /// No entry on a candle that ends before `until_ms`.
    Cooldown { until_ms: Option<i64>, candle_end_ms: i64 },
    /// The position size (only judged once a side qualified).
    Sizing(Result<Sized, SizingError>),
    /// Exit when the close is back across EMA fast (strictly).
    TrendInvalidation { side: PositionSide, close: f64, ema_fast: f64 },
    /// Exit when ATR < SMA(ATR) × mult (strictly).
    VolatilityContraction { atr: f64, atr_sma: f64, mult: f64 },
    /// Exit when, `after` candles since entry, the best close has not reached `need_r` R.
    MomentumFailure { candles: usize, after: usize, best_r: Option<Decimal>, r_known: bool, need_r: Decimal },
    /// Exit when funding is against the position beyond ±limit % (strictly).
    FundingExtreme { side: PositionSide, funding_pct: Decimal, limit_pct: Decimal },
}

impl Check {
    /// The rule's stable name.
    pub fn rule(&self) -> &'static str {
        match self {
            Check::TrendLong { .. } => "trend_long",
            Check::TrendShort { .. } => "trend_short",
            Check::BreakoutLong { .. } => "breakout_long",
            Check::BreakoutShort { .. } => "breakout_short",
            Check::AtrRange { .. } => "atr_range",
            Check::AtrExpansion { .. } => "atr_expansion",
            Check::FundingLong { .. } => "funding_long",
            Check::FundingShort { .. } => "funding_short",
            Check::Cooldown { .. } => "cooldown",
            Check::Sizing(_) => "sizing",
            Check::TrendInvalidation { .. } => "trend_invalidation",
            Check::VolatilityContraction { .. } => "volatility_contraction",
            Check::MomentumFailure { .. } => "momentum_failure",
            Check::FundingExtreme { .. } => "funding_extreme",
        }
    }

    /// Entry rules: true when the rule allows the entry. Exit rules: true when the position may
    /// stay (the exit did not fire). Every threshold of the strategy is decided here.
    pub fn passes(&self) -> bool {
        match *self {
            Check::TrendLong { close, ema_fast, ema_slow, ema_fast_prev, .. } => {
                close > ema_fast && ema_fast > ema_slow && ema_fast > ema_fast_prev
            }
            Check::TrendShort { close, ema_fast, ema_slow, ema_fast_prev, .. } => {
                close < ema_fast && ema_fast < ema_slow && ema_fast < ema_fast_prev
            }
            Check::BreakoutLong { close, highest_high, .. } => close > highest_high,
            Check::BreakoutShort { close, lowest_low, .. } => close < lowest_low,
            // Multiplied out instead of dividing, so a value exactly at a bound compares equal.
            Check::AtrRange { atr, close, min_pct, max_pct } => {
                atr * 100.0 >= min_pct * close && atr * 100.0 <= max_pct * close
            }
            Check::AtrExpansion { atr, atr_sma, mult } => atr >= atr_sma * mult,
            Check::FundingLong { funding_pct, limit_pct } => funding_pct <= limit_pct,
            Check::FundingShort { funding_pct, limit_pct } => funding_pct >= -limit_pct,
            Check::Cooldown { until_ms, candle_end_ms } => until_ms.is_none_or(|u| candle_end_ms >= u),
            Check::Sizing(ref r) => r.is_ok(),
            Check::TrendInvalidation { side: PositionSide::Long, close, ema_fast } => close >= ema_fast,
            Check::TrendInvalidation { side: PositionSide::Short, close, ema_fast } => close <= ema_fast,
            Check::VolatilityContraction { atr, atr_sma, mult } => atr >= atr_sma * mult,
            Check::MomentumFailure { candles, after, best_r, r_known, need_r } => {
                candles < after || !r_known || best_r.is_none_or(|b| b >= need_r)
            }
            Check::FundingExtreme { side: PositionSide::Long, funding_pct, limit_pct } => funding_pct <= limit_pct,
            Check::FundingExtreme { side: PositionSide::Short, funding_pct, limit_pct } => funding_pct >= -limit_pct,
        }
    }

    /// The values and the comparison, for people.
    pub fn detail(&self) -> String {
        match self {
            // Each side says what it needs, then what is: the two read differently although they
            // compare the same numbers.
            Check::TrendLong { close, ema_fast, ema_slow, ema_fast_prev, lookback }
            | Check::TrendShort { close, ema_fast, ema_slow, ema_fast_prev, lookback } => {
                let (side, op, way) = if matches!(self, Check::TrendLong { .. }) {
                    ("long", ">", "above")
                } else {
                    ("short", "<", "below")
                };
                format!(
                    "{side} needs close {op} EMA fast {op} EMA slow, EMA fast {way} its value {lookback} candles \
                     earlier; is close {} {} fast {} {} slow {}, fast {} {} {} earlier",
                    p2(*close),
                    sym(close, ema_fast),
                    p2(*ema_fast),
                    sym(ema_fast, ema_slow),
                    p2(*ema_slow),
                    p2(*ema_fast),
                    sym(ema_fast, ema_fast_prev),
                    p2(*ema_fast_prev)
                )
            }
            Check::BreakoutLong { close, highest_high, lookback } => format!(
                "close {close} {} highest high {highest_high} of the previous {lookback} candles",
                sym(close, highest_high)
            ),
            Check::BreakoutShort { close, lowest_low, lookback } => {
                format!(
                    "close {close} {} lowest low {lowest_low} of the previous {lookback} candles",
                    sym(close, lowest_low)
                )
            }
            Check::AtrRange { atr, close, min_pct, max_pct } => {
                format!("ATR {} is {:.4}% of close; allowed [{min_pct}%, {max_pct}%]", p2(*atr), atr / close * 100.0)
            }
            Check::AtrExpansion { atr, atr_sma, mult } | Check::VolatilityContraction { atr, atr_sma, mult } => {
                format!(
                    "ATR {} {} SMA(ATR) {} x {mult} = {}",
                    p2(*atr),
                    sym(atr, &(atr_sma * mult)),
                    p2(*atr_sma),
                    p2(atr_sma * mult)
                )
            }
            Check::FundingLong { funding_pct, limit_pct } => {
                format!("funding {funding_pct}% {} +{limit_pct}% (no long above)", sym(funding_pct, limit_pct))
            }
            Check::FundingShort { funding_pct, limit_pct } => {
                format!("funding {funding_pct}% {} -{limit_pct}% (no short below)", sym(funding_pct, &-*limit_pct))
            }
            Check::Cooldown { until_ms: None, .. } => "no cooldown".into(),
            Check::Cooldown { until_ms: Some(u), candle_end_ms } => {
                format!("candle ends {}; entries blocked until {}", utc(*candle_end_ms), utc(*u))
            }
            Check::Sizing(Ok(s)) => format!(
                "qty {} stop {} R {} risk {} USDT{}",
                s.qty,
                s.stop,
                s.r_per_unit,
                s.risk_usdt.round_dp(4),
                s.cap.map_or(String::new(), |c| format!(" (capped by {})", c.as_str()))
            ),
            Check::Sizing(Err(e)) => e.to_string(),
            Check::TrendInvalidation { side, close, ema_fast } => format!(
                "close {} {} EMA fast {} ({side}: exit when back {})",
                p2(*close),
                sym(close, ema_fast),
                p2(*ema_fast),
                if *side == PositionSide::Long { "below" } else { "above" }
            ),
            Check::MomentumFailure { r_known: false, .. } => "R unknown (no stop on record): not judged".into(),
            Check::MomentumFailure { candles, after, best_r, need_r, .. } => format!(
                "{candles} candles since entry (judged from {after}); best close {} R, needs {need_r} R",
                best_r.map_or("-".to_string(), |b| b.round_dp(4).to_string())
            ),
            Check::FundingExtreme { side, funding_pct, limit_pct } => match side {
                PositionSide::Long => {
                    format!("funding {funding_pct}% {} +{limit_pct}% (LONG: exit beyond)", sym(funding_pct, limit_pct))
                }
                PositionSide::Short => format!(
                    "funding {funding_pct}% {} -{limit_pct}% (SHORT: exit beyond)",
                    sym(funding_pct, &-*limit_pct)
                ),
            },
        }
    }
}

/// UTC ISO time to the second (pure: formatting only).
fn utc(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map_or(format!("{ms} ms"), |t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

fn p2(x: f64) -> String {
    format!("{x:.2}")
}

fn sym<T: PartialOrd>(a: &T, b: &T) -> &'static str {
    match a.partial_cmp(b) {
        Some(Ordering::Greater) => ">",
        Some(Ordering::Less) => "<",
        Some(Ordering::Equal) => "=",
        None => "?",
    }
}

/// A judged rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleVerdict {
    pub check: Check,
    /// See [`Check::passes`]: entry rules allow the entry; exit rules let the position stay.
    pub passed: bool,
}

impl RuleVerdict {
    pub fn judge(check: Check) -> Self {
        let passed = check.passes();
        RuleVerdict { check, passed }
    }
    pub fn sizing(r: &Result<Sized, SizingError>) -> Self {
        RuleVerdict::judge(Check::Sizing(r.clone()))
    }
    pub fn rule(&self) -> &'static str {
        self.check.rule()
    }
    pub fn detail(&self) -> String {
        self.check.detail()
    }
}

impl Serialize for RuleVerdict {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut st = s.serialize_struct("RuleVerdict", 3)?;
        st.serialize_field("rule", self.rule())?;
        st.serialize_field("passed", &self.passed)?;
        st.serialize_field("detail", &self.detail())?;
        st.end()
    }
}
