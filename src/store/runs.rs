//! How each command's last run ended (exit code, time, failure streak) and the last balance and
//! mark price an exchange read returned: what `status`, the metrics textfile and the repeated
//! failure alert read between runs (issue 13 §1–§2).

use crate::store::{opt_dec_col, Store, StoreResult};
use rusqlite::{params, OptionalExtension};
use rust_decimal::Decimal;

/// The last run of one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CommandRun {
    pub last_exit: u8,
    pub last_at_ms: i64,
    /// Consecutive failed runs up to and including the last one (0 after a run that did not fail).
    pub fail_streak: u32,
}

/// The last balance and mark price read from the exchange, each with its time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MarketSeen {
    pub balance: Option<(Decimal, i64)>,
    pub mark_price: Option<(Decimal, i64)>,
}

impl Store {
    /// Records a run of `command`; a failed run extends the streak, any other resets it.
    /// Returns the row as it now stands.
    pub fn record_run(&self, command: &str, exit: u8, failed: bool, at_ms: i64) -> StoreResult<CommandRun> {
        let streak: u32 = self
            .conn
            .prepare_cached(
                "INSERT INTO command_run (command, last_exit, last_at_ms, fail_streak) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (command) DO UPDATE SET last_exit = ?2, last_at_ms = ?3,
                     fail_streak = CASE WHEN ?4 = 1 THEN fail_streak + 1 ELSE 0 END
                 RETURNING fail_streak",
            )?
            .query_row(params![command, exit, at_ms, u8::from(failed)], |r| r.get(0))?;
        Ok(CommandRun { last_exit: exit, last_at_ms: at_ms, fail_streak: streak })
    }

    /// The last run of `command`, if it ever ran against this DB.
    pub fn command_run(&self, command: &str) -> StoreResult<Option<CommandRun>> {
        Ok(self
            .conn
            .prepare_cached("SELECT last_exit, last_at_ms, fail_streak FROM command_run WHERE command = ?1")?
            .query_row([command], |r| {
                Ok(CommandRun { last_exit: r.get(0)?, last_at_ms: r.get(1)?, fail_streak: r.get(2)? })
            })
            .optional()?)
    }

    /// Keeps the balance and mark price an exchange read just returned.
    pub fn record_market_seen(&self, balance: Decimal, mark_price: Decimal, at_ms: i64) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO market_seen (id, balance, balance_ms, mark_price, mark_ms) VALUES (1, ?1, ?3, ?2, ?3)
                 ON CONFLICT (id) DO UPDATE SET balance = ?1, balance_ms = ?3, mark_price = ?2, mark_ms = ?3",
            )?
            .execute(params![balance.to_string(), mark_price.to_string(), at_ms])?;
        Ok(())
    }

    pub fn market_seen(&self) -> StoreResult<MarketSeen> {
        type Row = (Option<String>, Option<i64>, Option<String>, Option<i64>);
        let row: Option<Row> = self
            .conn
            .prepare_cached("SELECT balance, balance_ms, mark_price, mark_ms FROM market_seen WHERE id = 1")?
            .query_row([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .optional()?;
        let Some((b, bt, m, mt)) = row else { return Ok(MarketSeen::default()) };
        Ok(MarketSeen {
            balance: opt_dec_col("market_seen.balance", b)?.zip(bt),
            mark_price: opt_dec_col("market_seen.mark_price", m)?.zip(mt),
        })
    }

    /// Time of the newest audit event of `kind` (any plan), if any.
    pub fn last_audit_ms(&self, kind: &str) -> StoreResult<Option<i64>> {
        Ok(self
            .conn
            .prepare_cached("SELECT max(ts_ms) FROM audit_event WHERE kind = ?1")?
            .query_row([kind], |r| r.get(0))?)
    }
}

#[cfg(test)]
mod tests {
    use crate::store::Store;
    use rust_decimal_macros::dec;

    #[test]
    fn a_failure_streak_counts_up_and_any_other_run_resets_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db"), 0).unwrap();
        assert_eq!(s.command_run("tick").unwrap(), None);
        assert_eq!(s.record_run("tick", 1, true, 10).unwrap().fail_streak, 1);
        assert_eq!(s.record_run("tick", 1, true, 20).unwrap().fail_streak, 2);
        assert_eq!(s.record_run("reconcile", 1, true, 25).unwrap().fail_streak, 1, "per command");
        let r = s.record_run("tick", 0, false, 30).unwrap();
        assert_eq!((r.fail_streak, r.last_exit, r.last_at_ms), (0, 0, 30));
        assert_eq!(s.command_run("tick").unwrap(), Some(r));
        assert_eq!(s.record_run("tick", 10, true, 40).unwrap().fail_streak, 1);
    }

    #[test]
    fn market_seen_keeps_the_last_values() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("t.db"), 0).unwrap();
        assert_eq!(s.market_seen().unwrap(), super::MarketSeen::default());
        s.record_market_seen(dec!(100.5), dec!(40000), 7).unwrap();
        s.record_market_seen(dec!(99), dec!(41000.1), 8).unwrap();
        let m = s.market_seen().unwrap();
        assert_eq!((m.balance, m.mark_price), (Some((dec!(99), 8)), Some((dec!(41000.1), 8))));
        assert_eq!(s.last_audit_ms("halt").unwrap(), None);
    }
}
