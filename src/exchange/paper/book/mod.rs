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

/// Time-driven changes: triggers, funding, partial-fill completion.
mod events;
/// Request-driven changes: orders, cancels, settings.
mod requests;

use crate::core::types::OrderSide;
use crate::exchange::{ConditionalKind, ConditionalStatus, ExOrderStatus, Fill, WorkingType};
use rust_decimal::Decimal;
use std::collections::{BTreeSet, HashMap};

/// The paper account is USDT only: every fee is paid in it.
pub const PAPER_FEE_ASSET: &str = "USDT";

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
    /// ISOLATED (true) or CROSSED margin. Paper accounts start ISOLATED and the bot only ever asks
    /// for ISOLATED, so the paper DB does not keep it.
    pub isolated: bool,
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

fn r8(d: Decimal) -> Decimal {
    d.round_dp(8).normalize()
}

fn is_stop(k: ConditionalKind) -> bool {
    k == ConditionalKind::StopMarket
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
            isolated: true,
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
        let fill = Fill {
            order_id: o.id.to_string(),
            price: px,
            qty,
            commission: fee,
            commission_asset: PAPER_FEE_ASSET.to_string(),
            realized_pnl: pnl,
            time_ms: t,
        };
        o.fills.push(fill.clone());
        self.dirty.fills.push((i, fill));
        self.dirty.orders.insert(i);
        self.touch();
    }
}
