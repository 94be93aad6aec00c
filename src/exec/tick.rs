//! The cron cycle in one lock (CONTRACT §1): reconcile, evaluate, then exit (a regime decision)
//! or enter (a new plan), then protect. One report line per step; the worst step decides the exit
//! code. Shared by the `tick` command and `sim`.

use crate::core::plan::PlanStatus;
use crate::core::position::ExitReason;
use crate::error::{Error, Result};
use crate::exec::{close, entry, evaluate, protect, reconcile, Engine};
use crate::outcome::{ExitCode, Report};
use serde_json::{json, Value};

/// The worse of two exit codes for a cycle: CRITICAL beats everything, then the refusals.
fn worse(a: ExitCode, b: ExitCode) -> ExitCode {
    let rank = |c: ExitCode| match c {
        ExitCode::Ok => 0,
        ExitCode::Preflight => 1,
        ExitCode::Halted => 2,
        ExitCode::Failed => 3,
        ExitCode::LockBusy | ExitCode::Usage => 4,
        ExitCode::Critical => 5,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn step(name: &str, r: &Report) -> Value {
    json!({"step": name, "outcome": r.outcome, "exit_code": r.exit.code(), "detail": Value::Object(r.fields.clone())})
}

fn err_report(name: &str, e: &Error) -> Report {
    Report::error(name, e.exit_code(), &e.to_string())
}

/// How a tick evaluates: the live use case, or `sim`'s streaming evaluator.
pub type Evaluator<'f> = dyn FnMut(&mut Engine<'_>) -> Result<evaluate::EvaluateOutcome> + 'f;

/// One tick with the live evaluation (`exec::evaluate::evaluate`).
pub fn tick(e: &mut Engine<'_>) -> Result<Report> {
    tick_with(e, &mut |e: &mut Engine<'_>| evaluate::evaluate(e.ex, e.store, e.cfg, e.clock))
}

/// One tick. Never returns Err for a step's failure: each step is reported, the worst wins.
pub fn tick_with(e: &mut Engine<'_>, evaluator: &mut Evaluator<'_>) -> Result<Report> {
    let mut steps = Vec::new();
    let mut lines = Vec::new();
    let mut exit = ExitCode::Ok;

    let rec = reconcile::reconcile(e).unwrap_or_else(|x| err_report("reconcile", &x));
    lines.push(format!("reconcile: {}", rec.lines.first().cloned().unwrap_or_else(|| rec.outcome.clone())));
    steps.push(step("reconcile", &rec));
    exit = worse(exit, rec.exit);
    if rec.exit == ExitCode::Critical {
        return Ok(finish(steps, lines, exit));
    }
    if rec.outcome == "error" || rec.outcome == crate::exec::unreadable::OUTCOME {
        // A reconcile that could not read the exchange is evidence of doubtful belief.
        match crate::exec::posture::after_failed_read(e) {
            Ok(p) if p.transition.is_some() => lines.push(format!("posture: {}", p.state.mode.as_str())),
            Ok(_) => {}
            Err(x) => lines.push(format!("posture: not recorded ({x})")),
        }
        // Reconcile did not complete: no entry this time, but a position must still be protected.
        lines.push("evaluate, exit|enter: skipped (reconcile did not complete)".to_string());
        run_protect(e, &mut steps, &mut lines, &mut exit, true)?;
        return Ok(finish(steps, lines, exit));
    }

    let ev = evaluator(e);
    let decision = match &ev {
        Ok(o) => {
            let d = o.evaluation.decision.kind();
            lines.push(format!("evaluate: {d} ({})", o.evaluation.reason_text()));
            steps.push(json!({"step": "evaluate", "outcome": "ok", "exit_code": 0, "decision": d, "reason": o.evaluation.reason_text(), "plan_id": o.plan.as_ref().map(|p| p.id.clone())}));
            d.to_string()
        }
        Err(x) => {
            lines.push(format!("evaluate: error: {x}"));
            steps.push(json!({"step": "evaluate", "outcome": "error", "exit_code": x.exit_code().code(), "error": x.to_string()}));
            exit = worse(exit, ExitCode::Failed);
            "error".to_string()
        }
    };

    let pos = e.store.active_position(&e.cfg.symbol)?;
    if let Some(reason) = pos.as_ref().and_then(|p| p.pending_exit_reason.clone()) {
        let r = match reason.parse::<ExitReason>() {
            Ok(reason) => close::exit_position(e, &reason).unwrap_or_else(|x| err_report("exit", &x)),
            Err(why) => Report::error("exit", ExitCode::Failed, &why),
        };
        lines.push(format!("exit: {}", r.lines.first().cloned().unwrap_or_else(|| r.outcome.clone())));
        steps.push(step("exit", &r));
        exit = worse(exit, r.exit);
    } else if pos.is_none() && e.store.latest_plan_with_status(PlanStatus::Planned)?.is_some() {
        let r = entry::enter(e).unwrap_or_else(|x| err_report("enter", &x));
        lines.push(format!("enter: {}", r.lines.first().cloned().unwrap_or_else(|| r.outcome.clone())));
        steps.push(step("enter", &r));
        exit = worse(exit, r.exit);
    } else {
        lines.push(format!("exit|enter: nothing to do (decision {decision})"));
    }

    if exit != ExitCode::Critical {
        run_protect(e, &mut steps, &mut lines, &mut exit, false)?;
    }
    // A halted bot says so on every run: a tick that did its safety work while HALTED exits 3
    // (refused) rather than 0, so cron, the systemd unit and the heartbeat see the halt.
    if exit == ExitCode::Ok {
        let sys = e.store.system()?;
        if sys.is_halted() {
            let why = sys.halt_reason.unwrap_or_default();
            lines.push(format!(
                "HALTED ({why}): entries refused; after fixing the cause run `mcbot reconcile`, then `mcbot halt --resume`"
            ));
            exit = ExitCode::Halted;
        }
    }
    Ok(finish(steps, lines, exit))
}

/// The protect step: runs when the DB holds a position, and always after a reconcile that did not
/// complete (the exchange may hold a position the DB has not adopted yet; protect adopts it).
fn run_protect(
    e: &mut Engine<'_>,
    steps: &mut Vec<Value>,
    lines: &mut Vec<String>,
    exit: &mut ExitCode,
    always: bool,
) -> Result<()> {
    if !always && e.store.active_position(&e.cfg.symbol)?.is_none() {
        lines.push("protect: no position".to_string());
        return Ok(());
    }
    let r = protect::protect_command(e).unwrap_or_else(|x| err_report("protect", &x));
    lines.push(format!("protect: {}", r.lines.first().cloned().unwrap_or_else(|| r.outcome.clone())));
    steps.push(step("protect", &r));
    *exit = worse(*exit, r.exit);
    Ok(())
}

fn finish(steps: Vec<Value>, lines: Vec<String>, exit: ExitCode) -> Report {
    let outcome = match exit {
        ExitCode::Ok => "ok",
        ExitCode::Critical => "critical",
        ExitCode::Halted => "halted",
        ExitCode::Preflight => "preflight_failed",
        _ => "failed",
    };
    let mut r = Report::new("tick", outcome, exit);
    r.lines = lines;
    r.set("steps", Value::Array(steps));
    r
}
