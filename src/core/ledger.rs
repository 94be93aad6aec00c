//! The order ledger: folds journal facts through the order state machine into the current view of
//! every client id. Live code (`status`, `protect`, reconcile) and `replay` use this one fold.

use crate::core::order::{transition, InvalidTransition, OrderEvent, OrderRole, OrderState};
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;

/// One order_event row, as the core sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct OrderFact {
    pub seq: i64,
    pub ts_ms: i64,
    pub plan_id: Option<String>,
    pub client_id: String,
    pub role: OrderRole,
    pub attempt: u32,
    pub event: OrderEvent,
    pub exchange_order_id: Option<String>,
    pub price: Option<Decimal>,
    pub qty: Option<Decimal>,
}

/// The current belief about one client id.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderView {
    pub client_id: String,
    pub plan_id: Option<String>,
    pub role: OrderRole,
    pub attempt: u32,
    pub state: OrderState,
    /// Trigger price (STOP/TP) or reference price, from the submission.
    pub order_price: Option<Decimal>,
    /// Quantity sent.
    pub order_qty: Option<Decimal>,
    /// Average fill price, once filled (partly or fully).
    pub fill_price: Option<Decimal>,
    pub filled_qty: Option<Decimal>,
    pub exchange_order_id: Option<String>,
    pub first_ts_ms: i64,
    pub last_ts_ms: i64,
}

/// A fact the state machine refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("seq {seq} ({client_id}): {error}")]
pub struct LedgerError {
    pub seq: i64,
    pub client_id: String,
    pub error: InvalidTransition,
}

/// All orders by client id.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Ledger {
    pub orders: BTreeMap<String, OrderView>,
}

impl Ledger {
    /// Applies one fact; refuses invalid transitions without changing anything.
    pub fn apply(&mut self, f: &OrderFact) -> Result<(), LedgerError> {
        let current = self.orders.get(&f.client_id).map(|v| v.state);
        let next = transition(current, f.event).map_err(|error| LedgerError {
            seq: f.seq,
            client_id: f.client_id.clone(),
            error,
        })?;
        let view = self.orders.entry(f.client_id.clone()).or_insert_with(|| OrderView {
            client_id: f.client_id.clone(),
            plan_id: f.plan_id.clone(),
            role: f.role,
            attempt: f.attempt,
            state: next,
            order_price: None,
            order_qty: None,
            fill_price: None,
            filled_qty: None,
            exchange_order_id: None,
            first_ts_ms: f.ts_ms,
            last_ts_ms: f.ts_ms,
        });
        view.state = next;
        view.last_ts_ms = f.ts_ms;
        if f.exchange_order_id.is_some() {
            view.exchange_order_id.clone_from(&f.exchange_order_id);
        }
        match f.event {
            OrderEvent::Submitting => {
                view.order_price = f.price;
                view.order_qty = f.qty;
            }
            // A fill answered without a price learns it from a later look-up (issue 12 §1).
            OrderEvent::Observed
                if view.role == OrderRole::Entry && view.fill_price.is_none() && view.filled_qty.is_some() =>
            {
                view.fill_price = f.price;
            }
            OrderEvent::Filled | OrderEvent::PartiallyFilled => {
                if f.price.is_some() {
                    view.fill_price = f.price;
                }
                if f.qty.is_some() {
                    view.filled_qty = f.qty;
                }
            }
            // The acknowledgement says what the exchange holds: it wins over the intent (an intent
            // committed with the ENTRY carries the plan's size; the STOP covers what filled).
            OrderEvent::Acked => {
                if f.price.is_some() {
                    view.order_price = f.price;
                }
                if f.qty.is_some() {
                    view.order_qty = f.qty;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Folds facts in order, stopping at the first invalid one.
    pub fn fold<'a>(facts: impl IntoIterator<Item = &'a OrderFact>) -> Result<Ledger, LedgerError> {
        let mut l = Ledger::default();
        for f in facts {
            l.apply(f)?;
        }
        Ok(l)
    }

    /// Orders of a plan and role, by attempt.
    pub fn of(&self, plan_id: &str, role: OrderRole) -> Vec<&OrderView> {
        let mut v: Vec<&OrderView> =
            self.orders.values().filter(|o| o.role == role && o.plan_id.as_deref() == Some(plan_id)).collect();
        v.sort_by_key(|o| o.attempt);
        v
    }

    /// The newest order of a plan and role that may still be live on the exchange.
    pub fn live(&self, plan_id: &str, role: OrderRole) -> Option<&OrderView> {
        self.of(plan_id, role).into_iter().rev().find(|o| o.state.may_be_live())
    }

    /// The next attempt number for a plan and role.
    pub fn next_attempt(&self, plan_id: &str, role: OrderRole) -> u32 {
        self.of(plan_id, role).last().map_or(1, |o| o.attempt + 1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn fact(
        seq: i64,
        cid: &str,
        role: OrderRole,
        attempt: u32,
        event: OrderEvent,
        price: Option<Decimal>,
    ) -> OrderFact {
        OrderFact {
            seq,
            ts_ms: seq * 10,
            plan_id: Some("p1".into()),
            client_id: cid.into(),
            role,
            attempt,
            event,
            exchange_order_id: None,
            price,
            qty: Some(dec!(0.01)),
        }
    }

    #[test]
    fn folds_a_happy_path() {
        let facts = vec![
            fact(1, "mc_p1_ENTRY_1", OrderRole::Entry, 1, OrderEvent::Submitting, Some(dec!(100))),
            fact(2, "mc_p1_ENTRY_1", OrderRole::Entry, 1, OrderEvent::Filled, Some(dec!(101))),
            fact(3, "mc_p1_STOP_1", OrderRole::Stop, 1, OrderEvent::Submitting, Some(dec!(90))),
            fact(4, "mc_p1_STOP_1", OrderRole::Stop, 1, OrderEvent::Acked, None),
        ];
        let l = Ledger::fold(&facts).unwrap();
        let stop = l.live("p1", OrderRole::Stop).unwrap();
        assert_eq!(stop.state, OrderState::Acked);
        assert_eq!(stop.order_price, Some(dec!(90)));
        assert_eq!(l.orders["mc_p1_ENTRY_1"].fill_price, Some(dec!(101)));
        assert_eq!(l.next_attempt("p1", OrderRole::Stop), 2);
        assert!(l.live("p1", OrderRole::Entry).is_none());
    }

    #[test]
    fn refuses_an_event_without_intent() {
        let facts = vec![fact(1, "mc_p1_ENTRY_1", OrderRole::Entry, 1, OrderEvent::Filled, None)];
        let e = Ledger::fold(&facts).unwrap_err();
        assert_eq!(e.seq, 1);
    }
}
