//! `mcbot halt`: stop new entries at once (never waits for the lock); `--resume` lifts the halt,
//! but only after a clean reconcile completed since the halt.

use crate::clock::rfc3339;
use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::outcome::Report;
use crate::store::journal::{NewAuditEvent, Severity};

/// Arguments of `mcbot halt`.
#[derive(Debug, clap::Args)]
pub struct HaltArgs {
    /// Why (recorded in the audit journal and shown by `status`)
    #[arg(long, default_value = "manual halt")]
    pub reason: String,
    /// Also close the position (cancel STOP/TP, CLOSE at market)
    #[arg(long, conflicts_with = "resume")]
    pub flatten: bool,
    /// Lift the halt (requires a clean reconcile since the halt)
    #[arg(long)]
    pub resume: bool,
}

pub(crate) fn run(args: &HaltArgs, ctx: &mut Ctx) -> Result<Report> {
    let now = ctx.clock.now_ms();
    if args.resume {
        return resume(ctx, now);
    }
    let reason = args.reason.trim();
    if reason.is_empty() || reason.len() > 500 {
        return Err(Error::Usage("--reason must be 1 to 500 characters".into()));
    }
    let newly = ctx.store.set_halted(reason, now)?;
    let sys = ctx.store.system()?;
    if newly {
        ctx.store.append_audit(&NewAuditEvent {
            ts_ms: now,
            severity: Severity::Warn,
            kind: "halt".into(),
            trade_plan_id: None,
            message: format!("HALTED: {reason}"),
            data: None,
        })?;
    }
    let mut r = Report::ok("halt")
        .field("mode", sys.mode.as_str())
        .field("halt_reason", sys.halt_reason.clone())
        .field("already_halted", !newly)
        .line(if newly {
            format!("HALTED: {reason}")
        } else {
            format!(
                "already HALTED since {} ({})",
                rfc3339(sys.mode_since_ms),
                sys.halt_reason.as_deref().unwrap_or("")
            )
        });
    if args.flatten {
        // The halt above never waits; closing sends orders, so it must hold the lock.
        if ctx.lock.is_none() {
            ctx.lock = Some(crate::lock::StateLock::acquire(&ctx.config.lock_path(), ctx.config.lock_timeout_ms)?);
        }
        let flat = flatten_after_halt(ctx)?;
        r.set("flatten", flat.outcome.clone());
        r.lines.extend(flat.lines);
        r.exit = flat.exit;
        if flat.exit != crate::outcome::ExitCode::Ok {
            r.outcome = flat.outcome;
        }
    }
    Ok(r)
}

fn resume(ctx: &mut Ctx, now: i64) -> Result<Report> {
    let sys = ctx.store.system()?;
    if !sys.is_halted() {
        return Ok(Report::ok("halt").field("mode", "RUNNING").line("not halted; nothing to resume"));
    }
    let reconciled_since = sys.last_reconcile_ms.is_some_and(|t| t >= sys.mode_since_ms);
    if !(reconciled_since && sys.last_reconcile_clean) {
        let why = match sys.last_reconcile_ms {
            Some(t) if t >= sys.mode_since_ms => format!("the last reconcile ({}) was not clean", rfc3339(t)),
            _ => format!("no reconcile has completed since the halt at {}", rfc3339(sys.mode_since_ms)),
        };
        return Err(Error::Failed(format!("refusing to resume: {why}; run `mcbot reconcile` first")));
    }
    ctx.store.set_running(now)?;
    ctx.store.append_audit(&NewAuditEvent {
        ts_ms: now,
        severity: Severity::Info,
        kind: "resume".into(),
        trade_plan_id: None,
        message: format!("RESUMED (was halted: {})", sys.halt_reason.as_deref().unwrap_or("")),
        data: None,
    })?;
    Ok(Report::ok("halt").field("mode", "RUNNING").field("resumed", true).line("RESUMED: entries allowed again"))
}

/// `halt --flatten`: close the position after halting.
fn flatten_after_halt(ctx: &mut Ctx) -> Result<Report> {
    let closed =
        ctx.with_engine(|engine| crate::exec::exit::exit_position(engine, &crate::core::position::ExitReason::Manual))?;
    Ok(crate::cmd::render::close(&closed))
}
