//! After a command: record how its run ended and raise the run-outcome alerts `core::reminders`
//! decides on — "still HALTED" (rate-limited) and "the same command failed N runs in a row" — as
//! WARN audit events, so they travel through the durable outbox like every other alert. Runs
//! while the state lock is still held, after the command's safety work; never fails the command.

use crate::clock::rfc3339;
use crate::core::reminders::{
    is_failure, repeated_failure_due, still_halted_due, REPEATED_FAILURE, STILL_HALTED, STILL_HALTED_EVERY_MS,
};
use crate::store::journal::{NewAuditEvent, Severity};
use crate::store::{Store, StoreResult};
use serde_json::json;

/// The longest error text carried in an alert.
const ERROR_CHARS: usize = 300;

/// How one run ended, as the reminders need it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct RunEnd<'a> {
    pub command: &'a str,
    pub exit_code: u8,
    /// The command's error message, when it failed.
    pub error: Option<&'a str>,
    pub now_ms: i64,
}

/// Records the run; appends the reminders that are due. Problems are logged, never raised: the
/// command's own outcome stands.
pub(crate) fn after_run(store: &mut Store, run: &RunEnd<'_>) {
    if let Err(e) = record(store, run) {
        tracing::warn!(event = "run_record.failed", error = %e, "cannot record the run's outcome");
    }
}

fn record(store: &mut Store, run: &RunEnd<'_>) -> StoreResult<()> {
    let failed = is_failure(run.exit_code);
    let row = store.record_run(run.command, run.exit_code, failed, run.now_ms)?;
    if failed && repeated_failure_due(row.fail_streak) {
        let error: String = run.error.unwrap_or("no error text").chars().take(ERROR_CHARS).collect();
        store.append_audit(&NewAuditEvent {
            ts_ms: run.now_ms,
            severity: Severity::Warn,
            kind: REPEATED_FAILURE.into(),
            trade_plan_id: None,
            message: format!(
                "`{}` failed {} runs in a row (last exit {}: {error})",
                run.command, row.fail_streak, run.exit_code
            ),
            data: Some(
                json!({"command": run.command, "streak": row.fail_streak, "exit_code": run.exit_code, "error": error})
                    .to_string(),
            ),
        })?;
    }
    let sys = store.system()?;
    if run.exit_code == 3 && sys.is_halted() {
        let last = store.last_audit_ms(STILL_HALTED)?;
        if still_halted_due(run.now_ms, sys.mode_since_ms, last) {
            let reason = sys.halt_reason.clone().unwrap_or_else(|| "no reason recorded".into());
            store.append_audit(&NewAuditEvent {
                ts_ms: run.now_ms,
                severity: Severity::Warn,
                kind: STILL_HALTED.into(),
                trade_plan_id: None,
                message: format!(
                    "still HALTED since {} ({reason}); `{}` refused to open exposure (exit 3). Check `mcbot status`, \
                     then `mcbot halt --resume` when it is safe. Next reminder in {} h at the earliest.",
                    rfc3339(sys.mode_since_ms),
                    run.command,
                    STILL_HALTED_EVERY_MS / 3_600_000
                ),
                data: Some(
                    json!({"command": run.command, "halted_since": rfc3339(sys.mode_since_ms), "halt_reason": reason})
                        .to_string(),
                ),
            })?;
        }
    }
    Ok(())
}
