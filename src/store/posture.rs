//! Posture persistence: the controller state between runs and one audit row per mode change.

use crate::core::posture::{self, Evidence, OpenSince, PostureMode, PostureState, Step, Thresholds};
use crate::store::{Store, StoreError, StoreResult};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// One `posture_transition` row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TransitionRecord {
    pub at_ms: i64,
    pub from: PostureMode,
    pub to: PostureMode,
    pub score: u32,
    pub growth: u32,
    pub reason: String,
    /// The evidence that caused it, as JSON.
    pub evidence: String,
}

fn mode_col(column: &'static str, s: String) -> StoreResult<PostureMode> {
    PostureMode::parse(&s).ok_or(StoreError::BadValue { column, value: s })
}

fn count_col(column: &'static str, v: i64) -> StoreResult<u32> {
    u32::try_from(v).map_err(|_| StoreError::BadValue { column, value: v.to_string() })
}

impl Store {
    /// The stored posture, or GREEN with no debt for a DB that never evaluated one.
    pub fn posture(&self, now_ms: i64) -> StoreResult<PostureState> {
        let row = self
            .conn
            .prepare_cached("SELECT mode, since_ms, score, calm_since_ms FROM posture_state WHERE id = 1")?
            .query_row([], |r| {
                Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?, r.get::<_, i64>(2)?, r.get::<_, Option<i64>>(3)?))
            })
            .optional()?;
        match row {
            None => Ok(PostureState::initial(now_ms)),
            Some((mode, since_ms, score, calm_since_ms)) => Ok(PostureState {
                mode: mode_col("posture_state.mode", mode)?,
                since_ms,
                score: count_col("posture_state.score", score)?,
                calm_since_ms,
            }),
        }
    }

    /// Runs the controller on this run's evidence and stores the result; a mode change writes its
    /// audit row in the same transaction. Never called with an exchange call in flight.
    pub fn evaluate_posture(&mut self, evidence: &Evidence, now_ms: i64, t: &Thresholds) -> StoreResult<Step> {
        let prev = self.posture(now_ms)?;
        let step = posture::step(&prev, evidence, now_ms, t);
        let evidence_json = serde_json::to_string(evidence).map_err(|e| StoreError::Invalid(e.to_string()))?;
        self.atomically(|c| {
            let st = &step.state;
            c.prepare_cached(
                "INSERT INTO posture_state (id, mode, since_ms, score, calm_since_ms, updated_ms)
                 VALUES (1, ?1, ?2, ?3, ?4, ?5)
                 ON CONFLICT (id) DO UPDATE SET mode = ?1, since_ms = ?2, score = ?3, calm_since_ms = ?4,
                 updated_ms = ?5",
            )?
            .execute(params![st.mode.as_str(), st.since_ms, st.score, st.calm_since_ms, now_ms])?;
            if let Some(tr) = &step.transition {
                c.prepare_cached(
                    "INSERT INTO posture_transition (at_ms, from_mode, to_mode, score, growth, reason, evidence)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )?
                .execute(params![
                    now_ms,
                    tr.from.as_str(),
                    tr.to.as_str(),
                    tr.score,
                    tr.growth,
                    tr.reason,
                    evidence_json
                ])?;
            }
            Ok(())
        })?;
        Ok(step)
    }

    /// Consecutive runs whose reconcile failed to read the exchange.
    pub fn posture_failed_runs(&self) -> StoreResult<u32> {
        let n: Option<i64> = self
            .conn
            .prepare_cached("SELECT failed_runs FROM posture_state WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()?;
        count_col("posture_state.failed_runs", n.unwrap_or(0))
    }

    /// Sets the failed-run streak (the row is created GREEN since `now_ms` if it does not exist).
    pub fn set_posture_failed_runs(&self, n: u32, now_ms: i64) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO posture_state (id, mode, since_ms, score, failed_runs, updated_ms)
                 VALUES (1, 'GREEN', ?2, 0, ?1, ?2) ON CONFLICT (id) DO UPDATE SET failed_runs = ?1",
            )?
            .execute(params![n, now_ms])?;
        Ok(())
    }

    /// When each mismatch kind still open was first seen (all `None` for a DB that never saw one).
    pub fn posture_open_since(&self) -> StoreResult<OpenSince> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT position_mismatch_since_ms, protection_missing_since_ms, orphan_orders_since_ms,
                        foreign_exposure_since_ms FROM posture_state WHERE id = 1",
            )?
            .query_row([], |r| {
                Ok(OpenSince {
                    position_mismatch_ms: r.get(0)?,
                    protection_missing_ms: r.get(1)?,
                    orphan_orders_ms: r.get(2)?,
                    foreign_exposure_ms: r.get(3)?,
                })
            })
            .optional()?;
        Ok(row.unwrap_or_default())
    }

    /// Stores the first-seen times (the row is created GREEN since `now_ms` if it does not exist).
    pub fn set_posture_open_since(&self, o: &OpenSince, now_ms: i64) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO posture_state (id, mode, since_ms, score, updated_ms, position_mismatch_since_ms,
                    protection_missing_since_ms, orphan_orders_since_ms, foreign_exposure_since_ms)
                 VALUES (1, 'GREEN', ?1, 0, ?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO UPDATE SET
                    position_mismatch_since_ms = ?2, protection_missing_since_ms = ?3, orphan_orders_since_ms = ?4,
                    foreign_exposure_since_ms = ?5",
            )?
            .execute(params![
                now_ms,
                o.position_mismatch_ms,
                o.protection_missing_ms,
                o.orphan_orders_ms,
                o.foreign_exposure_ms
            ])?;
        Ok(())
    }

    /// Mode changes, oldest first.
    pub fn posture_transitions(&self) -> StoreResult<Vec<TransitionRecord>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT at_ms, from_mode, to_mode, score, growth, reason, evidence FROM posture_transition ORDER BY id",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i64>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at_ms, from, to, score, growth, reason, evidence) = row?;
            out.push(TransitionRecord {
                at_ms,
                from: mode_col("posture_transition.from_mode", from)?,
                to: mode_col("posture_transition.to_mode", to)?,
                score: count_col("posture_transition.score", score)?,
                growth: count_col("posture_transition.growth", growth)?,
                reason,
                evidence,
            });
        }
        Ok(out)
    }

    /// Orders whose last journal event left them UNKNOWN (sent, acceptance not yet resolved).
    pub fn ambiguous_order_count(&self) -> StoreResult<u32> {
        let n: i64 = self
            .conn
            .prepare_cached(
                "SELECT count(*) FROM order_event e
                 WHERE e.seq = (SELECT max(seq) FROM order_event WHERE client_id = e.client_id)
                   AND e.event = 'UNKNOWN'",
            )?
            .query_row([], |r| r.get(0))?;
        count_col("order_event.count", n)
    }

    /// The evidence the store alone can give: mismatch streak, foreign exposure (reconcile's entry
    /// block), and unresolved ambiguous orders. The shell adds what only this run saw (failed
    /// reads, clock offset, rate-limit use, failed runs).
    pub fn posture_evidence(&self) -> StoreResult<Evidence> {
        let sys = self.system()?;
        Ok(Evidence {
            mismatch_streak: sys.mismatch_streak,
            foreign_exposure: sys.entry_block_reason.is_some(),
            ambiguous_orders: self.ambiguous_order_count()?,
            failed_runs: self.posture_failed_runs()?,
            ..Evidence::default()
        })
    }
}
