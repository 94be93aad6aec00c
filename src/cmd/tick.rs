//! `mcbot tick`: the cron cycle in one lock — reconcile, evaluate, exit (regime) or enter (new
//! plan), protect. One line per step; `--json` one object with every step.

use crate::cmd::{render, Ctx};
use crate::error::Result;
use crate::exec::tick;
use crate::outcome::Report;

/// Arguments of `mcbot tick`.
#[derive(Debug, clap::Args)]
pub struct TickArgs {}

pub(crate) fn run(_args: &TickArgs, ctx: &mut Ctx) -> Result<Report> {
    ctx.with_engine(|engine| Ok(render::tick(&tick::tick(engine)?)))
}
