//! The strategy's inputs: its numbers, the open position as the exit rules see it, and the
//! per-evaluation context. Plain values; the shell fills them from config, store and exchange.

use crate::core::candle::Candle;
use crate::core::indicators::IndicatorParams;
use crate::core::money::SymbolFilters;
use crate::core::types::PositionSide;
use rust_decimal::Decimal;
use serde::Serialize;

/// Every number of the strategy (the `[strategy]` and `[risk]` config keys). Percent fields are in
/// percent units: 0.05 means 0.05 %.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StrategyParams {
    pub interval: String,
    pub interval_ms: i64,
    pub warmup: usize,
    pub ema_fast: usize,
    pub ema_slow: usize,
    pub ema_slope_lookback: usize,
    pub atr_period: usize,
    pub atr_min_pct: Decimal,
    pub atr_max_pct: Decimal,
    pub atr_sma_period: usize,
    pub atr_expansion_mult: Decimal,
    pub breakout_lookback: usize,
    pub funding_filter_pct: Decimal,
    pub stop_atr_mult: Decimal,
    pub exit_atr_contraction_mult: Decimal,
    pub momentum_fail_candles: usize,
    pub momentum_fail_r: Decimal,
    pub funding_extreme_pct: Decimal,
    pub cooldown_candles: u32,
    pub risk_per_trade_pct: Decimal,
    pub max_notional_usdt: Decimal,
}

impl StrategyParams {
    /// CONTRACT §8's defaults on 4h candles (the same as `config/mcbot.example.toml`).
    pub fn defaults() -> Self {
        StrategyParams {
            interval: "4h".into(),
            interval_ms: 14_400_000,
            warmup: 250,
            ema_fast: 50,
            ema_slow: 200,
            ema_slope_lookback: 5,
            atr_period: 14,
            atr_min_pct: Decimal::new(5, 1),
            atr_max_pct: Decimal::new(6, 0),
            atr_sma_period: 50,
            atr_expansion_mult: Decimal::ONE,
            breakout_lookback: 20,
            funding_filter_pct: Decimal::new(5, 2),
            stop_atr_mult: Decimal::TWO,
            exit_atr_contraction_mult: Decimal::new(7, 1),
            momentum_fail_candles: 6,
            momentum_fail_r: Decimal::new(5, 1),
            funding_extreme_pct: Decimal::new(10, 2),
            cooldown_candles: 3,
            risk_per_trade_pct: Decimal::new(5, 1),
            max_notional_usdt: Decimal::new(10_000, 0),
        }
    }

    pub fn indicator_params(&self) -> IndicatorParams {
        IndicatorParams {
            interval_ms: self.interval_ms,
            ema_fast: self.ema_fast,
            ema_slow: self.ema_slow,
            ema_slope_lookback: self.ema_slope_lookback,
            atr_period: self.atr_period,
            atr_sma_period: self.atr_sma_period,
            breakout_lookback: self.breakout_lookback,
        }
    }
}

/// When entries may resume after an exit at `exit_ms`: the `cooldown_candles` candle closes after
/// the exit are skipped. Candle-aligned so the result does not depend on how many seconds after
/// the close a cron run happens. Compare with [`super::decide`]'s rule: blocked while the evaluated
/// candle's end (close_time_ms + 1) is before this instant.
pub fn cooldown_until_ms(exit_ms: i64, interval_ms: i64, cooldown_candles: u32) -> i64 {
    let candles = i64::from(cooldown_candles);
    (exit_ms.div_euclid(interval_ms) + 1).saturating_add(candles).saturating_mul(interval_ms)
}

/// What the exit rules need to know about the open position.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OpenPositionView {
    pub side: PositionSide,
    /// Actual average entry fill.
    pub entry_price: Decimal,
    /// The plan's stop: R = |entry_price - stop_price|. Unknown for some adopted positions, in
    /// which case `momentum_failure` cannot be judged.
    pub stop_price: Option<Decimal>,
    /// Closed candles since the entry fill.
    pub candles_since_entry: usize,
    /// The most favourable close among them (highest for a long, lowest for a short).
    pub best_close: Option<Decimal>,
}

impl OpenPositionView {
    /// A position with no candle closed since its entry.
    pub fn new(side: PositionSide, entry_price: Decimal, stop_price: Option<Decimal>) -> Self {
        OpenPositionView { side, entry_price, stop_price, candles_since_entry: 0, best_close: None }
    }

    /// Counts the closed candles whose close time is after the entry fill at `entered_ms` (a
    /// close at or before the fill was already known when entering).
    pub fn from_candles(
        side: PositionSide,
        entry_price: Decimal,
        stop_price: Option<Decimal>,
        entered_ms: i64,
        candles: &[Candle],
    ) -> Self {
        let mut v = OpenPositionView::new(side, entry_price, stop_price);
        for c in candles.iter().filter(|c| c.close_time_ms > entered_ms) {
            v.on_candle_close(c.close);
        }
        v
    }

    /// Streaming form: one more candle closed since entry.
    pub fn on_candle_close(&mut self, close: Decimal) {
        self.candles_since_entry += 1;
        self.best_close = Some(match (self.best_close, self.side) {
            (None, _) => close,
            (Some(b), PositionSide::Long) => b.max(close),
            (Some(b), PositionSide::Short) => b.min(close),
        });
    }
}

/// Everything besides candles that one evaluation reads.
#[derive(Debug, Clone, Copy)]
pub struct EvalContext<'a> {
    pub bot_id: &'a str,
    pub symbol: &'a str,
    pub params: &'a StrategyParams,
    pub filters: &'a SymbolFilters,
    /// The exchange's clock (ms): decides which candles are closed and whether they are fresh.
    pub now_ms: i64,
    /// `lastFundingRate`, a fraction (0.0001 = 0.01 %).
    pub funding_rate: Decimal,
    /// Shown for context only; the plan's reference is the candle close.
    pub mark_price: Decimal,
    pub balance_usdt: Decimal,
    /// From the state DB: no entry on candles that end before this instant.
    pub cooldown_until_ms: Option<i64>,
    /// The open position, if any: then only the exit rules run.
    pub position: Option<&'a OpenPositionView>,
}
