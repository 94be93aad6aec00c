//! `mcbot enter`: pre-flight, ENTRY market order, then STOP + TP (seed 000 §4–6).

use crate::cmd::Ctx;
use crate::error::Result;
use crate::exec::{entry, Engine};
use crate::outcome::Report;

/// Arguments of `mcbot enter`.
#[derive(Debug, clap::Args)]
pub struct EnterArgs {}

pub fn run(_args: &EnterArgs, ctx: &mut Ctx) -> Result<Report> {
    let ex = ctx.connect()?;
    let mut engine = Engine::new(&ctx.config, &mut ctx.store, ex.as_ref(), ctx.clock.as_ref());
    entry::enter(&mut engine)
}
