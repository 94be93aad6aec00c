//! The posture hook of a run: gather this run's evidence, run the pure controller, store the
//! result, and turn a RED halt request into a halt. Called where reconcile finishes (or fails);
//! it never sends an order and never limits exits, protection or repairs. Also `enter`'s re-check
//! right before the ENTRY intent ([`gate_entry`]).

use crate::core::audit;
use crate::core::money::SymbolFilters;
use crate::core::plan::TradePlan;
use crate::core::posture::{self, EntryCheck, EntryGate, Evidence, PostureMode, Step};
use crate::error::{Error, Result};
use crate::exec::Engine;
use crate::store::journal::Severity;
use serde_json::json;

/// After a completed reconcile: its repairs (and the ones that failed) are the run's evidence.
///
/// # Errors
/// State DB failures.
pub(crate) fn after_reconcile(
    e: &mut Engine<'_>,
    repairs: &[crate::core::reconcile::Repair],
    failed_repairs: u32,
) -> Result<Step> {
    let now = e.now();
    e.store.set_posture_failed_runs(0, now)?;
    record(e, &posture::from_repairs(repairs, failed_repairs), true)
}

/// After a reconcile that could not read the exchange: a failed read raises the debt (it is
/// never read as "nothing there"), consecutive failures count up, and every mismatch open before
/// stays open (and keeps ageing).
///
/// # Errors
/// State DB failures.
pub(crate) fn after_failed_read(e: &mut Engine<'_>) -> Result<Step> {
    let streak = e.store.posture_failed_runs()?.saturating_add(1);
    let now = e.now();
    e.store.set_posture_failed_runs(streak, now)?;
    record(e, &Evidence { failed_reads: 1, ..Evidence::default() }, false)
}

/// What the adapter measured this process: clock offset against `recvWindow`, rate-limit use.
fn standing(e: &Engine<'_>) -> Evidence {
    let s = e.ex.standing();
    Evidence {
        clock_offset_ms: s.clock_offset_ms.unwrap_or(0).saturating_abs(),
        recv_window_ms: s.recv_window_ms,
        rate_limit_used_pct: s.rate_limit_used_pct,
        ..Evidence::default()
    }
}

fn record(e: &mut Engine<'_>, run: &Evidence, looked: bool) -> Result<Step> {
    let now = e.now();
    let stored = e.store.posture_evidence()?;
    let seen = posture::join(&posture::join(&stored, run), &standing(e));
    let before = e.store.posture_open_since()?;
    let open = posture::track_open(&before, looked.then_some(&seen), now);
    // Written only when a kind opened or closed: a quiet run adds no DB write.
    if open != before {
        e.store.set_posture_open_since(&open, now)?;
    }
    let evidence = posture::with_ages(&seen, &open, now);
    let step = e.store.evaluate_posture(&evidence, now, &e.cfg.posture)?;
    if let Some(tr) = &step.transition {
        tracing::warn!(
            event = "posture.transition",
            from = tr.from.as_str(),
            to = tr.to.as_str(),
            score = tr.score,
            "posture {} -> {}: {}",
            tr.from.as_str(),
            tr.to.as_str(),
            tr.reason
        );
        let severity = if tr.to > tr.from { Severity::Warn } else { Severity::Info };
        e.audit(
            severity,
            audit::POSTURE_CHANGED,
            None,
            format!("posture {} -> {}: {}", tr.from.as_str(), tr.to.as_str(), tr.reason),
            json!({"from": tr.from.as_str(), "to": tr.to.as_str(), "score": tr.score, "growth": tr.growth,
                "reason": tr.reason}),
        )?;
    }
    if step.knobs.halt_request && step.state.mode == PostureMode::Red {
        let why = step.transition.as_ref().map_or_else(|| format!("score {}", step.state.score), |t| t.reason.clone());
        e.halt(&format!("posture RED ({why})"), None)?;
    }
    Ok(step)
}

/// `enter`'s posture re-check, in the same step as the HALTED check right before the ENTRY
/// intent: a plan sized at evaluate time under a looser mode is refused (pre-flight error, exit 5)
/// or sized down (`Ok(Some(qty))`), each with an audit row and evaluate's reason. `Ok(None)`: go
/// as planned.
///
/// # Errors
/// `Error::Preflight` when the posture refuses the entry; state DB failures.
pub(crate) fn gate_entry(
    e: &mut Engine<'_>,
    plan: &TradePlan,
    filters: &SymbolFilters,
) -> Result<Option<rust_decimal::Decimal>> {
    let now = e.now();
    let state = e.store.posture(now)?;
    let sys = e.store.system()?;
    let verdict = posture::gate_entry(&EntryCheck {
        state: &state,
        plan_qty: plan.qty,
        entry_ref: plan.entry_ref,
        configured_max_notional: e.cfg.risk.max_notional_usdt,
        filters,
        now_ms: now,
        cooldown_until_ms: sys.cooldown_until_ms,
        interval_ms: e.cfg.strategy.interval_ms,
    });
    let data = |action: &str, reason: &str| {
        json!({"mode": state.mode.as_str(), "debt_score": state.score, "action": action, "reason": reason,
            "planned_qty": plan.qty.to_string()})
    };
    match verdict {
        EntryGate::Proceed => Ok(None),
        EntryGate::SizedDown { qty, reason } => {
            let mut d = data("sized_down", &reason);
            d["qty"] = json!(qty.to_string());
            e.audit(
                Severity::Warn,
                audit::POSTURE_SIZED_DOWN,
                Some(&plan.id),
                format!("ENTRY sized down from {} to {qty}: {reason}", plan.qty),
                d,
            )?;
            Ok(Some(qty))
        }
        EntryGate::Refused { check, reason } => {
            e.audit(
                Severity::Warn,
                audit::POSTURE_REFUSED,
                Some(&plan.id),
                format!("entry refused: {reason}"),
                data("refused", &reason),
            )?;
            Err(Error::Preflight { check: check.to_string(), message: reason })
        }
    }
}
