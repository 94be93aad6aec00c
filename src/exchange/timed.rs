//! A port decorator that measures each call's wall-clock latency (for `doctor --round-trip`):
//! every call goes straight through to the wrapped exchange; only the timing is added.

use super::{
    AccountSettings, CancelOutcome, ConditionalOrderRequest, ExConditional, ExOrder, ExPosition, ExResult, Exchange,
    Fill, KeyPermissions, MarkInfo, MarketOrderRequest, RateUsage, VenueInfo,
};
use crate::core::candle::Candle;
use crate::core::money::SymbolFilters;
use rust_decimal::Decimal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// One measured call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Timing {
    /// The port method (`place_market`, `open_conditional_orders`, ...).
    pub call: &'static str,
    /// The client id the call was about, when it had one.
    pub client_id: Option<String>,
    /// From the decorator's creation to the call's start and end.
    pub started: Duration,
    pub ended: Duration,
    pub ok: bool,
}

impl Timing {
    pub(crate) fn latency(&self) -> Duration {
        self.ended.saturating_sub(self.started)
    }
}

/// Wraps an exchange and records a [`Timing`] per call.
pub(crate) struct Timed<'a> {
    inner: &'a dyn Exchange,
    origin: Instant,
    log: Mutex<Vec<Timing>>,
}

impl<'a> Timed<'a> {
    pub(crate) fn new(inner: &'a dyn Exchange) -> Self {
        Timed { inner, origin: Instant::now(), log: Mutex::new(Vec::new()) }
    }

    /// Every call so far, in the order they ended.
    pub(crate) fn timings(&self) -> Vec<Timing> {
        self.log.lock().map(|l| l.clone()).unwrap_or_default()
    }

    fn time<T>(&self, call: &'static str, client_id: Option<&str>, op: impl FnOnce() -> ExResult<T>) -> ExResult<T> {
        let started = self.origin.elapsed();
        let r = op();
        let t = Timing {
            call,
            client_id: client_id.map(str::to_string),
            started,
            ended: self.origin.elapsed(),
            ok: r.is_ok(),
        };
        if let Ok(mut l) = self.log.lock() {
            l.push(t);
        }
        r
    }
}

impl Exchange for Timed<'_> {
    fn name(&self) -> &'static str {
        self.inner.name()
    }
    fn concurrent_calls(&self) -> bool {
        self.inner.concurrent_calls()
    }
    fn server_time(&self) -> ExResult<i64> {
        self.time("server_time", None, || self.inner.server_time())
    }
    fn filters(&self, symbol: &str) -> ExResult<SymbolFilters> {
        self.time("filters", None, || self.inner.filters(symbol))
    }
    fn klines(&self, symbol: &str, interval: &str, limit: usize) -> ExResult<Vec<Candle>> {
        self.time("klines", None, || self.inner.klines(symbol, interval, limit))
    }
    fn mark_info(&self, symbol: &str) -> ExResult<MarkInfo> {
        self.time("mark_info", None, || self.inner.mark_info(symbol))
    }
    fn position(&self, symbol: &str) -> ExResult<ExPosition> {
        self.time("position", None, || self.inner.position(symbol))
    }
    fn open_orders(&self, symbol: &str) -> ExResult<Vec<ExOrder>> {
        self.time("open_orders", None, || self.inner.open_orders(symbol))
    }
    fn open_conditional_orders(&self, symbol: &str) -> ExResult<Vec<ExConditional>> {
        self.time("open_conditional_orders", None, || self.inner.open_conditional_orders(symbol))
    }
    fn place_market(&self, req: &MarketOrderRequest) -> ExResult<ExOrder> {
        self.time("place_market", Some(&req.client_id), || self.inner.place_market(req))
    }
    fn place_conditional(&self, req: &ConditionalOrderRequest) -> ExResult<ExConditional> {
        self.time("place_conditional", Some(&req.client_id), || self.inner.place_conditional(req))
    }
    fn query_order(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExOrder>> {
        self.time("query_order", Some(client_id), || self.inner.query_order(symbol, client_id))
    }
    fn query_conditional(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExConditional>> {
        self.time("query_conditional", Some(client_id), || self.inner.query_conditional(symbol, client_id))
    }
    fn query_conditional_placed(
        &self,
        symbol: &str,
        client_id: &str,
        placed_ms: i64,
    ) -> ExResult<Option<ExConditional>> {
        self.time("query_conditional", Some(client_id), || {
            self.inner.query_conditional_placed(symbol, client_id, placed_ms)
        })
    }
    fn cancel_order(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        self.time("cancel_order", Some(client_id), || self.inner.cancel_order(symbol, client_id))
    }
    fn cancel_conditional(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        self.time("cancel_conditional", Some(client_id), || self.inner.cancel_conditional(symbol, client_id))
    }
    fn account_settings(&self, symbol: &str) -> ExResult<AccountSettings> {
        self.time("account_settings", None, || self.inner.account_settings(symbol))
    }
    fn set_isolated_margin(&self, symbol: &str) -> ExResult<()> {
        self.time("set_isolated_margin", None, || self.inner.set_isolated_margin(symbol))
    }
    fn set_leverage(&self, symbol: &str, leverage: u32) -> ExResult<()> {
        self.time("set_leverage", None, || self.inner.set_leverage(symbol, leverage))
    }
    fn wallet_balance(&self, asset: &str) -> ExResult<Decimal> {
        self.time("wallet_balance", None, || self.inner.wallet_balance(asset))
    }
    fn order_fills(&self, symbol: &str, order_id: &str, placed_ms: i64) -> ExResult<Vec<Fill>> {
        self.time("order_fills", None, || self.inner.order_fills(symbol, order_id, placed_ms))
    }
    fn venue_info(&self, symbol: &str) -> ExResult<VenueInfo> {
        self.time("venue_info", None, || self.inner.venue_info(symbol))
    }
    fn multi_assets_margin(&self) -> ExResult<bool> {
        self.time("multi_assets_margin", None, || self.inner.multi_assets_margin())
    }
    fn key_permissions(&self) -> ExResult<Option<KeyPermissions>> {
        self.time("key_permissions", None, || self.inner.key_permissions())
    }
    fn rate_usage(&self) -> Option<RateUsage> {
        self.inner.rate_usage()
    }
}
