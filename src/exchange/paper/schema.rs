//! The paper exchange's own schema in the state DB: its tables, versioned in its own
//! `paper_schema` row, apart from the bot's migrations (`PRAGMA user_version`), so that a state
//! DB for a real exchange holds no paper table and the two schemas change independently.
//!
//! Until 2026-12 the bot's migrations 0002 and 0003 created these tables. A DB migrated then has
//! them but no `paper_schema` row: the version its tables amount to is adopted, nothing re-run.

use crate::state_db::{self, FileIdentity};
use rusqlite::{Connection, OptionalExtension};

/// (version, SQL), in order; append-only like the bot's own.
pub(crate) const MIGRATIONS: &[(i64, &str)] =
    &[(1, include_str!("schema/0001_book.sql")), (2, include_str!("schema/0002_replay_clock.sql"))];

pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Why the paper schema cannot be brought up to date.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SchemaError {
    #[error("not an mcbot state DB (another program's file): the paper exchange does not write it")]
    Foreign,
    #[error("the paper exchange's tables are at version {found}, newer than this build's {supported}")]
    Newer { found: i64, supported: i64 },
    #[error(transparent)]
    Sqlite(#[from] rusqlite::Error),
}

pub(crate) fn has_table(conn: &Connection, name: &str) -> rusqlite::Result<bool> {
    conn.prepare_cached("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1")?
        .query_row([name], |_| Ok(()))
        .optional()
        .map(|r| r.is_some())
}

/// The paper schema version the file is at: its `paper_schema` row, or what the tables of an
/// older DB amount to, or 0.
pub(crate) fn version(conn: &Connection) -> rusqlite::Result<i64> {
    if has_table(conn, "paper_schema")? {
        let v: Option<i64> = conn
            .prepare_cached("SELECT version FROM paper_schema WHERE id = 1")?
            .query_row([], |r| r.get(0))
            .optional()?;
        return Ok(v.unwrap_or(0));
    }
    Ok(if has_table(conn, "paper_clock")? {
        2
    } else if has_table(conn, "paper_account")? {
        1
    } else {
        0
    })
}

/// True when nothing is to be done; an error when the tables are newer than this build.
fn up_to_date(conn: &Connection) -> Result<bool, SchemaError> {
    let current = version(conn)?;
    if current > latest_version() {
        return Err(SchemaError::Newer { found: current, supported: latest_version() });
    }
    Ok(current == latest_version() && has_table(conn, "paper_schema")?)
}

/// Brings the paper tables up to date, each step in one transaction with its version stamp. A new,
/// empty file is claimed as an mcbot state DB in the first step (the store opens it after).
pub(crate) fn migrate(conn: &mut Connection) -> Result<(), SchemaError> {
    let identity = state_db::identify(conn)?;
    if identity == FileIdentity::Foreign {
        return Err(SchemaError::Foreign);
    }
    if up_to_date(conn)? {
        return Ok(());
    }
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    // Under the write lock: another process may have migrated since the first look.
    if up_to_date(&tx)? {
        return Ok(());
    }
    let current = version(&tx)?;
    if identity == FileIdentity::New {
        tx.execute_batch(&state_db::claim_sql())?;
    }
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS paper_schema (
             id       INTEGER PRIMARY KEY CHECK (id = 1),
             version  INTEGER NOT NULL
         );",
    )?;
    for (_, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > current) {
        tx.execute_batch(sql)?;
    }
    tx.execute(
        "INSERT INTO paper_schema (id, version) VALUES (1, ?1) ON CONFLICT(id) DO UPDATE SET version = excluded.version",
        [latest_version()],
    )?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tables(conn: &Connection) -> Vec<String> {
        let mut st = conn.prepare("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name").unwrap();
        st.query_map([], |r| r.get(0)).unwrap().map(|r| r.unwrap()).collect()
    }

    #[test]
    fn migration_versions_count_up_by_one_from_1() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i64::try_from(i).unwrap_or(-1) + 1, "paper migration list out of order at {i}");
        }
    }

    #[test]
    fn a_new_file_is_claimed_and_gets_every_paper_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        assert_eq!(state_db::identify(&conn).unwrap(), FileIdentity::Mcbot);
        assert_eq!(version(&conn).unwrap(), latest_version());
        assert_eq!(
            tables(&conn),
            [
                "paper_account",
                "paper_clock",
                "paper_conditional",
                "paper_fill",
                "paper_order",
                "paper_position",
                "paper_schema"
            ]
        );
        let user_version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
        assert_eq!(user_version, 0, "the bot's own migrations are the store's to run");
        migrate(&mut conn).unwrap(); // idempotent
    }

    /// A DB whose paper tables the bot's old migrations 0002/0003 created keeps its rows: the
    /// tables are adopted as v2, nothing is re-created.
    #[test]
    fn tables_made_by_the_old_bot_migrations_are_adopted_with_their_rows() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&state_db::claim_sql()).unwrap();
        conn.execute_batch(MIGRATIONS[0].1).unwrap();
        conn.execute_batch(MIGRATIONS[1].1).unwrap();
        conn.execute("INSERT INTO paper_clock (id, now_ms) VALUES (1, 42)", []).unwrap();
        assert_eq!(version(&conn).unwrap(), 2);
        migrate(&mut conn).unwrap();
        let now: i64 = conn.query_row("SELECT now_ms FROM paper_clock", [], |r| r.get(0)).unwrap();
        assert_eq!(now, 42);
        let stamped: i64 = conn.query_row("SELECT version FROM paper_schema", [], |r| r.get(0)).unwrap();
        assert_eq!(stamped, 2);
    }

    /// Old DB with only the book (migration 0002 ran, 0003 not): v2's table is added.
    #[test]
    fn a_v1_book_gets_the_replay_clock_table() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch(&state_db::claim_sql()).unwrap();
        conn.execute_batch(MIGRATIONS[0].1).unwrap();
        migrate(&mut conn).unwrap();
        assert!(has_table(&conn, "paper_clock").unwrap());
    }

    #[test]
    fn a_foreign_file_is_not_touched() {
        let mut conn = Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE theirs (x INTEGER);").unwrap();
        assert!(matches!(migrate(&mut conn), Err(SchemaError::Foreign)));
        assert_eq!(tables(&conn), ["theirs"]);
    }

    #[test]
    fn a_newer_paper_schema_is_refused() {
        let mut conn = Connection::open_in_memory().unwrap();
        migrate(&mut conn).unwrap();
        conn.execute("UPDATE paper_schema SET version = 99", []).unwrap();
        assert!(matches!(migrate(&mut conn), Err(SchemaError::Newer { found: 99, .. })));
    }
}
