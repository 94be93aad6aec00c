//! The durable alert outbox: rows raised by audit events (inserted by `append_audit` in the same
//! transaction), read by delivery after a command's safety work, marked delivered at most once.

use crate::core::alert::{alert_id, backoff_ms, level_for, AlertLevel, ALERT_TTL_MS};
use crate::store::journal::NewAuditEvent;
use crate::store::{Store, StoreError, StoreResult};
use rusqlite::{params, Connection};
use serde::Serialize;

/// One alert waiting for (or past) delivery.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutboxAlert {
    pub id: String,
    pub audit_seq: i64,
    pub created_ms: i64,
    pub level: AlertLevel,
    pub kind: String,
    pub trade_plan_id: Option<String>,
    pub message: String,
    pub attempts: u32,
}

/// Inserts the alert an audit event raises, if any, inside the caller's transaction.
pub(crate) fn raise(tx: &Connection, seq: i64, hash: &str, e: &NewAuditEvent) -> StoreResult<()> {
    let Some(level) = level_for(e.severity.as_str(), &e.kind) else {
        return Ok(());
    };
    tx.prepare_cached(
        "INSERT INTO alert_outbox (id, audit_seq, created_ms, level, kind, trade_plan_id, message,
                                   next_attempt_ms, expires_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?3, ?8)",
    )?
    .execute(params![
        alert_id(seq, hash),
        seq,
        e.ts_ms,
        level.as_str(),
        e.kind,
        e.trade_plan_id,
        e.message,
        e.ts_ms.saturating_add(ALERT_TTL_MS)
    ])?;
    Ok(())
}

type Row = (String, i64, i64, String, String, Option<String>, String, i64);

fn to_alert(r: Row) -> StoreResult<OutboxAlert> {
    let (id, audit_seq, created_ms, level, kind, trade_plan_id, message, attempts) = r;
    Ok(OutboxAlert {
        id,
        audit_seq,
        created_ms,
        level: AlertLevel::parse(&level)
            .ok_or(StoreError::BadValue { column: "alert_outbox.level", value: level.clone() })?,
        kind,
        trade_plan_id,
        message,
        attempts: u32::try_from(attempts).unwrap_or(u32::MAX),
    })
}

impl Store {
    /// Marks alerts past their expiry as given up, then returns those due at `now_ms`, oldest first.
    pub fn due_alerts(&mut self, now_ms: i64, limit: u32) -> StoreResult<Vec<OutboxAlert>> {
        self.claim_due_alerts(now_ms, 0, limit)
    }

    /// Like `due_alerts`, but also pushes the returned rows' next attempt `lease_ms` ahead in the
    /// same transaction, so two runs delivering at once do not both send the same alert.
    pub fn claim_due_alerts(&mut self, now_ms: i64, lease_ms: i64, limit: u32) -> StoreResult<Vec<OutboxAlert>> {
        self.atomically(|tx| {
            tx.prepare_cached(
                "UPDATE alert_outbox SET expired = 1
                 WHERE delivered_ms IS NULL AND expired = 0 AND expires_ms <= ?1",
            )?
            .execute(params![now_ms])?;
            let mut stmt = tx.prepare_cached(
                "SELECT id, audit_seq, created_ms, level, kind, trade_plan_id, message, attempts FROM alert_outbox
                 WHERE delivered_ms IS NULL AND expired = 0 AND next_attempt_ms <= ?1
                 ORDER BY audit_seq LIMIT ?2",
            )?;
            let rows = stmt
                .query_map(params![now_ms, limit], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?))
                })?
                .collect::<Result<Vec<Row>, _>>()?;
            if lease_ms > 0 {
                let mut lease = tx.prepare_cached("UPDATE alert_outbox SET next_attempt_ms = ?2 WHERE id = ?1")?;
                for r in &rows {
                    lease.execute(params![r.0, now_ms.saturating_add(lease_ms)])?;
                }
            }
            rows.into_iter().map(to_alert).collect()
        })
    }

    /// Records a 2xx for `id`. Returns false if it was already delivered (or unknown), so a
    /// caller can never count one alert twice.
    pub fn mark_alert_delivered(&mut self, id: &str, now_ms: i64) -> StoreResult<bool> {
        self.atomically(|tx| {
            let n = tx
                .prepare_cached(
                    "UPDATE alert_outbox SET delivered_ms = ?2, attempts = attempts + 1, last_error = NULL
                     WHERE id = ?1 AND delivered_ms IS NULL",
                )?
                .execute(params![id, now_ms])?;
            Ok(n == 1)
        })
    }

    /// Records a failed attempt and schedules the next one with back-off. `error` must not hold
    /// a URL or token (delivery passes the sink kind and status only).
    pub fn mark_alert_failed(&mut self, id: &str, now_ms: i64, error: &str) -> StoreResult<()> {
        self.atomically(|tx| {
            let attempts: i64 = tx
                .prepare_cached("SELECT attempts FROM alert_outbox WHERE id = ?1 AND delivered_ms IS NULL")?
                .query_row(params![id], |r| r.get(0))
                .unwrap_or(0);
            let next = u32::try_from(attempts.saturating_add(1)).unwrap_or(u32::MAX);
            tx.prepare_cached(
                "UPDATE alert_outbox SET attempts = ?2, next_attempt_ms = ?3, last_error = ?4
                 WHERE id = ?1 AND delivered_ms IS NULL",
            )?
            .execute(params![id, i64::from(next), now_ms.saturating_add(backoff_ms(next)), error])?;
            Ok(())
        })
    }

    /// Alerts neither delivered nor expired (the metrics' outbox backlog).
    pub fn outbox_backlog(&self) -> StoreResult<i64> {
        Ok(self
            .conn
            .prepare_cached("SELECT count(*) FROM alert_outbox WHERE delivered_ms IS NULL AND expired = 0")?
            .query_row([], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::journal::Severity;

    fn store(name: &str) -> (Store, std::path::PathBuf) {
        let dir = std::env::temp_dir().join(format!("mcbot-outbox-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("state.db");
        (Store::open(&path, 0).unwrap(), dir)
    }

    fn audit(store: &mut Store, ts_ms: i64, severity: Severity, kind: &str) -> i64 {
        store
            .append_audit(&NewAuditEvent {
                ts_ms,
                severity,
                kind: kind.into(),
                trade_plan_id: Some("p1".into()),
                message: format!("{kind} happened"),
                data: None,
            })
            .unwrap()
    }

    /// Seed 000 / issue 13: an alert is committed with the event that raises it, or not at all.
    #[test]
    fn audit_event_and_its_alert_land_in_one_transaction() {
        let (mut s, dir) = store("atomic");
        let seq = audit(&mut s, 1_000, Severity::Critical, "forced_close");
        audit(&mut s, 1_001, Severity::Info, "reconcile_done");
        let due = s.due_alerts(1_000, 10).unwrap();
        assert_eq!(due.len(), 1, "reconcile_done (INFO) raises no alert");
        assert_eq!(due[0].audit_seq, seq);
        assert_eq!(due[0].level, AlertLevel::Critical);
        assert_eq!(due[0].kind, "forced_close");
        assert!(due[0].id.starts_with(&format!("a{seq}-")));

        // A failing audit append (rolled back) leaves no alert behind.
        s.begin_batch().unwrap();
        audit(&mut s, 2_000, Severity::Warn, "halt");
        s.conn().execute_batch("ROLLBACK").unwrap();
        assert_eq!(s.outbox_backlog().unwrap(), 1);
        assert!(s.verify_chain().unwrap().is_ok());
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A sink down during the event: retried with back-off by a later run, delivered exactly once.
    #[test]
    fn failed_delivery_backs_off_and_is_delivered_once() {
        let (mut s, dir) = store("retry");
        audit(&mut s, 1_000, Severity::Warn, "halt");
        let a = s.due_alerts(1_000, 10).unwrap().remove(0);
        s.mark_alert_failed(&a.id, 1_000, "webhook: connection refused").unwrap();
        assert!(s.due_alerts(1_000 + 59_999, 10).unwrap().is_empty(), "not due before the back-off");
        let again = s.due_alerts(1_000 + 60_000, 10).unwrap();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].attempts, 1);
        assert!(s.mark_alert_delivered(&a.id, 70_000).unwrap());
        assert!(!s.mark_alert_delivered(&a.id, 80_000).unwrap(), "second 2xx does not count");
        assert!(s.due_alerts(i64::MAX / 2, 10).unwrap().is_empty());
        assert_eq!(s.outbox_backlog().unwrap(), 0);
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn undelivered_alerts_expire_after_a_day() {
        let (mut s, dir) = store("expiry");
        audit(&mut s, 1_000, Severity::Critical, "close_failed");
        assert_eq!(s.outbox_backlog().unwrap(), 1);
        assert!(s.due_alerts(1_000 + ALERT_TTL_MS, 10).unwrap().is_empty());
        assert_eq!(s.outbox_backlog().unwrap(), 0, "expired alerts leave the backlog");
        let _ = std::fs::remove_dir_all(dir);
    }
}
