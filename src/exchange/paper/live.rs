//! Live market data for the paper exchange (`paper.market_data = "binance"`): Binance's public
//! klines and premiumIndex through the adapter's key-less client, so anyone can forward-test
//! without an account (as freqtrade's dry-run does). Funding: the current `lastFundingRate` is
//! applied at each 8-hour settlement the paper exchange passes.

use crate::core::candle::{interval_ms, Candle, FundingRate};
use crate::exchange::error::{ErrorClass, ExResult, ExchangeError, ExchangeErrorKind};
use crate::exchange::paper::market::MarketData;
use crate::exchange::Exchange;

/// Binance's funding settlement period for BTCUSDT.
const FUNDING_PERIOD_MS: i64 = 8 * 3_600_000;
/// Binance's klines limit.
const MAX_KLINES: usize = 1500;

/// Public Binance market data behind the `MarketData` port.
pub struct LiveMarketData {
    source: Box<dyn Exchange>,
    symbol: String,
    interval: String,
    interval_ms: i64,
}

impl LiveMarketData {
    /// `source` is a key-less client (`BinanceFutures::public`).
    pub fn new(source: Box<dyn Exchange>, symbol: &str, interval: &str) -> ExResult<Self> {
        let interval_ms = interval_ms(interval)
            .map_err(|e| ExchangeError::new(ExchangeErrorKind::Local, ErrorClass::Fatal, e.to_string()))?;
        Ok(LiveMarketData { source, symbol: symbol.to_string(), interval: interval.to_string(), interval_ms })
    }

    fn recent(&self, limit: usize) -> ExResult<Vec<Candle>> {
        self.source.klines(&self.symbol, &self.interval, limit.clamp(1, MAX_KLINES))
    }
}

impl MarketData for LiveMarketData {
    fn interval_ms(&self) -> i64 {
        self.interval_ms
    }
    fn candles_between(&self, from_ms: i64, to_ms: i64) -> ExResult<Vec<Candle>> {
        let span = usize::try_from((to_ms - from_ms) / self.interval_ms + 2).unwrap_or(MAX_KLINES);
        Ok(self.recent(span)?.into_iter().filter(|c| c.open_time_ms >= from_ms && c.open_time_ms <= to_ms).collect())
    }
    fn candles_until(&self, t_ms: i64, limit: usize) -> ExResult<Vec<Candle>> {
        let mut v: Vec<Candle> = self.recent(limit + 1)?.into_iter().filter(|c| c.open_time_ms <= t_ms).collect();
        let extra = v.len().saturating_sub(limit);
        v.drain(..extra);
        Ok(v)
    }
    fn funding_between(&self, from_ms: i64, to_ms: i64) -> ExResult<Vec<FundingRate>> {
        let first = (from_ms / FUNDING_PERIOD_MS + 1) * FUNDING_PERIOD_MS;
        if first > to_ms {
            return Ok(Vec::new());
        }
        let rate = self.source.mark_info(&self.symbol)?.funding_rate;
        Ok((0..)
            .map(|k| first + k * FUNDING_PERIOD_MS)
            .take_while(|t| *t <= to_ms)
            .map(|time_ms| FundingRate { time_ms, rate })
            .collect())
    }
    fn last_funding(&self, t_ms: i64) -> ExResult<Option<FundingRate>> {
        let rate = self.source.mark_info(&self.symbol)?.funding_rate;
        Ok(Some(FundingRate { time_ms: t_ms / FUNDING_PERIOD_MS * FUNDING_PERIOD_MS, rate }))
    }
}
