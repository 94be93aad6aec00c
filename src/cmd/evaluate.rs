//! `mcbot evaluate`: read closed candles, decide — new trade plan, regime exit, or nothing — and
//! print why (CONTRACT §8). The work is `exec::evaluate`; this file is glue and presentation.

use crate::cmd::Ctx;
use crate::error::Result;
use crate::exec::evaluate::evaluate;
use crate::outcome::Report;

/// Arguments of `mcbot evaluate`.
#[derive(Debug, clap::Args)]
pub struct EvaluateArgs {}

pub(crate) fn run(_args: &EvaluateArgs, ctx: &mut Ctx) -> Result<Report> {
    let exchange = ctx.connect()?;
    let out = evaluate(exchange.as_ref(), &mut ctx.store, &ctx.config, ctx.clock.as_ref())?;
    let mut report = Report::ok("evaluate");
    if let serde_json::Value::Object(fields) = out.to_json() {
        for (k, v) in fields {
            report.set(&k, v);
        }
    }
    for line in out.summary_lines() {
        report.push_line(line);
    }
    Ok(report)
}
