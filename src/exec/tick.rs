//! The cron cycle in one lock (CONTRACT §1): reconcile, evaluate, then exit (a regime decision)
//! or enter (a new plan), then protect. The worst step decides the exit code. Shared by the
//! `tick` command and `sim`; `cmd::tick` words it.

use crate::core::plan::PlanStatus;
use crate::core::position::ExitReason;
use crate::error::Result;
use crate::exec::outcome::{Idle, ReconcileOutcome, TickOutcome, TickStep};
use crate::exec::{entry, evaluate, exit, protect, reconcile, Engine};
use crate::outcome::ExitCode;

/// The worse of two exit codes for a cycle: CRITICAL beats everything, then the refusals.
pub fn worse(a: ExitCode, b: ExitCode) -> ExitCode {
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

/// How a tick evaluates: the live use case, or `sim`'s streaming evaluator.
pub type Evaluator<'f> = dyn FnMut(&mut Engine<'_>) -> Result<evaluate::EvaluateOutcome> + 'f;

/// One tick with the live evaluation (`exec::evaluate::evaluate`).
pub fn tick(e: &mut Engine<'_>) -> Result<TickOutcome> {
    tick_with(e, &mut |e: &mut Engine<'_>| evaluate::evaluate(e.ex, e.store, e.cfg, e.clock))
}

/// The steps so far, and the worst exit code among them.
struct Cycle {
    out: TickOutcome,
}

impl Cycle {
    fn push(&mut self, step: TickStep) {
        if let Some(code) = step.exit_code() {
            self.out.exit = worse(self.out.exit, code);
        }
        self.out.steps.push(step);
    }
}

/// One tick. Never returns Err for a step's failure: each step is reported, the worst wins.
pub fn tick_with(e: &mut Engine<'_>, evaluator: &mut Evaluator<'_>) -> Result<TickOutcome> {
    let mut c = Cycle {
        out: TickOutcome {
            steps: Vec::new(),
            idle: None,
            no_position_to_protect: false,
            halted: None,
            exit: ExitCode::Ok,
        },
    };
    let rec = reconcile::reconcile(e);
    let incomplete = matches!(rec, Err(_) | Ok(ReconcileOutcome::ReadFailed(_)));
    c.push(TickStep::Reconcile(rec));
    if c.out.exit == ExitCode::Critical {
        return Ok(c.out);
    }
    if incomplete {
        // A reconcile that could not read the exchange is evidence of doubtful belief.
        let posture = crate::exec::posture::after_failed_read(e)
            .map(|p| p.transition.is_some().then(|| p.state.mode.as_str().to_string()));
        c.push(TickStep::PostureAfterFailedRead(posture));
        // Reconcile did not complete: no entry this time, but a position must still be protected.
        c.out.idle = Some(Idle::ReconcileIncomplete);
        run_protect(e, &mut c, true)?;
        return Ok(c.out);
    }

    let ev = evaluator(e);
    let decision = match &ev {
        Ok(o) => o.evaluation.decision.kind().to_string(),
        Err(_) => "error".to_string(),
    };
    c.push(TickStep::Evaluate(Box::new(ev)));

    let pos = e.store.active_position(&e.cfg.symbol)?;
    if let Some(reason) = pos.as_ref().and_then(|p| p.pending_exit_reason.clone()) {
        match reason.parse::<ExitReason>() {
            Ok(reason) => c.push(TickStep::Exit(exit::exit_position(e, &reason))),
            Err(why) => c.push(TickStep::ExitUnparsable(why)),
        }
    } else if pos.is_none() && e.store.latest_plan_with_status(PlanStatus::Planned)?.is_some() {
        c.push(TickStep::Enter(entry::enter(e)));
    } else {
        c.out.idle = Some(Idle::NothingToDo(decision));
    }

    if c.out.exit != ExitCode::Critical {
        run_protect(e, &mut c, false)?;
    }
    // A halted bot says so on every run: a tick that did its safety work while HALTED exits 3
    // (refused) rather than 0, so cron, the systemd unit and the heartbeat see the halt.
    if c.out.exit == ExitCode::Ok {
        let sys = e.store.system()?;
        if sys.is_halted() {
            c.out.halted = Some(sys.halt_reason.unwrap_or_default());
            c.out.exit = ExitCode::Halted;
        }
    }
    Ok(c.out)
}

/// The protect step: runs when the DB holds a position, and always after a reconcile that did not
/// complete (the exchange may hold a position the DB has not adopted yet; protect adopts it).
fn run_protect(e: &mut Engine<'_>, c: &mut Cycle, always: bool) -> Result<()> {
    if !always && e.store.active_position(&e.cfg.symbol)?.is_none() {
        c.out.no_position_to_protect = true;
        return Ok(());
    }
    c.push(TickStep::Protect(protect::protect_command(e)));
    Ok(())
}
