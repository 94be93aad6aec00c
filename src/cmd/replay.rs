//! `mcbot replay` (not available yet in this build).

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::outcome::Report;

/// Arguments of `mcbot replay`.
#[derive(Debug, clap::Args)]
pub struct ReplayArgs {
    /// The trade plan to replay
    #[arg(required_unless_present = "all")]
    pub plan_id: Option<String>,
    /// List every plan with its outcome and any violations
    #[arg(long, conflicts_with = "plan_id")]
    pub all: bool,
}

pub fn run(_args: &ReplayArgs, _ctx: &mut Ctx) -> Result<Report> {
    Err(Error::NotAvailable("replay"))
}
