//! `mcbot notify`: `--test` sends one test alert straight to every sink and says which worked;
//! `--message` records a CRITICAL `external_failure` audit event (systemd's `OnFailure=` unit
//! calls it), which the outbox then delivers like any other alert. No lock, no exchange call.

use crate::cmd::Ctx;
use crate::error::{Error, Result};
use crate::outcome::{ExitCode, Report};
use crate::store::journal::{NewAuditEvent, Severity};
use serde_json::json;

/// Arguments of `mcbot notify`.
#[derive(Debug, clap::Args)]
pub struct NotifyArgs {
    /// Send one test alert to every configured sink now
    #[arg(long)]
    pub test: bool,
    /// Raise a CRITICAL alert with this text (e.g. from an OnFailure= unit)
    #[arg(long, conflicts_with = "test")]
    pub message: Option<String>,
}

/// The audit kind `--message` records.
pub(crate) const EXTERNAL_FAILURE: &str = "external_failure";

pub(crate) fn run(args: &NotifyArgs, ctx: &mut Ctx) -> Result<Report> {
    if let Some(m) = &args.message {
        let m = m.trim();
        if m.is_empty() || m.len() > 500 {
            return Err(Error::Usage("--message must be 1 to 500 characters".into()));
        }
        ctx.store.append_audit(&NewAuditEvent {
            ts_ms: ctx.clock.now_ms(),
            severity: Severity::Critical,
            kind: EXTERNAL_FAILURE.into(),
            trade_plan_id: None,
            message: m.to_string(),
            data: None,
        })?;
        return Ok(Report::ok("notify").field("raised", true).line(format!("CRITICAL alert raised: {m}")));
    }
    if !args.test {
        return Err(Error::Usage("notify needs --test or --message TEXT".into()));
    }
    if ctx.config.notify.sinks.is_empty() {
        return Err(crate::config::ConfigError::invalid("alerts.sink", "no [[alerts.sink]] is configured").into());
    }
    let origin = crate::alerts::Origin { bot_id: &ctx.config.bot_id, symbol: &ctx.config.symbol };
    let results = crate::alerts::send_test(&ctx.config.notify, &origin, ctx.clock.now_ms());
    let all_ok = results.iter().all(|r| r.ok);
    let mut report = if all_ok {
        Report::ok("notify")
    } else {
        Report::error("notify", ExitCode::Failed, "at least one sink did not take the test alert")
    };
    for (i, r) in results.iter().enumerate() {
        report.push_line(format!("sink {i} ({}): {} — {}", r.sink, if r.ok { "ok" } else { "FAILED" }, r.detail));
    }
    report.set("sinks", json!(results));
    Ok(report)
}
