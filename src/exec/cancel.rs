//! Cancels, idempotent (seed 001 §4): a protective order is gone only when the exchange says so or
//! a look-up proves it; an ENTRY remainder is cancelled and what it finally filled is journaled.
//! Nothing here decides *whether* to cancel: callers cancel a working STOP only after its
//! replacement is acknowledged (issue 10 item 4).

use crate::core::client_id::ClientOrderId;
use crate::core::order::{OrderEvent, OrderRole};
use crate::error::Result;
use crate::exchange::{CancelOutcome, ExConditional};
use crate::exec::record::OrderRef;
use crate::exec::{ambiguity, snapshot, Engine};
use rust_decimal::Decimal;

impl Engine<'_> {
    /// Cancels one of our conditional orders idempotently (seed 001 §4): "not open" counts as
    /// success only after a look-up shows it is not still open. Returns true when it is gone.
    pub fn cancel_conditional_idempotent(&mut self, client_id: &str, fallback_qty: Decimal) -> Result<bool> {
        let Ok(id) = ClientOrderId::parse(client_id) else { return Ok(false) };
        let o = OrderRef {
            plan_id: Some(id.plan_id.clone()),
            role: id.role,
            attempt: id.attempt,
            client_id: client_id.to_string(),
        };
        self.ensure_known(&o, None, fallback_qty)?;
        let symbol = self.symbol().to_string();
        for _ in 0..2 {
            match self.ex.cancel_conditional(&symbol, client_id) {
                Ok(CancelOutcome::Cancelled { raw }) => {
                    self.record(&o, OrderEvent::Cancelled, None, Some("CANCELED".into()), None, None, None, Some(raw))?;
                    return Ok(true);
                }
                Ok(CancelOutcome::NotOpen { raw }) => {
                    match self.read("query_conditional", |_| self.ex.query_conditional(&symbol, client_id)) {
                        Ok(Some(c)) if c.status.is_open() => {
                            self.record(
                                &o,
                                OrderEvent::CancelFailed,
                                None,
                                None,
                                None,
                                None,
                                Some("cancel said unknown but the order is still open".into()),
                                Some(raw),
                            )?;
                        }
                        Ok(Some(c)) => {
                            self.record_conditional_if_new(&o, &c)?;
                            return Ok(true);
                        }
                        Ok(None) => {
                            self.record_gone(&o, "exchange does not know it (already gone)", Some(raw))?;
                            return Ok(true);
                        }
                        Err(e) => {
                            self.record_error(&o, OrderEvent::CancelFailed, &e)?;
                            return Ok(false);
                        }
                    }
                }
                Err(e) => {
                    self.record_error(&o, OrderEvent::CancelFailed, &e)?;
                    if !ambiguity::is_unknown_outcome(&e) && e.class != crate::exchange::ErrorClass::Retryable {
                        return Ok(false);
                    }
                }
            }
        }
        Ok(false)
    }

    /// Cancels every open protective order of ours on the symbol (any plan). Returns how many
    /// could not be confirmed gone.
    pub fn cancel_all_protection(&mut self, conditionals: &[ExConditional]) -> Result<usize> {
        let mut failed = 0;
        for c in conditionals {
            if !self.cancel_conditional_idempotent(&c.client_id, c.qty)? {
                failed += 1;
            }
        }
        Ok(failed)
    }

    /// Cancels every ENTRY of the plan that may still be working on the exchange, and records
    /// what it finally filled.
    pub fn cancel_open_entries(&mut self, plan_id: &str) -> Result<()> {
        let symbol = self.cfg.symbol.clone();
        let live: Vec<_> = self
            .ledger(plan_id)?
            .of(plan_id, OrderRole::Entry)
            .into_iter()
            .filter(|o| o.state.may_be_live())
            .cloned()
            .collect();
        for v in live {
            let o = OrderRef {
                plan_id: Some(plan_id.to_string()),
                role: OrderRole::Entry,
                attempt: v.attempt,
                client_id: v.client_id.clone(),
            };
            if let Err(err) = self.ex.cancel_order(&symbol, &v.client_id) {
                self.record_error(&o, OrderEvent::CancelFailed, &err)?;
            }
            if let Ok(Some(q)) = self.read_persistent("query_order", |_| self.ex.query_order(&symbol, &v.client_id)) {
                let event = crate::exec::record::order_status_event(q.status);
                let changed = v.filled_qty != Some(q.executed_qty)
                    || crate::core::order::transition(Some(v.state), event).is_ok_and(|s| s != v.state);
                if changed && crate::core::order::transition(Some(v.state), event).is_ok() {
                    self.record_order(&o, &q, Some("ENTRY remainder cancelled".into()))?;
                }
            }
        }
        Ok(())
    }

    /// Cancels every STOP/TP of a plan the journal knows plus any still open on the exchange.
    pub fn cancel_plan_protection(&mut self, plan_id: &str) -> Result<usize> {
        let ledger = self.ledger(plan_id)?;
        let known: Vec<(String, Decimal)> = ledger
            .orders
            .values()
            .filter(|o| o.role.is_conditional() && o.state.may_be_live())
            .map(|o| (o.client_id.clone(), o.order_qty.unwrap_or_default()))
            .collect();
        let mut failed = 0;
        for (cid, qty) in known {
            if !self.cancel_conditional_idempotent(&cid, qty)? {
                failed += 1;
            }
        }
        if let Ok(snap) = snapshot::read(self.ex, &self.cfg.symbol, &self.cfg.bot_id) {
            let open: Vec<ExConditional> = snap.conditionals_of_plan(plan_id).cloned().collect();
            failed += self.cancel_all_protection(&open)?;
        }
        Ok(failed)
    }
}
