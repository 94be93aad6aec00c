//! `mcbot evaluate` (not available yet in this build).

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::outcome::Report;

/// Arguments of `mcbot evaluate`.
#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {}

pub fn run(_args: &EvaluateArgs, _ctx: &mut Ctx) -> Result<Report> {
    Err(Error::NotAvailable("evaluate"))
}
