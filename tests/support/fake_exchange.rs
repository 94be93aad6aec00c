//! A scripted in-memory exchange for shell tests of `exec`: Binance-like defaults (market orders
//! fill at the mark, reduce-only caps at the position, -2021 for stops on the wrong side, -2022
//! reduce-only with no position), a log of every call, and faults injected per call label.

use mcbot::clock::{Clock, ManualClock};
use mcbot::core::candle::Candle;
use mcbot::core::money::SymbolFilters;
use mcbot::core::types::OrderSide;
use mcbot::exchange::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// What to do to a matching call.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Fail without executing.
    Fail(ExchangeError),
    /// Execute, then fail (a lost acknowledgement).
    ExecuteThenFail(ExchangeError),
    /// Take this long (advances the manual clock) and then behave normally.
    Delay(i64),
    /// ENTRY fills only this quantity and stays PARTIALLY_FILLED.
    PartialFill(Decimal),
    /// On a query: the partially filled order completes first (the rest fills at the mark).
    CompletePartial,
}

/// Shared mutable state of the fake.
#[derive(Debug)]
pub struct FakeState {
    pub position_qty: Decimal,
    pub entry_price: Decimal,
    pub mark: Decimal,
    pub orders: Vec<ExOrder>,
    pub conds: Vec<ExConditional>,
    pub calls: Vec<String>,
    pub faults: Vec<(String, Fault, usize)>,
    pub settings: AccountSettings,
    pub next_id: u64,
    pub fills: Vec<Fill>,
}

pub struct FakeExchange {
    pub state: Mutex<FakeState>,
    pub clock: ManualClock,
    pub filters: SymbolFilters,
}

pub fn api_err(code: i64, class: ErrorClass, msg: &str) -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Api { code }, class, msg)
}
pub fn timeout_err() -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Transport { sent: true }, ErrorClass::Ambiguous, "timed out after send")
}
pub fn http_503() -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Http { status: 503 }, ErrorClass::Retryable, "Service Unavailable")
}

impl FakeExchange {
    pub fn new(clock: ManualClock, mark: Decimal) -> Self {
        FakeExchange {
            state: Mutex::new(FakeState {
                position_qty: Decimal::ZERO,
                entry_price: Decimal::ZERO,
                mark,
                orders: vec![],
                conds: vec![],
                calls: vec![],
                faults: vec![],
                settings: AccountSettings { isolated: true, leverage: 1, dual_side: false },
                next_id: 1000,
                fills: vec![],
            }),
            clock,
            filters: SymbolFilters::btcusdt_default(),
        }
    }
    /// Injects `fault` into the next `times` calls whose label starts with `label`.
    pub fn on(&self, label: &str, fault: Fault, times: usize) {
        self.state.lock().unwrap().faults.push((label.to_string(), fault, times));
    }
    pub fn calls(&self) -> Vec<String> {
        self.state.lock().unwrap().calls.clone()
    }
    /// Calls that send something (orders and cancels), in order.
    pub fn sent(&self) -> Vec<String> {
        self.calls()
            .into_iter()
            .filter(|c| c.starts_with("place_") || c.starts_with("cancel_") || c.starts_with("set_"))
            .collect()
    }
    pub fn position(&self) -> Decimal {
        self.state.lock().unwrap().position_qty
    }
    pub fn open_conds(&self) -> Vec<ExConditional> {
        self.state.lock().unwrap().conds.iter().filter(|c| c.status.is_open()).cloned().collect()
    }
    pub fn set_mark(&self, m: Decimal) {
        self.state.lock().unwrap().mark = m;
    }
    /// Sets the exchange position directly (phantom/foreign scenarios).
    pub fn set_position(&self, qty: Decimal, entry: Decimal) {
        let mut s = self.state.lock().unwrap();
        s.position_qty = qty;
        s.entry_price = entry;
    }
    /// Moves the mark and fires conditional orders it crosses (a STOP/TP hit while mcbot sleeps).
    pub fn move_mark_and_trigger(&self, m: Decimal) {
        let mut s = self.state.lock().unwrap();
        s.mark = m;
        let mut fired = vec![];
        for (i, c) in s.conds.iter().enumerate() {
            if c.status != ConditionalStatus::New {
                continue;
            }
            let hit = match (c.kind, c.side) {
                (ConditionalKind::StopMarket, OrderSide::Sell)
                | (ConditionalKind::TakeProfitMarket, OrderSide::Buy) => m <= c.trigger_price,
                (ConditionalKind::StopMarket, OrderSide::Buy)
                | (ConditionalKind::TakeProfitMarket, OrderSide::Sell) => m >= c.trigger_price,
            };
            if hit {
                fired.push(i);
            }
        }
        for i in fired {
            let pos = s.position_qty;
            let c = &mut s.conds[i];
            let reduce = c.qty.min(pos.abs());
            c.status = ConditionalStatus::Finished;
            c.actual_qty = Some(reduce);
            c.actual_price = Some(c.trigger_price);
            c.actual_order_id = Some(format!("child-{}", c.algo_id));
            let sign = if c.side == OrderSide::Sell { Decimal::NEGATIVE_ONE } else { Decimal::ONE };
            s.position_qty += sign * reduce;
        }
    }

    fn begin(&self, label: &str) -> Option<Fault> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(label.to_string());
        let idx = s.faults.iter().position(|(l, _, n)| *n > 0 && label.starts_with(l.as_str()))?;
        s.faults[idx].2 -= 1;
        let f = s.faults[idx].1.clone();
        drop(s);
        if let Fault::Delay(ms) = f {
            self.clock.advance_ms(ms);
        }
        Some(f)
    }

    fn id(s: &mut FakeState) -> String {
        s.next_id += 1;
        s.next_id.to_string()
    }
}

fn role_of(cid: &str) -> &str {
    cid.split('_').nth(2).unwrap_or("?")
}

impl Exchange for FakeExchange {
    fn name(&self) -> &'static str {
        "fake"
    }
    fn server_time(&self) -> ExResult<i64> {
        self.begin("server_time");
        Ok(self.clock.now_ms())
    }
    fn filters(&self, _symbol: &str) -> ExResult<SymbolFilters> {
        if let Some(Fault::Fail(e)) = self.begin("filters") {
            return Err(e);
        }
        Ok(self.filters.clone())
    }
    fn klines(&self, _symbol: &str, _interval: &str, _limit: usize) -> ExResult<Vec<Candle>> {
        self.begin("klines");
        Ok(vec![])
    }
    fn mark_info(&self, symbol: &str) -> ExResult<MarkInfo> {
        if let Some(Fault::Fail(e)) = self.begin("mark_info") {
            return Err(e);
        }
        let s = self.state.lock().unwrap();
        Ok(MarkInfo {
            symbol: symbol.into(),
            mark_price: s.mark,
            funding_rate: dec!(0.0001),
            time_ms: self.clock.now_ms(),
        })
    }
    fn position(&self, symbol: &str) -> ExResult<ExPosition> {
        if let Some(Fault::Fail(e)) = self.begin("position") {
            return Err(e);
        }
        let s = self.state.lock().unwrap();
        Ok(ExPosition {
            symbol: symbol.into(),
            qty: s.position_qty,
            entry_price: s.entry_price,
            mark_price: s.mark,
            update_time_ms: 0,
        })
    }
    fn open_orders(&self, _symbol: &str) -> ExResult<Vec<ExOrder>> {
        if let Some(Fault::Fail(e)) = self.begin("open_orders") {
            return Err(e);
        }
        Ok(self.state.lock().unwrap().orders.iter().filter(|o| o.status.is_open()).cloned().collect())
    }
    fn open_conditional_orders(&self, _symbol: &str) -> ExResult<Vec<ExConditional>> {
        if let Some(Fault::Fail(e)) = self.begin("open_conditional_orders") {
            return Err(e);
        }
        Ok(self.open_conds())
    }
    fn place_market(&self, req: &MarketOrderRequest) -> ExResult<ExOrder> {
        let fault = self.begin(&format!("place_market:{}", role_of(&req.client_id)));
        if let Some(Fault::Fail(e)) = fault {
            return Err(e);
        }
        let mut s = self.state.lock().unwrap();
        let sign = if req.side == OrderSide::Buy { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
        let mut qty = req.qty;
        if req.reduce_only {
            if s.position_qty.is_zero() || (s.position_qty > Decimal::ZERO) == (sign > Decimal::ZERO) {
                return Err(api_err(-2022, ErrorClass::Fatal, "ReduceOnly Order is rejected."));
            }
            qty = qty.min(s.position_qty.abs());
        }
        let (status, exec_qty) = match fault {
            Some(Fault::PartialFill(q)) => (ExOrderStatus::PartiallyFilled, q),
            _ => (ExOrderStatus::Filled, qty),
        };
        let mark = s.mark;
        if !req.reduce_only {
            let old = s.position_qty.abs();
            s.entry_price =
                if old.is_zero() { mark } else { (s.entry_price * old + mark * exec_qty) / (old + exec_qty) };
        }
        s.position_qty += sign * exec_qty;
        let id = Self::id(&mut s);
        s.fills.push(Fill {
            order_id: id.clone(),
            price: mark,
            qty: exec_qty,
            commission: exec_qty * mark * dec!(0.0004),
            commission_asset: "USDT".into(),
            realized_pnl: Decimal::ZERO,
            time_ms: 0,
        });
        let order = ExOrder {
            symbol: req.symbol.clone(),
            client_id: req.client_id.clone(),
            order_id: id,
            side: req.side,
            status,
            orig_qty: req.qty,
            executed_qty: exec_qty,
            avg_price: mark,
            reduce_only: req.reduce_only,
            update_time_ms: self.clock.now_ms(),
            raw: format!("fake place_market {}", req.client_id),
        };
        s.orders.push(order.clone());
        drop(s);
        if let Some(Fault::ExecuteThenFail(e)) = fault {
            return Err(e);
        }
        Ok(order)
    }
    fn place_conditional(&self, req: &ConditionalOrderRequest) -> ExResult<ExConditional> {
        let fault = self.begin(&format!("place_conditional:{}", role_of(&req.client_id)));
        if let Some(Fault::Fail(e)) = fault {
            return Err(e);
        }
        let mut s = self.state.lock().unwrap();
        let would_trigger =
            match (req.kind, req.side) {
                (ConditionalKind::StopMarket, OrderSide::Sell)
                | (ConditionalKind::TakeProfitMarket, OrderSide::Buy) => req.trigger_price >= s.mark,
                (ConditionalKind::StopMarket, OrderSide::Buy)
                | (ConditionalKind::TakeProfitMarket, OrderSide::Sell) => req.trigger_price <= s.mark,
            };
        if would_trigger {
            return Err(api_err(-2021, ErrorClass::Fatal, "Order would immediately trigger."));
        }
        if s.conds.iter().any(|c| c.client_id == req.client_id && c.status.is_open()) {
            return Err(api_err(-4116, ErrorClass::Fatal, "ClientOrderId is duplicated."));
        }
        let c = ExConditional {
            symbol: req.symbol.clone(),
            client_id: req.client_id.clone(),
            algo_id: Self::id(&mut s),
            kind: req.kind,
            side: req.side,
            status: ConditionalStatus::New,
            trigger_price: req.trigger_price,
            qty: req.qty,
            reduce_only: true,
            close_position: false,
            actual_order_id: None,
            actual_price: None,
            actual_qty: None,
            update_time_ms: self.clock.now_ms(),
            raw: format!("fake place_conditional {}", req.client_id),
        };
        s.conds.push(c.clone());
        drop(s);
        if let Some(Fault::ExecuteThenFail(e)) = fault {
            return Err(e);
        }
        Ok(c)
    }
    fn query_order(&self, _symbol: &str, client_id: &str) -> ExResult<Option<ExOrder>> {
        // The pre-send check that an ENTRY's client id is unused finds nothing; a scripted fault
        // on a look-up is meant for the look-up after the order was sent.
        if !self.state.lock().unwrap().orders.iter().any(|o| o.client_id == client_id) {
            return Ok(None);
        }
        let fault = self.begin(&format!("query_order:{}", role_of(client_id)));
        if let Some(Fault::Fail(e)) = fault {
            return Err(e);
        }
        if let Some(Fault::CompletePartial) = fault {
            let mut s = self.state.lock().unwrap();
            let mark = s.mark;
            let mut add = Decimal::ZERO;
            let mut sign = Decimal::ONE;
            if let Some(o) =
                s.orders.iter_mut().find(|o| o.client_id == client_id && o.status == ExOrderStatus::PartiallyFilled)
            {
                add = o.orig_qty - o.executed_qty;
                o.avg_price = (o.avg_price * o.executed_qty + mark * add) / o.orig_qty;
                o.executed_qty = o.orig_qty;
                o.status = ExOrderStatus::Filled;
                sign = if o.side == OrderSide::Buy { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
            }
            s.position_qty += sign * add;
        }
        Ok(self.state.lock().unwrap().orders.iter().rev().find(|o| o.client_id == client_id).cloned())
    }
    fn query_conditional(&self, _symbol: &str, client_id: &str) -> ExResult<Option<ExConditional>> {
        if let Some(Fault::Fail(e)) = self.begin(&format!("query_conditional:{}", role_of(client_id))) {
            return Err(e);
        }
        Ok(self.state.lock().unwrap().conds.iter().rev().find(|c| c.client_id == client_id).cloned())
    }
    fn cancel_order(&self, _symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        if let Some(Fault::Fail(e)) = self.begin(&format!("cancel_order:{}", role_of(client_id))) {
            return Err(e);
        }
        let mut s = self.state.lock().unwrap();
        match s.orders.iter_mut().find(|o| o.client_id == client_id && o.status.is_open()) {
            Some(o) => {
                o.status = ExOrderStatus::Canceled;
                Ok(CancelOutcome::Cancelled { raw: "fake cancel".into() })
            }
            None => Ok(CancelOutcome::NotOpen { raw: "fake -2011".into() }),
        }
    }
    fn cancel_conditional(&self, _symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        if let Some(Fault::Fail(e)) = self.begin(&format!("cancel_conditional:{}", role_of(client_id))) {
            return Err(e);
        }
        let mut s = self.state.lock().unwrap();
        match s.conds.iter_mut().find(|c| c.client_id == client_id && c.status.is_open()) {
            Some(c) => {
                c.status = ConditionalStatus::Canceled;
                Ok(CancelOutcome::Cancelled { raw: "fake cancel algo".into() })
            }
            None => Ok(CancelOutcome::NotOpen { raw: "fake algo unknown".into() }),
        }
    }
    fn account_settings(&self, _symbol: &str) -> ExResult<AccountSettings> {
        self.begin("account_settings");
        Ok(self.state.lock().unwrap().settings.clone())
    }
    fn set_isolated_margin(&self, _symbol: &str) -> ExResult<()> {
        self.begin("set_isolated_margin");
        self.state.lock().unwrap().settings.isolated = true;
        Ok(())
    }
    fn set_leverage(&self, _symbol: &str, leverage: u32) -> ExResult<()> {
        self.begin("set_leverage");
        self.state.lock().unwrap().settings.leverage = leverage;
        Ok(())
    }
    fn wallet_balance(&self, _asset: &str) -> ExResult<Decimal> {
        self.begin("wallet_balance");
        Ok(dec!(10000))
    }
    fn order_fills(&self, _symbol: &str, order_id: &str, _placed_ms: i64) -> ExResult<Vec<Fill>> {
        self.begin("order_fills");
        Ok(self.state.lock().unwrap().fills.iter().filter(|f| f.order_id == order_id).cloned().collect())
    }
}

/// Wraps the fake and kills "the process" at exchange call number `n`: before the call is
/// executed, or after it executed but before its answer is seen. From then on every call fails
/// unexecuted (the dead process changes nothing on the exchange); the test reads the death back
/// with [`crashed`](Self::crashed) and ties the store's commits to [`dead`](Self::dead).
pub struct CrashingExchange<'a> {
    pub inner: &'a FakeExchange,
    pub n: usize,
    pub after: bool,
    pub count: AtomicUsize,
    /// The clock at the crash, once it happened.
    crashed_at: Arc<Mutex<Option<i64>>>,
}

impl<'a> CrashingExchange<'a> {
    pub fn new(inner: &'a FakeExchange, n: usize, after: bool) -> Self {
        CrashingExchange { inner, n, after, count: AtomicUsize::new(0), crashed_at: Arc::default() }
    }
    /// When the process died (the clock then), if it did.
    pub fn crashed(&self) -> Option<i64> {
        *self.crashed_at.lock().unwrap()
    }
    /// Whether the process is dead, for `Store::refuse_commits_while`.
    pub fn dead(&self) -> impl Fn() -> bool + Send + 'static {
        let at = Arc::clone(&self.crashed_at);
        move || at.lock().unwrap().is_some()
    }
    fn die(&self) -> ExchangeError {
        self.crashed_at.lock().unwrap().get_or_insert(self.inner.clock.now_ms());
        dead_err()
    }
    fn around<T>(&self, f: impl FnOnce() -> ExResult<T>) -> ExResult<T> {
        if self.crashed().is_some() {
            return Err(dead_err());
        }
        let k = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if k == self.n && !self.after {
            return Err(self.die());
        }
        let r = f();
        if k == self.n && self.after {
            return Err(self.die());
        }
        r
    }
}

fn dead_err() -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Local, ErrorClass::Fatal, "simulated crash: the process is dead")
}

impl Exchange for CrashingExchange<'_> {
    fn name(&self) -> &'static str {
        "crashing-fake"
    }
    fn server_time(&self) -> ExResult<i64> {
        self.around(|| self.inner.server_time())
    }
    fn filters(&self, s: &str) -> ExResult<SymbolFilters> {
        self.around(|| self.inner.filters(s))
    }
    fn klines(&self, s: &str, i: &str, l: usize) -> ExResult<Vec<Candle>> {
        self.around(|| self.inner.klines(s, i, l))
    }
    fn mark_info(&self, s: &str) -> ExResult<MarkInfo> {
        self.around(|| self.inner.mark_info(s))
    }
    fn position(&self, s: &str) -> ExResult<ExPosition> {
        self.around(|| Exchange::position(self.inner, s))
    }
    fn open_orders(&self, s: &str) -> ExResult<Vec<ExOrder>> {
        self.around(|| self.inner.open_orders(s))
    }
    fn open_conditional_orders(&self, s: &str) -> ExResult<Vec<ExConditional>> {
        self.around(|| self.inner.open_conditional_orders(s))
    }
    fn place_market(&self, r: &MarketOrderRequest) -> ExResult<ExOrder> {
        self.around(|| self.inner.place_market(r))
    }
    fn place_conditional(&self, r: &ConditionalOrderRequest) -> ExResult<ExConditional> {
        self.around(|| self.inner.place_conditional(r))
    }
    fn query_order(&self, s: &str, c: &str) -> ExResult<Option<ExOrder>> {
        self.around(|| self.inner.query_order(s, c))
    }
    fn query_conditional(&self, s: &str, c: &str) -> ExResult<Option<ExConditional>> {
        self.around(|| self.inner.query_conditional(s, c))
    }
    fn cancel_order(&self, s: &str, c: &str) -> ExResult<CancelOutcome> {
        self.around(|| self.inner.cancel_order(s, c))
    }
    fn cancel_conditional(&self, s: &str, c: &str) -> ExResult<CancelOutcome> {
        self.around(|| self.inner.cancel_conditional(s, c))
    }
    fn account_settings(&self, s: &str) -> ExResult<AccountSettings> {
        self.around(|| self.inner.account_settings(s))
    }
    fn set_isolated_margin(&self, s: &str) -> ExResult<()> {
        self.around(|| self.inner.set_isolated_margin(s))
    }
    fn set_leverage(&self, s: &str, l: u32) -> ExResult<()> {
        self.around(|| self.inner.set_leverage(s, l))
    }
    fn wallet_balance(&self, a: &str) -> ExResult<Decimal> {
        self.around(|| self.inner.wallet_balance(a))
    }
    fn order_fills(&self, s: &str, o: &str, t: i64) -> ExResult<Vec<Fill>> {
        self.around(|| self.inner.order_fills(s, o, t))
    }
}
