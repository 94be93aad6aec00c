//! `mcbot reconcile` (not available yet in this build).

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::outcome::Report;

/// Arguments of `mcbot reconcile`.
#[derive(Debug, clap::Args)]
pub struct ReconcileArgs {}

pub fn run(_args: &ReconcileArgs, _ctx: &mut Ctx) -> Result<Report> {
    Err(Error::NotAvailable("reconcile"))
}
