//! How time moves the book: candle ranges and opens trigger conditional orders, funding settles,
//! partial fills complete. See the price model in [`super`].

use super::{is_stop, r8, Book, Cond};
use crate::core::candle::{Candle, FundingRate};
use crate::core::types::OrderSide;
use crate::exchange::error::ExResult;
use crate::exchange::paper::market::MarketData;
use crate::exchange::{ConditionalStatus, ExOrderStatus};
use rust_decimal::Decimal;

enum Event {
    Range(Candle),
    Funding(FundingRate),
    Open(Candle),
    Complete(usize),
}

/// The prices a stretch of time went through: a candle's, or a scripted move of the mark.
#[derive(Clone, Copy)]
struct Range {
    open: Decimal,
    high: Decimal,
    low: Decimal,
}

impl From<&Candle> for Range {
    fn from(c: &Candle) -> Self {
        Range { open: c.open, high: c.high, low: c.low }
    }
}

/// Fill base price when range `c` reaches `k`'s trigger.
fn range_hit(k: &Cond, c: Range) -> Option<Decimal> {
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
                Event::Range(c) => self.trigger_all(t, |k| range_hit(k, Range::from(&c))),
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
                        self.complete_partial(i, t, c.open);
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

    /// The price went from `from` to `to` at `t` without a gap (a scripted mark in tests): every
    /// open conditional order whose trigger lies on the way fires, as inside a candle's range.
    pub fn price_moved(&mut self, t: i64, from: Decimal, to: Decimal) {
        let range = Range { open: from, high: from.max(to), low: from.min(to) };
        self.trigger_all(t, |k| range_hit(k, range));
    }

    /// The open rest of partially filled order `i` fills at `mark` (time-driven in `advance`; a
    /// scripted completion in tests).
    pub fn complete_partial(&mut self, i: usize, t: i64, mark: Decimal) {
        let o = &self.orders[i];
        let rest = o.orig_qty - o.executed_qty;
        if !o.status.is_open() || rest <= Decimal::ZERO {
            return;
        }
        let px = self.slipped(mark, o.side);
        self.fill(i, rest, px, t);
        self.set_order_status(i, ExOrderStatus::Filled, t);
    }
}

impl Book {
    /// The funding [`Book::advance`] settled in `[from_ms, to_ms]` (up to what it has processed),
    /// as `(time, amount credited)`, recomputed from the fills: the position at a settlement is
    /// every fill before it, plus a trigger's fill at that very ms when the range of the candle
    /// ending then hit it (ranges settle before funding; opens, completions and requests after).
    pub fn funding_history(&self, market: &dyn MarketData, from_ms: i64, to_ms: i64) -> ExResult<Vec<(i64, Decimal)>> {
        let mut out = Vec::new();
        for f in market.funding_between(from_ms - 1, to_ms.min(self.processed_ms))? {
            let t = f.time_ms;
            let Some(c) = market.candle_at(t)? else { continue };
            let ended = market.candle_at(t - 1)?;
            let mut qty = Decimal::ZERO;
            for o in &self.orders {
                let before_by_range =
                    o.algo_id.and_then(|a| self.conds.get(usize::try_from(a - 1).ok()?)).is_some_and(|k| {
                        ended
                            .as_ref()
                            .is_some_and(|e| e.close_time_ms + 1 == t && range_hit(k, Range::from(e)).is_some())
                    });
                let sign = if o.side == OrderSide::Buy { Decimal::ONE } else { -Decimal::ONE };
                qty += o
                    .fills
                    .iter()
                    .filter(|x| x.time_ms < t || (x.time_ms == t && before_by_range))
                    .map(|x| x.qty * sign)
                    .sum::<Decimal>();
            }
            if !qty.is_zero() {
                out.push((t, r8(-qty * c.open * f.rate)));
            }
        }
        Ok(out)
    }
}
