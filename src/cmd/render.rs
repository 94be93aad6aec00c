//! Words for the typed outcomes of `exec/`: each becomes a `Report` (outcome word, lines for
//! people, JSON fields, exit code). The only place an exec outcome is turned into text.

use crate::error::Error;
use crate::exec::evaluate::QUOTE_ASSET;
use crate::exec::outcome::{
    CloseOutcome, EntryOutcome, ForcedClose, Idle, NotFilledWhy, Note, ProtectOutcome, Protection, ProtectionFailed,
    ReadFailed, ReadFailedResult, ReconcileOutcome, ReconcileVerdict, RepairProtection, TickOutcome, TickStep,
    Unwritable,
};
use crate::outcome::{ExitCode, Report};
use serde_json::{json, Value};

/// A command that ended in an error: its message in `"error"`, its exit code.
pub fn error(command: &str, e: &Error) -> Report {
    Report::error(command, e.exit_code(), &e.to_string())
}

/// The protection guarantee's failure path, as `command` reports it.
pub fn protection_failed(command: &str, f: &ProtectionFailed) -> Report {
    let why = f.failure.summary();
    match &f.close {
        ForcedClose::Closed { reason } => Report::new(command, f.word(), ExitCode::Critical)
            .field("error", format!("protection failed: {why}; position force-closed; system HALTED"))
            .field("exit_reason", reason.to_string())
            .line(format!("CRITICAL: protection failed ({why}); position force-closed; system HALTED")),
        ForcedClose::NotConfirmed { budget_ms } => {
            let msg = format!("protection failed ({why}) and CLOSE was not confirmed within {budget_ms} ms");
            Report::new(command, f.word(), ExitCode::Critical)
                .field("error", msg.clone())
                .line(format!("CRITICAL: {msg}; system HALTED"))
        }
    }
}

/// Ensuring protection for an open position.
pub fn protection(command: &str, p: &Protection) -> Report {
    match p {
        Protection::Covered { qty, covers } => {
            let present: serde_json::Map<String, Value> = covers
                .iter()
                .map(|c| {
                    (
                        c.role.as_str().to_lowercase(),
                        json!({"client_id": c.client_id, "trigger_price": c.trigger_price.to_string(), "qty": c.qty.to_string()}),
                    )
                })
                .collect();
            Report::ok(command)
                .field("protection", Value::Object(present))
                .line(format!("protected: STOP and TP cover {qty}"))
        }
        Protection::Placed { qty, placed, replaced_undersized, cancel_failed } => Report::ok(command)
            .field("placed", placed.clone())
            .field("replaced_undersized", *replaced_undersized)
            .field("cancel_failed", *cancel_failed)
            .line(format!(
                "placed {} for {qty}{}",
                placed.join(", "),
                if *replaced_undersized == 0 {
                    String::new()
                } else {
                    format!(" (replaced {replaced_undersized} undersized)")
                }
            )),
        Protection::Failed(f) => protection_failed(command, f),
    }
}

/// A command that gave up on a read after protecting the known position.
pub fn read_failed(command: &str, r: &ReadFailed) -> Report {
    let why = &r.read_error;
    match &r.result {
        ReadFailedResult::UnprotectedHalted { msg } => Report::new(command, r.word(), ExitCode::Critical)
            .field("error", msg.clone())
            .line(format!("CRITICAL: {msg}; system HALTED")),
        ReadFailedResult::Protected { protection: Protection::Failed(f), .. } => {
            let mut rep = protection_failed(command, f);
            rep.lines.insert(0, format!("a read kept failing: {why}"));
            rep
        }
        ReadFailedResult::Protected { protection: p, position_read, unverified } => {
            // Say what the protection rests on: a look-up, or only the journal's belief.
            let rests_on = if unverified.is_empty() || *position_read {
                "the position is protected"
            } else {
                "nothing could be read to check the journal's STOP/TP; they stand unverified"
            };
            let mut rep = Report::new(command, r.word(), r.exit_code())
                .field("error", format!("{why}; {rests_on}"))
                .field("position_read", *position_read)
                .field("unverified", unverified.clone())
                .line(format!("a read kept failing: {why}"));
            rep.lines.extend(protection("protect", p).lines);
            rep.push_line(format!(
                "{command} did not complete; the position is protected; run it again once the exchange answers"
            ));
            rep
        }
    }
}

/// The state DB could not be written while exposure existed.
pub fn unwritable(command: &str, u: &Unwritable) -> Report {
    Report::new(command, "state_unwritable", ExitCode::Critical)
        .field("error", u.msg.clone())
        .field("cause", u.cause.clone())
        .field("protected", u.protected)
        .field("closed", u.closed)
        .field("halted", u.halted)
        .field("actions", u.actions.clone())
        .line(format!("CRITICAL: {}", u.msg))
}

/// `protect`.
pub fn protect(o: &ProtectOutcome) -> Report {
    match o {
        ProtectOutcome::NoPosition => {
            Report::ok("protect").field("position", Value::Null).line("no position; nothing to protect")
        }
        ProtectOutcome::Finalised(r) => Report::ok("protect")
            .field("position", Value::Null)
            .field("finalised", r.to_string())
            .line(format!("exchange is flat; position finalised ({r})")),
        ProtectOutcome::Protection(p) => protection("protect", p),
        ProtectOutcome::ReadFailed(r) => read_failed("protect", r),
        ProtectOutcome::Unwritable(u) => unwritable("protect", u),
    }
}

/// `enter`.
pub fn entry(o: &EntryOutcome) -> Report {
    let not_filled = |plan_id: &str| Report::new("enter", "not_filled", ExitCode::Failed).field("plan_id", plan_id);
    match o {
        EntryOutcome::NoPlan => Report::ok("enter").field("entered", false).line("no planned trade; nothing to do"),
        EntryOutcome::Expired { plan_id } => Report::ok("enter")
            .field("entered", false)
            .field("plan_id", plan_id.clone())
            .line(format!("plan {plan_id} expired; never entered late")),
        EntryOutcome::Entered { plan_id, side, qty, avg_price, unprotected_window_ms } => Report::ok("enter")
            .field("entered", true)
            .field("plan_id", plan_id.clone())
            .field("side", side.as_str())
            .field("qty", qty.to_string())
            .field("avg_price", avg_price.to_string())
            .field("unprotected_window_ms", *unprotected_window_ms)
            .line(format!("entered {side} {qty} @ {avg_price} (plan {plan_id}); STOP and TP placed")),
        EntryOutcome::NotFilled { plan_id, why: NotFilledWhy::NotAccepted(why) } => not_filled(plan_id)
            .field("error", format!("ENTRY not accepted: {why}"))
            .line(format!("ENTRY not accepted: {why}; no position")),
        EntryOutcome::NotFilled { plan_id, why: NotFilledWhy::NothingFilled } => not_filled(plan_id)
            .field("error", "ENTRY ended with nothing filled")
            .line("ENTRY ended with nothing filled; no position"),
        EntryOutcome::NotFilled { plan_id, why: NotFilledWhy::FillWindow } => not_filled(plan_id)
            .field("error", "ENTRY did not fill within the fill window")
            .line("ENTRY did not fill in time; cancelled; no position"),
        EntryOutcome::FoundAndProtected { plan_id } => Report::ok("enter")
            .field("plan_id", plan_id.clone())
            .line("ENTRY outcome was unknown; the position found is now protected"),
        EntryOutcome::Unresolved { plan_id, msg } => Report::new("enter", "unresolved", ExitCode::Critical)
            .field("plan_id", plan_id.clone())
            .field("error", msg.clone())
            .line(format!("CRITICAL: {msg}")),
        EntryOutcome::PartialClosed { plan_id, reason } => {
            Report::new("enter", "partial_fill_closed", ExitCode::Failed)
                .field("plan_id", plan_id.clone())
                .field("exit_reason", reason.to_string())
                .field("error", "ENTRY not fully filled within the fill window; the filled part was closed")
                .line("ENTRY only partly filled in time: remainder cancelled, position closed")
        }
        EntryOutcome::PartialCloseFailed => {
            let msg = "partial ENTRY could not be closed";
            Report::new("enter", "close_failed", ExitCode::Critical)
                .field("error", msg)
                .line(format!("CRITICAL: {msg}; HALTED"))
        }
        EntryOutcome::ProtectionFailed(f) => protection_failed("enter", f),
        EntryOutcome::Unwritable(u) => unwritable("enter", u),
    }
}

/// `exit` (and `halt --flatten`).
pub fn close(o: &CloseOutcome) -> Report {
    match o {
        CloseOutcome::NoPosition { orphans_cancel_failed } => Report::ok("exit")
            .field("position", Value::Null)
            .field("orphans_cancel_failed", *orphans_cancel_failed)
            .line("no position; nothing to do"),
        CloseOutcome::AlreadyFlat { reason } => Report::ok("exit")
            .field("outcome_detail", "already_flat")
            .field("exit_reason", reason.to_string())
            .line(format!("already flat; finalised as {reason}")),
        CloseOutcome::Closed { side, reason, exit_price, qty, avg_price, fees, protection_cancel_failed } => {
            Report::ok("exit")
                .field("exit_reason", reason.to_string())
                .field("exit_price", exit_price.map(|d| d.to_string()))
                .field("qty", qty.to_string())
                .field("protection_cancel_failed", *protection_cancel_failed)
                .field("fees", fees.quote_total(QUOTE_ASSET).map(|d| d.to_string()))
                .field("fees_by_asset", fees.by_asset_json())
                .field("fees_complete", fees.complete())
                .line(format!("closed {side} {qty} @ {} ({reason})", avg_price.round_dp(2)))
        }
        CloseOutcome::NotConfirmed { budget_ms, protection_restored } => {
            let why = format!("CLOSE not confirmed within {budget_ms} ms");
            Report::new("exit", "close_failed", ExitCode::Critical)
                .field("error", why.clone())
                .field("protection_restored", *protection_restored)
                .line(format!(
                    "CRITICAL: {why}; system HALTED; protection {}",
                    if *protection_restored { "restored" } else { "NOT restored" }
                ))
        }
    }
}

fn note_lines(n: &Note) -> Vec<String> {
    match n {
        Note::Said(t) => vec![t.clone()],
        Note::Protection(RepairProtection::Protection(p)) => protection("protect", p).lines,
        Note::Protection(RepairProtection::ReadFailed(r)) => read_failed("reconcile", r).lines,
    }
}

/// `reconcile` (and the reconcile step of every trading command).
pub fn reconcile(o: &ReconcileOutcome) -> Report {
    let r = match o {
        ReconcileOutcome::ReadFailed(x) => return read_failed("reconcile", x),
        ReconcileOutcome::Unwritable(u) => return unwritable("reconcile", u),
        ReconcileOutcome::Done(r) => r,
    };
    let lines: Vec<String> = r.notes.iter().flat_map(note_lines).collect();
    let word = match &r.verdict {
        ReconcileVerdict::ProtectionFailed(f) => {
            let mut rep = protection_failed("reconcile", f);
            rep.lines = lines;
            return rep;
        }
        ReconcileVerdict::ReadFailed(x) => {
            let mut rep = read_failed("reconcile", x);
            rep.lines = lines;
            return rep;
        }
        ReconcileVerdict::AnotherInstance => "another_instance",
        ReconcileVerdict::SideFlipped => "side_flipped",
        ReconcileVerdict::RepairsFailed => "repairs_failed",
        ReconcileVerdict::Ok => "ok",
    };
    let mut rep = Report::new("reconcile", word, o.exit_code());
    rep.lines = lines;
    rep.set("clean", r.clean);
    rep.set("mismatches", r.mismatches);
    rep.set("mismatch_streak", r.streak);
    rep.set("repairs", serde_json::to_value(&r.repairs).unwrap_or_default());
    rep.set("entry_block_reason", r.entry_block_reason.clone());
    rep.set("position", r.position_qty.to_string());
    rep
}

fn or_error<T>(command: &str, r: &Result<T, Error>, words: impl Fn(&T) -> Report) -> Report {
    match r {
        Ok(o) => words(o),
        Err(e) => error(command, e),
    }
}

/// `tick`: one line per step, the steps' reports in `steps`, the worst step's exit code.
pub fn tick(o: &TickOutcome) -> Report {
    let mut lines = Vec::new();
    let mut steps = Vec::new();
    let idle_line = |i: &Idle| match i {
        Idle::ReconcileIncomplete => "evaluate, exit|enter: skipped (reconcile did not complete)".to_string(),
        Idle::NothingToDo(d) => format!("exit|enter: nothing to do (decision {d})"),
    };
    let mut idle = o.idle.as_ref();
    let step = |name: &str, r: Report, lines: &mut Vec<String>, steps: &mut Vec<Value>| {
        lines.push(format!("{name}: {}", r.lines.first().cloned().unwrap_or_else(|| r.outcome.clone())));
        steps.push(
            json!({"step": name, "outcome": r.outcome, "exit_code": r.exit.code(), "detail": Value::Object(r.fields)}),
        );
    };
    for s in &o.steps {
        match s {
            TickStep::Reconcile(r) => step("reconcile", or_error("reconcile", r, reconcile), &mut lines, &mut steps),
            TickStep::PostureAfterFailedRead(Ok(Some(mode))) => lines.push(format!("posture: {mode}")),
            TickStep::PostureAfterFailedRead(Ok(None)) => {}
            TickStep::PostureAfterFailedRead(Err(x)) => lines.push(format!("posture: not recorded ({x})")),
            TickStep::Evaluate(ev) => match ev.as_ref() {
                Ok(ev) => {
                    let d = ev.evaluation.decision.kind();
                    lines.push(format!("evaluate: {d} ({})", ev.evaluation.reason_text()));
                    steps.push(json!({"step": "evaluate", "outcome": "ok", "exit_code": 0, "decision": d, "reason": ev.evaluation.reason_text(), "plan_id": ev.plan.as_ref().map(|p| p.id.clone())}));
                }
                Err(x) => {
                    lines.push(format!("evaluate: error: {x}"));
                    steps.push(json!({"step": "evaluate", "outcome": "error", "exit_code": x.exit_code().code(), "error": x.to_string()}));
                }
            },
            TickStep::ExitUnparsable(why) => {
                step("exit", Report::error("exit", ExitCode::Failed, why), &mut lines, &mut steps)
            }
            TickStep::Exit(r) => step("exit", or_error("exit", r, close), &mut lines, &mut steps),
            TickStep::Enter(r) => step("enter", or_error("enter", r, entry), &mut lines, &mut steps),
            TickStep::Protect(r) => {
                if let Some(i) = idle.take() {
                    lines.push(idle_line(i));
                }
                step("protect", or_error("protect", r, protect), &mut lines, &mut steps)
            }
        }
    }
    if let Some(i) = idle {
        lines.push(idle_line(i));
    }
    if o.no_position_to_protect {
        lines.push("protect: no position".to_string());
    }
    if let Some(why) = &o.halted {
        lines.push(format!(
            "HALTED ({why}): entries refused; after fixing the cause run `mcbot reconcile`, then `mcbot halt --resume`"
        ));
    }
    let word = match o.exit {
        ExitCode::Ok => "ok",
        ExitCode::Critical => "critical",
        ExitCode::Halted => "halted",
        ExitCode::Preflight => "preflight_failed",
        _ => "failed",
    };
    let mut r = Report::new("tick", word, o.exit);
    r.lines = lines;
    r.set("steps", Value::Array(steps));
    r
}
