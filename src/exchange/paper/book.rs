//! The paper exchange's matching engine over an in-memory mirror of its state. Pure logic: no DB,
//! no clock, no faults. Every change marks what it touched in [`Dirty`]; the caller writes exactly
//! that through to the DB (the source of truth) before answering a request that changed something.
//! Changes that follow from time alone are a deterministic function of the committed state, the
//! market data and the time, so a restarted exchange re-derives them identically.
//!
//! Price model (documented for `sim` and its readers):
//! * The price at time t is the open of the candle containing t; market orders fill there, worse
//!   for the taker by `slippage`, and pay `fee` of the notional.
//! * Time moves in events, in this order at equal times: a candle's range when it has fully
//!   elapsed (at close+1), funding settlements, the next candle's open, completion of a partial fill.
//! * Conditional orders trigger at a candle's open if it is already beyond the trigger (a gap), or
//!   in a candle's range: STOP SELL on low ≤ trigger, TP SELL on high ≥ trigger (mirrored for
//!   BUY). A gapped STOP fills at the open (worse); a TP always fills at its trigger (never
//!   better: conservative). **When STOP and TP both lie inside one candle, the STOP is assumed to
//!   have hit first.** An order placed mid-candle is checked against that whole candle's range.
//! * A triggered order fills at once (FINISHED, with a child MARKET order as `actualOrderId`); it
//!   never rests in TRIGGERING/TRIGGERED. It only reduces: it caps at the position and, with
//!   nothing left to reduce, it is REJECTED at trigger (Binance's "Reduce Only reject"). Like
//!   Binance without GTE_GTC, the sibling stays open: the bot must cancel it.

use crate::core::candle::{Candle, FundingRate};
use crate::core::money::SymbolFilters;
use crate::core::types::OrderSide;
use crate::exchange::error::ExResult;
use crate::exchange::paper::market::MarketData;
use crate::exchange::paper::rules;
use crate::exchange::{
    ConditionalKind, ConditionalOrderRequest, ConditionalStatus, ExOrderStatus, Fill, MarketOrderRequest, WorkingType,
};
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};

/// A regular (MARKET) order. `id` = index in `Book::orders` + 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub id: i64,
    pub client_id: String,
    pub side: OrderSide,
    pub orig_qty: Decimal,
    pub executed_qty: Decimal,
    pub avg_price: Decimal,
    pub status: ExOrderStatus,
    pub reduce_only: bool,
    /// When the open remainder of a partially filled order fills by itself, if ever.
    pub complete_at_ms: Option<i64>,
    /// The conditional order this is the triggered child of.
    pub algo_id: Option<i64>,
    pub created_ms: i64,
    pub update_ms: i64,
    pub fills: Vec<Fill>,
}

/// A conditional (algo) order. `id` = index in `Book::conds` + 1.
#[derive(Debug, Clone, PartialEq)]
pub struct Cond {
    pub id: i64,
    pub client_id: String,
    pub kind: ConditionalKind,
    pub side: OrderSide,
    pub trigger: Decimal,
    pub qty: Decimal,
    pub working_type: WorkingType,
    pub status: ConditionalStatus,
    pub actual_order_id: Option<i64>,
    pub actual_price: Option<Decimal>,
    pub actual_qty: Option<Decimal>,
    pub created_ms: i64,
    pub update_ms: i64,
}

/// What changed since the last write-through.
#[derive(Debug, Default)]
pub struct Dirty {
    pub any: bool,
    /// A request (not just time) changed something: commit before answering. Changes that follow
    /// from time alone are re-derived after a restart, so they wait for the next request's commit.
    pub request: bool,
    pub orders: BTreeSet<usize>,
    pub conds: BTreeSet<usize>,
    /// (order index, fill) not yet written.
    pub fills: Vec<(usize, Fill)>,
}

/// Fee and slippage as fractions (config percent / 100).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Costs {
    pub fee_rate: Decimal,
    pub slip_rate: Decimal,
}

/// The whole exchange state for one symbol.
#[derive(Debug)]
pub struct Book {
    pub symbol: String,
    pub balance: Decimal,
    pub fees_paid: Decimal,
    /// Net funding paid (positive) or received (negative).
    pub funding_paid: Decimal,
    pub realized_pnl: Decimal,
    pub leverage: u32,
    /// Write counter of the DB row this book was loaded from (see `db::flush`).
    pub version: i64,
    /// Every price event up to and including this time has been applied.
    pub processed_ms: i64,
    pub pos_qty: Decimal,
    pub pos_entry: Decimal,
    pub pos_update_ms: i64,
    pub orders: Vec<Order>,
    pub conds: Vec<Cond>,
    pub dirty: Dirty,
    pub costs: Costs,
    order_by_client: HashMap<String, usize>,
    cond_by_client: HashMap<String, usize>,
    open_orders: BTreeSet<usize>,
    open_conds: BTreeSet<usize>,
}

enum Event {
    Range(Candle),
    Funding(FundingRate),
    Open(Candle),
    Complete(usize),
}

fn r8(d: Decimal) -> Decimal {
    d.round_dp(8).normalize()
}

fn is_stop(k: ConditionalKind) -> bool {
    k == ConditionalKind::StopMarket
}

/// Fill base price when `c`'s range reaches `k`'s trigger.
fn range_hit(k: &Cond, c: &Candle) -> Option<Decimal> {
    let t = k.trigger;
    match (k.side, is_stop(k.kind)) {
        (OrderSide::Sell, true) if c.low <= t => Some(c.open.min(t)),
        (OrderSide::Buy, true) if c.high >= t => Some(c.open.max(t)),
        (OrderSide::Sell, false) if c.high >= t => Some(t),
        (OrderSide::Buy, false) if c.low <= t => Some(t),
        _ => None,
    }
}

/// Fill base price when `c` opens beyond `k`'s trigger (a gap).
fn open_hit(k: &Cond, c: &Candle) -> Option<Decimal> {
    let (t, o) = (k.trigger, c.open);
    match (k.side, is_stop(k.kind)) {
        (OrderSide::Sell, true) if o <= t => Some(o),
        (OrderSide::Buy, true) if o >= t => Some(o),
        (OrderSide::Sell, false) if o >= t => Some(t),
        (OrderSide::Buy, false) if o <= t => Some(t),
        _ => None,
    }
}

impl Book {
    /// A fresh account.
    pub fn new(symbol: &str, balance: Decimal, costs: Costs, now_ms: i64) -> Self {
        Book::restore(symbol, balance, costs, now_ms, Vec::new(), Vec::new())
    }

    /// Rebuilds the indexes over loaded orders; the caller sets the remaining account fields.
    pub fn restore(
        symbol: &str,
        balance: Decimal,
        costs: Costs,
        processed_ms: i64,
        orders: Vec<Order>,
        conds: Vec<Cond>,
    ) -> Self {
        let order_by_client = orders.iter().enumerate().map(|(i, o)| (o.client_id.clone(), i)).collect();
        let cond_by_client = conds.iter().enumerate().map(|(i, c)| (c.client_id.clone(), i)).collect();
        let open_orders = orders.iter().enumerate().filter(|(_, o)| o.status.is_open()).map(|(i, _)| i).collect();
        let open_conds = conds.iter().enumerate().filter(|(_, c)| c.status.is_open()).map(|(i, _)| i).collect();
        Book {
            symbol: symbol.to_string(),
            balance,
            fees_paid: Decimal::ZERO,
            funding_paid: Decimal::ZERO,
            realized_pnl: Decimal::ZERO,
            leverage: 1,
            version: 0,
            processed_ms,
            pos_qty: Decimal::ZERO,
            pos_entry: Decimal::ZERO,
            pos_update_ms: processed_ms,
            orders,
            conds,
            dirty: Dirty::default(),
            costs,
            order_by_client,
            cond_by_client,
            open_orders,
            open_conds,
        }
    }

    /// The latest order sent with this client id.
    pub fn order_by_client(&self, client_id: &str) -> Option<usize> {
        self.order_by_client.get(client_id).copied()
    }

    pub fn cond_by_client(&self, client_id: &str) -> Option<usize> {
        self.cond_by_client.get(client_id).copied()
    }

    pub fn order_by_id(&self, id: i64) -> Option<usize> {
        usize::try_from(id - 1).ok().filter(|i| *i < self.orders.len())
    }

    pub fn open_orders(&self) -> impl Iterator<Item = &Order> {
        self.open_orders.iter().map(|i| &self.orders[*i])
    }

    pub fn open_conds(&self) -> impl Iterator<Item = &Cond> {
        self.open_conds.iter().map(|i| &self.conds[*i])
    }

    fn touch(&mut self) {
        self.dirty.any = true;
    }

    fn touch_request(&mut self) {
        self.dirty.any = true;
        self.dirty.request = true;
    }

    fn set_order_status(&mut self, i: usize, status: ExOrderStatus, t: i64) {
        let o = &mut self.orders[i];
        o.status = status;
        o.update_ms = t;
        if !status.is_open() {
            o.complete_at_ms = None;
            self.open_orders.remove(&i);
        }
        self.dirty.orders.insert(i);
        self.touch();
    }

    fn set_cond_status(&mut self, i: usize, status: ConditionalStatus, t: i64) {
        let c = &mut self.conds[i];
        c.status = status;
        c.update_ms = t;
        if !status.is_open() {
            self.open_conds.remove(&i);
        }
        self.dirty.conds.insert(i);
        self.touch();
    }

    /// Applies every price event in `(processed_ms, now_ms]`.
    pub fn advance(&mut self, now_ms: i64, market: &dyn MarketData) -> ExResult<()> {
        let from = self.processed_ms;
        if now_ms <= from {
            return Ok(());
        }
        // Flat with nothing open: no event can change anything, so skip the data lookups.
        if self.pos_qty.is_zero() && self.open_conds.is_empty() && self.open_orders.is_empty() {
            self.processed_ms = now_ms;
            return Ok(());
        }
        let mut events: Vec<(i64, u8, Event)> = Vec::new();
        let candles = market.candles_between(from - market.interval_ms() + 1, now_ms)?;
        for c in &candles {
            let end = c.close_time_ms + 1;
            if end > from && end <= now_ms {
                events.push((end, 0, Event::Range(c.clone())));
            }
            if c.open_time_ms > from {
                events.push((c.open_time_ms, 2, Event::Open(c.clone())));
            }
        }
        for f in market.funding_between(from, now_ms)? {
            events.push((f.time_ms, 1, Event::Funding(f)));
        }
        for &i in &self.open_orders {
            if let Some(t) = self.orders[i].complete_at_ms.filter(|t| *t > from && *t <= now_ms) {
                events.push((t, 3, Event::Complete(i)));
            }
        }
        events.sort_by_key(|(t, rank, _)| (*t, *rank));
        for (t, _, ev) in events {
            match ev {
                Event::Range(c) => self.trigger_all(t, |k| range_hit(k, &c)),
                Event::Open(c) => self.trigger_all(t, |k| open_hit(k, &c)),
                Event::Funding(f) => {
                    let candle = match candles.iter().find(|c| c.open_time_ms <= t && t <= c.close_time_ms) {
                        Some(c) => Some(c.clone()),
                        None => market.candle_at(t)?,
                    };
                    if let Some(c) = candle {
                        self.settle_funding(t, c.open, f.rate);
                    }
                }
                Event::Complete(i) => {
                    if let Some(c) = market.candle_at(t)? {
                        self.complete(i, t, c.open);
                    }
                }
            }
        }
        self.processed_ms = now_ms;
        Ok(())
    }

    fn trigger_all(&mut self, t: i64, hit: impl Fn(&Cond) -> Option<Decimal>) {
        let mut hits: Vec<(bool, usize, Decimal)> = self
            .open_conds
            .iter()
            .filter_map(|&i| hit(&self.conds[i]).map(|px| (!is_stop(self.conds[i].kind), i, px)))
            .collect();
        // STOPs first: inside one candle we cannot know the order, so assume the worse one.
        hits.sort_by_key(|(tp, i, _)| (*tp, *i));
        for (_, i, px) in hits {
            self.trigger(i, px, t);
        }
    }

    fn trigger(&mut self, i: usize, base_px: Decimal, t: i64) {
        let (side, qty, algo_id) = (self.conds[i].side, self.conds[i].qty, self.conds[i].id);
        let reducible = self.reducible(side);
        if reducible.is_zero() {
            self.set_cond_status(i, ConditionalStatus::Rejected, t);
            return;
        }
        let fill_qty = qty.min(reducible);
        let px = self.slipped(base_px, side);
        let child = self.new_order(&format!("paper-algo-{algo_id}"), side, fill_qty, true, Some(algo_id), t);
        self.fill(child, fill_qty, px, t);
        self.set_order_status(child, ExOrderStatus::Filled, t);
        let c = &mut self.conds[i];
        c.actual_order_id = Some(self.orders[child].id);
        c.actual_price = Some(px);
        c.actual_qty = Some(fill_qty);
        self.set_cond_status(i, ConditionalStatus::Finished, t);
    }

    fn settle_funding(&mut self, t: i64, mark: Decimal, rate: Decimal) {
        if self.pos_qty.is_zero() {
            return;
        }
        // Longs pay positive funding: -qty × mark × rate.
        let amount = r8(-self.pos_qty * mark * rate);
        self.balance = r8(self.balance + amount);
        self.funding_paid = r8(self.funding_paid - amount);
        self.pos_update_ms = t;
        self.touch();
    }

    fn complete(&mut self, i: usize, t: i64, mark: Decimal) {
        let o = &self.orders[i];
        let rest = o.orig_qty - o.executed_qty;
        if !o.status.is_open() || rest <= Decimal::ZERO {
            return;
        }
        let px = self.slipped(mark, o.side);
        self.fill(i, rest, px, t);
        self.set_order_status(i, ExOrderStatus::Filled, t);
    }

    /// How much an order on `side` can reduce the position (0 if it would not reduce).
    fn reducible(&self, side: OrderSide) -> Decimal {
        match side {
            OrderSide::Sell if self.pos_qty > Decimal::ZERO => self.pos_qty,
            OrderSide::Buy if self.pos_qty < Decimal::ZERO => -self.pos_qty,
            _ => Decimal::ZERO,
        }
    }

    fn slipped(&self, px: Decimal, side: OrderSide) -> Decimal {
        match side {
            OrderSide::Buy => r8(px * (Decimal::ONE + self.costs.slip_rate)),
            OrderSide::Sell => r8(px * (Decimal::ONE - self.costs.slip_rate)),
        }
    }

    fn new_order(
        &mut self,
        client_id: &str,
        side: OrderSide,
        qty: Decimal,
        ro: bool,
        algo: Option<i64>,
        t: i64,
    ) -> usize {
        let i = self.orders.len();
        self.orders.push(Order {
            id: i as i64 + 1,
            client_id: client_id.to_string(),
            side,
            orig_qty: qty,
            executed_qty: Decimal::ZERO,
            avg_price: Decimal::ZERO,
            status: ExOrderStatus::New,
            reduce_only: ro,
            complete_at_ms: None,
            algo_id: algo,
            created_ms: t,
            update_ms: t,
            fills: Vec::new(),
        });
        self.order_by_client.insert(client_id.to_string(), i);
        self.open_orders.insert(i);
        self.dirty.orders.insert(i);
        self.touch();
        i
    }

    /// Executes `qty` of order `i` at `px`: position, entry price, realised PnL, fee, fill row.
    fn fill(&mut self, i: usize, qty: Decimal, px: Decimal, t: i64) {
        let side = self.orders[i].side;
        let signed = if side == OrderSide::Buy { qty } else { -qty };
        let fee = r8(qty * px * self.costs.fee_rate);
        let pos = self.pos_qty;
        let mut pnl = Decimal::ZERO;
        if pos.is_zero() || (pos > Decimal::ZERO) == (signed > Decimal::ZERO) {
            let new_abs = pos.abs() + qty;
            self.pos_entry = r8((pos.abs() * self.pos_entry + qty * px) / new_abs);
        } else {
            let closing = qty.min(pos.abs());
            let sign = if pos > Decimal::ZERO { Decimal::ONE } else { Decimal::NEGATIVE_ONE };
            pnl = r8(closing * (px - self.pos_entry) * sign);
            if qty > pos.abs() {
                self.pos_entry = px; // flipped: the rest opened at this price
            } else if qty == pos.abs() {
                self.pos_entry = Decimal::ZERO;
            }
        }
        self.pos_qty = (pos + signed).normalize();
        self.pos_update_ms = t;
        self.balance = r8(self.balance + pnl - fee);
        self.fees_paid = r8(self.fees_paid + fee);
        self.realized_pnl = r8(self.realized_pnl + pnl);
        let o = &mut self.orders[i];
        let executed = o.executed_qty + qty;
        o.avg_price = r8((o.avg_price * o.executed_qty + px * qty) / executed);
        o.executed_qty = executed.normalize();
        o.update_ms = t;
        let fill = Fill { order_id: o.id.to_string(), price: px, qty, commission: fee, realized_pnl: pnl, time_ms: t };
        o.fills.push(fill.clone());
        self.dirty.fills.push((i, fill));
        self.dirty.orders.insert(i);
        self.touch();
    }

    fn duplicate_order(&self, client_id: &str) -> bool {
        self.order_by_client(client_id).is_some_and(|i| self.orders[i].status.is_open())
    }

    /// A MARKET order at `mark`. `partial = Some((fill_qty, complete_at))` fills only `fill_qty`
    /// now (an injected partial fill; ignored unless it is a proper part of the quantity).
    /// Returns the order index and whether the partial fill was applied.
    pub fn place_market(
        &mut self,
        req: &MarketOrderRequest,
        f: &SymbolFilters,
        mark: Decimal,
        now_ms: i64,
        partial: Option<(Decimal, Option<i64>)>,
    ) -> ExResult<(usize, bool)> {
        rules::check_symbol(&self.symbol, &req.symbol)?;
        rules::check_client_id(&req.client_id)?;
        rules::check_qty(f, req.qty)?;
        if self.duplicate_order(&req.client_id) {
            return Err(rules::duplicate_client_id());
        }
        let mut qty = req.qty;
        if req.reduce_only {
            let reducible = self.reducible(req.side);
            if reducible.is_zero() {
                return Err(rules::reduce_only_reject());
            }
            qty = qty.min(reducible); // reduce-only never flips: it caps at the position
        }
        rules::check_notional(f, req.qty, mark, req.reduce_only)?;
        let signed = if req.side == OrderSide::Buy { qty } else { -qty };
        let after = (self.pos_qty + signed).abs();
        if after > self.pos_qty.abs() {
            let lev = Decimal::from(self.leverage.max(1));
            let need = after * mark / lev + qty * mark * self.costs.fee_rate;
            if need > self.balance {
                return Err(rules::margin_insufficient());
            }
        }
        let partial = partial.filter(|(q, _)| !req.reduce_only && *q > Decimal::ZERO && *q < qty);
        self.touch_request();
        let i = self.new_order(&req.client_id, req.side, req.qty, req.reduce_only, None, now_ms);
        let px = self.slipped(mark, req.side);
        match partial {
            Some((part, complete_at)) => {
                self.fill(i, part, px, now_ms);
                self.set_order_status(i, ExOrderStatus::PartiallyFilled, now_ms);
                self.orders[i].complete_at_ms = complete_at;
            }
            None => {
                self.fill(i, qty, px, now_ms);
                self.set_order_status(i, ExOrderStatus::Filled, now_ms);
            }
        }
        Ok((i, partial.is_some()))
    }

    /// A STOP_MARKET / TAKE_PROFIT_MARKET, reduce-only, at `mark`. Like Binance after the algo
    /// migration, nothing checks the position before the trigger.
    pub fn place_conditional(
        &mut self,
        req: &ConditionalOrderRequest,
        f: &SymbolFilters,
        mark: Decimal,
        now_ms: i64,
    ) -> ExResult<usize> {
        rules::check_symbol(&self.symbol, &req.symbol)?;
        rules::check_client_id(&req.client_id)?;
        rules::check_qty(f, req.qty)?;
        rules::check_trigger(f, req.trigger_price)?;
        if self.cond_by_client(&req.client_id).is_some_and(|i| self.conds[i].status.is_open()) {
            return Err(rules::duplicate_client_id());
        }
        let t = req.trigger_price;
        let immediate = match (req.side, is_stop(req.kind)) {
            (OrderSide::Sell, true) | (OrderSide::Buy, false) => t >= mark,
            (OrderSide::Buy, true) | (OrderSide::Sell, false) => t <= mark,
        };
        if immediate {
            return Err(rules::would_trigger());
        }
        let i = self.conds.len();
        self.conds.push(Cond {
            id: i as i64 + 1,
            client_id: req.client_id.clone(),
            kind: req.kind,
            side: req.side,
            trigger: t,
            qty: req.qty,
            working_type: req.working_type,
            status: ConditionalStatus::New,
            actual_order_id: None,
            actual_price: None,
            actual_qty: None,
            created_ms: now_ms,
            update_ms: now_ms,
        });
        self.cond_by_client.insert(req.client_id.clone(), i);
        self.open_conds.insert(i);
        self.dirty.conds.insert(i);
        self.touch_request();
        Ok(i)
    }

    /// Cancels the latest order with this client id if it is open (a partial keeps its fills).
    pub fn cancel_order(&mut self, client_id: &str, now_ms: i64) -> Option<usize> {
        let i = self.order_by_client(client_id).filter(|i| self.orders[*i].status.is_open())?;
        self.set_order_status(i, ExOrderStatus::Canceled, now_ms);
        self.touch_request();
        Some(i)
    }

    pub fn cancel_cond(&mut self, client_id: &str, now_ms: i64) -> Option<usize> {
        let i = self.cond_by_client(client_id).filter(|i| self.conds[*i].status.is_open())?;
        self.set_cond_status(i, ConditionalStatus::Canceled, now_ms);
        self.touch_request();
        Some(i)
    }

    pub fn set_leverage(&mut self, leverage: u32) {
        if self.leverage != leverage {
            self.leverage = leverage;
            self.touch_request();
        }
    }
}
