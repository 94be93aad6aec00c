//! `mcbot exit`: cancel STOP/TP, CLOSE at market until flat, record the exit reason. Never
//! blocked by HALTED (CONTRACT §7.6).

use crate::cmd::Ctx;
use crate::core::position::ExitReason;
use crate::error::{Error, Result};
use crate::exec::{close, Engine};
use crate::outcome::Report;

/// Arguments of `mcbot exit`.
#[derive(Debug, clap::Args)]
pub struct ExitArgs {
    /// Exit reason recorded on the position: manual (default), regime:<name>, ... Without
    /// --reason, a regime exit decided by `evaluate` is used when one is pending.
    #[arg(long)]
    pub reason: Option<String>,
}

pub fn run(args: &ExitArgs, ctx: &mut Ctx) -> Result<Report> {
    let pending = ctx.store.active_position(&ctx.config.symbol)?.and_then(|p| p.pending_exit_reason);
    let text = args.reason.clone().or(pending).unwrap_or_else(|| "manual".to_string());
    let reason: ExitReason = text.parse().map_err(Error::Usage)?;
    let ex = ctx.connect()?;
    let mut engine = Engine::new(&ctx.config, &mut ctx.store, ex.as_ref(), ctx.clock.as_ref());
    close::exit_position(&mut engine, &reason)
}
