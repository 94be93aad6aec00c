//! CLOSE at market until the exchange shows the position flat (or `close_retry_max_elapsed_ms`
//! passes), each attempt a reduce-only MARKET with a new attempt id; an unknown answer is resolved
//! by client id (`exec::ambiguity`) before the next is sent.

use crate::core::client_id::ClientOrderId;
use crate::core::order::{OrderEvent, OrderRole};
use crate::core::types::PositionSide;
use crate::error::Result;
use crate::exchange::MarketOrderRequest;
use crate::exec::ambiguity;
use crate::exec::record::OrderRef;
use crate::exec::Engine;
use rust_decimal::Decimal;

/// What the CLOSEs of one `close_until_flat` filled, once the exchange shows the position flat.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Flat {
    /// Filled by our CLOSEs (zero: flat without them — a STOP or a hand closed it meanwhile).
    pub qty: Decimal,
    /// Their average price (zero when nothing filled).
    pub avg_price: Decimal,
    /// The exchange's time of the last CLOSE fill: the position's exit time.
    pub last_fill_ms: Option<i64>,
}

impl Engine<'_> {
    /// Sends CLOSE (reduce-only market) until the exchange shows the position flat, retrying with
    /// a new attempt number each time, for at most `close_retry_max_elapsed_ms` (seed 000 §8.2,
    /// CONTRACT §7.7). `None` when it could not confirm the position flat.
    pub fn close_until_flat(&mut self, plan_id: &str, side: PositionSide) -> Result<Option<Flat>> {
        let start = self.now();
        let deadline = self.cfg.execution.close_retry_max_elapsed_ms.after(start);
        let symbol = self.symbol().to_string();
        let mut filled_qty = Decimal::ZERO;
        let mut filled_notional = Decimal::ZERO;
        let mut last_fill_ms = None;
        let mut backoff_ms: u64 = 250;
        loop {
            let position = match self.read_position() {
                Ok(p) => Some(p),
                Err(e) => {
                    tracing::warn!(event = "close.read_failed", error = %e, "cannot read position");
                    None
                }
            };
            if let Some(p) = &position {
                if p.is_flat() {
                    return Ok(Some(flat(filled_qty, filled_notional, last_fill_ms)));
                }
                let attempt = self.ledger(plan_id)?.next_attempt(plan_id, OrderRole::Close);
                let cid = ClientOrderId::new(&self.cfg.bot_id, plan_id, OrderRole::Close, attempt)
                    .map_err(|e| crate::error::Error::Failed(e.to_string()))?;
                let o = OrderRef {
                    plan_id: Some(plan_id.to_string()),
                    role: OrderRole::Close,
                    attempt,
                    client_id: cid.to_string(),
                };
                let qty = p.qty.abs();
                self.record_submitting(&o, Some(p.mark_price), qty)?;
                let req = MarketOrderRequest {
                    symbol: symbol.clone(),
                    side: side.exit_side(),
                    qty,
                    reduce_only: true,
                    client_id: o.client_id.clone(),
                };
                match self.ex.place_market(&req) {
                    Ok(order) => {
                        self.record_order(&o, &order, None)?;
                        filled_qty += order.executed_qty;
                        filled_notional += order.executed_qty * order.avg_price;
                        if order.executed_qty > Decimal::ZERO && order.update_time_ms > 0 {
                            last_fill_ms = Some(order.update_time_ms);
                        }
                    }
                    Err(e) if ambiguity::is_unknown_outcome(&e) => {
                        self.record_error(&o, OrderEvent::Unknown, &e)?;
                        let budget = ambiguity::Budget {
                            max_elapsed_ms: self.cfg.execution.entry_ack_timeout_ms.as_i64(),
                            pause_ms: 300,
                        };
                        let ex = self.ex;
                        match ambiguity::resolve(self.clock, budget, || ex.query_order(&symbol, &o.client_id)) {
                            ambiguity::Resolved::Found(order) => {
                                self.record_order(
                                    &o,
                                    &order,
                                    Some("found by client id after an ambiguous send".into()),
                                )?;
                                filled_qty += order.executed_qty;
                                filled_notional += order.executed_qty * order.avg_price;
                                if order.executed_qty > Decimal::ZERO && order.update_time_ms > 0 {
                                    last_fill_ms = Some(order.update_time_ms);
                                }
                            }
                            ambiguity::Resolved::Absent => self.record_not_found(&o, "not accepted")?,
                            ambiguity::Resolved::Unknown(e2) => {
                                let e2 = e2.map_or_else(|| "look-up timed out".into(), |x| x.to_string());
                                tracing::warn!(event = "close.lookup_failed", error = %e2, "CLOSE outcome unknown")
                            }
                        }
                    }
                    Err(e) => self.record_error(&o, OrderEvent::Rejected, &e)?,
                }
                // Confirm right away: a filled CLOSE should leave the position flat now.
                if let Ok(p2) = self.read_position() {
                    if p2.is_flat() {
                        return Ok(Some(flat(filled_qty, filled_notional, last_fill_ms)));
                    }
                }
            }
            if self.now() + i64::try_from(backoff_ms).unwrap_or(0) > deadline {
                return Ok(None);
            }
            self.clock.sleep_ms(backoff_ms);
            backoff_ms = (backoff_ms * 2).min(5_000);
        }
    }
}

fn flat(qty: Decimal, notional: Decimal, last_fill_ms: Option<i64>) -> Flat {
    let avg_price = if qty > Decimal::ZERO { notional / qty } else { Decimal::ZERO };
    Flat { qty, avg_price, last_fill_ms }
}
