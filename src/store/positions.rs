//! Positions as the bot believes them, with protection prices, the unprotected window, and the
//! exit reason once closed.

use crate::core::position::PositionState;
use crate::core::types::PositionSide;
use crate::store::{dec_col, opt_dec_col, parse_col, Store, StoreError, StoreResult};
use rusqlite::{params, OptionalExtension, Row};
use rust_decimal::Decimal;
use serde::Serialize;

/// One position row.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PositionRecord {
    pub id: i64,
    pub trade_plan_id: Option<String>,
    pub symbol: String,
    pub side: PositionSide,
    pub state: PositionState,
    pub qty: Decimal,
    pub entry_price: Decimal,
    pub stop_price: Option<Decimal>,
    pub tp_price: Option<Decimal>,
    pub opened_ms: i64,
    pub entry_filled_ms: Option<i64>,
    pub stop_acked_ms: Option<i64>,
    /// ENTRY fill known → STOP acknowledged, ms.
    pub unprotected_window_ms: Option<i64>,
    /// An exit decided (regime) but not yet carried out.
    pub pending_exit_reason: Option<String>,
    pub exit_reason: Option<String>,
    pub exit_price: Option<Decimal>,
    pub realized_pnl: Option<Decimal>,
    /// Fees in USDT, only when that is all of them: NULL is unknown (not read, trades not found,
    /// or partly paid in BNB — the `position_closed` audit's `fees_by_asset` has those).
    pub fees: Option<Decimal>,
    pub closed_ms: Option<i64>,
    pub adopted: bool,
    /// An adopted position's plan, read back from the client ids of the bot's orders that cover it
    /// (issue 10 item 2/4): its STOP/TP keep working under that plan id after the state was lost.
    pub owner_plan_id: Option<String>,
}

/// What a new position starts with.
#[derive(Debug, Clone, PartialEq)]
pub struct NewPosition {
    pub trade_plan_id: Option<String>,
    pub symbol: String,
    pub side: PositionSide,
    pub state: PositionState,
    pub qty: Decimal,
    pub entry_price: Decimal,
    pub opened_ms: i64,
    pub adopted: bool,
}

/// How a position ended.
#[derive(Debug, Clone, PartialEq)]
pub struct PositionClose {
    pub exit_reason: String,
    pub exit_price: Option<Decimal>,
    pub realized_pnl: Option<Decimal>,
    pub fees: Option<Decimal>,
    pub closed_ms: i64,
}

const COLS: &str = "id, trade_plan_id, symbol, side, state, qty, entry_price, stop_price, tp_price, opened_ms,
    entry_filled_ms, stop_acked_ms, unprotected_window_ms, pending_exit_reason, exit_reason, exit_price,
    realized_pnl, fees, closed_ms, adopted, owner_plan_id";

type RawRow = (
    i64,
    Option<String>,
    String,
    String,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
    i64,
    (
        Option<i64>,
        Option<i64>,
        Option<i64>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<String>,
        Option<i64>,
        i64,
    ),
    Option<String>,
);

fn raw_row(r: &Row<'_>) -> rusqlite::Result<RawRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        (
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
            r.get(14)?,
            r.get(15)?,
            r.get(16)?,
            r.get(17)?,
            r.get(18)?,
            r.get(19)?,
        ),
        r.get(20)?,
    ))
}

fn to_record(v: RawRow) -> StoreResult<PositionRecord> {
    let (id, plan, symbol, side, state, qty, entry, stop, tp, opened, rest, owner_plan_id) = v;
    let (filled, acked, window, pending, exit_reason, exit_price, pnl, fees, closed, adopted) = rest;
    Ok(PositionRecord {
        id,
        trade_plan_id: plan,
        symbol,
        side: parse_col("position.side", &side)?,
        state: parse_col("position.state", &state)?,
        qty: dec_col("position.qty", &qty)?,
        entry_price: dec_col("position.entry_price", &entry)?,
        stop_price: opt_dec_col("position.stop_price", stop)?,
        tp_price: opt_dec_col("position.tp_price", tp)?,
        opened_ms: opened,
        entry_filled_ms: filled,
        stop_acked_ms: acked,
        unprotected_window_ms: window,
        pending_exit_reason: pending,
        exit_reason,
        exit_price: opt_dec_col("position.exit_price", exit_price)?,
        realized_pnl: opt_dec_col("position.realized_pnl", pnl)?,
        fees: opt_dec_col("position.fees", fees)?,
        closed_ms: closed,
        adopted: adopted != 0,
        owner_plan_id,
    })
}

impl Store {
    /// Records the plan an adopted position's covering orders name (see `owner_plan_id`).
    pub fn set_position_owner_plan(&self, id: i64, plan_id: &str) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE position SET owner_plan_id = ?2 WHERE id = ?1")?
            .execute(params![id, plan_id])?;
        Ok(())
    }

    pub fn insert_position(&self, p: &NewPosition) -> StoreResult<PositionRecord> {
        self.conn
            .prepare_cached(
                "INSERT INTO position (trade_plan_id, symbol, side, state, qty, entry_price, opened_ms, adopted)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                p.trade_plan_id,
                p.symbol,
                p.side.as_str(),
                p.state.as_str(),
                p.qty.to_string(),
                p.entry_price.to_string(),
                p.opened_ms,
                i64::from(p.adopted)
            ])?;
        let id = self.conn.last_insert_rowid();
        self.position(id)?.ok_or_else(|| StoreError::Invalid("position vanished after insert".into()))
    }

    pub fn position(&self, id: i64) -> StoreResult<Option<PositionRecord>> {
        let v = self
            .conn
            .prepare_cached(&format!("SELECT {COLS} FROM position WHERE id = ?1"))?
            .query_row(params![id], raw_row)
            .optional()?;
        v.map(to_record).transpose()
    }

    /// The position that is not CLOSED, if any (the DB allows at most one per symbol).
    pub fn active_position(&self, symbol: &str) -> StoreResult<Option<PositionRecord>> {
        let v = self
            .conn
            .prepare_cached(&format!("SELECT {COLS} FROM position WHERE symbol = ?1 AND state != 'CLOSED'"))?
            .query_row(params![symbol], raw_row)
            .optional()?;
        v.map(to_record).transpose()
    }

    /// Positions of one plan, oldest first.
    pub fn positions_of_plan(&self, plan_id: &str) -> StoreResult<Vec<PositionRecord>> {
        let mut stmt =
            self.conn.prepare_cached(&format!("SELECT {COLS} FROM position WHERE trade_plan_id = ?1 ORDER BY id"))?;
        let rows = stmt.query_map(params![plan_id], raw_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(to_record).collect()
    }

    /// All positions, oldest first.
    pub fn all_positions(&self) -> StoreResult<Vec<PositionRecord>> {
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {COLS} FROM position ORDER BY id"))?;
        let rows = stmt.query_map([], raw_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(to_record).collect()
    }

    pub fn set_position_state(&self, id: i64, state: PositionState) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE position SET state = ?1 WHERE id = ?2")?
            .execute(params![state.as_str(), id])?;
        Ok(())
    }

    /// Records the filled size and average entry price.
    pub fn set_position_fill(
        &self,
        id: i64,
        qty: Decimal,
        entry_price: Decimal,
        filled_ms: Option<i64>,
    ) -> StoreResult<()> {
        self.conn.prepare_cached("UPDATE position SET qty = ?1, entry_price = ?2, entry_filled_ms = COALESCE(entry_filled_ms, ?3) WHERE id = ?4")?.execute(params![qty.to_string(), entry_price.to_string(), filled_ms, id])?;
        Ok(())
    }

    pub fn set_position_protection(&self, id: i64, stop: Option<Decimal>, tp: Option<Decimal>) -> StoreResult<()> {
        self.conn.prepare_cached("UPDATE position SET stop_price = COALESCE(?1, stop_price), tp_price = COALESCE(?2, tp_price) WHERE id = ?3")?.execute(params![stop.map(|d| d.to_string()), tp.map(|d| d.to_string()), id])?;
        Ok(())
    }

    /// Records the first STOP acknowledgement and the unprotected window (fill known → STOP ack).
    pub fn set_stop_acked(&self, id: i64, acked_ms: i64) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE position SET stop_acked_ms = ?1,
                    unprotected_window_ms = CASE WHEN entry_filled_ms IS NULL THEN NULL ELSE ?1 - entry_filled_ms END
             WHERE id = ?2 AND stop_acked_ms IS NULL",
            )?
            .execute(params![acked_ms, id])?;
        Ok(())
    }

    pub fn set_pending_exit(&self, id: i64, reason: Option<&str>) -> StoreResult<()> {
        self.conn
            .prepare_cached("UPDATE position SET pending_exit_reason = ?1 WHERE id = ?2")?
            .execute(params![reason, id])?;
        Ok(())
    }

    /// Finalises a position as CLOSED with its reason.
    pub fn close_position(&self, id: i64, c: &PositionClose) -> StoreResult<()> {
        self.conn
            .prepare_cached(
                "UPDATE position SET state = 'CLOSED', exit_reason = ?1, exit_price = ?2, realized_pnl = ?3, fees = ?4,
                    closed_ms = ?5, pending_exit_reason = NULL WHERE id = ?6",
            )?
            .execute(params![
                c.exit_reason,
                c.exit_price.map(|d| d.to_string()),
                c.realized_pnl.map(|d| d.to_string()),
                c.fees.map(|d| d.to_string()),
                c.closed_ms,
                id
            ])?;
        Ok(())
    }
}
