//! `mcbot exit`: cancel STOP/TP, CLOSE at market until flat, record the exit reason. Never
//! blocked by HALTED (CONTRACT §7.6).

use crate::cmd::trades::{pnl_line, trade_json};
use crate::cmd::{render, Ctx};
use crate::core::position::ExitReason;
use crate::core::trades::closed_trades;
use crate::error::{Error, Result};
use crate::exec::{exit, position};
use crate::outcome::Report;

/// Arguments of `mcbot exit`.
#[derive(Debug, clap::Args)]
pub struct ExitArgs {
    /// Exit reason recorded on the position: manual (default), regime:<name>, ... Without
    /// --reason, a regime exit decided by `evaluate` is used when one is pending.
    #[arg(long)]
    pub reason: Option<String>,
}

pub(crate) fn run(args: &ExitArgs, ctx: &mut Ctx) -> Result<Report> {
    let active = ctx.store.active_position(&ctx.config.symbol)?;
    let plan = active.as_ref().map(position::journal_plan_id);
    let pending = active.and_then(|p| p.pending_exit_reason);
    let text = args.reason.clone().or(pending).unwrap_or_else(|| "manual".to_string());
    let reason: ExitReason = text.parse().map_err(Error::Usage)?;
    let outcome = ctx.with_engine(|engine| exit::exit_position(engine, &reason))?;
    let mut report = render::close(&outcome);
    if let Some(plan) = plan.filter(|_| outcome.exit_reason().is_some()) {
        with_trade_pnl(&mut report, &plan, &ctx.store)?;
    }
    Ok(report)
}

/// Issue 13 §3: the realised PnL of the trade this exit closed, as `trades` tells it (the
/// journal's `position_closed` row, not a second computation).
fn with_trade_pnl(report: &mut Report, plan: &str, store: &crate::store::Store) -> Result<()> {
    let facts = crate::cmd::replay::journal_facts(&store.journal_for_plan(plan)?);
    if let Some(t) = closed_trades(&facts, None).into_iter().rev().find(|t| t.plan_id == plan) {
        report.set("trade", trade_json(&t));
        report.push_line(pnl_line(&t));
    }
    Ok(())
}
