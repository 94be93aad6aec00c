//! Indicators in TA-Lib conventions (EMA seeded with an SMA, Wilder ATR, SMA, prior-window
//! highs/lows), both as batch functions over slices and as O(1)-per-candle streaming state.
//!
//! Pure: no I/O, no clock. Values are f64 (they only feed comparisons); anything that becomes an
//! order price or quantity is converted to `Decimal` and quantised by the strategy, not here.
//! The streaming state and the batch functions run the same arithmetic in the same order, so
//! they agree bit for bit (tested), and `sim` can stream where `evaluate` recomputes a window.

use crate::core::candle::{validate_series, Candle, CandleError};
use rust_decimal::prelude::ToPrimitive;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::VecDeque;

/// Powers of ten that are exact in f64 (10^0 ..= 10^22).
const POW10: [f64; 23] = [
    1e0, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20,
    1e21, 1e22,
];

/// The f64 nearest to `d`. Prices have few digits, so mantissa and power of ten are both exact
/// and one IEEE division rounds correctly: the same value any other tool gets from the decimal
/// text (rust_decimal's own conversion can be one ulp off, which would make checks against
/// independent tools flaky).
pub fn dec_to_f64(d: Decimal) -> f64 {
    let m = d.mantissa();
    let scale = d.scale() as usize;
    if m.unsigned_abs() < (1u128 << 53) && scale < POW10.len() {
        #[allow(clippy::cast_precision_loss)] // |m| < 2^53: exact
        let mf = m as f64;
        mf / POW10[scale]
    } else {
        d.to_f64().unwrap_or(f64::NAN)
    }
}

/// Exponential moving average, seeded with the SMA of its first `period` inputs (TA-Lib).
#[derive(Debug, Clone)]
pub struct Ema {
    period: usize,
    k: f64,
    seen: usize,
    seed_sum: f64,
    value: Option<f64>,
}

impl Ema {
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Ema { period, k: 2.0 / (period as f64 + 1.0), seen: 0, seed_sum: 0.0, value: None }
    }
    /// Feeds one input; the EMA once `period` inputs were seen.
    pub fn push(&mut self, x: f64) -> Option<f64> {
        self.value = match self.value {
            // TA-Lib's order of operations: ((x - prev) * k) + prev.
            Some(prev) => Some((x - prev) * self.k + prev),
            None => {
                self.seed_sum += x;
                self.seen += 1;
                (self.seen == self.period).then(|| self.seed_sum / self.period as f64)
            }
        };
        self.value
    }
    pub fn value(&self) -> Option<f64> {
        self.value
    }
}

/// Simple moving average. The sum is recomputed over the window (oldest first) on every input:
/// at the periods used here that is cheap, and a running sum would drift from the batch value.
#[derive(Debug, Clone)]
pub struct Sma {
    period: usize,
    window: VecDeque<f64>,
}

impl Sma {
    pub fn new(period: usize) -> Self {
        let period = period.max(1);
        Sma { period, window: VecDeque::with_capacity(period) }
    }
    pub fn push(&mut self, x: f64) -> Option<f64> {
        if self.window.len() == self.period {
            self.window.pop_front();
        }
        self.window.push_back(x);
        (self.window.len() == self.period).then(|| self.window.iter().sum::<f64>() / self.period as f64)
    }
}

/// True range: the first candle has no previous close, so its TR is high - low.
pub fn true_range(high: f64, low: f64, prev_close: Option<f64>) -> f64 {
    match prev_close {
        None => high - low,
        Some(pc) => (high - low).max((high - pc).abs()).max((low - pc).abs()),
    }
}

/// Wilder's ATR: seeded with the SMA of the first `period` true ranges (the first TR being
/// high - low), then `atr = (prev * (period - 1) + tr) / period` in TA-Lib's order of operations.
///
/// TA-Lib itself drops the first candle (its TR needs a previous close) and so starts one candle
/// later; TradingView's `ta.atr` keeps it as here. The seed's influence decays by
/// (1 - 1/period) per candle, below 1e-8 relative by the end of the default warm-up.
#[derive(Debug, Clone)]
pub struct WilderAtr {
    period: usize,
    prev_close: Option<f64>,
    seen: usize,
    seed_sum: f64,
    value: Option<f64>,
}

impl WilderAtr {
    pub fn new(period: usize) -> Self {
        WilderAtr { period: period.max(1), prev_close: None, seen: 0, seed_sum: 0.0, value: None }
    }
    pub fn push(&mut self, high: f64, low: f64, close: f64) -> Option<f64> {
        let tr = true_range(high, low, self.prev_close);
        self.prev_close = Some(close);
        let n = self.period as f64;
        self.value = match self.value {
            Some(prev) => Some((prev * (n - 1.0) + tr) / n),
            None => {
                self.seed_sum += tr;
                self.seen += 1;
                (self.seen == self.period).then(|| self.seed_sum / n)
            }
        };
        self.value
    }
}

/// The highest high and lowest low of the previous `period` candles, excluding the current one.
/// Monotonic queues: amortised O(1) comparisons per candle whatever the period.
#[derive(Debug, Clone)]
pub struct PriorExtremes {
    period: usize,
    seen: usize,
    /// (index, high), highs strictly decreasing from the front: the front is the window's maximum.
    highs: VecDeque<(usize, Decimal)>,
    /// (index, low), lows strictly increasing from the front: the front is the window's minimum.
    lows: VecDeque<(usize, Decimal)>,
}

impl PriorExtremes {
    pub fn new(period: usize) -> Self {
        PriorExtremes { period: period.max(1), seen: 0, highs: VecDeque::new(), lows: VecDeque::new() }
    }
    /// Returns (highest high, lowest low) of the window *before* adding this candle.
    pub fn push(&mut self, high: Decimal, low: Decimal) -> (Option<Decimal>, Option<Decimal>) {
        let i = self.seen;
        // The window before candle i is [i - period, i - 1]; older entries leave.
        while self.highs.front().is_some_and(|&(j, _)| j + self.period < i) {
            self.highs.pop_front();
        }
        while self.lows.front().is_some_and(|&(j, _)| j + self.period < i) {
            self.lows.pop_front();
        }
        let out = if i >= self.period {
            (self.highs.front().map(|&(_, h)| h), self.lows.front().map(|&(_, l)| l))
        } else {
            (None, None)
        };
        while self.highs.back().is_some_and(|&(_, h)| h <= high) {
            self.highs.pop_back();
        }
        self.highs.push_back((i, high));
        while self.lows.back().is_some_and(|&(_, l)| l >= low) {
            self.lows.pop_back();
        }
        self.lows.push_back((i, low));
        self.seen += 1;
        out
    }
}

// ---- batch forms -----------------------------------------------------------------------------

/// EMA of every prefix of `values` (None until `period` values were seen).
pub fn ema(values: &[f64], period: usize) -> Vec<Option<f64>> {
    let mut e = Ema::new(period);
    values.iter().map(|&x| e.push(x)).collect()
}

/// SMA over each window of `period` values ending at each index.
pub fn sma(values: &[f64], period: usize) -> Vec<Option<f64>> {
    let period = period.max(1);
    (0..values.len())
        .map(|i| (i + 1 >= period).then(|| values[i + 1 - period..=i].iter().sum::<f64>() / period as f64))
        .collect()
}

/// Wilder ATR at each index of the (high, low, close) series.
pub fn wilder_atr(high: &[f64], low: &[f64], close: &[f64], period: usize) -> Vec<Option<f64>> {
    let mut a = WilderAtr::new(period);
    high.iter().zip(low).zip(close).map(|((&h, &l), &c)| a.push(h, l, c)).collect()
}

/// Highest of the `period` values before each index (None while fewer precede it).
pub fn highest_prior(values: &[Decimal], period: usize) -> Vec<Option<Decimal>> {
    let period = period.max(1);
    (0..values.len()).map(|i| (i >= period).then(|| values[i - period..i].iter().copied().max()).flatten()).collect()
}

/// Lowest of the `period` values before each index (None while fewer precede it).
pub fn lowest_prior(values: &[Decimal], period: usize) -> Vec<Option<Decimal>> {
    let period = period.max(1);
    (0..values.len()).map(|i| (i >= period).then(|| values[i - period..i].iter().copied().min()).flatten()).collect()
}

// ---- the strategy's indicator set ---------------------------------------------------------------

/// The periods the strategy's indicators use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct IndicatorParams {
    pub interval_ms: i64,
    pub ema_fast: usize,
    pub ema_slow: usize,
    pub ema_slope_lookback: usize,
    pub atr_period: usize,
    pub atr_sma_period: usize,
    pub breakout_lookback: usize,
}

/// Every indicator value at one closed candle. `None` while an indicator is still warming up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Indicators {
    /// Candles fed so far, this one included.
    pub count: usize,
    pub open_time_ms: i64,
    pub close_time_ms: i64,
    pub close: Decimal,
    pub ema_fast: Option<f64>,
    /// EMA(fast) `ema_slope_lookback` candles earlier: the slope check.
    pub ema_fast_prev: Option<f64>,
    pub ema_slow: Option<f64>,
    pub atr: Option<f64>,
    /// SMA of the ATR values.
    pub atr_sma: Option<f64>,
    /// Highest high of the previous `breakout_lookback` candles (this one excluded).
    pub highest_high: Option<Decimal>,
    /// Lowest low of the previous `breakout_lookback` candles (this one excluded).
    pub lowest_low: Option<Decimal>,
}

/// The strategy's indicators fed one closed candle at a time, O(1) per candle in the series
/// length. Refuses candles that are inconsistent or not exactly one interval after the last.
#[derive(Debug, Clone)]
pub struct IndicatorState {
    params: IndicatorParams,
    ema_fast: Ema,
    ema_slow: Ema,
    ema_fast_hist: VecDeque<f64>,
    atr: WilderAtr,
    atr_sma: Sma,
    extremes: PriorExtremes,
    latest: Option<Indicators>,
}

impl IndicatorState {
    pub fn new(params: IndicatorParams) -> Self {
        IndicatorState {
            params,
            ema_fast: Ema::new(params.ema_fast),
            ema_slow: Ema::new(params.ema_slow),
            ema_fast_hist: VecDeque::with_capacity(params.ema_slope_lookback + 1),
            atr: WilderAtr::new(params.atr_period),
            atr_sma: Sma::new(params.atr_sma_period),
            extremes: PriorExtremes::new(params.breakout_lookback),
            latest: None,
        }
    }

    pub fn params(&self) -> &IndicatorParams {
        &self.params
    }

    /// Feeds the next closed candle. On error the state is unchanged.
    ///
    /// # Errors
    /// The candle is inconsistent (non-positive, high < low, open/close outside the range) or does
    /// not open exactly one interval after the previous one.
    pub fn push(&mut self, c: &Candle) -> Result<&Indicators, CandleError> {
        validate_series(std::slice::from_ref(c), self.params.interval_ms)?;
        if let Some(prev) = &self.latest {
            if c.open_time_ms - prev.open_time_ms != self.params.interval_ms {
                return Err(CandleError::Gap {
                    prev_open_ms: prev.open_time_ms,
                    next_open_ms: c.open_time_ms,
                    step_ms: self.params.interval_ms,
                });
            }
        }
        let close = dec_to_f64(c.close);
        let ema_fast = self.ema_fast.push(close);
        let ema_slow = self.ema_slow.push(close);
        let mut ema_fast_prev = None;
        if let Some(v) = ema_fast {
            if self.ema_fast_hist.len() == self.params.ema_slope_lookback + 1 {
                self.ema_fast_hist.pop_front();
            }
            self.ema_fast_hist.push_back(v);
            if self.ema_fast_hist.len() == self.params.ema_slope_lookback + 1 {
                ema_fast_prev = self.ema_fast_hist.front().copied();
            }
        }
        let atr = self.atr.push(dec_to_f64(c.high), dec_to_f64(c.low), close);
        let atr_sma = atr.and_then(|a| self.atr_sma.push(a));
        let (highest_high, lowest_low) = self.extremes.push(c.high, c.low);
        let count = self.latest.map_or(0, |l| l.count) + 1;
        Ok(self.latest.insert(Indicators {
            count,
            open_time_ms: c.open_time_ms,
            close_time_ms: c.close_time_ms,
            close: c.close,
            ema_fast,
            ema_fast_prev,
            ema_slow,
            atr,
            atr_sma,
            highest_high,
            lowest_low,
        }))
    }

    /// The values at the last candle fed, if any.
    pub fn latest(&self) -> Option<&Indicators> {
        self.latest.as_ref()
    }
}

/// The indicator values at every candle of `candles` (oldest first): the batch form of
/// [`IndicatorState`].
///
/// # Errors
/// The first inconsistent candle or gap.
pub fn indicator_series(candles: &[Candle], params: IndicatorParams) -> Result<Vec<Indicators>, CandleError> {
    let mut st = IndicatorState::new(params);
    candles.iter().map(|c| st.push(c).copied()).collect()
}

#[cfg(test)]
mod tests;
