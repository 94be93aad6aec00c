//! `mcbot tick` (not available yet in this build).

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::outcome::Report;

/// Arguments of `mcbot tick`.
#[derive(Debug, clap::Args)]
pub struct TickArgs {}

pub fn run(_args: &TickArgs, _ctx: &mut Ctx) -> Result<Report> {
    Err(Error::NotAvailable("tick"))
}
