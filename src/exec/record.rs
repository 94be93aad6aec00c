//! Journal and audit helpers: every exchange interaction becomes an `order_event` row, every
//! decision an `audit_event` row, with one consistent shape.

use crate::core::order::{OrderEvent, OrderRole};
use crate::error::Result;
use crate::exchange::{ConditionalStatus, ExConditional, ExOrder, ExOrderStatus, ExchangeError};
use crate::exec::Engine;
use crate::store::journal::{NewAuditEvent, NewOrderEvent, Severity};
use crate::store::StoreResult;
use rust_decimal::Decimal;
use serde_json::Value;

/// Who an order row is about.
#[derive(Debug, Clone)]
pub struct OrderRef {
    pub plan_id: Option<String>,
    pub role: OrderRole,
    pub attempt: u32,
    pub client_id: String,
}

/// The journal event that an exchange order status means.
pub fn order_status_event(s: ExOrderStatus) -> OrderEvent {
    match s {
        ExOrderStatus::New => OrderEvent::Acked,
        ExOrderStatus::PartiallyFilled => OrderEvent::PartiallyFilled,
        ExOrderStatus::Filled => OrderEvent::Filled,
        ExOrderStatus::Canceled => OrderEvent::Cancelled,
        ExOrderStatus::Rejected => OrderEvent::Rejected,
        ExOrderStatus::Expired => OrderEvent::Expired,
    }
}

/// The journal event that a conditional order status means.
pub fn conditional_status_event(c: &ExConditional) -> OrderEvent {
    match c.status {
        ConditionalStatus::New => OrderEvent::Acked,
        ConditionalStatus::Triggering | ConditionalStatus::Triggered => OrderEvent::Triggered,
        ConditionalStatus::Finished => {
            if c.actual_qty.is_some_and(|q| q > Decimal::ZERO) {
                OrderEvent::Filled
            } else {
                OrderEvent::Expired
            }
        }
        ConditionalStatus::Canceled => OrderEvent::Cancelled,
        ConditionalStatus::Rejected => OrderEvent::Rejected,
        ConditionalStatus::Expired => OrderEvent::Expired,
    }
}

/// The state an event leads to when it is a state report (not a request or a failure).
pub(crate) fn event_target(e: OrderEvent) -> Option<crate::core::order::OrderState> {
    use crate::core::order::OrderState as S;
    match e {
        OrderEvent::Acked => Some(S::Acked),
        OrderEvent::Triggered => Some(S::Triggered),
        OrderEvent::PartiallyFilled => Some(S::PartiallyFilled),
        OrderEvent::Filled => Some(S::Filled),
        OrderEvent::Rejected => Some(S::Rejected),
        OrderEvent::Cancelled => Some(S::Cancelled),
        OrderEvent::Expired => Some(S::Expired),
        _ => None,
    }
}

/// Journal rows that depend on what the journal already holds.
impl Engine<'_> {
    /// Makes sure a client id seen on the exchange has an intent row, so its later events fold
    /// through the state machine (an order the journal never saw is recorded as discovered).
    pub fn ensure_known(&mut self, o: &OrderRef, price: Option<Decimal>, qty: Decimal) -> Result<()> {
        let plan = o.plan_id.clone().unwrap_or_default();
        if !self.ledger(&plan)?.orders.contains_key(&o.client_id) {
            // Found open on the exchange: the intent we never recorded, then what we saw.
            let note = Some("discovered on the exchange; not in the journal".to_string());
            self.record(o, OrderEvent::Submitting, None, None, price, Some(qty), note, None)?;
            self.record(
                o,
                OrderEvent::Acked,
                None,
                None,
                price,
                Some(qty),
                Some("discovered open on the exchange".into()),
                None,
            )?;
        }
        Ok(())
    }

    /// Records a conditional's exchange state unless the journal already shows that state.
    pub fn record_conditional_if_new(&mut self, o: &OrderRef, c: &ExConditional) -> Result<()> {
        let plan = o.plan_id.clone().unwrap_or_default();
        let current = self.ledger(&plan)?.orders.get(&o.client_id).map(|v| v.state);
        let event = crate::exec::record::conditional_status_event(c);
        if current.is_some() && current == event_target(event) {
            return Ok(()); // the journal already says so
        }
        match crate::core::order::transition(current, event) {
            Ok(_) => self.record_conditional(o, c, None)?,
            // Not a valid step from what we believed (e.g. we thought it cancelled): note what we saw.
            Err(_) => self.record(
                o,
                OrderEvent::Observed,
                Some(c.algo_id.clone()),
                Some(format!("{:?}", c.status).to_uppercase()),
                Some(c.trigger_price),
                Some(c.qty),
                Some("exchange reports a state the journal cannot reach; kept for audit".into()),
                Some(c.raw.clone()),
            )?,
        }
        Ok(())
    }
}

impl Engine<'_> {
    /// Appends one order_event row.
    #[allow(clippy::too_many_arguments)]
    pub fn record(
        &mut self,
        o: &OrderRef,
        event: OrderEvent,
        exchange_order_id: Option<String>,
        status: Option<String>,
        price: Option<Decimal>,
        qty: Option<Decimal>,
        detail: Option<String>,
        raw: Option<String>,
    ) -> StoreResult<()> {
        let now = self.now();
        self.store
            .append_order_event(&NewOrderEvent {
                ts_ms: now,
                trade_plan_id: o.plan_id.clone(),
                role: o.role,
                attempt: o.attempt,
                client_id: o.client_id.clone(),
                correlation_id: o.plan_id.as_ref().map(|p| format!("{p}-{}", o.role.as_str().to_lowercase())),
                event,
                exchange_order_id,
                status,
                price,
                qty,
                detail,
                raw,
            })
            .map(|_| ())
    }

    /// The intent row, committed before the request (persist before you act).
    pub fn record_submitting(&mut self, o: &OrderRef, price: Option<Decimal>, qty: Decimal) -> StoreResult<()> {
        self.record(o, OrderEvent::Submitting, None, None, price, Some(qty), None, None)
    }

    /// A regular order as the exchange reported it.
    pub fn record_order(&mut self, o: &OrderRef, ex: &ExOrder, detail: Option<String>) -> StoreResult<()> {
        let event = order_status_event(ex.status);
        let (price, qty) = if ex.executed_qty > Decimal::ZERO {
            (ex.fill_price(), Some(ex.executed_qty))
        } else {
            (None, Some(ex.orig_qty))
        };
        self.record(
            o,
            event,
            Some(ex.order_id.clone()),
            Some(format!("{:?}", ex.status).to_uppercase()),
            price,
            qty,
            detail,
            Some(ex.raw.clone()),
        )
    }

    /// A conditional order as the exchange reported it.
    pub fn record_conditional(&mut self, o: &OrderRef, c: &ExConditional, detail: Option<String>) -> StoreResult<()> {
        let event = conditional_status_event(c);
        let (price, qty) = match event {
            OrderEvent::Filled => (c.actual_price.or(Some(c.trigger_price)), c.actual_qty),
            _ => (Some(c.trigger_price), Some(c.qty)),
        };
        self.record(
            o,
            event,
            Some(c.algo_id.clone()),
            Some(format!("{:?}", c.status).to_uppercase()),
            price,
            qty,
            detail,
            Some(c.raw.clone()),
        )
    }

    /// A look-up by client id found nothing: the order was never accepted.
    /// A believed-live order the exchange no longer knows: it ended without our seeing how.
    pub fn record_gone(&mut self, o: &OrderRef, detail: &str, raw: Option<String>) -> StoreResult<()> {
        self.record(o, OrderEvent::Expired, None, None, None, None, Some(detail.to_string()), raw)
    }

    pub fn record_not_found(&mut self, o: &OrderRef, detail: &str) -> StoreResult<()> {
        self.record(o, OrderEvent::NotFound, None, None, None, None, Some(detail.to_string()), None)
    }

    /// A failed call: UNKNOWN when ambiguous, REJECTED when definite, CANCEL_FAILED for cancels.
    pub fn record_error(&mut self, o: &OrderRef, event: OrderEvent, e: &ExchangeError) -> StoreResult<()> {
        self.record(o, event, None, Some(e.class.as_str().to_string()), None, None, Some(e.to_string()), e.raw.clone())
    }

    /// Appends one audit_event row.
    pub fn audit(
        &mut self,
        severity: Severity,
        kind: &str,
        plan_id: Option<&str>,
        message: impl Into<String>,
        data: Value,
    ) -> StoreResult<()> {
        let now = self.now();
        self.store
            .append_audit(&NewAuditEvent {
                ts_ms: now,
                severity,
                kind: kind.to_string(),
                trade_plan_id: plan_id.map(str::to_string),
                message: message.into(),
                data: if data.is_null() { None } else { Some(data.to_string()) },
            })
            .map(|_| ())
    }

    /// HALTs the system (keeping an earlier halt's reason) and audits it.
    pub fn halt(&mut self, reason: &str, plan_id: Option<&str>) -> StoreResult<()> {
        let now = self.now();
        if self.store.set_halted(reason, now)? {
            self.audit(
                Severity::Critical,
                crate::core::audit::HALT,
                plan_id,
                format!("HALTED: {reason}"),
                serde_json::json!({"reason": reason}),
            )?;
        }
        Ok(())
    }
}
