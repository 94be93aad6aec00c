//! The strategy's outputs: the decision (plan, regime exit or nothing with a reason), and the
//! evaluation that carries it with the indicator values and rule verdicts.

use super::{EvalContext, RuleVerdict, SizingError};
use crate::core::indicators::Indicators;
use crate::core::plan::TradePlan;
use crate::core::position::ExitReason;
use crate::core::types::PositionSide;
use rust_decimal::Decimal;
use serde::Serialize;

/// A regime exit (seed 000 §7: decisive, never a wait for STOP or TP).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RegimeExit {
    TrendInvalidation,
    VolatilityContraction,
    MomentumFailure,
    FundingExtreme,
}

impl RegimeExit {
    pub fn as_str(self) -> &'static str {
        match self {
            RegimeExit::TrendInvalidation => "trend_invalidation",
            RegimeExit::VolatilityContraction => "volatility_contraction",
            RegimeExit::MomentumFailure => "momentum_failure",
            RegimeExit::FundingExtreme => "funding_extreme",
        }
    }
    /// The position's exit reason: `regime:<name>`.
    pub fn exit_reason(self) -> ExitReason {
        ExitReason::Regime(self.as_str().to_string())
    }
}

/// Why no plan and no exit came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum NoTrade {
    InsufficientCandles {
        have: usize,
        need: usize,
    },
    BadData(String),
    /// The newest candle is still forming by the exchange's clock.
    CandleNotClosed {
        close_time_ms: i64,
        now_ms: i64,
    },
    /// A newer candle has closed since: acting on this one would be late.
    StaleData {
        valid_until_ms: i64,
        now_ms: i64,
    },
    IndicatorsNotReady,
    /// ATR of zero (or not finite): no stop distance, no volatility — bad data.
    ZeroAtr,
    NoTrend,
    NoBreakout,
    AtrOutOfRange,
    AtrContracting,
    FundingFilter,
    Cooldown,
    Sizing(SizingError),
    /// In a position and no exit rule fired.
    Holding,
}

impl NoTrade {
    /// A stable machine name.
    pub fn code(&self) -> &'static str {
        match self {
            NoTrade::InsufficientCandles { .. } => "insufficient_candles",
            NoTrade::BadData(_) => "bad_data",
            NoTrade::CandleNotClosed { .. } => "candle_not_closed",
            NoTrade::StaleData { .. } => "stale_data",
            NoTrade::IndicatorsNotReady => "indicators_not_ready",
            NoTrade::ZeroAtr => "zero_atr",
            NoTrade::NoTrend => "no_trend",
            NoTrade::NoBreakout => "no_breakout",
            NoTrade::AtrOutOfRange => "atr_out_of_range",
            NoTrade::AtrContracting => "atr_contracting",
            NoTrade::FundingFilter => "funding_filter",
            NoTrade::Cooldown => "cooldown",
            NoTrade::Sizing(_) => "size_too_small",
            NoTrade::Holding => "holding",
        }
    }
    /// The candles (not the market) stood in the way: worth a warning in the logs.
    pub fn is_data_problem(&self) -> bool {
        matches!(
            self,
            NoTrade::InsufficientCandles { .. }
                | NoTrade::BadData(_)
                | NoTrade::CandleNotClosed { .. }
                | NoTrade::StaleData { .. }
                | NoTrade::IndicatorsNotReady
                | NoTrade::ZeroAtr
        )
    }
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub enum Decision {
    Plan(TradePlan),
    Exit(RegimeExit),
    Nothing(NoTrade),
}

impl Decision {
    /// `plan`, `exit` or `none` (CONTRACT §8).
    pub fn kind(&self) -> &'static str {
        match self {
            Decision::Plan(_) => "plan",
            Decision::Exit(_) => "exit",
            Decision::Nothing(_) => "none",
        }
    }
    /// A stable machine name for why.
    pub fn reason_code(&self) -> &'static str {
        match self {
            Decision::Plan(p) => match p.side {
                PositionSide::Long => "long_breakout",
                PositionSide::Short => "short_breakout",
            },
            Decision::Exit(e) => e.as_str(),
            Decision::Nothing(n) => n.code(),
        }
    }
}

/// A decision with the indicator values and rule verdicts behind it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Evaluation {
    pub decision: Decision,
    /// Absent when the candles could not be used.
    pub indicators: Option<Indicators>,
    pub funding_rate: Decimal,
    pub mark_price: Decimal,
    /// In evaluation order; a verdict's text is rendered only when asked for.
    pub verdicts: Vec<RuleVerdict>,
}

impl Evaluation {
    pub(super) fn nothing(
        why: NoTrade,
        indicators: Option<Indicators>,
        ctx: &EvalContext<'_>,
        verdicts: Vec<RuleVerdict>,
    ) -> Self {
        Evaluation {
            decision: Decision::Nothing(why),
            indicators,
            funding_rate: ctx.funding_rate,
            mark_price: ctx.mark_price,
            verdicts,
        }
    }

    /// One readable sentence on why: the failing rule's numbers, or the data problem.
    pub fn reason_text(&self) -> String {
        let failed = |rule: &str| self.verdicts.iter().find(|v| v.rule() == rule && !v.passed).map(RuleVerdict::detail);
        let text = match &self.decision {
            Decision::Plan(p) => match p.side {
                PositionSide::Long => self.verdict_detail("breakout_long"),
                PositionSide::Short => self.verdict_detail("breakout_short"),
            },
            Decision::Exit(e) => failed(e.as_str()).unwrap_or_default(),
            Decision::Nothing(n) => match n {
                NoTrade::InsufficientCandles { have, need } => format!("{have} closed candles, {need} needed"),
                NoTrade::BadData(why) => why.clone(),
                NoTrade::CandleNotClosed { close_time_ms, now_ms } => {
                    format!("newest candle closes at {close_time_ms}, exchange time is {now_ms}")
                }
                NoTrade::StaleData { valid_until_ms, now_ms } => {
                    format!("a newer candle closed at {valid_until_ms} (exchange time {now_ms}); not acting late")
                }
                NoTrade::IndicatorsNotReady => "indicators still warming up".into(),
                NoTrade::ZeroAtr => "ATR is zero or not finite".into(),
                NoTrade::NoTrend => "neither long nor short trend regime".into(),
                NoTrade::NoBreakout => format!(
                    "trend but no breakout: {}",
                    self.verdict_detail(&format!("breakout_{}", self.trend_side()))
                ),
                NoTrade::AtrOutOfRange => failed("atr_range").unwrap_or_default(),
                NoTrade::AtrContracting => failed("atr_expansion").unwrap_or_default(),
                NoTrade::FundingFilter => {
                    failed("funding_long").or_else(|| failed("funding_short")).unwrap_or_default()
                }
                NoTrade::Cooldown => failed("cooldown").unwrap_or_default(),
                NoTrade::Sizing(e) => e.to_string(),
                NoTrade::Holding => "position held: no regime exit fired".into(),
            },
        };
        format!("{}: {text}", self.decision.reason_code())
    }

    fn verdict_detail(&self, rule: &str) -> String {
        self.verdicts.iter().find(|v| v.rule() == rule).map(RuleVerdict::detail).unwrap_or_default()
    }

    fn trend_side(&self) -> &'static str {
        match self.verdicts.iter().find(|v| v.passed && v.rule().starts_with("trend_")) {
            Some(v) if v.rule() == "trend_short" => "short",
            _ => "long",
        }
    }
}
