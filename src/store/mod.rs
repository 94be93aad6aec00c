//! The SQLite state store: one concrete type over rusqlite (WAL, `synchronous=FULL`, foreign keys).
//!
//! Opening refuses files that are not mcbot DBs or were written by a newer schema; the journal
//! tables are append-only by trigger.

/// The config a state DB belongs to (CONTRACT §14).
pub(crate) mod identity;
/// order_event / audit_event: the hash-chained, append-only journal.
pub mod journal;
/// Schema migrations.
pub(crate) mod migrate;
/// The durable alert outbox, filled in the same transaction as the audit event.
pub(crate) mod outbox;
/// Trade plans, insert-once by deterministic id.
pub(crate) mod plans;
/// The money figures (balance, unrealised and realised PnL) status and metrics show.
pub(crate) mod pnl;
/// Positions and their exit reasons.
pub mod positions;
/// Belief-debt posture state and its transition audit rows.
pub(crate) mod posture;
/// The whole-DB replay and chain check (`mcbot replay`, `sim`).
pub mod replay;
/// The space reserve released when a write fails for lack of space.
pub(crate) mod reserve;
/// Each command's last run and failure streak; the last balance and mark price seen.
pub(crate) mod runs;
/// System mode (RUNNING/HALTED), reconcile bookkeeping, cooldown.
pub(crate) mod system;

use rusqlite::{Connection, OpenFlags};
use rust_decimal::Decimal;
use std::path::{Path, PathBuf};
use std::str::FromStr;

/// A store failure. Opening failures are configuration-class (exit 2); the rest are exit 1.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("state DB {path}: folder {folder} does not exist")]
    MissingFolder { path: String, folder: String },
    #[error("state DB {path}: cannot open ({problem})")]
    CannotOpen { path: String, problem: String },
    #[error("state DB {path} is not an mcbot state DB (refusing to touch it)")]
    NotMcbot { path: String },
    #[error("state DB {path} has schema version {found}, newer than this mcbot supports ({supported}); upgrade mcbot")]
    NewerSchema { path: String, found: i64, supported: i64 },
    #[error("state DB: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("state DB holds an unreadable value in {column}: {value:?}")]
    BadValue { column: &'static str, value: String },
    #[error("state DB: {0}")]
    Invalid(String),
}

impl StoreError {
    /// True for errors found while opening: the file itself is unusable (exit 2).
    /// True when the state could not be written (disk full, file-size limit, I/O error, read-only
    /// file): protection comes before bookkeeping, so exposure is protected or closed anyway.
    pub fn is_write_failure(&self) -> bool {
        use rusqlite::ErrorCode as C;
        matches!(
            self,
            StoreError::Sqlite(rusqlite::Error::SqliteFailure(f, _))
                if matches!(f.code, C::DiskFull | C::SystemIoFailure | C::ReadOnly | C::CannotOpen)
        )
    }

    pub fn is_open_error(&self) -> bool {
        matches!(
            self,
            StoreError::MissingFolder { .. }
                | StoreError::CannotOpen { .. }
                | StoreError::NotMcbot { .. }
                | StoreError::NewerSchema { .. }
        )
    }
}

pub type StoreResult<T> = Result<T, StoreError>;

/// The state DB.
pub struct Store {
    conn: Connection,
    path: PathBuf,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn open_problem(path: &Path, e: &rusqlite::Error) -> StoreError {
    let p = path.display().to_string();
    match e {
        rusqlite::Error::SqliteFailure(f, _) if f.code == rusqlite::ErrorCode::NotADatabase => {
            StoreError::NotMcbot { path: p }
        }
        _ => StoreError::CannotOpen { path: p, problem: e.to_string() },
    }
}

impl Store {
    /// Opens (creating if missing) and migrates the DB at `path`. `now_ms` seeds a new system row.
    pub fn open(path: &Path, now_ms: i64) -> StoreResult<Store> {
        let folder = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
        if !folder.is_dir() {
            return Err(StoreError::MissingFolder {
                path: path.display().to_string(),
                folder: folder.display().to_string(),
            });
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags).map_err(|e| open_problem(path, &e))?;
        // The first real read tells a corrupt or foreign file apart from an empty new one.
        conn.busy_timeout(std::time::Duration::from_millis(5_000)).map_err(|e| open_problem(path, &e))?;
        conn.execute_batch("PRAGMA foreign_keys = ON;").map_err(|e| open_problem(path, &e))?;
        let _: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .map_err(|e| open_problem(path, &e))?;
        let journal: String =
            conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(|e| open_problem(path, &e))?;
        if !journal.eq_ignore_ascii_case("wal") {
            return Err(StoreError::CannotOpen {
                path: path.display().to_string(),
                problem: format!("WAL not available (journal_mode {journal})"),
            });
        }
        conn.execute_batch("PRAGMA synchronous = FULL;").map_err(|e| open_problem(path, &e))?;
        migrate::migrate(&mut conn, &path.display().to_string()).map_err(|e| match e {
            StoreError::Sqlite(s) => open_problem(path, &s),
            other => other,
        })?;
        // The store uses a few dozen distinct statements on every tick; rusqlite keeps 16 by default.
        conn.set_prepared_statement_cache_capacity(128);
        let store = Store { conn, path: path.to_path_buf() };
        store.ensure_system_row(now_ms)?;
        reserve::ensure(path);
        Ok(store)
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Direct access for tests and `replay`'s read-only queries.
    pub fn conn(&self) -> &Connection {
        &self.conn
    }

    /// Runs `f` in one IMMEDIATE transaction: all of it lands or none of it does. Inside an open
    /// batch it simply joins the batch.
    pub fn atomically<T>(&mut self, f: impl FnOnce(&Connection) -> StoreResult<T>) -> StoreResult<T> {
        if !self.conn.is_autocommit() {
            return f(&self.conn);
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let v = f(&tx)?;
        tx.commit()?;
        Ok(v)
    }

    /// Starts a batch: the writes that follow share one commit (one fsync) until `flush_batch`.
    /// Used on the latency-critical path between an ENTRY fill and the STOP request.
    pub fn begin_batch(&self) -> StoreResult<()> {
        if self.conn.is_autocommit() {
            self.conn.execute_batch("BEGIN IMMEDIATE")?;
        }
        Ok(())
    }

    /// Commits an open batch (no-op without one). Called before any request whose intent the
    /// batch holds: persist before you act.
    pub fn flush_batch(&self) -> StoreResult<()> {
        if !self.conn.is_autocommit() {
            self.conn.execute_batch("COMMIT")?;
        }
        Ok(())
    }

    /// Gives up an open batch after a failed write (its rows are lost, the committed ones stay),
    /// so what follows runs in autocommit again.
    pub fn abandon_batch(&self) {
        if !self.conn.is_autocommit() {
            let _ = self.conn.execute_batch("ROLLBACK");
        }
    }

    /// Frees the space reserve beside the DB (see `reserve`); returns the bytes freed.
    pub fn release_reserve(&self) -> u64 {
        reserve::release(&self.path)
    }

    /// Ties every later commit to `dead`: while it says true, a commit (a batch's or an autocommit
    /// write's) is turned into a rollback and the write fails. A simulated crash is a value the
    /// driver gets back once the dead process's call stack has returned (`sim`, crash tests); this
    /// keeps whatever that process still tried to write out of the DB, so the DB afterwards is the
    /// DB at the crash.
    pub fn refuse_commits_while(&self, dead: impl Fn() -> bool + Send + 'static) {
        self.conn.commit_hook(Some(dead));
    }

    /// Drops the store the way a dead process would: an open batch is rolled back, not committed.
    /// For crash tests, after a simulated crash.
    pub fn discard_after_crash(self) {
        self.abandon_batch();
    }

    /// What a restarted process would find, without reopening: the dead process's open batch is
    /// rolled back (uncommitted work dies with it); everything committed stays. For `sim`.
    pub fn reset_after_crash(&self) {
        self.abandon_batch();
    }

    /// For throwaway DBs (`sim`): skip fsync. Never used for a live state DB.
    pub fn set_throwaway_durability(&self) -> StoreResult<()> {
        self.conn.execute_batch("PRAGMA synchronous = OFF;")?;
        Ok(())
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        // A batch still open at a normal end is committed; during a panic it is not. (A simulated
        // crash's batch was already given up: `discard_after_crash`, `reset_after_crash`.)
        if !self.conn.is_autocommit() {
            let sql = if std::thread::panicking() { "ROLLBACK" } else { "COMMIT" };
            if let Err(e) = self.conn.execute_batch(sql) {
                tracing::error!(event = "store.batch_end_failed", error = %e, "could not end batch");
            }
        }
    }
}

/// Reads a Decimal stored as TEXT.
pub(crate) fn dec_col(column: &'static str, s: &str) -> StoreResult<Decimal> {
    Decimal::from_str(s).map_err(|_| StoreError::BadValue { column, value: s.to_string() })
}

pub(crate) fn opt_dec_col(column: &'static str, s: Option<String>) -> StoreResult<Option<Decimal>> {
    s.map(|v| dec_col(column, &v)).transpose()
}

pub(crate) fn parse_col<T: FromStr>(column: &'static str, s: &str) -> StoreResult<T> {
    s.parse().map_err(|_| StoreError::BadValue { column, value: s.to_string() })
}

#[cfg(test)]
mod tests {
    use super::Store;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;

    #[test]
    fn commits_are_refused_while_dead_and_nothing_written_after_the_death_lands() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.db");
        let s = Store::open(&path, 0).unwrap();
        let dead = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&dead);
        s.refuse_commits_while(move || flag.load(Ordering::SeqCst));
        s.record_run("tick", 0, false, 10).unwrap();
        s.begin_batch().unwrap();
        s.record_run("tick", 1, true, 20).unwrap();
        dead.store(true, Ordering::SeqCst);
        s.record_run("tick", 1, true, 30).unwrap();
        assert!(s.flush_batch().is_err(), "the batch's commit is refused");
        // An autocommit write is rolled back too (a RETURNING write may not even say so).
        let _ = s.record_run("reconcile", 1, true, 40);
        assert!(s.set_halted("dead", 50).is_err(), "a plain autocommit write fails");
        s.reset_after_crash();
        drop(s);
        let after = Store::open(&path, 0).unwrap();
        assert_eq!(after.command_run("tick").unwrap().map(|r| r.last_at_ms), Some(10));
        assert_eq!(after.command_run("reconcile").unwrap(), None);
        assert!(!after.system().unwrap().is_halted());
    }

    /// Issue 16 item 3: the store's own migrations make no paper table; the paper exchange adds
    /// its schema beside them when it opens the same file, in either order.
    #[test]
    fn a_state_db_holds_paper_tables_only_once_the_paper_exchange_opened_it() {
        let dir = tempfile::tempdir().unwrap();
        let paper_tables = |path: &std::path::Path| -> i64 {
            let c = rusqlite::Connection::open(path).unwrap();
            c.query_row("SELECT count(*) FROM sqlite_master WHERE name LIKE 'paper%'", [], |r| r.get(0)).unwrap()
        };
        let store_first = dir.path().join("store_first.db");
        drop(Store::open(&store_first, 0).unwrap());
        assert_eq!(paper_tables(&store_first), 0, "a real exchange's state DB has no paper table");
        drop(crate::exchange::paper::db::open(&store_first, false).unwrap());
        assert!(paper_tables(&store_first) >= 7);
        // The paper exchange first (a test or a tool opening it alone): it claims the new file, and
        // the store then migrates it as its own.
        let paper_first = dir.path().join("paper_first.db");
        drop(crate::exchange::paper::db::open(&paper_first, false).unwrap());
        let s = Store::open(&paper_first, 0).unwrap();
        assert!(!s.system().unwrap().is_halted());
    }
}
