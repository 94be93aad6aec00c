//! `exit` (seed 000 §7): cancel the TP, CLOSE at market until flat, then cancel the STOP, and
//! finalise with the exit reason. The STOP stays until the CLOSE is confirmed, so a CLOSE that
//! keeps failing never leaves the position naked; if it cannot be confirmed: HALT, CRITICAL, and
//! protection re-placed. Never blocked by HALTED (CONTRACT §7.6).

use crate::core::audit;
use crate::core::client_id::ClientOrderId;
use crate::core::order::OrderRole;
use crate::core::position::{ExitReason, PositionState};
use crate::error::Result;
use crate::exchange::ExConditional;
use crate::exec::outcome::CloseOutcome;
use crate::exec::position::{adopt, evidence_reason, finalise_flat, journal_plan_id, position_fees};
use crate::exec::{protect, snapshot, Engine};
use crate::store::journal::Severity;
use crate::store::positions::PositionRecord;
use rust_decimal::Decimal;
use serde_json::json;

/// Closes the position on the exchange and finalises it with `reason` (or the evidence's reason
/// when the exchange turns out flat without our CLOSE filling).
pub fn exit_position(e: &mut Engine<'_>, reason: &ExitReason) -> Result<CloseOutcome> {
    let snap = snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id)?;
    let db_pos = e.store.active_position(&e.cfg.symbol)?;
    if snap.position.is_flat() {
        if let Some(pos) = db_pos {
            // Already flat on the exchange: reconcile's finalisation decides the real reason.
            let reason = finalise_flat(e, &pos, &snap)?;
            return Ok(CloseOutcome::AlreadyFlat { reason });
        }
        let orphans_cancel_failed = e.cancel_all_protection(&snap.our_conditionals)?;
        return Ok(CloseOutcome::NoPosition { orphans_cancel_failed });
    }
    let pos = match db_pos {
        Some(p) => p,
        None => adopt(e, &snap.position, None, "found during exit")?,
    };
    let plan_id = journal_plan_id(&pos);
    e.store.set_position_state(pos.id, PositionState::Closing)?;
    // Seed 000 §7 cancels STOP and TP, then closes. The TP goes first; the STOP stays until the
    // CLOSE is confirmed, so the position is never without a STOP while a CLOSE may keep failing
    // (seed 000 §12 AC1, CONTRACT §7.1). Both are reduce-only: a STOP that fires during the CLOSE
    // cannot open a position.
    let (stops, others): (Vec<ExConditional>, Vec<ExConditional>) = snap
        .our_conditionals
        .iter()
        .cloned()
        .partition(|c| ClientOrderId::parse(&c.client_id).is_ok_and(|id| id.role == OrderRole::Stop));
    let mut cancel_failed = e.cancel_all_protection(&others)?;
    let closed = e.close_until_flat(&plan_id, pos.side)?;
    if closed.is_some() {
        cancel_failed += e.cancel_all_protection(&stops)?;
    }
    let Some(flat) = closed else {
        e.store.set_position_state(pos.id, PositionState::Open)?;
        let budget_ms = e.cfg.execution.close_retry_max_elapsed_ms.as_u64();
        let why = format!("CLOSE not confirmed within {budget_ms} ms");
        e.audit(Severity::Critical, audit::CLOSE_FAILED, Some(&plan_id), why.clone(), json!({"why": why}))?;
        e.halt(&format!("close failed: {why}"), Some(&plan_id))?;
        // The TP was cancelled for the close; a position that stays open must not stay naked.
        let protection_restored = restore_protection(e, &pos);
        return Ok(CloseOutcome::NotConfirmed { budget_ms, protection_restored });
    };
    let (qty, avg) = (flat.qty, flat.avg_price);
    let fees = position_fees(e, &plan_id);
    let exit_price = if qty > Decimal::ZERO { Some(avg) } else { None };
    let reason = if qty > Decimal::ZERO { reason.clone() } else { evidence_reason(e, &pos)? };
    // The exit time is the exchange's time of the CLOSE fill, not this process's clock.
    e.finalise_position(&pos, &reason, exit_price, Some(&fees), flat.last_fill_ms)?;
    // Anything that appeared meanwhile (a late STOP) must not outlive the position.
    if let Ok(s2) = snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id) {
        e.cancel_all_protection(&s2.our_conditionals)?;
    }
    Ok(CloseOutcome::Closed {
        side: pos.side,
        reason,
        exit_price,
        qty,
        avg_price: avg,
        fees,
        protection_cancel_failed: cancel_failed,
    })
}

/// Re-places STOP/TP for a position whose CLOSE failed (best effort: during an outage it may fail
/// too, and then the HALT and the CRITICAL audit are all that is left).
fn restore_protection(e: &mut Engine<'_>, pos: &PositionRecord) -> bool {
    let Ok(snap) = snapshot::read(e.ex, &e.cfg.symbol, &e.cfg.bot_id) else { return false };
    if snap.position.is_flat() {
        return true;
    }
    let Ok(Some(p)) = e.store.position(pos.id) else { return false };
    protect::ensure_protection(e, &p, &snap).is_ok_and(|r| r.exit_code() == crate::outcome::ExitCode::Ok)
}
