//! Candles and funding rates: the market data the strategy and the paper exchange read.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// One OHLCV candle. Times are Unix ms UTC; `close_time_ms = open_time_ms + step - 1` as on Binance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candle {
    pub open_time_ms: i64,
    pub open: Decimal,
    pub high: Decimal,
    pub low: Decimal,
    pub close: Decimal,
    pub volume: Decimal,
    pub close_time_ms: i64,
}

/// One settled (or current) funding rate, as a fraction (0.0001 = 0.01 %).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FundingRate {
    pub time_ms: i64,
    pub rate: Decimal,
}

/// Why a candle series cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CandleError {
    #[error("candle at {open_time_ms}: high {high} < low {low}")]
    HighBelowLow { open_time_ms: i64, high: Decimal, low: Decimal },
    #[error("candle at {open_time_ms}: non-positive price")]
    NonPositive { open_time_ms: i64 },
    #[error("candle at {open_time_ms}: open/close outside [low, high]")]
    OutsideRange { open_time_ms: i64 },
    #[error("gap or disorder in candles: {prev_open_ms} then {next_open_ms}, expected step {step_ms} ms")]
    Gap { prev_open_ms: i64, next_open_ms: i64, step_ms: i64 },
    #[error("{0:?} is not a Binance kline interval (one of 1m 3m 5m 15m 30m 1h 2h 4h 6h 8h 12h 1d 3d 1w; 1M is not supported: months differ in length)")]
    BadInterval(String),
}

/// Binance's kline intervals with a fixed length, in ms. `1M` (calendar month) is also a Binance
/// interval, but months differ in length, so a gap-free series at a fixed step cannot hold it.
pub const KLINE_INTERVALS: [(&str, i64); 14] = [
    ("1m", 60_000),
    ("3m", 180_000),
    ("5m", 300_000),
    ("15m", 900_000),
    ("30m", 1_800_000),
    ("1h", 3_600_000),
    ("2h", 7_200_000),
    ("4h", 14_400_000),
    ("6h", 21_600_000),
    ("8h", 28_800_000),
    ("12h", 43_200_000),
    ("1d", 86_400_000),
    ("3d", 259_200_000),
    ("1w", 604_800_000),
];

/// Milliseconds in a Binance kline interval such as `4h`; anything not in [`KLINE_INTERVALS`]
/// (e.g. `10m`, `7h`, `1M`) is refused, since Binance would answer the first request with -1120.
pub fn interval_ms(interval: &str) -> Result<i64, CandleError> {
    KLINE_INTERVALS
        .iter()
        .find(|(name, _)| *name == interval)
        .map(|(_, ms)| *ms)
        .ok_or_else(|| CandleError::BadInterval(interval.to_string()))
}

/// Checks each candle's own consistency and that the series is gap-free at `step_ms`.
pub fn validate_series(candles: &[Candle], step_ms: i64) -> Result<(), CandleError> {
    for c in candles {
        if c.low <= Decimal::ZERO || c.open <= Decimal::ZERO || c.close <= Decimal::ZERO {
            return Err(CandleError::NonPositive { open_time_ms: c.open_time_ms });
        }
        if c.high < c.low {
            return Err(CandleError::HighBelowLow { open_time_ms: c.open_time_ms, high: c.high, low: c.low });
        }
        if c.open > c.high || c.open < c.low || c.close > c.high || c.close < c.low {
            return Err(CandleError::OutsideRange { open_time_ms: c.open_time_ms });
        }
    }
    for w in candles.windows(2) {
        if w[1].open_time_ms - w[0].open_time_ms != step_ms {
            return Err(CandleError::Gap { prev_open_ms: w[0].open_time_ms, next_open_ms: w[1].open_time_ms, step_ms });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn c(t: i64, o: Decimal, h: Decimal, l: Decimal, cl: Decimal) -> Candle {
        Candle { open_time_ms: t, open: o, high: h, low: l, close: cl, volume: dec!(1), close_time_ms: t + 999 }
    }

    #[test]
    fn intervals() {
        assert_eq!(interval_ms("4h"), Ok(14_400_000));
        assert_eq!(interval_ms("1m"), Ok(60_000));
        assert!(interval_ms("4x").is_err());
        assert!(interval_ms("h").is_err());
        assert!(interval_ms("0h").is_err());
        // Binance refuses these with -1120; multi-byte input must not panic.
        for bad in ["10m", "7h", "1M", "9223372036854775807m", "ß", "4é", "", "4H"] {
            assert!(interval_ms(bad).is_err(), "{bad}");
        }
        assert_eq!(interval_ms("1w"), Ok(604_800_000));
    }

    #[test]
    fn series_checks() {
        let ok = vec![c(0, dec!(10), dec!(11), dec!(9), dec!(10)), c(1000, dec!(10), dec!(12), dec!(10), dec!(11))];
        assert!(validate_series(&ok, 1000).is_ok());
        assert!(matches!(validate_series(&ok, 500), Err(CandleError::Gap { .. })));
        let bad = vec![c(0, dec!(10), dec!(9), dec!(11), dec!(10))];
        assert!(matches!(validate_series(&bad, 1000), Err(CandleError::HighBelowLow { .. })));
        let neg = vec![c(0, dec!(0), dec!(1), dec!(0), dec!(1))];
        assert!(matches!(validate_series(&neg, 1000), Err(CandleError::NonPositive { .. })));
    }
}
