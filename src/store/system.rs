//! System mode (RUNNING/HALTED), reconcile bookkeeping, mismatch streak and cooldown.

use crate::clock::ClockSync;
use crate::store::{Store, StoreError, StoreResult};
use rusqlite::{params, OptionalExtension};
use serde::Serialize;

/// RUNNING or HALTED.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Mode {
    Running,
    Halted,
}

impl Mode {
    pub fn as_str(self) -> &'static str {
        match self {
            Mode::Running => "RUNNING",
            Mode::Halted => "HALTED",
        }
    }
}

/// The single system row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SystemState {
    pub mode: Mode,
    pub halt_reason: Option<String>,
    pub mode_since_ms: i64,
    pub last_reconcile_ms: Option<i64>,
    /// The last reconcile found the exchange and the DB in agreement (or repaired everything).
    pub last_reconcile_clean: bool,
    /// Consecutive reconciles that had to repair a mismatch.
    pub mismatch_streak: u32,
    pub cooldown_until_ms: Option<i64>,
    /// Set by reconcile when something outside mcbot holds the symbol (foreign position/orders).
    pub entry_block_reason: Option<String>,
}

impl SystemState {
    pub fn is_halted(&self) -> bool {
        self.mode == Mode::Halted
    }
    pub fn in_cooldown(&self, now_ms: i64) -> bool {
        self.cooldown_until_ms.is_some_and(|t| now_ms < t)
    }
}

impl Store {
    pub(crate) fn ensure_system_row(&self, now_ms: i64) -> StoreResult<()> {
        self.conn
            .prepare_cached("INSERT OR IGNORE INTO system_state (id, mode, mode_since_ms) VALUES (1, 'RUNNING', ?1)")?
            .execute(params![now_ms])?;
        Ok(())
    }

    pub fn system(&self) -> StoreResult<SystemState> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT mode, halt_reason, mode_since_ms, last_reconcile_ms, last_reconcile_clean, mismatch_streak,
                        cooldown_until_ms, entry_block_reason FROM system_state WHERE id = 1",
            )?
            .query_row([], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get(1)?,
                    r.get(2)?,
                    r.get(3)?,
                    r.get::<_, i64>(4)?,
                    r.get::<_, i64>(5)?,
                    r.get(6)?,
                    r.get(7)?,
                ))
            })
            .optional()?;
        let Some((mode, halt_reason, mode_since_ms, last_reconcile_ms, clean, streak, cooldown, block)) = row else {
            return Err(StoreError::Invalid("system_state row is missing".into()));
        };
        let mode = match mode.as_str() {
            "RUNNING" => Mode::Running,
            "HALTED" => Mode::Halted,
            _ => return Err(StoreError::BadValue { column: "system_state.mode", value: mode }),
        };
        Ok(SystemState {
            mode,
            halt_reason,
            mode_since_ms,
            last_reconcile_ms,
            last_reconcile_clean: clean != 0,
            mismatch_streak: u32::try_from(streak).unwrap_or(u32::MAX),
            cooldown_until_ms: cooldown,
            entry_block_reason: block,
        })
    }

    /// Sets HALTED with a reason. Returns false if it was already halted (the first reason is kept).
    pub fn set_halted(&self, reason: &str, now_ms: i64) -> StoreResult<bool> {
        let n = self.conn.prepare_cached("UPDATE system_state SET mode = 'HALTED', halt_reason = ?1, mode_since_ms = ?2 WHERE id = 1 AND mode = 'RUNNING'")?.execute(params![reason, now_ms])?;
        Ok(n == 1)
    }

    pub fn set_running(&self, now_ms: i64) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE system_state SET mode = 'RUNNING', halt_reason = NULL, mode_since_ms = ?1 WHERE id = 1",
            )?
            .execute(params![now_ms])?;
        Ok(())
    }

    /// Records a completed reconcile and the resulting mismatch streak.
    pub fn record_reconcile(
        &self,
        now_ms: i64,
        clean: bool,
        mismatch_streak: u32,
        entry_block_reason: Option<&str>,
    ) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE system_state SET last_reconcile_ms = ?1, last_reconcile_clean = ?2, mismatch_streak = ?3,
                    entry_block_reason = ?4 WHERE id = 1",
            )?
            .execute(params![now_ms, i64::from(clean), i64::from(mismatch_streak), entry_block_reason])?;
        Ok(())
    }

    pub fn set_cooldown_until(&self, until_ms: i64) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE system_state SET cooldown_until_ms = ?1 WHERE id = 1")?
            .execute(params![until_ms])?;
        Ok(())
    }
}

impl Store {
    /// The exchange clock offset the last process measured, if any (issue 16 item 6).
    pub fn clock_sync(&self) -> StoreResult<Option<ClockSync>> {
        Ok(self
            .conn
            .prepare_cached("SELECT offset_ms, measured_ms FROM clock_sync WHERE id = 1")?
            .query_row([], |r| Ok(ClockSync { offset_ms: r.get(0)?, measured_ms: r.get(1)? }))
            .optional()?)
    }

    pub fn set_clock_sync(&self, sync: ClockSync) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO clock_sync (id, offset_ms, measured_ms) VALUES (1, ?1, ?2)
                 ON CONFLICT(id) DO UPDATE SET offset_ms = excluded.offset_ms, measured_ms = excluded.measured_ms",
            )?
            .execute(params![sync.offset_ms, sync.measured_ms])?;
        Ok(())
    }
}
