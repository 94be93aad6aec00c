//! `mcbot enter` (not available yet in this build).

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::outcome::Report;

/// Arguments of `mcbot enter`.
#[derive(Debug, clap::Args)]
pub struct EnterArgs {}

pub fn run(_args: &EnterArgs, _ctx: &mut Ctx) -> Result<Report> {
    Err(Error::NotAvailable("enter"))
}
