//! Ordered, forward-only schema migrations of the bot's own tables, tracked in `PRAGMA
//! user_version`. Migration files are append-only: a released one is never edited, a change is a
//! new file. One exception, on purpose: 0002 and 0003 created the paper exchange's tables, which
//! now are the paper exchange's own schema (`exchange::paper::schema`); they are kept empty so the
//! version numbers stay, and a DB that ran them keeps its tables, which the paper schema adopts.

use crate::state_db::{self, FileIdentity};
use crate::store::{StoreError, StoreResult};
use rusqlite::Connection;

/// (version, SQL), in order. The newest version is what this build writes.
pub(crate) const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("migrations/0001_init.sql")),
    (2, include_str!("migrations/0002_paper.sql")),
    (3, include_str!("migrations/0003_paper_clock.sql")),
    (4, include_str!("migrations/0004_position_owner_plan.sql")),
    (5, include_str!("migrations/0005_alert_outbox.sql")),
    (6, include_str!("migrations/0006_state_identity.sql")),
    (7, include_str!("migrations/0007_posture.sql")),
    (8, include_str!("migrations/0008_run_record.sql")),
    (9, include_str!("migrations/0009_posture_open_since.sql")),
    (10, include_str!("migrations/0010_clock_sync.sql")),
];

pub(crate) fn latest_version() -> i64 {
    MIGRATIONS.last().map_or(0, |m| m.0)
}

/// Brings the DB up to the latest schema, refusing files that are not ours or are newer.
pub(crate) fn migrate(conn: &mut Connection, path: &str) -> StoreResult<()> {
    if state_db::identify(conn)? == FileIdentity::Foreign {
        return Err(StoreError::NotMcbot { path: path.to_string() });
    }
    let version: i64 = conn.prepare_cached("PRAGMA user_version")?.query_row([], |r| r.get(0))?;
    if version > latest_version() {
        return Err(StoreError::NewerSchema { path: path.to_string(), found: version, supported: latest_version() });
    }
    for (v, sql) in MIGRATIONS.iter().filter(|(v, _)| *v > version) {
        let tx = conn.transaction()?;
        tx.execute_batch(sql)?;
        tx.execute_batch(&format!("{} PRAGMA user_version = {v};", state_db::claim_sql()))?;
        tx.commit()?;
        tracing::info!(event = "store.migrated", version = v, "schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `migrate` applies every listed version above the DB's and stamps each in turn, so the list
    /// must count up by one: a version out of order (e.g. after a merge) would be re-run or skipped.
    #[test]
    fn migration_versions_count_up_by_one_from_1() {
        for (i, (v, _)) in MIGRATIONS.iter().enumerate() {
            assert_eq!(*v, i64::try_from(i).unwrap_or(-1) + 1, "migration list out of order at {i}");
        }
    }
}
