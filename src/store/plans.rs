//! Trade plans: inserted once by deterministic id; status changes follow `PlanStatus::can_become`.

use crate::core::plan::{PlanStatus, TradePlan};
use crate::store::{dec_col, parse_col, Store, StoreError, StoreResult};
use rusqlite::{params, OptionalExtension, Row};

const COLS: &str =
    "id, symbol, interval, candle_close_ms, side, entry_ref, stop_price, qty, risk_usdt, valid_until_ms, status";

fn plan_from_row(r: &Row<'_>) -> rusqlite::Result<[String; 11]> {
    Ok([
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get::<_, i64>(3)?.to_string(),
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get::<_, i64>(9)?.to_string(),
        r.get(10)?,
    ])
}

fn to_plan(v: [String; 11]) -> StoreResult<TradePlan> {
    let [id, symbol, interval, close, side, entry_ref, stop, qty, risk, valid, status] = v;
    Ok(TradePlan {
        id,
        symbol,
        interval,
        candle_close_ms: parse_col("trade_plan.candle_close_ms", &close)?,
        side: parse_col("trade_plan.side", &side)?,
        entry_ref: dec_col("trade_plan.entry_ref", &entry_ref)?,
        stop_price: dec_col("trade_plan.stop_price", &stop)?,
        qty: dec_col("trade_plan.qty", &qty)?,
        risk_usdt: dec_col("trade_plan.risk_usdt", &risk)?,
        valid_until_ms: parse_col("trade_plan.valid_until_ms", &valid)?,
        status: parse_col("trade_plan.status", &status)?,
    })
}

impl Store {
    /// Inserts the plan unless one with its id exists; returns the stored plan (the existing one if
    /// the candle was evaluated before) and whether it was new.
    pub fn insert_plan(
        &self,
        plan: &TradePlan,
        decision_json: Option<&str>,
        now_ms: i64,
    ) -> StoreResult<(TradePlan, bool)> {
        let n = self
            .conn
            .prepare_cached(&format!(
                "INSERT OR IGNORE INTO trade_plan ({COLS}, decision_json, created_ms, updated_ms)
                      VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?13)"
            ))?
            .execute(params![
                plan.id,
                plan.symbol,
                plan.interval,
                plan.candle_close_ms,
                plan.side.as_str(),
                plan.entry_ref.to_string(),
                plan.stop_price.to_string(),
                plan.qty.to_string(),
                plan.risk_usdt.to_string(),
                plan.valid_until_ms,
                plan.status.as_str(),
                decision_json,
                now_ms
            ])?;
        let stored = self
            .plan(&plan.id)?
            .ok_or_else(|| StoreError::Invalid(format!("plan {} vanished after insert", plan.id)))?;
        Ok((stored, n == 1))
    }

    pub fn plan(&self, id: &str) -> StoreResult<Option<TradePlan>> {
        let v = self
            .conn
            .prepare_cached(&format!("SELECT {COLS} FROM trade_plan WHERE id = ?1"))?
            .query_row(params![id], plan_from_row)
            .optional()?;
        v.map(to_plan).transpose()
    }

    /// The stored evaluate decision (indicators and verdicts) of a plan.
    pub fn plan_decision_json(&self, id: &str) -> StoreResult<Option<String>> {
        Ok(self
            .conn
            .prepare_cached("SELECT decision_json FROM trade_plan WHERE id = ?1")?
            .query_row(params![id], |r| r.get(0))
            .optional()?
            .flatten())
    }

    /// The newest plan in `status`, if any.
    pub fn latest_plan_with_status(&self, status: PlanStatus) -> StoreResult<Option<TradePlan>> {
        let v = self
            .conn
            .prepare_cached(&format!(
                "SELECT {COLS} FROM trade_plan WHERE status = ?1 ORDER BY candle_close_ms DESC LIMIT 1"
            ))?
            .query_row(params![status.as_str()], plan_from_row)
            .optional()?;
        v.map(to_plan).transpose()
    }

    /// Plans in any of `statuses`, oldest first (uses the status index: cheap on every tick).
    pub fn plans_with_statuses(&self, statuses: &[PlanStatus]) -> StoreResult<Vec<TradePlan>> {
        let mut out = Vec::new();
        // One statement per distinct list, cached; the status index serves each IN term.
        let marks = vec!["?"; statuses.len()].join(",");
        let sql = format!("SELECT {COLS} FROM trade_plan WHERE status IN ({marks}) ORDER BY candle_close_ms, id");
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let names: Vec<&str> = statuses.iter().map(|s| s.as_str()).collect();
        let rows = stmt.query_map(rusqlite::params_from_iter(names), plan_from_row)?.collect::<Result<Vec<_>, _>>()?;
        for r in rows {
            out.push(to_plan(r)?);
        }
        Ok(out)
    }

    /// All plans, oldest first.
    pub fn all_plans(&self) -> StoreResult<Vec<TradePlan>> {
        let mut stmt =
            self.conn.prepare_cached(&format!("SELECT {COLS} FROM trade_plan ORDER BY candle_close_ms, id"))?;
        let rows = stmt.query_map([], plan_from_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(to_plan).collect()
    }

    /// Moves a plan to `to`, refusing transitions the plan lifecycle does not allow.
    pub fn set_plan_status(&self, id: &str, to: PlanStatus, now_ms: i64) -> StoreResult<()> {
        let plan = self.plan(id)?.ok_or_else(|| StoreError::Invalid(format!("no plan {id}")))?;
        if plan.status == to {
            return Ok(());
        }
        if !plan.status.can_become(to) {
            return Err(StoreError::Invalid(format!("plan {id}: {} -> {} is not a valid transition", plan.status, to)));
        }
        self.conn
            .prepare_cached("UPDATE trade_plan SET status = ?1, updated_ms = ?2 WHERE id = ?3")?
            .execute(params![to.as_str(), now_ms, id])?;
        Ok(())
    }
}
