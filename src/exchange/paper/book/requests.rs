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
