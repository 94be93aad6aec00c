//! A scripted in-memory exchange for the evaluate use case: candles from a list, a settable
//! clock, mark/funding, balance and filters; a read can be made to fail. Order-path methods are
//! not scripted (evaluate never sends orders) and fail loudly if called.

use mcbot::core::candle::Candle;
use mcbot::core::money::SymbolFilters;
use mcbot::exchange::{
    AccountSettings, CancelOutcome, ConditionalOrderRequest, ErrorClass, ExConditional, ExOrder, ExPosition, ExResult,
    Exchange, ExchangeError, ExchangeErrorKind, Fill, MarkInfo, MarketOrderRequest,
};
use rust_decimal::Decimal;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};
use std::sync::Mutex;

pub struct FakeExchange {
    /// Every candle the "exchange" will ever have; `klines` serves those opened by `now`.
    pub candles: Vec<Candle>,
    pub now_ms: AtomicI64,
    pub funding_rate: Mutex<Decimal>,
    pub balance: Decimal,
    pub filters: SymbolFilters,
    /// Name of a read to fail ("klines", "mark_info", "wallet_balance", "filters", "server_time").
    pub fail: Mutex<Option<&'static str>>,
    pub calls: AtomicUsize,
    pub order_calls: AtomicUsize,
}

fn not_scripted(what: &str) -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Local, ErrorClass::Fatal, format!("fake exchange: {what} not scripted"))
}

impl FakeExchange {
    pub fn new(candles: Vec<Candle>) -> Self {
        FakeExchange {
            candles,
            now_ms: AtomicI64::new(0),
            funding_rate: Mutex::new(Decimal::new(1, 4)),
            balance: Decimal::new(10_000, 0),
            filters: SymbolFilters::btcusdt_default(),
            fail: Mutex::new(None),
            calls: AtomicUsize::new(0),
            order_calls: AtomicUsize::new(0),
        }
    }
    /// Sets the exchange clock `after_ms` after candle `i` closed (close_time + 1 + after_ms).
    pub fn at_close_of(&self, i: usize, after_ms: i64) {
        self.now_ms.store(self.candles[i].close_time_ms + 1 + after_ms, Ordering::SeqCst);
    }
    fn read(&self, what: &'static str) -> ExResult<()> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        if *self.fail.lock().unwrap() == Some(what) {
            return Err(ExchangeError::new(
                ExchangeErrorKind::Http { status: 503 },
                ErrorClass::Retryable,
                format!("{what} unavailable"),
            ));
        }
        Ok(())
    }
    fn order(&self, what: &str) -> ExchangeError {
        self.order_calls.fetch_add(1, Ordering::SeqCst);
        not_scripted(what)
    }
}

impl Exchange for FakeExchange {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn server_time(&self) -> ExResult<i64> {
        self.read("server_time")?;
        Ok(self.now_ms.load(Ordering::SeqCst))
    }
    fn filters(&self, _symbol: &str) -> ExResult<SymbolFilters> {
        self.read("filters")?;
        Ok(self.filters.clone())
    }
    /// Like Binance: the newest `limit` candles that have opened, the forming one included.
    fn klines(&self, _symbol: &str, _interval: &str, limit: usize) -> ExResult<Vec<Candle>> {
        self.read("klines")?;
        let now = self.now_ms.load(Ordering::SeqCst);
        let opened: Vec<Candle> = self.candles.iter().filter(|c| c.open_time_ms <= now).cloned().collect();
        Ok(opened[opened.len().saturating_sub(limit)..].to_vec())
    }
    fn mark_info(&self, symbol: &str) -> ExResult<MarkInfo> {
        self.read("mark_info")?;
        let now = self.now_ms.load(Ordering::SeqCst);
        let last = self.candles.iter().rev().find(|c| c.open_time_ms <= now).map_or(Decimal::ONE, |c| c.close);
        Ok(MarkInfo {
            symbol: symbol.into(),
            mark_price: last,
            funding_rate: *self.funding_rate.lock().unwrap(),
            time_ms: now,
        })
    }
    fn position(&self, _symbol: &str) -> ExResult<ExPosition> {
        Err(self.order("position"))
    }
    fn open_orders(&self, _symbol: &str) -> ExResult<Vec<ExOrder>> {
        Err(self.order("open_orders"))
    }
    fn open_conditional_orders(&self, _symbol: &str) -> ExResult<Vec<ExConditional>> {
        Err(self.order("open_conditional_orders"))
    }
    fn place_market(&self, _req: &MarketOrderRequest) -> ExResult<ExOrder> {
        Err(self.order("place_market"))
    }
    fn place_conditional(&self, _req: &ConditionalOrderRequest) -> ExResult<ExConditional> {
        Err(self.order("place_conditional"))
    }
    fn query_order(&self, _symbol: &str, _client_id: &str) -> ExResult<Option<ExOrder>> {
        Err(self.order("query_order"))
    }
    fn query_conditional(&self, _symbol: &str, _client_id: &str) -> ExResult<Option<ExConditional>> {
        Err(self.order("query_conditional"))
    }
    fn cancel_order(&self, _symbol: &str, _client_id: &str) -> ExResult<CancelOutcome> {
        Err(self.order("cancel_order"))
    }
    fn cancel_conditional(&self, _symbol: &str, _client_id: &str) -> ExResult<CancelOutcome> {
        Err(self.order("cancel_conditional"))
    }
    fn account_settings(&self, _symbol: &str) -> ExResult<AccountSettings> {
        Err(self.order("account_settings"))
    }
    fn set_isolated_margin(&self, _symbol: &str) -> ExResult<()> {
        Err(self.order("set_isolated_margin"))
    }
    fn set_leverage(&self, _symbol: &str, _leverage: u32) -> ExResult<()> {
        Err(self.order("set_leverage"))
    }
    fn wallet_balance(&self, _asset: &str) -> ExResult<Decimal> {
        self.read("wallet_balance")?;
        Ok(self.balance)
    }
    fn order_fills(&self, _symbol: &str, _order_id: &str, _placed_ms: i64) -> ExResult<Vec<Fill>> {
        Err(self.order("order_fills"))
    }
}
