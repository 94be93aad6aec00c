//! Live market data for the paper exchange (`paper.mode = "live"`): Binance's public
//! klines and premiumIndex through the adapter's key-less client, so anyone can forward-test
//! without an account (as freqtrade's dry-run does). Funding: the current `lastFundingRate` is
//! applied at each 8-hour settlement the paper exchange passes.
//!
//! The paper exchange asks its market data on every call (a tick makes dozens): answers are kept
//! for 10 s of this process, and a read that failed after the adapter's bounded retries fails the
//! calls in the next 3 s at once, so a host that is down is not asked again by every paper call
//! (exec's own retries still run to their budgets, and a short blip is over before they end).

use crate::core::candle::{interval_ms, Candle, FundingRate};
use crate::exchange::error::{ErrorClass, ExResult, ExchangeError, ExchangeErrorKind};
use crate::exchange::paper::market::MarketData;
use crate::exchange::Exchange;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Binance's funding settlement period for BTCUSDT.
const FUNDING_PERIOD_MS: i64 = 8 * 3_600_000;
/// Binance's klines limit.
const MAX_KLINES: usize = 1500;
/// How long an answer stands for the calls after it in this process. A 4h strategy does not see a
/// few seconds; a `tick` finishes well within it.
const FRESH_FOR: Duration = Duration::from_secs(10);
/// How long a failed read (its retries spent) stands before the host is asked again.
const FAILED_FOR: Duration = Duration::from_secs(3);

/// What this process last read, and when.
#[derive(Default)]
struct Cache {
    /// The newest klines and how many were asked for.
    klines: Option<(Instant, usize, Vec<Candle>)>,
    funding: Option<(Instant, rust_decimal::Decimal)>,
    failed: Option<(Instant, ExchangeError)>,
}

/// Public Binance market data behind the `MarketData` port.
pub struct LiveMarketData {
    source: Box<dyn Exchange>,
    symbol: String,
    interval: String,
    interval_ms: i64,
    cache: Mutex<Cache>,
}

impl LiveMarketData {
    /// `source` is a key-less client (`BinanceFutures::public`).
    pub fn new(source: Box<dyn Exchange>, symbol: &str, interval: &str) -> ExResult<Self> {
        let interval_ms = interval_ms(interval)
            .map_err(|e| ExchangeError::new(ExchangeErrorKind::Local, ErrorClass::Fatal, e.to_string()))?;
        Ok(LiveMarketData {
            source,
            symbol: symbol.to_string(),
            interval: interval.to_string(),
            interval_ms,
            cache: Mutex::new(Cache::default()),
        })
    }

    fn cache(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A recent failure stands (see the module doc); otherwise runs `read` and records a failure.
    fn guarded<T>(&self, read: impl FnOnce() -> ExResult<T>) -> ExResult<T> {
        if let Some((at, e)) = &self.cache().failed {
            if at.elapsed() < FAILED_FOR {
                return Err(e.clone());
            }
        }
        let r = read();
        if let Err(e) = &r {
            self.cache().failed = Some((Instant::now(), e.clone()));
        }
        r
    }

    fn recent(&self, limit: usize) -> ExResult<Vec<Candle>> {
        let limit = limit.clamp(1, MAX_KLINES);
        if let Some((at, n, v)) = &self.cache().klines {
            if at.elapsed() < FRESH_FOR && *n >= limit {
                return Ok(v[v.len().saturating_sub(limit)..].to_vec());
            }
        }
        let v = self.guarded(|| self.source.klines(&self.symbol, &self.interval, limit))?;
        self.cache().klines = Some((Instant::now(), limit, v.clone()));
        Ok(v)
    }

    fn funding_rate(&self) -> ExResult<rust_decimal::Decimal> {
        if let Some((at, rate)) = self.cache().funding {
            if at.elapsed() < FRESH_FOR {
                return Ok(rate);
            }
        }
        let rate = self.guarded(|| self.source.mark_info(&self.symbol))?.funding_rate;
        self.cache().funding = Some((Instant::now(), rate));
        Ok(rate)
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
        let rate = self.funding_rate()?;
        Ok((0..)
            .map(|k| first + k * FUNDING_PERIOD_MS)
            .take_while(|t| *t <= to_ms)
            .map(|time_ms| FundingRate { time_ms, rate })
            .collect())
    }
    fn last_funding(&self, t_ms: i64) -> ExResult<Option<FundingRate>> {
        let rate = self.funding_rate()?;
        Ok(Some(FundingRate { time_ms: t_ms / FUNDING_PERIOD_MS * FUNDING_PERIOD_MS, rate }))
    }
}
