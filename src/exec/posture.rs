//! The posture hook of a run: gather this run's evidence, run the pure controller, store the
//! result, and turn a RED halt request into a halt. Called where reconcile finishes (or fails);
//! it never sends an order and never limits exits, protection or repairs.

use crate::core::audit;
use crate::core::posture::{self, Evidence, PostureMode, Step, Thresholds};
use crate::core::reconcile::Repair;
use crate::error::Result;
use crate::exec::Engine;
use crate::store::journal::Severity;
use serde_json::json;

/// After a completed reconcile: its repairs (and the ones that failed) are the run's evidence.
///
/// # Errors
/// State DB failures.
pub fn after_reconcile(e: &mut Engine<'_>, repairs: &[Repair], failed_repairs: u32) -> Result<Step> {
    let now = e.now();
    e.store.set_posture_failed_runs(0, now)?;
    record(e, &posture::from_repairs(repairs, failed_repairs))
}

/// After a reconcile that could not read the exchange: a failed read raises the debt (it is
/// never read as "nothing there"), and consecutive failures count up.
///
/// # Errors
/// State DB failures.
pub fn after_failed_read(e: &mut Engine<'_>) -> Result<Step> {
    let streak = e.store.posture_failed_runs()?.saturating_add(1);
    let now = e.now();
    e.store.set_posture_failed_runs(streak, now)?;
    record(e, &Evidence { failed_reads: 1, ..Evidence::default() })
}

fn record(e: &mut Engine<'_>, run: &Evidence) -> Result<Step> {
    let now = e.now();
    let stored = e.store.posture_evidence()?;
    let evidence = posture::join(&stored, run);
    let step = e.store.evaluate_posture(&evidence, now, &Thresholds::default())?;
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
