//! The replay's paper clock and the paper book's age, for the shell. They are paper tables, so
//! they are read and written on a connection of their own beside the store's: the bot's store
//! knows no paper table.

use crate::exchange::error::ExResult;
use crate::exchange::paper::{db, rules::state_db, schema};
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use std::path::Path;

/// A read-only look at an existing state DB (the store has created it), or None when the paper
/// exchange never ran on it.
fn read_only(path: &Path) -> ExResult<Connection> {
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(path, flags).map_err(state_db)?;
    conn.busy_timeout(std::time::Duration::from_millis(5_000)).map_err(state_db)?;
    Ok(conn)
}

fn read_one(path: &Path, table: &str, sql: &str) -> ExResult<Option<i64>> {
    let conn = read_only(path)?;
    if !schema::has_table(&conn, table).map_err(state_db)? {
        return Ok(None);
    }
    conn.query_row(sql, [], |r| r.get(0)).optional().map_err(state_db)
}

/// The replay clock, if a file-driven paper run started it.
pub(crate) fn read(path: &Path) -> ExResult<Option<i64>> {
    read_one(path, "paper_clock", "SELECT now_ms FROM paper_clock WHERE id = 1")
}

/// Sets the replay clock (creating the paper tables on first use).
pub(crate) fn set(path: &Path, now_ms: i64) -> ExResult<()> {
    let conn = db::open(path, true)?;
    conn.execute(
        "INSERT INTO paper_clock (id, now_ms) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET now_ms = excluded.now_ms",
        [now_ms],
    )
    .map_err(state_db)?;
    Ok(())
}

/// Up to when a paper account exists in this DB (its `processed_ms`), if one was opened: how a
/// replay config learns that a live dry run already traded here (and the reverse).
pub(crate) fn book_processed_ms(path: &Path) -> ExResult<Option<i64>> {
    read_one(path, "paper_account", "SELECT processed_ms FROM paper_account WHERE id = 1")
}
