//! `mcbot protect`: make sure the open position has STOP and TP for its full size. Idempotent;
//! never blocked by HALTED.

use crate::cmd::{render, Ctx};
use crate::error::Result;
use crate::exec::protect;
use crate::outcome::Report;

/// Arguments of `mcbot protect`.
#[derive(Debug, clap::Args)]
pub struct ProtectArgs {}

pub(crate) fn run(_args: &ProtectArgs, ctx: &mut Ctx) -> Result<Report> {
    ctx.with_engine(|engine| Ok(render::protect(&protect::protect_command(engine)?)))
}
