//! The state DB file's identity (`PRAGMA application_id`), shared by the bot's store and the
//! paper exchange, which keeps its book in the same file under a schema of its own.

use rusqlite::Connection;

/// `PRAGMA application_id` of an mcbot state DB ("mcbo").
pub(crate) const APPLICATION_ID: i64 = 0x6D63_626F;

/// What a file is before either schema touches it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum FileIdentity {
    /// Empty and unclaimed: whoever opens it first stamps it as ours.
    New,
    /// Stamped as an mcbot state DB.
    Mcbot,
    /// Another program's file, or tables without our stamp: never written.
    Foreign,
}

pub(crate) fn identify(conn: &Connection) -> rusqlite::Result<FileIdentity> {
    let app_id: i64 = conn.prepare_cached("PRAGMA application_id")?.query_row([], |r| r.get(0))?;
    if app_id == APPLICATION_ID {
        return Ok(FileIdentity::Mcbot);
    }
    let version: i64 = conn.prepare_cached("PRAGMA user_version")?.query_row([], |r| r.get(0))?;
    let tables: i64 = conn.prepare_cached("SELECT count(*) FROM sqlite_master")?.query_row([], |r| r.get(0))?;
    Ok(if app_id == 0 && version == 0 && tables == 0 { FileIdentity::New } else { FileIdentity::Foreign })
}

/// The statement that claims a new file as ours, run inside the transaction that creates the
/// first tables (so a crash leaves the file either empty or claimed with its tables).
pub(crate) fn claim_sql() -> String {
    format!("PRAGMA application_id = {APPLICATION_ID};")
}
