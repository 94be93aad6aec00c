//! A scripted in-process exchange for shell tests of `exec`: the paper exchange's matching engine
//! (`paper::book`: fills, reduce-only caps and -2022, -2021 for stops on the wrong side, -4116,
//! triggers, partial fills, margin type and leverage) at a mark the test sets, with a log of every
//! call and faults injected per call label, in the vocabulary the HTTP mock shares
//! (`super::fault::Fault`; refusals become the port errors the Binance adapter would make). No DB: the test moves the mark and the clock. For `evaluate`, it can serve a
//! candle list instead ([`FakeExchange::with_candles`]): klines as Binance serves them, the mark
//! from the newest opened candle.

use super::fault::{answer_error, lost_answer, Fault};
use mcbot::clock::{Clock, ManualClock};
use mcbot::core::candle::Candle;
use mcbot::core::money::SymbolFilters;
use mcbot::exchange::paper::book::{Book, Costs};
use mcbot::exchange::paper::faults::{dead, SimulatedCrash};
use mcbot::exchange::paper::wire::{ex_conditional, ex_order, not_open, Req};
use mcbot::exchange::*;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

/// Shared mutable state of the fake: the book, and what the script controls around it.
#[derive(Debug)]
pub struct FakeState {
    pub book: Book,
    pub mark: Decimal,
    pub calls: Vec<String>,
    pub faults: Vec<(String, Fault, usize)>,
    /// Every candle the exchange will ever have (`with_candles`); `klines` serves those opened.
    pub candles: Vec<Candle>,
    pub funding_rate: Decimal,
    /// Calls one after the other, as the paper exchange makes them (`concurrent_calls` false).
    pub sequential: bool,
}

pub struct FakeExchange {
    pub state: Mutex<FakeState>,
    pub clock: ManualClock,
    pub filters: SymbolFilters,
}

const SYMBOL: &str = "BTCUSDT";
/// What every answer's transcript names as the endpoint.
const ENDPOINT: &str = "fake";

impl FakeExchange {
    /// A flat account of 10,000 USDT, fees 0.04 % of notional, no slippage.
    pub fn new(clock: ManualClock, mark: Decimal) -> Self {
        let costs = Costs { fee_rate: dec!(0.0004), slip_rate: Decimal::ZERO };
        FakeExchange {
            state: Mutex::new(FakeState {
                book: Book::new(SYMBOL, dec!(10000), costs, clock.now_ms()),
                mark,
                calls: vec![],
                faults: vec![],
                candles: vec![],
                funding_rate: dec!(0.0001),
                sequential: false,
            }),
            clock,
            filters: SymbolFilters::btcusdt_default(),
        }
    }
    /// An exchange with these candles and a clock of its own (the exchange's, not mcbot's).
    pub fn with_candles(candles: Vec<Candle>) -> Self {
        let ex = FakeExchange::new(ManualClock::new(0), Decimal::ONE);
        ex.state.lock().unwrap().candles = candles;
        ex
    }
    /// Sets the exchange clock `after_ms` after candle `i` closed (close_time + 1 + after_ms).
    pub fn at_close_of(&self, i: usize, after_ms: i64) {
        let close = self.state.lock().unwrap().candles[i].close_time_ms;
        self.clock.set_ms(close + 1 + after_ms);
    }
    pub fn set_funding_rate(&self, rate: Decimal) {
        self.state.lock().unwrap().funding_rate = rate;
    }
    /// Every later call labelled `what` fails with a 503 naming it (not executed).
    pub fn fail_read(&self, what: &str) {
        let body = format!("Service Unavailable: {what} unavailable");
        self.on(what, Fault::Refuse { status: 503, body }, usize::MAX);
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
        self.state.lock().unwrap().book.pos_qty
    }
    pub fn open_conds(&self) -> Vec<ExConditional> {
        let s = self.state.lock().unwrap();
        s.book.open_conds().map(|c| ex_conditional(SYMBOL, c, ENDPOINT, &Req::symbol(SYMBOL))).collect()
    }
    pub fn set_mark(&self, m: Decimal) {
        self.state.lock().unwrap().mark = m;
    }
    /// Sets the exchange position directly (phantom/foreign scenarios).
    pub fn set_position(&self, qty: Decimal, entry: Decimal) {
        let mut s = self.state.lock().unwrap();
        s.book.pos_qty = qty;
        s.book.pos_entry = entry;
    }
    /// Moves the mark without a gap and fires the conditional orders it crosses, at their
    /// triggers (a STOP/TP hit while mcbot sleeps).
    pub fn move_mark_and_trigger(&self, m: Decimal) {
        let mut s = self.state.lock().unwrap();
        let from = std::mem::replace(&mut s.mark, m);
        s.book.price_moved(self.clock.now_ms(), from, m);
    }

    fn begin(&self, label: &str) -> Option<Fault> {
        let mut s = self.state.lock().unwrap();
        s.calls.push(label.to_string());
        let idx = s.faults.iter().position(|(l, _, n)| *n > 0 && label.starts_with(l.as_str()))?;
        s.faults[idx].2 -= 1;
        let f = s.faults[idx].1.clone();
        drop(s);
        if let Fault::Delay(ms) = f {
            self.clock.advance_ms(i64::try_from(ms).unwrap_or(i64::MAX));
        }
        Some(f)
    }

    /// A read: `read` over the state, under the label's fault.
    fn read<T>(&self, label: &str, read: impl FnOnce(&mut FakeState) -> T) -> ExResult<T> {
        let fault = self.begin(label);
        self.apply(fault, false, |s| Ok(read(s)))
    }

    /// Runs `call` under `fault`: a refusal or a lost request before it; after it, an error answer,
    /// a lost answer, a move of the mark or the hook. `PartialFill` and `CompletePartial` are the
    /// caller's (they change what the call does).
    fn apply<T>(
        &self,
        fault: Option<Fault>,
        write: bool,
        call: impl FnOnce(&mut FakeState) -> ExResult<T>,
    ) -> ExResult<T> {
        match &fault {
            Some(Fault::Refuse { status, body }) => return Err(answer_error(*status, body, write)),
            Some(Fault::Drop) => return Err(lost_answer()),
            Some(Fault::WithoutPrice) => panic!("Fault::WithoutPrice is a wire shape: script it on the HTTP mock"),
            Some(
                Fault::PartialFill { complete_after_ms: Some(_), .. } | Fault::PartialFill { rest_price: Some(_), .. },
            ) => {
                panic!("the fake has no clock-driven completion: use Fault::partial and Fault::CompletePartial")
            }
            _ => {}
        }
        let answer = call(&mut self.state.lock().unwrap())?;
        match fault {
            Some(Fault::ExecuteThen { status, body }) => Err(answer_error(status, &body, write)),
            Some(Fault::ExecuteThenDrop) => Err(lost_answer()),
            Some(Fault::MoveMarkAfter(m)) => {
                self.move_mark_and_trigger(m);
                Ok(answer)
            }
            Some(Fault::Hook(h)) => {
                (h.0)();
                Ok(answer)
            }
            _ => Ok(answer),
        }
    }
}

fn role_of(cid: &str) -> &str {
    cid.split('_').nth(2).unwrap_or("?")
}

impl Exchange for FakeExchange {
    fn concurrent_calls(&self) -> bool {
        !self.state.lock().unwrap().sequential
    }
    fn name(&self) -> &'static str {
        "fake"
    }
    fn server_time(&self) -> ExResult<i64> {
        self.read("server_time", |_| self.clock.now_ms())
    }
    fn filters(&self, _symbol: &str) -> ExResult<SymbolFilters> {
        self.read("filters", |_| self.filters.clone())
    }
    /// Like Binance: the newest `limit` candles that have opened, the forming one included.
    fn klines(&self, _symbol: &str, _interval: &str, limit: usize) -> ExResult<Vec<Candle>> {
        let now = self.clock.now_ms();
        self.read("klines", |s| {
            let opened: Vec<Candle> = s.candles.iter().filter(|c| c.open_time_ms <= now).cloned().collect();
            opened[opened.len().saturating_sub(limit)..].to_vec()
        })
    }
    fn mark_info(&self, symbol: &str) -> ExResult<MarkInfo> {
        let now = self.clock.now_ms();
        self.read("mark_info", |s| {
            let newest = s.candles.iter().rev().find(|c| c.open_time_ms <= now).map(|c| c.close);
            MarkInfo {
                symbol: symbol.into(),
                mark_price: if s.candles.is_empty() { s.mark } else { newest.unwrap_or(Decimal::ONE) },
                funding_rate: s.funding_rate,
                time_ms: now,
            }
        })
    }
    fn position(&self, symbol: &str) -> ExResult<ExPosition> {
        self.read("position", |s| ExPosition {
            symbol: symbol.into(),
            qty: s.book.pos_qty,
            entry_price: s.book.pos_entry,
            mark_price: s.mark,
            update_time_ms: 0,
        })
    }
    fn open_orders(&self, symbol: &str) -> ExResult<Vec<ExOrder>> {
        self.read("open_orders", |s| {
            s.book.open_orders().map(|o| ex_order(symbol, o, ENDPOINT, &Req::symbol(symbol))).collect()
        })
    }
    fn open_conditional_orders(&self, _symbol: &str) -> ExResult<Vec<ExConditional>> {
        self.read("open_conditional_orders", |_| ())?;
        Ok(self.open_conds())
    }
    fn place_market(&self, req: &MarketOrderRequest) -> ExResult<ExOrder> {
        let fault = self.begin(&format!("place_market:{}", role_of(&req.client_id)));
        let partial = match fault {
            Some(Fault::PartialFill { qty, .. }) => Some((qty, None)),
            _ => None,
        };
        let now = self.clock.now_ms();
        self.apply(fault, true, |s| {
            let (i, _) = s.book.place_market(req, &self.filters, s.mark, now, partial)?;
            Ok(ex_order(&req.symbol, &s.book.orders[i], ENDPOINT, &Req::order(&req.symbol, &req.client_id)))
        })
    }
    fn place_conditional(&self, req: &ConditionalOrderRequest) -> ExResult<ExConditional> {
        let fault = self.begin(&format!("place_conditional:{}", role_of(&req.client_id)));
        let now = self.clock.now_ms();
        self.apply(fault, true, |s| {
            let i = s.book.place_conditional(req, &self.filters, s.mark, now)?;
            Ok(ex_conditional(&req.symbol, &s.book.conds[i], ENDPOINT, &Req::algo(&req.symbol, &req.client_id)))
        })
    }
    fn query_order(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExOrder>> {
        // The pre-send check that an ENTRY's client id is unused finds nothing; a scripted fault
        // on a look-up is meant for the look-up after the order was sent.
        if self.state.lock().unwrap().book.order_by_client(client_id).is_none() {
            return Ok(None);
        }
        let fault = self.begin(&format!("query_order:{}", role_of(client_id)));
        let complete = matches!(fault, Some(Fault::CompletePartial));
        let now = self.clock.now_ms();
        self.apply(fault, false, |s| {
            let i = s.book.order_by_client(client_id);
            if let (true, Some(i)) = (complete, i) {
                let mark = s.mark;
                s.book.complete_partial(i, now, mark);
            }
            Ok(i.map(|i| ex_order(symbol, &s.book.orders[i], ENDPOINT, &Req::order(symbol, client_id))))
        })
    }
    fn query_conditional(&self, symbol: &str, client_id: &str) -> ExResult<Option<ExConditional>> {
        self.read(&format!("query_conditional:{}", role_of(client_id)), |s| {
            let i = s.book.cond_by_client(client_id)?;
            Some(ex_conditional(symbol, &s.book.conds[i], ENDPOINT, &Req::algo(symbol, client_id)))
        })
    }
    fn cancel_order(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        let now = self.clock.now_ms();
        self.read(&format!("cancel_order:{}", role_of(client_id)), |s| match s.book.cancel_order(client_id, now) {
            Some(i) => CancelOutcome::Cancelled {
                raw: ex_order(symbol, &s.book.orders[i], ENDPOINT, &Req::order(symbol, client_id)).raw,
            },
            None => CancelOutcome::NotOpen { raw: not_open(ENDPOINT, &Req::order(symbol, client_id)) },
        })
    }
    fn cancel_conditional(&self, symbol: &str, client_id: &str) -> ExResult<CancelOutcome> {
        let now = self.clock.now_ms();
        self.read(&format!("cancel_conditional:{}", role_of(client_id)), |s| match s.book.cancel_cond(client_id, now) {
            Some(i) => CancelOutcome::Cancelled {
                raw: ex_conditional(symbol, &s.book.conds[i], ENDPOINT, &Req::algo(symbol, client_id)).raw,
            },
            None => CancelOutcome::NotOpen { raw: not_open(ENDPOINT, &Req::algo(symbol, client_id)) },
        })
    }
    fn account_settings(&self, _symbol: &str) -> ExResult<AccountSettings> {
        self.read("account_settings", |s| AccountSettings {
            isolated: s.book.isolated,
            leverage: s.book.leverage,
            dual_side: false,
        })
    }
    fn set_isolated_margin(&self, _symbol: &str) -> ExResult<()> {
        let fault = self.begin("set_isolated_margin");
        // -4046 (already isolated) is success, as in the Binance adapter.
        self.apply(fault, true, |s| match s.book.set_margin_type(true) {
            Err(e) if e.class == ErrorClass::IdempotentSafe => Ok(()),
            r => r,
        })
    }
    fn set_leverage(&self, _symbol: &str, leverage: u32) -> ExResult<()> {
        let fault = self.begin("set_leverage");
        self.apply(fault, true, |s| s.book.set_leverage(leverage))
    }
    fn wallet_balance(&self, _asset: &str) -> ExResult<Decimal> {
        self.read("wallet_balance", |s| s.book.balance)
    }
    fn order_fills(&self, _symbol: &str, order_id: &str, _placed_ms: i64) -> ExResult<Vec<Fill>> {
        self.read("order_fills", |s| {
            let i = order_id.parse().ok().and_then(|id| s.book.order_by_id(id));
            i.map(|i| s.book.orders[i].fills.clone()).unwrap_or_default()
        })
    }
}

/// Wraps the fake and kills "the process" at exchange call number `n`: before the call is
/// executed, or after it executed but before its answer is seen. From then on every call fails
/// unexecuted (the dead process changes nothing on the exchange), with the paper engine's dead
/// error; the test reads the crash back with [`crashed`](Self::crashed) and ties the store's
/// commits to [`dead`](Self::dead).
pub struct CrashingExchange<'a> {
    pub inner: &'a FakeExchange,
    pub n: usize,
    pub after: bool,
    pub count: AtomicUsize,
    crash: Arc<Mutex<Option<SimulatedCrash>>>,
}

impl<'a> CrashingExchange<'a> {
    pub fn new(inner: &'a FakeExchange, n: usize, after: bool) -> Self {
        CrashingExchange { inner, n, after, count: AtomicUsize::new(0), crash: Arc::default() }
    }
    /// The crash, once the process died.
    pub fn crashed(&self) -> Option<SimulatedCrash> {
        *self.crash.lock().unwrap()
    }
    /// Whether the process is dead, for `Store::refuse_commits_while`.
    pub fn dead(&self) -> impl Fn() -> bool + Send + 'static {
        let crash = Arc::clone(&self.crash);
        move || crash.lock().unwrap().is_some()
    }
    fn die(&self, call: usize, method: &'static str) -> ExchangeError {
        let at_ms = self.inner.clock.now_ms();
        let c = SimulatedCrash { call: u64::try_from(call).unwrap_or(u64::MAX), method, executed: self.after, at_ms };
        dead(self.crash.lock().unwrap().get_or_insert(c))
    }
    fn around<T>(&self, method: &'static str, f: impl FnOnce() -> ExResult<T>) -> ExResult<T> {
        if let Some(c) = self.crashed() {
            return Err(dead(&c));
        }
        let k = self.count.fetch_add(1, Ordering::SeqCst) + 1;
        if k == self.n && !self.after {
            return Err(self.die(k, method));
        }
        let r = f();
        if k == self.n && self.after {
            return Err(self.die(k, method));
        }
        r
    }
}

impl Exchange for CrashingExchange<'_> {
    fn name(&self) -> &'static str {
        "crashing-fake"
    }
    fn server_time(&self) -> ExResult<i64> {
        self.around("server_time", || self.inner.server_time())
    }
    fn filters(&self, s: &str) -> ExResult<SymbolFilters> {
        self.around("filters", || self.inner.filters(s))
    }
    fn klines(&self, s: &str, i: &str, l: usize) -> ExResult<Vec<Candle>> {
        self.around("klines", || self.inner.klines(s, i, l))
    }
    fn mark_info(&self, s: &str) -> ExResult<MarkInfo> {
        self.around("mark_info", || self.inner.mark_info(s))
    }
    fn position(&self, s: &str) -> ExResult<ExPosition> {
        self.around("position", || Exchange::position(self.inner, s))
    }
    fn open_orders(&self, s: &str) -> ExResult<Vec<ExOrder>> {
        self.around("open_orders", || self.inner.open_orders(s))
    }
    fn open_conditional_orders(&self, s: &str) -> ExResult<Vec<ExConditional>> {
        self.around("open_conditional_orders", || self.inner.open_conditional_orders(s))
    }
    fn place_market(&self, r: &MarketOrderRequest) -> ExResult<ExOrder> {
        self.around("place_market", || self.inner.place_market(r))
    }
    fn place_conditional(&self, r: &ConditionalOrderRequest) -> ExResult<ExConditional> {
        self.around("place_conditional", || self.inner.place_conditional(r))
    }
    fn query_order(&self, s: &str, c: &str) -> ExResult<Option<ExOrder>> {
        self.around("query_order", || self.inner.query_order(s, c))
    }
    fn query_conditional(&self, s: &str, c: &str) -> ExResult<Option<ExConditional>> {
        self.around("query_conditional", || self.inner.query_conditional(s, c))
    }
    fn cancel_order(&self, s: &str, c: &str) -> ExResult<CancelOutcome> {
        self.around("cancel_order", || self.inner.cancel_order(s, c))
    }
    fn cancel_conditional(&self, s: &str, c: &str) -> ExResult<CancelOutcome> {
        self.around("cancel_conditional", || self.inner.cancel_conditional(s, c))
    }
    fn account_settings(&self, s: &str) -> ExResult<AccountSettings> {
        self.around("account_settings", || self.inner.account_settings(s))
    }
    fn set_isolated_margin(&self, s: &str) -> ExResult<()> {
        self.around("set_isolated_margin", || self.inner.set_isolated_margin(s))
    }
    fn set_leverage(&self, s: &str, l: u32) -> ExResult<()> {
        self.around("set_leverage", || self.inner.set_leverage(s, l))
    }
    fn wallet_balance(&self, a: &str) -> ExResult<Decimal> {
        self.around("wallet_balance", || self.inner.wallet_balance(a))
    }
    fn order_fills(&self, s: &str, o: &str, t: i64) -> ExResult<Vec<Fill>> {
        self.around("order_fills", || self.inner.order_fills(s, o, t))
    }
}
