//! Where the paper exchange's prices come from: the [`MarketData`] port and its file
//! implementation, loaded once and shared (`Arc`) across every exchange instance of a run.
//!
//! A live forward-testing implementation (`paper.mode = "live"`) plugs in here: wrap
//! the Binance adapter's public `klines` / `mark_info` and implement the same four methods (a
//! small cache of recent candles is enough, since the paper exchange only asks about the time
//! since its last call). Nothing else in the paper exchange knows where prices come from.

use crate::core::candle::{validate_series, Candle, FundingRate};
use crate::exchange::error::ExResult;
use std::path::{Path, PathBuf};

/// Candles and funding rates by time. Implementations must be cheap to call repeatedly: the paper
/// exchange asks on every call.
pub trait MarketData: Send + Sync {
    /// The candle length in ms (e.g. 14,400,000 for 4h).
    fn interval_ms(&self) -> i64;
    /// Candles whose open time lies in `[from_ms, to_ms]`, oldest first.
    fn candles_between(&self, from_ms: i64, to_ms: i64) -> ExResult<Vec<Candle>>;
    /// The last `limit` candles with open time ≤ `t_ms`, oldest first; the last one may still be
    /// open at `t_ms` (as Binance's klines).
    fn candles_until(&self, t_ms: i64, limit: usize) -> ExResult<Vec<Candle>>;
    /// Funding settlements with time in `(from_ms, to_ms]`, oldest first.
    fn funding_between(&self, from_ms: i64, to_ms: i64) -> ExResult<Vec<FundingRate>>;
    /// The latest settled funding at or before `t_ms`.
    fn last_funding(&self, t_ms: i64) -> ExResult<Option<FundingRate>>;

    /// The candle containing `t_ms` (open ≤ t ≤ close), if the data covers it.
    fn candle_at(&self, t_ms: i64) -> ExResult<Option<Candle>> {
        Ok(self.candles_until(t_ms, 1)?.pop().filter(|c| c.close_time_ms >= t_ms))
    }
}

/// A candles or funding file that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path}: {problem}")]
pub struct MarketDataError {
    pub path: String,
    pub problem: String,
}

/// Market data held in memory: a gap-free candle series (O(1) lookup by time) and sorted funding
/// rates (O(log n)).
#[derive(Debug, Clone)]
pub struct FileMarketData {
    candles: Vec<Candle>,
    funding: Vec<FundingRate>,
    interval_ms: i64,
}

fn problem(path: &Path, problem: impl Into<String>) -> MarketDataError {
    MarketDataError { path: path.display().to_string(), problem: problem.into() }
}

/// Reads `open_time_ms,open,high,low,close,volume,close_time_ms` (the one loader: `marketdata`).
pub fn load_candles(path: &Path) -> Result<Vec<Candle>, MarketDataError> {
    crate::marketdata::load_candles(path).map_err(|e| problem(path, e.to_string()))
}

/// Reads `funding_time_ms,funding_rate` (the one loader: `marketdata`).
pub fn load_funding(path: &Path) -> Result<Vec<FundingRate>, MarketDataError> {
    crate::marketdata::load_funding(path).map_err(|e| problem(path, e.to_string()))
}

impl FileMarketData {
    /// Validates and indexes in-memory data (tests build synthetic series this way). The candle
    /// series must be non-empty, consistent and gap-free; funding must be strictly increasing.
    pub fn new(candles: Vec<Candle>, funding: Vec<FundingRate>) -> Result<Self, MarketDataError> {
        Self::build(candles, funding, Path::new("<memory>"), Path::new("<memory>"))
    }

    /// Loads the two CSV files once.
    pub fn load(candles: &Path, funding: &Path) -> Result<Self, MarketDataError> {
        Self::build(load_candles(candles)?, load_funding(funding)?, candles, funding)
    }

    fn build(
        candles: Vec<Candle>,
        funding: Vec<FundingRate>,
        cpath: &Path,
        fpath: &Path,
    ) -> Result<Self, MarketDataError> {
        let first = candles.first().ok_or_else(|| problem(cpath, "no candles"))?;
        let interval_ms = first.close_time_ms - first.open_time_ms + 1;
        if interval_ms <= 0 {
            return Err(problem(cpath, "close_time_ms before open_time_ms"));
        }
        validate_series(&candles, interval_ms).map_err(|e| problem(cpath, e.to_string()))?;
        if let Some(c) = candles.iter().find(|c| c.close_time_ms - c.open_time_ms + 1 != interval_ms) {
            return Err(problem(cpath, format!("candle at {} has a different length", c.open_time_ms)));
        }
        if funding.windows(2).any(|w| w[1].time_ms <= w[0].time_ms) {
            return Err(problem(fpath, "funding times are not strictly increasing"));
        }
        Ok(FileMarketData { candles, funding, interval_ms })
    }

    /// All candles, oldest first.
    pub fn candles(&self) -> &[Candle] {
        &self.candles
    }

    pub fn funding(&self) -> &[FundingRate] {
        &self.funding
    }

    /// Where the files' data lives by default, relative to the repository root.
    pub fn default_paths(root: &Path) -> (PathBuf, PathBuf) {
        (root.join("data/BTCUSDT-4h.csv"), root.join("data/BTCUSDT-funding.csv"))
    }

    /// Index of the candle with the largest open time ≤ `t_ms` (the series is gap-free, so this
    /// is arithmetic), or None before the first candle.
    fn index_at_or_before(&self, t_ms: i64) -> Option<usize> {
        let first = self.candles.first()?.open_time_ms;
        if t_ms < first {
            return None;
        }
        let i = usize::try_from((t_ms - first) / self.interval_ms).ok()?;
        Some(i.min(self.candles.len() - 1))
    }

    /// Index of the first candle with open time ≥ `t_ms`.
    fn index_from(&self, t_ms: i64) -> usize {
        match self.index_at_or_before(t_ms) {
            None => 0,
            Some(i) if self.candles[i].open_time_ms >= t_ms => i,
            Some(i) => i + 1,
        }
    }
}

impl MarketData for FileMarketData {
    fn interval_ms(&self) -> i64 {
        self.interval_ms
    }

    fn candles_between(&self, from_ms: i64, to_ms: i64) -> ExResult<Vec<Candle>> {
        let lo = self.index_from(from_ms);
        let hi = self.index_at_or_before(to_ms).map_or(0, |i| i + 1);
        Ok(self.candles.get(lo..hi.max(lo)).unwrap_or_default().to_vec())
    }

    fn candles_until(&self, t_ms: i64, limit: usize) -> ExResult<Vec<Candle>> {
        let hi = self.index_at_or_before(t_ms).map_or(0, |i| i + 1);
        Ok(self.candles.get(hi.saturating_sub(limit)..hi).unwrap_or_default().to_vec())
    }

    fn funding_between(&self, from_ms: i64, to_ms: i64) -> ExResult<Vec<FundingRate>> {
        let lo = self.funding.partition_point(|f| f.time_ms <= from_ms);
        let hi = self.funding.partition_point(|f| f.time_ms <= to_ms);
        Ok(self.funding.get(lo..hi.max(lo)).unwrap_or_default().to_vec())
    }

    fn last_funding(&self, t_ms: i64) -> ExResult<Option<FundingRate>> {
        let hi = self.funding.partition_point(|f| f.time_ms <= t_ms);
        Ok(hi.checked_sub(1).and_then(|i| self.funding.get(i)).cloned())
    }

    fn candle_at(&self, t_ms: i64) -> ExResult<Option<Candle>> {
        Ok(self.index_at_or_before(t_ms).map(|i| &self.candles[i]).filter(|c| c.close_time_ms >= t_ms).cloned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn series(n: i64) -> FileMarketData {
        let candles = (0..n)
            .map(|i| Candle {
                open_time_ms: 1000 + i * 100,
                open: dec!(10),
                high: dec!(11),
                low: dec!(9),
                close: dec!(10),
                volume: dec!(1),
                close_time_ms: 1000 + i * 100 + 99,
            })
            .collect();
        let funding =
            vec![FundingRate { time_ms: 1000, rate: dec!(0.0001) }, FundingRate { time_ms: 1200, rate: dec!(-0.0002) }];
        FileMarketData::new(candles, funding).unwrap()
    }

    #[test]
    fn lookups_by_time() {
        let m = series(5); // opens 1000..1400, last closes 1499
        assert_eq!(m.interval_ms(), 100);
        assert!(m.candle_at(999).unwrap().is_none());
        assert_eq!(m.candle_at(1000).unwrap().unwrap().open_time_ms, 1000);
        assert_eq!(m.candle_at(1199).unwrap().unwrap().open_time_ms, 1100);
        assert_eq!(m.candle_at(1499).unwrap().unwrap().open_time_ms, 1400);
        assert!(m.candle_at(1500).unwrap().is_none());
        let opens = |v: Vec<Candle>| v.iter().map(|c| c.open_time_ms).collect::<Vec<_>>();
        assert_eq!(opens(m.candles_until(1250, 2).unwrap()), vec![1100, 1200]);
        assert_eq!(opens(m.candles_until(9999, 2).unwrap()), vec![1300, 1400]);
        assert!(m.candles_until(10, 2).unwrap().is_empty());
        assert_eq!(opens(m.candles_between(1001, 1300).unwrap()), vec![1100, 1200, 1300]);
        assert_eq!(opens(m.candles_between(0, 1000).unwrap()), vec![1000]);
        assert!(m.candles_between(1301, 1399).unwrap().is_empty());
        assert_eq!(m.funding_between(1000, 1200).unwrap().len(), 1);
        assert_eq!(m.funding_between(999, 1200).unwrap().len(), 2);
        assert_eq!(m.last_funding(1199).unwrap().unwrap().rate, dec!(0.0001));
        assert!(m.last_funding(999).unwrap().is_none());
    }

    #[test]
    fn refuses_gaps_and_empty() {
        assert!(FileMarketData::new(vec![], vec![]).is_err());
        let mut m = series(3).candles().to_vec();
        m.remove(1);
        assert!(FileMarketData::new(m, vec![]).is_err());
    }
}
