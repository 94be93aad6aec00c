//! `mcbot exit` (not available yet in this build).

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::outcome::Report;

/// Arguments of `mcbot exit`.
#[derive(Debug, clap::Args)]
pub struct ExitArgs {
    /// Exit reason recorded on the position: manual (default), regime:<name>, ...
    #[arg(long, default_value = "manual")]
    pub reason: String,
}

pub fn run(_args: &ExitArgs, _ctx: &mut Ctx) -> Result<Report> {
    Err(Error::NotAvailable("exit"))
}
