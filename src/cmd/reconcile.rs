//! `mcbot reconcile`: rebuild local state from the exchange, repair, re-protect (seed 000 §9).

use crate::cmd::{render, Ctx};
use crate::error::Result;
use crate::exec::reconcile;
use crate::outcome::Report;

/// Arguments of `mcbot reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {
    /// Take over own-prefix orders and positions this state DB never wrote (after a restored or
    /// replaced DB, once no other mcbot with this bot_id runs); see docs/recovery.md
    #[arg(long)]
    pub adopt: bool,
}

pub(crate) fn run(args: &ReconcileArgs, ctx: &mut Ctx) -> Result<Report> {
    ctx.with_engine(|engine| Ok(render::reconcile(&reconcile::reconcile_with(engine, args.adopt)?)))
}
