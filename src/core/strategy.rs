//! The momentum-continuation strategy (CONTRACT §8): closed candles in, one decision out — a new
//! trade plan, a regime exit for the open position, or nothing, each with the rule verdicts that
//! led to it. Pure: no I/O, no clock (the exchange's "now" is an input).
//!
//! Two entry points that agree by construction:
//! [`evaluate`](crate::core::strategy::evaluate) recomputes the indicators over a slice (what
//! `evaluate` does with the candles it fetched); [`decide`](crate::core::strategy::decide) takes
//! the values of an [`IndicatorState`](crate::core::indicators::IndicatorState) fed candle by
//! candle (what a simulator does over a whole file).
//!
//! Thresholds are deliberate: entry conditions are strict where the contract says "above",
//! "below" or "beyond" and inclusive where it says "within" or "≥"; an exit fires only strictly
//! past its threshold. Every threshold has a test at its exact edge.

/// Decisions and evaluations: what comes out.
mod decision;
/// Parameters, the open-position view and the evaluation context: what goes in.
mod inputs;
/// Sizing: risk / R, caps, floor to the step, filter checks.
mod sizing;
/// Rule verdicts: the numbers behind each check, rendered to text only on demand.
mod verdict;

pub use decision::{Decision, Evaluation, NoTrade, RegimeExit};
pub use inputs::{cooldown_until_ms, EvalContext, OpenPositionView, StrategyParams};
pub use sizing::{size_position, SizeCap, Sized, SizingError};
pub use verdict::{Check, RuleVerdict};

use crate::core::candle::Candle;
use crate::core::indicators::{dec_to_f64, IndicatorState, Indicators};
use crate::core::plan::{plan_id, PlanStatus, TradePlan};
use crate::core::types::PositionSide;
use rust_decimal::Decimal;

/// Evaluates the last candle of `candles` (oldest first, all closed): recomputes the indicators
/// over the whole slice, then [`decide`]s. Bad data never yields a plan: it yields `Nothing`
/// with the reason.
pub fn evaluate(candles: &[Candle], ctx: &EvalContext<'_>) -> Evaluation {
    let p = ctx.params;
    if candles.len() < p.warmup || candles.is_empty() {
        let why = NoTrade::InsufficientCandles { have: candles.len(), need: p.warmup.max(1) };
        return Evaluation::nothing(why, None, ctx, Vec::new());
    }
    // Each push checks the candle and that it follows the previous one by exactly one interval.
    let mut state = IndicatorState::new(p.indicator_params());
    for c in candles {
        if let Err(e) = state.push(c) {
            return Evaluation::nothing(NoTrade::BadData(e.to_string()), None, ctx, Vec::new());
        }
    }
    match state.latest() {
        Some(ind) => decide(ind, ctx),
        None => Evaluation::nothing(NoTrade::InsufficientCandles { have: 0, need: p.warmup }, None, ctx, Vec::new()),
    }
}

/// Decides on the candle `ind` describes (its values from an [`IndicatorState`] that was fed
/// every candle up to it). Checks warm-up, closedness and freshness against `ctx.now_ms` itself.
pub fn decide(ind: &Indicators, ctx: &EvalContext<'_>) -> Evaluation {
    let p = ctx.params;
    let data_problem = if ind.count < p.warmup {
        Some(NoTrade::InsufficientCandles { have: ind.count, need: p.warmup })
    } else if ind.close_time_ms >= ctx.now_ms {
        // Never decide on a forming candle: its close may still change.
        Some(NoTrade::CandleNotClosed { close_time_ms: ind.close_time_ms, now_ms: ctx.now_ms })
    } else if ctx.now_ms >= ind.close_time_ms + p.interval_ms {
        // The plan window (until the next close) is already over: a newer candle exists.
        Some(NoTrade::StaleData { valid_until_ms: ind.close_time_ms + p.interval_ms, now_ms: ctx.now_ms })
    } else {
        None
    };
    if let Some(why) = data_problem {
        return Evaluation::nothing(why, Some(*ind), ctx, Vec::new());
    }
    let (Some(ema_fast), Some(ema_fast_prev), Some(ema_slow), Some(atr), Some(atr_sma), Some(hh), Some(ll)) =
        (ind.ema_fast, ind.ema_fast_prev, ind.ema_slow, ind.atr, ind.atr_sma, ind.highest_high, ind.lowest_low)
    else {
        return Evaluation::nothing(NoTrade::IndicatorsNotReady, Some(*ind), ctx, Vec::new());
    };
    if !(atr.is_finite() && atr > 0.0 && atr_sma.is_finite()) {
        return Evaluation::nothing(NoTrade::ZeroAtr, Some(*ind), ctx, Vec::new());
    }
    let v = Values { close_f: dec_to_f64(ind.close), ema_fast, ema_fast_prev, ema_slow, atr, atr_sma, hh, ll };
    match ctx.position {
        Some(pos) => decide_exit(ind, &v, pos, ctx),
        None => decide_entry(ind, &v, ctx),
    }
}

/// The warmed-up indicator values of one candle.
struct Values {
    close_f: f64,
    ema_fast: f64,
    ema_fast_prev: f64,
    ema_slow: f64,
    atr: f64,
    atr_sma: f64,
    hh: Decimal,
    ll: Decimal,
}

fn funding_pct(ctx: &EvalContext<'_>) -> Decimal {
    ctx.funding_rate * Decimal::ONE_HUNDRED
}

fn decide_entry(ind: &Indicators, v: &Values, ctx: &EvalContext<'_>) -> Evaluation {
    let p = ctx.params;
    let close = ind.close;
    let funding_pct = funding_pct(ctx);
    let candle_end_ms = ind.close_time_ms + 1;
    let f = |d: Decimal| dec_to_f64(d);
    let (ef, efp, es, lookback) = (v.ema_fast, v.ema_fast_prev, v.ema_slow, p.ema_slope_lookback);
    let checks = [
        Check::TrendLong { close: v.close_f, ema_fast: ef, ema_slow: es, ema_fast_prev: efp, lookback },
        Check::TrendShort { close: v.close_f, ema_fast: ef, ema_slow: es, ema_fast_prev: efp, lookback },
        Check::BreakoutLong { close, highest_high: v.hh, lookback: p.breakout_lookback },
        Check::BreakoutShort { close, lowest_low: v.ll, lookback: p.breakout_lookback },
        Check::AtrRange { atr: v.atr, close: v.close_f, min_pct: f(p.atr_min_pct), max_pct: f(p.atr_max_pct) },
        Check::AtrExpansion { atr: v.atr, atr_sma: v.atr_sma, mult: f(p.atr_expansion_mult) },
        Check::FundingLong { funding_pct, limit_pct: p.funding_filter_pct },
        Check::FundingShort { funding_pct, limit_pct: p.funding_filter_pct },
        Check::Cooldown { until_ms: ctx.cooldown_until_ms, candle_end_ms },
    ];
    let mut verdicts: Vec<RuleVerdict> = checks.into_iter().map(RuleVerdict::judge).collect();
    let ok = |i: usize| verdicts[i].passed;
    let side = if ok(0) && ok(2) {
        Some(PositionSide::Long)
    } else if ok(1) && ok(3) {
        Some(PositionSide::Short)
    } else {
        None
    };
    let why = match side {
        None if !ok(0) && !ok(1) => Some(NoTrade::NoTrend),
        None => Some(NoTrade::NoBreakout),
        Some(_) if !ok(4) => Some(NoTrade::AtrOutOfRange),
        Some(_) if !ok(5) => Some(NoTrade::AtrContracting),
        Some(PositionSide::Long) if !ok(6) => Some(NoTrade::FundingFilter),
        Some(PositionSide::Short) if !ok(7) => Some(NoTrade::FundingFilter),
        Some(_) if !ok(8) => Some(NoTrade::Cooldown),
        Some(_) => None,
    };
    let (Some(side), None) = (side, why.clone()) else {
        return Evaluation::nothing(why.unwrap_or(NoTrade::NoTrend), Some(*ind), ctx, verdicts);
    };
    let sized = size_position(side, close, v.atr, p, ctx.balance_usdt, ctx.filters);
    verdicts.push(RuleVerdict::sizing(&sized));
    let s = match sized {
        Ok(s) => s,
        Err(e) => return Evaluation::nothing(NoTrade::Sizing(e), Some(*ind), ctx, verdicts),
    };
    let plan = TradePlan {
        id: plan_id(ctx.bot_id, ctx.symbol, &p.interval, ind.close_time_ms),
        symbol: ctx.symbol.to_string(),
        interval: p.interval.clone(),
        candle_close_ms: ind.close_time_ms,
        side,
        entry_ref: close,
        stop_price: s.stop,
        qty: s.qty,
        risk_usdt: s.risk_usdt,
        // Valid until the next candle closes; never entered late (CONTRACT §8).
        valid_until_ms: ind.close_time_ms + p.interval_ms,
        status: PlanStatus::Planned,
    };
    Evaluation {
        decision: Decision::Plan(plan),
        indicators: Some(*ind),
        funding_rate: ctx.funding_rate,
        mark_price: ctx.mark_price,
        verdicts,
    }
}

fn decide_exit(ind: &Indicators, v: &Values, pos: &OpenPositionView, ctx: &EvalContext<'_>) -> Evaluation {
    let p = ctx.params;
    let r_per_unit = pos.stop_price.map(|s| (pos.entry_price - s).abs()).filter(|r| !r.is_zero());
    // Best favourable move since entry, in R.
    let best_r = match (pos.best_close, r_per_unit) {
        (Some(b), Some(r)) => (pos.side.sign() * (b - pos.entry_price)).checked_div(r),
        _ => None,
    };
    let checks = [
        Check::TrendInvalidation { side: pos.side, close: v.close_f, ema_fast: v.ema_fast },
        Check::VolatilityContraction { atr: v.atr, atr_sma: v.atr_sma, mult: dec_to_f64(p.exit_atr_contraction_mult) },
        Check::MomentumFailure {
            candles: pos.candles_since_entry,
            after: p.momentum_fail_candles,
            best_r,
            r_known: r_per_unit.is_some(),
            need_r: p.momentum_fail_r,
        },
        Check::FundingExtreme { side: pos.side, funding_pct: funding_pct(ctx), limit_pct: p.funding_extreme_pct },
    ];
    let verdicts: Vec<RuleVerdict> = checks.into_iter().map(RuleVerdict::judge).collect();
    // The first rule that fires, in the contract's order, names the exit; all are reported.
    let fired = [
        RegimeExit::TrendInvalidation,
        RegimeExit::VolatilityContraction,
        RegimeExit::MomentumFailure,
        RegimeExit::FundingExtreme,
    ]
    .into_iter()
    .zip(&verdicts)
    .find(|(_, v)| !v.passed)
    .map(|(e, _)| e);
    Evaluation {
        decision: fired.map_or(Decision::Nothing(NoTrade::Holding), Decision::Exit),
        indicators: Some(*ind),
        funding_rate: ctx.funding_rate,
        mark_price: ctx.mark_price,
        verdicts,
    }
}

#[cfg(test)]
mod tests;
