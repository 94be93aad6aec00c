//! A position's record from the exchange's evidence: adoption of a position the DB does not know
//! (taking the plan id its covering orders name), and finalisation — the exit reason the evidence
//! supports, the exit price and time, fees by asset, funding, PnL, the cooldown.

use crate::core::audit;
use crate::core::fees::{FeeLine, Fees};
use crate::core::order::{OrderEvent, OrderRole};
use crate::core::plan::PlanStatus;
use crate::core::position::{ExitReason, PositionState};
use crate::core::types::PositionSide;
use crate::error::Result;
use crate::exchange::ExPosition;
use crate::exec::evaluate::QUOTE_ASSET;
use crate::exec::record::OrderRef;
use crate::exec::{snapshot, Engine};
use crate::store::journal::Severity;
use crate::store::positions::{NewPosition, PositionClose, PositionRecord};
use rust_decimal::Decimal;
use serde_json::json;

/// The plan id used in client ids and journal rows of a position. Adopted positions without a plan
/// get a synthetic one derived from their row id, so their orders still carry our prefix.
pub(crate) fn journal_plan_id(pos: &PositionRecord) -> String {
    pos.trade_plan_id.clone().or_else(|| pos.owner_plan_id.clone()).unwrap_or_else(|| format!("adopt{:06}", pos.id))
}

impl Engine<'_> {
    /// Finalises a position: CLOSED with its reason, plan CLOSED, cooldown started, audited.
    pub fn finalise_position(
        &mut self,
        pos: &PositionRecord,
        reason: &ExitReason,
        exit_price: Option<Decimal>,
        fees: Option<&Fees>,
        exit_time_ms: Option<i64>,
    ) -> Result<()> {
        let now = self.now();
        // The position's column holds the quote-asset total only when it is the whole of the fees.
        let quote_fees = fees.and_then(|f| f.quote_total(QUOTE_ASSET));
        // The exchange's own time of the fill that closed it, when known; else this moment. Its
        // clock may run a little ahead of ours; a time far ahead is not a fill time.
        let exit_time_ms = exit_time_ms.filter(|t| *t > 0 && *t <= now + EXIT_TIME_AHEAD_MS);
        let funding = close_funding(self, pos, exit_time_ms.unwrap_or(now));
        let pnl = exit_price
            .filter(|p| *p > Decimal::ZERO)
            .map(|x| crate::core::trades::price_pnl(pos.side, pos.entry_price, x, pos.qty));
        self.store.close_position(
            pos.id,
            &PositionClose {
                exit_reason: reason.to_string(),
                exit_price,
                realized_pnl: pnl,
                fees: quote_fees,
                closed_ms: now,
            },
        )?;
        if let Some(plan_id) = &pos.trade_plan_id {
            if let Some(plan) = self.store.plan(plan_id)? {
                if plan.status.can_become(PlanStatus::Closed) {
                    self.store.set_plan_status(plan_id, PlanStatus::Closed, now)?;
                }
            }
        }
        let cooldown = self.cfg.strategy.cooldown_ms();
        self.store.set_cooldown_until(now + cooldown)?;
        let plan = journal_plan_id(pos);
        self.audit(
            Severity::Info,
            audit::POSITION_CLOSED,
            Some(&plan),
            format!("position closed: {reason}"),
            json!({"exit_reason": reason.to_string(), "exit_price": exit_price.map(|d| d.to_string()),
                   "realized_pnl": pnl.map(|d| d.to_string()), "fees": quote_fees.map(|d| d.to_string()), "qty": pos.qty.to_string(),
                   "funding": funding.map(|d| d.to_string()), "exit_time_ms": exit_time_ms,
                   "side": pos.side.to_string(), "entry_price": pos.entry_price.to_string(),
                   "fees_by_asset": fees.map(Fees::by_asset_json), "fees_complete": fees.map(Fees::complete),
                   "fees_unknown_orders": fees.map(|f| f.unknown_orders.clone())}),
        )?;
        Ok(())
    }
}

/// Adopts an exchange position the DB does not know (F-003), with a WARN audit.
pub(crate) fn adopt(e: &mut Engine<'_>, p: &ExPosition, plan_id: Option<String>, why: &str) -> Result<PositionRecord> {
    adopt_covered(e, p, plan_id, None, why)
}

/// `adopt`, for a position whose covering STOP/TP name the plan `covered_by` although the DB has
/// no such plan (a lost state): the position is journaled under that id so its working orders
/// stay its protection (issue 10 item 4).
pub(crate) fn adopt_covered(
    e: &mut Engine<'_>,
    p: &ExPosition,
    plan_id: Option<String>,
    covered_by: Option<&str>,
    why: &str,
) -> Result<PositionRecord> {
    let side = if p.qty > Decimal::ZERO { PositionSide::Long } else { PositionSide::Short };
    let now = e.now();
    let rec = e.store.insert_position(&NewPosition {
        trade_plan_id: plan_id.clone(),
        symbol: e.symbol().to_string(),
        side,
        state: PositionState::Open,
        qty: p.qty.abs(),
        entry_price: p.entry_price,
        opened_ms: now,
        adopted: plan_id.is_none(),
    })?;
    e.store.set_position_fill(rec.id, p.qty.abs(), p.entry_price, Some(now))?;
    if let Some(owner) = covered_by {
        e.store.set_position_owner_plan(rec.id, owner)?;
    }
    let rec = e.store.position(rec.id)?.unwrap_or(rec);
    let jp = journal_plan_id(&rec);
    e.audit(
        Severity::Warn,
        audit::POSITION_ADOPTED,
        Some(&jp),
        format!("adopted exchange position {} {} @ {} ({why})", side, p.qty.abs(), p.entry_price),
        json!({"qty": p.qty.abs().to_string(), "entry_price": p.entry_price.to_string(), "plan_id": plan_id}),
    )?;
    Ok(e.store.position(rec.id)?.unwrap_or(rec))
}

/// Commission of every filled order of the plan, by asset. An order whose trades cannot be read,
/// or do not cover its fill, is unknown (never zero). A filled STOP/TP's trades are its child
/// MARKET order's (`actualOrderId`, looked up), read around its trigger time, not its placement.
/// Each read is bounded around the order's own time.
pub(crate) fn position_fees(e: &Engine<'_>, plan_id: &str) -> Fees {
    let mut fees = Fees::default();
    let Ok(ledger) = e.ledger(plan_id) else {
        fees.unknown_orders.push(format!("plan {plan_id}: journal unreadable"));
        return fees;
    };
    for o in OrderRole::ALL.into_iter().flat_map(|role| ledger.of(plan_id, role)) {
        let Some(filled) = o.filled_qty.filter(|q| *q > Decimal::ZERO) else { continue };
        let target = if o.role.is_conditional() {
            match e.ex.query_conditional_placed(e.symbol(), &o.client_id, o.first_ts_ms) {
                Ok(Some(c)) => c.actual_order_id.map(|child| (child, c.update_time_ms)),
                _ => None,
            }
        } else {
            o.exchange_order_id.clone().map(|id| (id, o.first_ts_ms))
        };
        let Some((id, around_ms)) = target else {
            fees.unknown_orders.push(o.client_id.clone());
            continue;
        };
        let lines = match e.ex.order_fills(e.symbol(), &id, around_ms) {
            Ok(fills) => Some(
                fills
                    .into_iter()
                    .map(|f| FeeLine { qty: f.qty, commission: f.commission, asset: f.commission_asset })
                    .collect::<Vec<_>>(),
            ),
            Err(err) => {
                tracing::warn!(event = "fees.unknown", order_id = %id, error = %err, "fills not read: fees unknown");
                None
            }
        };
        if lines.as_ref().is_some_and(Vec::is_empty) {
            tracing::warn!(event = "fees.unknown", order_id = %id, %filled, "filled but no trades found: fees unknown");
        }
        fees.add_order(&id, filled, lines.as_deref());
    }
    fees
}

/// How far ahead of our clock an exchange fill time may be and still be taken as the exit time
/// (the server clock's offset from ours, which signed requests measure and correct for).
const EXIT_TIME_AHEAD_MS: i64 = 60_000;

/// Funding the exchange settled on the position from its entry fill to `exit_ms`, summed. `None`
/// when the exchange does not answer or answers in another asset: unknown is not zero. Read after
/// the close, like the fees, so it never delays it.
fn close_funding(e: &Engine<'_>, pos: &PositionRecord, exit_ms: i64) -> Option<Decimal> {
    let start = pos.entry_filled_ms.unwrap_or(pos.opened_ms);
    let paid = e.ex.funding_history(e.symbol(), start, exit_ms.max(start)).ok()?;
    paid.iter().all(|p| p.asset == crate::exec::evaluate::QUOTE_ASSET).then(|| paid.iter().map(|p| p.amount).sum())
}

/// The exit reason the evidence supports when the exchange is flat and we did not close it now:
/// a filled STOP → stop_hit, a filled TP → tp_hit, our filled CLOSE → the recorded pending reason,
/// otherwise external.
pub(crate) fn evidence_reason(e: &Engine<'_>, pos: &PositionRecord) -> Result<ExitReason> {
    let plan_id = journal_plan_id(pos);
    let ledger = e.ledger(&plan_id)?;
    let filled = |role| {
        ledger.of(&plan_id, role).iter().any(|o| {
            o.filled_qty.is_some_and(|q| q > Decimal::ZERO) && o.state == crate::core::order::OrderState::Filled
        })
    };
    if filled(OrderRole::Stop) {
        return Ok(ExitReason::StopHit);
    }
    if filled(OrderRole::Tp) {
        return Ok(ExitReason::TpHit);
    }
    if filled(OrderRole::Close) {
        if let Some(r) = pos.pending_exit_reason.as_deref().and_then(|r| r.parse().ok()) {
            return Ok(r);
        }
        // A forced close audits its reason before its CLOSE is sent: that row survives a crash
        // that lost the CLOSE's answer.
        let forced = e.store.journal_for_plan(&plan_id)?.into_iter().rev().find_map(|j| match j {
            crate::store::journal::JournalEntry::AuditEvent(a) if a.event.kind == crate::core::audit::FORCED_CLOSE => {
                let data = a.event.data.as_deref().and_then(|d| serde_json::from_str::<serde_json::Value>(d).ok())?;
                Some(forced_close_reason(&data))
            }
            _ => None,
        });
        return Ok(forced.unwrap_or(ExitReason::Manual));
    }
    Ok(ExitReason::External)
}

/// The exchange is flat but the DB holds a position: look up our protective orders to learn what
/// closed it, record that, finalise, and cancel the leftover sibling.
pub(crate) fn finalise_flat(e: &mut Engine<'_>, pos: &PositionRecord, snap: &snapshot::Snapshot) -> Result<ExitReason> {
    let plan_id = journal_plan_id(pos);
    let symbol = e.symbol().to_string();
    let ledger = e.ledger(&plan_id)?;
    let mut exit_price = None;
    let mut exit_time = None;
    // Refresh every protective order that may still be live in our belief.
    let candidates: Vec<(OrderRole, u32, String, i64)> = ledger
        .orders
        .values()
        .filter(|o| o.role.is_conditional() && o.state.may_be_live())
        .map(|o| (o.role, o.attempt, o.client_id.clone(), o.first_ts_ms))
        .collect();
    for (role, attempt, cid, placed) in candidates {
        let o = OrderRef { plan_id: Some(plan_id.clone()), role, attempt, client_id: cid.clone() };
        // The evidence decides the exit reason: a look-up that fails defers finalisation (the
        // reconcile fails, the next run tries again) rather than guessing `external`.
        if let Some(c) =
            e.read_persistent("query_conditional", |_| e.ex.query_conditional_placed(&symbol, &cid, placed))?
        {
            e.record_conditional_if_new(&o, &c)?;
            if crate::exec::record::conditional_status_event(&c) == OrderEvent::Filled {
                exit_price = c.actual_price.or(Some(c.trigger_price));
                exit_time = Some(c.update_time_ms);
            }
        }
    }
    // A CLOSE whose answer was lost (a crash right after sending it) is looked up by client id:
    // its fill is the evidence for the exit reason.
    let inflight: Vec<(u32, String, crate::core::order::OrderState)> = e
        .ledger(&plan_id)?
        .of(&plan_id, OrderRole::Close)
        .into_iter()
        .filter(|o| o.state.may_be_live())
        .map(|o| (o.attempt, o.client_id.clone(), o.state))
        .collect();
    for (attempt, cid, state) in inflight {
        let o = OrderRef { plan_id: Some(plan_id.clone()), role: OrderRole::Close, attempt, client_id: cid.clone() };
        match e.read_persistent("query_order", |_| e.ex.query_order(&symbol, &cid)) {
            Ok(Some(order)) => {
                if order.executed_qty > Decimal::ZERO {
                    exit_time = exit_time.or(Some(order.update_time_ms));
                }
                e.record_order(&o, &order, Some("found by client id after the answer was lost".into()))?
            }
            Ok(None)
                if matches!(
                    state,
                    crate::core::order::OrderState::Intended | crate::core::order::OrderState::Unknown
                ) =>
            {
                e.record_not_found(&o, "never accepted")?
            }
            Ok(None) => {}
            Err(err) => return Err(err.into()),
        }
    }
    let reason = evidence_reason(e, pos)?;
    if exit_price.is_none() {
        exit_price = filled_exit_price(e, &plan_id)?;
    }
    if exit_time.is_none() {
        exit_time = filled_exit_time(e, &plan_id);
    }
    let fees = position_fees(e, &plan_id);
    e.finalise_position(pos, &reason, exit_price, Some(&fees), exit_time)?;
    e.cancel_all_protection(&snap.our_conditionals)?;
    Ok(reason)
}

/// The exchange's time of the fill that closed the position, when an earlier reconcile already
/// journaled it FILLED (the journal keeps its own time, not the exchange's): the filled STOP/TP's
/// update time, else the filled CLOSE's. Best effort: a failed look-up leaves the journal's time.
fn filled_exit_time(e: &Engine<'_>, plan_id: &str) -> Option<i64> {
    use crate::core::order::OrderState;
    let ledger = e.ledger(plan_id).ok()?;
    let last_filled = |role| ledger.of(plan_id, role).into_iter().rev().find(|o| o.state == OrderState::Filled);
    if let Some(o) = last_filled(OrderRole::Stop).or_else(|| last_filled(OrderRole::Tp)) {
        return e.ex.query_conditional(e.symbol(), &o.client_id).ok()?.map(|c| c.update_time_ms);
    }
    let o = last_filled(OrderRole::Close)?;
    e.ex.query_order(e.symbol(), &o.client_id).ok()?.map(|c| c.update_time_ms)
}

/// The fill price of whatever closed the position: a filled STOP or TP, else the last CLOSE fill.
fn filled_exit_price(e: &Engine<'_>, plan_id: &str) -> Result<Option<Decimal>> {
    let ledger = e.ledger(plan_id)?;
    let filled = |role| {
        ledger
            .of(plan_id, role)
            .into_iter()
            .rev()
            .find(|o| o.state == crate::core::order::OrderState::Filled)
            .and_then(|o| o.fill_price)
    };
    Ok(filled(OrderRole::Stop)
        .or_else(|| filled(OrderRole::Tp))
        .or_else(|| ledger.of(plan_id, OrderRole::Close).iter().rev().find_map(|o| o.fill_price)))
}

/// The exit reason a FORCED_CLOSE audit row names: its `exit_reason`, or — in journals written
/// before the reason was recorded as such — the first word of its `why`.
fn forced_close_reason(data: &serde_json::Value) -> ExitReason {
    if let Some(r) = data["exit_reason"].as_str().and_then(|r| r.parse().ok()) {
        return r;
    }
    let why = data["why"].as_str().unwrap_or("forced");
    let word: String = why
        .split([' ', ':', '(', ','])
        .next()
        .unwrap_or_default()
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
        .collect::<String>()
        .to_lowercase();
    ExitReason::ForcedClose(if word.is_empty() { "protection_failed".into() } else { word })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A FORCED_CLOSE row names its exit reason; rows written before it did are read by their
    /// `why`'s first word, as they always were.
    #[test]
    fn a_forced_close_row_gives_its_reason_old_or_new() {
        let new = json!({"why": "stop_rejected: stop rejected: -2022", "exit_reason": "forced_close:stop_rejected"});
        assert_eq!(forced_close_reason(&new), ExitReason::ForcedClose("stop_rejected".into()));
        let old = json!({"why": "stop_would_trigger: stop would_trigger: -2021"});
        assert_eq!(forced_close_reason(&old), ExitReason::ForcedClose("stop_would_trigger".into()));
        assert_eq!(
            forced_close_reason(&json!({"why": "partial_fill_timeout"})).to_string(),
            "forced_close:partial_fill_timeout"
        );
        assert_eq!(forced_close_reason(&json!({})).to_string(), "forced_close:forced");
        assert_eq!(forced_close_reason(&json!({"why": ": ("})).to_string(), "forced_close:protection_failed");
    }
}
