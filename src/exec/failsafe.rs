//! The protection guarantee's failure path (seed 000 §5), non-negotiable: cancel any ENTRY still
//! working, CLOSE at market, cancel every protective order of the plan, HALT, CRITICAL audit —
//! and the milder close of a partial ENTRY that did not complete in time (F-004: no HALT unless
//! the CLOSE itself cannot be confirmed).

use crate::core::audit;
use crate::core::position::ExitReason;
use crate::error::Result;
use crate::exec::close::Flat;
use crate::exec::outcome::{ForcedClose, ProtectionFailed, ProtectionFailure};
use crate::exec::position::{journal_plan_id, position_fees};
use crate::exec::Engine;
use crate::store::journal::Severity;
use crate::store::positions::PositionRecord;
use rust_decimal::Decimal;
use serde_json::json;

/// Protection could not be placed: CLOSE, cancel every protective order of the plan that may
/// exist, HALT, CRITICAL audit (exit 10).
pub(crate) fn protection_failed(
    e: &mut Engine<'_>,
    pos: &PositionRecord,
    failure: ProtectionFailure,
) -> Result<ProtectionFailed> {
    let plan_id = journal_plan_id(pos);
    let why = failure.summary();
    let reason = failure.exit_reason();
    for leg in &failure.legs {
        e.audit(
            Severity::Critical,
            audit::PROTECTION_FAILED,
            Some(&plan_id),
            format!("{} {} failed: {}", leg.role, leg.client_id, leg.why()),
            json!({"role": leg.role.as_str(), "client_id": leg.client_id, "why": leg.why()}),
        )?;
    }
    // The reason is audited before the CLOSE is sent: that row survives a crash that loses the
    // CLOSE's answer, and finalisation reads it back.
    e.audit(
        Severity::Critical,
        audit::FORCED_CLOSE,
        Some(&plan_id),
        format!("forced close: {why}"),
        json!({"why": why, "exit_reason": reason.to_string()}),
    )?;
    // 0. An ENTRY still working (a partial fill) must not add to the position being closed.
    e.cancel_open_entries(&plan_id)?;
    // 1. CLOSE at market immediately. 2. Cancel every protective order of the plan that may
    // exist: a late STOP may have landed. 3. HALT.
    let closed = close_and_clean(e, pos, &plan_id)?;
    e.halt(&format!("protection failed: {why}"), Some(&plan_id))?;
    let close = match closed {
        Some(flat) => {
            finalise(e, pos, &plan_id, &reason, flat)?;
            ForcedClose::Closed { reason }
        }
        None => {
            let budget_ms = e.cfg.execution.close_retry_max_elapsed_ms.as_u64();
            let msg = format!("protection failed ({why}) and CLOSE was not confirmed within {budget_ms} ms");
            e.audit(Severity::Critical, audit::CLOSE_FAILED, Some(&plan_id), msg.clone(), json!({"why": msg}))?;
            ForcedClose::NotConfirmed { budget_ms }
        }
    };
    Ok(ProtectionFailed { failure, close })
}

/// The reason a partial ENTRY that did not complete within the fill window is closed with.
pub(crate) const PARTIAL_FILL_TIMEOUT: &str = "partial_fill_timeout";

/// A partial ENTRY did not complete in time: close what filled. Not a protection failure, so no
/// HALT — unless the CLOSE itself cannot be confirmed (then HALT, CRITICAL).
pub(crate) fn close_partial(e: &mut Engine<'_>, plan_id: &str, pos: &PositionRecord) -> Result<ForcedClose> {
    let reason = ExitReason::ForcedClose(PARTIAL_FILL_TIMEOUT.into());
    e.audit(
        Severity::Warn,
        audit::FORCED_CLOSE,
        Some(plan_id),
        "ENTRY not fully filled within the fill window: closing what filled",
        json!({"why": PARTIAL_FILL_TIMEOUT, "exit_reason": reason.to_string()}),
    )?;
    match close_and_clean(e, pos, plan_id)? {
        Some(flat) => {
            finalise(e, pos, plan_id, &reason, flat)?;
            Ok(ForcedClose::Closed { reason })
        }
        None => {
            let msg = "partial ENTRY could not be closed".to_string();
            e.audit(Severity::Critical, audit::CLOSE_FAILED, Some(plan_id), msg.clone(), json!({"why": msg}))?;
            e.halt(&msg, Some(plan_id))?;
            Ok(ForcedClose::NotConfirmed { budget_ms: e.cfg.execution.close_retry_max_elapsed_ms.as_u64() })
        }
    }
}

/// CLOSE until flat, then cancel every protective order of the plan. `Some` when the exchange
/// shows it flat.
fn close_and_clean(e: &mut Engine<'_>, pos: &PositionRecord, plan_id: &str) -> Result<Option<Flat>> {
    let closed = e.close_until_flat(plan_id, pos.side)?;
    e.cancel_plan_protection(plan_id)?;
    Ok(closed)
}

fn finalise(e: &mut Engine<'_>, pos: &PositionRecord, plan_id: &str, reason: &ExitReason, flat: Flat) -> Result<()> {
    let pos_now = e.store.position(pos.id)?.unwrap_or_else(|| pos.clone());
    // Flat already: reading the fills' commission delays no safety step.
    let fees = position_fees(e, plan_id);
    let price = (flat.qty > Decimal::ZERO).then_some(flat.avg_price);
    e.finalise_position(&pos_now, reason, price, Some(&fees), flat.last_fill_ms)
}
