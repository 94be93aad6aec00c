//! What requests do to the book: MARKET orders, conditional orders, cancels, leverage, each
//! checked as Binance would check it (see [`rules`]).

use super::{is_stop, Book, Cond};
use crate::core::money::SymbolFilters;
use crate::core::types::OrderSide;
use crate::exchange::error::ExResult;
use crate::exchange::paper::rules;
use crate::exchange::{ConditionalOrderRequest, ConditionalStatus, ExOrderStatus, MarketOrderRequest};
use rust_decimal::Decimal;

impl Book {
    fn duplicate_order(&self, client_id: &str) -> bool {
        self.order_by_client(client_id).is_some_and(|i| self.orders[i].status.is_open())
    }

    /// A MARKET order at `mark`. `partial = Some((fill_qty, complete_at))` fills only `fill_qty`
    /// now (an injected partial fill; ignored unless it is less than the quantity): the order stays
    /// PARTIALLY_FILLED, or NEW when `fill_qty` is zero (acknowledged, nothing filled yet), until
    /// `complete_at` (never, when `None`).
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
        let partial = partial.filter(|(q, _)| !req.reduce_only && *q >= Decimal::ZERO && *q < qty);
        self.touch_request();
        let i = self.new_order(&req.client_id, req.side, req.qty, req.reduce_only, None, now_ms);
        let px = self.slipped(mark, req.side);
        match partial {
            Some((part, complete_at)) => {
                if !part.is_zero() {
                    self.fill(i, part, px, now_ms);
                    self.set_order_status(i, ExOrderStatus::PartiallyFilled, now_ms);
                }
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

    /// `POST /fapi/v1/marginType`, checked as Binance checks it (BINANCE.md §4): -4046 when the
    /// symbol already has that type (the caller takes it as done), -4048 with a position, -4047
    /// with open orders (regular or conditional).
    pub fn set_margin_type(&mut self, isolated: bool) -> ExResult<()> {
        if self.isolated == isolated {
            return Err(rules::margin_type_unchanged());
        }
        if !self.pos_qty.is_zero() {
            return Err(rules::margin_type_with_position());
        }
        if !self.open_orders.is_empty() || !self.open_conds.is_empty() {
            return Err(rules::margin_type_with_open_orders());
        }
        self.isolated = isolated;
        self.touch_request();
        Ok(())
    }

    /// `POST /fapi/v1/leverage`: 1 to 125 (-4028); no reduction while an isolated position is
    /// open (-4161). The same value again is a success that changes nothing.
    pub fn set_leverage(&mut self, leverage: u32) -> ExResult<()> {
        if !(1..=125).contains(&leverage) {
            return Err(rules::leverage_invalid(leverage));
        }
        if leverage < self.leverage && self.isolated && !self.pos_qty.is_zero() {
            return Err(rules::leverage_reduction_with_position());
        }
        if self.leverage != leverage {
            self.leverage = leverage;
            self.touch_request();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::exchange::paper::book::Costs;
    use rust_decimal_macros::dec;

    fn book() -> Book {
        Book::new("BTCUSDT", dec!(10000), Costs { fee_rate: dec!(0.0004), slip_rate: Decimal::ZERO }, 0)
    }

    fn buy(client_id: &str, qty: Decimal) -> MarketOrderRequest {
        MarketOrderRequest {
            symbol: "BTCUSDT".into(),
            side: OrderSide::Buy,
            qty,
            reduce_only: false,
            client_id: client_id.into(),
        }
    }

    fn code<T: std::fmt::Debug>(r: ExResult<T>) -> Option<i64> {
        r.unwrap_err().code()
    }

    /// Issue 16 item 1: the account-setting codes the HTTP mock used to raise on its own.
    #[test]
    fn margin_type_and_leverage_are_checked_as_binance_checks_them() {
        let f = SymbolFilters::btcusdt_default();
        let mut b = book();
        assert_eq!(code(b.set_margin_type(true)), Some(-4046), "already isolated");
        assert_eq!(code(b.set_leverage(0)), Some(-4028));
        assert_eq!(code(b.set_leverage(126)), Some(-4028));
        b.set_leverage(20).unwrap();
        b.set_leverage(20).unwrap();
        let (i, _) = b.place_market(&buy("e1", dec!(0.010)), &f, dec!(40000), 1, Some((Decimal::ZERO, None))).unwrap();
        assert_eq!(b.orders[i].status, ExOrderStatus::New, "a partial of zero rests, nothing filled");
        assert_eq!(code(b.set_margin_type(false)), Some(-4047), "open orders");
        b.complete_partial(i, 2, dec!(40000));
        assert_eq!(code(b.set_margin_type(false)), Some(-4048), "a position");
        assert_eq!(code(b.set_leverage(1)), Some(-4161), "no reduction with an isolated position");
        b.set_leverage(25).unwrap();
        assert_eq!(b.leverage, 25);
        let close = MarketOrderRequest { side: OrderSide::Sell, reduce_only: true, ..buy("c1", dec!(0.010)) };
        b.place_market(&close, &f, dec!(40000), 3, None).unwrap();
        b.set_margin_type(false).unwrap();
        assert!(!b.isolated);
        b.set_leverage(1).unwrap();
    }
}
