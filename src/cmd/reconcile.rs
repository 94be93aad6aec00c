//! `mcbot reconcile`: rebuild local state from the exchange, repair, re-protect (seed 000 §9).

use crate::cmd::Ctx;
use crate::error::Result;
use crate::exec::{reconcile, Engine};
use crate::outcome::Report;

/// Arguments of `mcbot reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {}

pub fn run(_args: &ReconcileArgs, ctx: &mut Ctx) -> Result<Report> {
    let ex = ctx.connect()?;
    let mut engine = Engine::new(&ctx.config, &mut ctx.store, ex.as_ref(), ctx.clock.as_ref());
    reconcile::reconcile(&mut engine)
}
