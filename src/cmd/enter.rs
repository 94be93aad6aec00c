//! `mcbot enter`: reconcile first (entries stay blocked until one completes, CONTRACT §5), then
//! pre-flight, ENTRY market order, then STOP + TP (seed 000 §4–6).

use crate::cmd::{render, Ctx};
use crate::error::Result;
use crate::exec::{entry, reconcile};
use crate::outcome::{ExitCode, Report};

/// Arguments of `mcbot enter`.
#[derive(Debug, clap::Args)]
pub struct EnterArgs {}

pub(crate) fn run(_args: &EnterArgs, ctx: &mut Ctx) -> Result<Report> {
    ctx.with_engine(|engine| {
        let rec = render::reconcile(&reconcile::reconcile_before_entry(engine)?);
        if rec.exit != ExitCode::Ok {
            let mut r = rec;
            r.command = "enter".into();
            return Ok(r);
        }
        let mut r = render::entry(&entry::enter(engine)?);
        r.set("reconcile", rec.to_json());
        Ok(r)
    })
}
