//! `mcbot protect` (not available yet in this build).

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::outcome::Report;

/// Arguments of `mcbot protect`.
#[derive(Debug, clap::Args)]
pub struct ProtectArgs {}

pub fn run(_args: &ProtectArgs, _ctx: &mut Ctx) -> Result<Report> {
    Err(Error::NotAvailable("protect"))
}
