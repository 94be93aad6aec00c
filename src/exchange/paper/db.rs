//! The paper exchange's persistence: its own connection to the state DB (WAL lets it live beside
//! the store's), a full load into the in-memory [`Book`] at open, and a write-through of exactly
//! what changed, in one transaction, before every answer.
//!
//! `synchronous = NORMAL` on this connection: in WAL mode a commit then survives a process crash
//! (the failure `sim` simulates) but not necessarily a power cut. That is the exchange's state, not
//! the bot's, and it keeps the tens of thousands of commits of a `sim` run cheap.

use crate::exchange::error::ExResult;
use crate::exchange::paper::book::{Book, Cond, Costs, Order};
use crate::exchange::paper::rules::state_db;
use crate::exchange::paper::schema;
use crate::exchange::{ConditionalKind, ConditionalStatus, ExOrderStatus, Fill, WorkingType};
use rusqlite::{params, Connection, OptionalExtension, Row};
use rust_decimal::Decimal;
use std::path::Path;
use std::str::FromStr;

type SqlResult<T> = Result<T, rusqlite::Error>;

/// Opens the state DB for the paper exchange and brings its own tables up to date (the bot's
/// tables are the store's business).
pub fn open(path: &Path, durable: bool) -> ExResult<Connection> {
    let mut conn = Connection::open(path).map_err(state_db)?;
    conn.busy_timeout(std::time::Duration::from_millis(5_000)).map_err(state_db)?;
    let _: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0)).map_err(state_db)?;
    conn.set_prepared_statement_cache_capacity(64);
    let sync = if durable { "NORMAL" } else { "OFF" };
    conn.execute_batch(&format!("PRAGMA synchronous = {sync}; PRAGMA foreign_keys = ON;")).map_err(state_db)?;
    schema::migrate(&mut conn).map_err(|e| state_db(format!("{}: {e}", path.display())))?;
    Ok(conn)
}

fn bad(what: &str, v: &str) -> rusqlite::Error {
    rusqlite::Error::InvalidColumnType(0, format!("{what}: {v:?}"), rusqlite::types::Type::Text)
}

fn dec(r: &Row<'_>, col: &str) -> SqlResult<Decimal> {
    let s: String = r.get(col)?;
    Decimal::from_str(&s).map_err(|_| bad(col, &s))
}

fn opt_dec(r: &Row<'_>, col: &str) -> SqlResult<Option<Decimal>> {
    let s: Option<String> = r.get(col)?;
    s.map(|s| Decimal::from_str(&s).map_err(|_| bad(col, &s))).transpose()
}

fn parse<T: FromStr>(r: &Row<'_>, col: &str) -> SqlResult<T> {
    let s: String = r.get(col)?;
    s.parse().map_err(|_| bad(col, &s))
}

pub fn order_status_str(s: ExOrderStatus) -> &'static str {
    match s {
        ExOrderStatus::New => "NEW",
        ExOrderStatus::PartiallyFilled => "PARTIALLY_FILLED",
        ExOrderStatus::Filled => "FILLED",
        ExOrderStatus::Canceled => "CANCELED",
        ExOrderStatus::Rejected => "REJECTED",
        ExOrderStatus::Expired => "EXPIRED",
    }
}

pub fn cond_status_str(s: ConditionalStatus) -> &'static str {
    match s {
        ConditionalStatus::New => "NEW",
        ConditionalStatus::Triggering => "TRIGGERING",
        ConditionalStatus::Triggered => "TRIGGERED",
        ConditionalStatus::Finished => "FINISHED",
        ConditionalStatus::Canceled => "CANCELED",
        ConditionalStatus::Rejected => "REJECTED",
        ConditionalStatus::Expired => "EXPIRED",
    }
}

pub fn kind_str(k: ConditionalKind) -> &'static str {
    match k {
        ConditionalKind::StopMarket => "STOP_MARKET",
        ConditionalKind::TakeProfitMarket => "TAKE_PROFIT_MARKET",
    }
}

pub fn working_type_str(w: WorkingType) -> &'static str {
    match w {
        WorkingType::MarkPrice => "MARK_PRICE",
        WorkingType::ContractPrice => "CONTRACT_PRICE",
    }
}

fn order_status(s: &str) -> Option<ExOrderStatus> {
    use ExOrderStatus::*;
    [New, PartiallyFilled, Filled, Canceled, Rejected, Expired].into_iter().find(|x| order_status_str(*x) == s)
}

fn cond_status(s: &str) -> Option<ConditionalStatus> {
    use ConditionalStatus::*;
    [New, Triggering, Triggered, Finished, Canceled, Rejected, Expired].into_iter().find(|x| cond_status_str(*x) == s)
}

fn text<T>(r: &Row<'_>, col: &str, f: impl Fn(&str) -> Option<T>) -> SqlResult<T> {
    let s: String = r.get(col)?;
    f(&s).ok_or_else(|| bad(col, &s))
}

fn load_orders(conn: &Connection) -> SqlResult<Vec<Order>> {
    let mut st = conn.prepare("SELECT * FROM paper_order ORDER BY id")?;
    let mut orders = st
        .query_map([], |r| {
            Ok(Order {
                id: r.get("id")?,
                client_id: r.get("client_id")?,
                side: parse(r, "side")?,
                orig_qty: dec(r, "orig_qty")?,
                executed_qty: dec(r, "executed_qty")?,
                avg_price: dec(r, "avg_price")?,
                status: text(r, "status", order_status)?,
                reduce_only: r.get("reduce_only")?,
                complete_at_ms: r.get("complete_at_ms")?,
                algo_id: r.get("algo_id")?,
                created_ms: r.get("created_ms")?,
                update_ms: r.get("update_ms")?,
                fills: Vec::new(),
            })
        })?
        .collect::<SqlResult<Vec<_>>>()?;
    let mut st = conn.prepare("SELECT * FROM paper_fill ORDER BY id")?;
    let fills = st.query_map([], |r| {
        let order_id: i64 = r.get("order_id")?;
        Ok((
            order_id,
            Fill {
                order_id: order_id.to_string(),
                price: dec(r, "price")?,
                qty: dec(r, "qty")?,
                commission: dec(r, "commission")?,
                commission_asset: super::book::PAPER_FEE_ASSET.to_string(),
                realized_pnl: dec(r, "realized_pnl")?,
                time_ms: r.get("time_ms")?,
            },
        ))
    })?;
    for f in fills {
        let (order_id, fill) = f?;
        if let Some(o) = usize::try_from(order_id - 1).ok().and_then(|i| orders.get_mut(i)) {
            o.fills.push(fill);
        }
    }
    Ok(orders)
}

fn load_conds(conn: &Connection) -> SqlResult<Vec<Cond>> {
    let mut st = conn.prepare("SELECT * FROM paper_conditional ORDER BY id")?;
    let kinds = [ConditionalKind::StopMarket, ConditionalKind::TakeProfitMarket];
    let wts = [WorkingType::MarkPrice, WorkingType::ContractPrice];
    let conds = st
        .query_map([], |r| {
            Ok(Cond {
                id: r.get("id")?,
                client_id: r.get("client_id")?,
                kind: text(r, "kind", |s| kinds.into_iter().find(|k| kind_str(*k) == s))?,
                side: parse(r, "side")?,
                trigger: dec(r, "trigger_price")?,
                qty: dec(r, "qty")?,
                working_type: text(r, "working_type", |s| wts.into_iter().find(|w| working_type_str(*w) == s))?,
                status: text(r, "status", cond_status)?,
                actual_order_id: r.get("actual_order_id")?,
                actual_price: opt_dec(r, "actual_price")?,
                actual_qty: opt_dec(r, "actual_qty")?,
                created_ms: r.get("created_ms")?,
                update_ms: r.get("update_ms")?,
            })
        })?
        .collect::<SqlResult<Vec<_>>>()?;
    Ok(conds)
}

/// Loads the book, or creates the account with `starting_balance` if this DB has none yet.
pub fn load(conn: &Connection, symbol: &str, starting_balance: Decimal, costs: Costs, now_ms: i64) -> ExResult<Book> {
    let account = conn
        .query_row("SELECT * FROM paper_account WHERE id = 1", [], |r| {
            Ok((
                r.get::<_, String>("symbol")?,
                dec(r, "balance")?,
                dec(r, "fees_paid")?,
                dec(r, "funding_paid")?,
                dec(r, "realized_pnl")?,
                r.get::<_, u32>("leverage")?,
                r.get::<_, i64>("processed_ms")?,
                r.get::<_, i64>("version")?,
            ))
        })
        .optional()
        .map_err(state_db)?;
    let Some((sym, balance, fees, funding, pnl, leverage, processed, version)) = account else {
        let mut book = Book::new(symbol, starting_balance, costs, now_ms);
        // Write the new account now, so a restart finds it.
        (book.dirty.any, book.dirty.request) = (true, true);
        return Ok(book);
    };
    if sym != symbol {
        return Err(state_db(format!("this DB's paper account trades {sym}, not {symbol}")));
    }
    let orders = load_orders(conn).map_err(state_db)?;
    let conds = load_conds(conn).map_err(state_db)?;
    let ids_ok = orders.iter().enumerate().all(|(i, o)| o.id == i as i64 + 1)
        && conds.iter().enumerate().all(|(i, c)| c.id == i as i64 + 1);
    if !ids_ok {
        return Err(state_db("paper order ids are not contiguous"));
    }
    let mut book = Book::restore(symbol, balance, costs, processed, orders, conds);
    book.fees_paid = fees;
    book.funding_paid = funding;
    book.realized_pnl = pnl;
    book.leverage = leverage;
    book.version = version;
    let pos = conn
        .query_row("SELECT * FROM paper_position WHERE symbol = ?1", [symbol], |r| {
            Ok((dec(r, "qty")?, dec(r, "entry_price")?, r.get::<_, i64>("update_ms")?))
        })
        .optional()
        .map_err(state_db)?;
    if let Some((qty, entry, update_ms)) = pos {
        (book.pos_qty, book.pos_entry, book.pos_update_ms) = (qty, entry, update_ms);
    }
    Ok(book)
}

/// True when another connection (another process, or another exchange instance on the same DB)
/// wrote the paper account since `book` was loaded or last written. `data_version` is the
/// connection's last seen `PRAGMA data_version`, which only moves when *other* connections
/// commit, so the common case costs one pragma and no query.
pub fn changed_elsewhere(conn: &Connection, book: &Book, data_version: &mut i64) -> ExResult<bool> {
    let dv: i64 = conn
        .prepare_cached("PRAGMA data_version")
        .and_then(|mut st| st.query_row([], |r| r.get(0)))
        .map_err(state_db)?;
    if dv == *data_version {
        return Ok(false);
    }
    *data_version = dv;
    let v: Option<i64> = conn
        .prepare_cached("SELECT version FROM paper_account WHERE id = 1")
        .and_then(|mut st| st.query_row([], |r| r.get(0)).optional())
        .map_err(state_db)?;
    Ok(v != Some(book.version))
}

/// Writes what changed in one transaction and clears the dirty marks. Refuses (writing nothing)
/// when the account was written elsewhere since this book was loaded. On any error the caller must
/// reload the book: memory may be ahead of the DB.
pub fn flush(conn: &mut Connection, book: &mut Book) -> ExResult<()> {
    if !book.dirty.any {
        return Ok(());
    }
    match write(conn, book) {
        Ok(()) => {}
        Err(WriteError::Sql(e)) => return Err(state_db(e)),
        Err(WriteError::Moved) => {
            return Err(state_db("the paper account was changed by another process since it was read; retry"))
        }
    }
    book.dirty = Default::default();
    book.version += 1;
    Ok(())
}

enum WriteError {
    Sql(rusqlite::Error),
    /// The stored version is not the one this book was loaded at.
    Moved,
}

impl From<rusqlite::Error> for WriteError {
    fn from(e: rusqlite::Error) -> Self {
        WriteError::Sql(e)
    }
}

fn write(conn: &mut Connection, b: &Book) -> Result<(), WriteError> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let stored: Option<i64> =
        tx.prepare_cached("SELECT version FROM paper_account WHERE id = 1")?.query_row([], |r| r.get(0)).optional()?;
    if stored.is_some_and(|v| v != b.version) {
        return Err(WriteError::Moved);
    }
    tx.prepare_cached(
        "INSERT INTO paper_account (id, symbol, balance, fees_paid, funding_paid, realized_pnl, leverage, processed_ms,
           version)
         VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)
         ON CONFLICT(id) DO UPDATE SET balance = ?2, fees_paid = ?3, funding_paid = ?4, realized_pnl = ?5,
           leverage = ?6, processed_ms = ?7, version = ?8",
    )?
    .execute(params![
        b.symbol,
        b.balance.to_string(),
        b.fees_paid.to_string(),
        b.funding_paid.to_string(),
        b.realized_pnl.to_string(),
        b.leverage,
        b.processed_ms,
        b.version + 1
    ])?;
    tx.prepare_cached(
        "INSERT INTO paper_position (symbol, qty, entry_price, update_ms) VALUES (?1, ?2, ?3, ?4)
         ON CONFLICT(symbol) DO UPDATE SET qty = ?2, entry_price = ?3, update_ms = ?4",
    )?
    .execute(params![b.symbol, b.pos_qty.to_string(), b.pos_entry.to_string(), b.pos_update_ms])?;
    let mut st = tx.prepare_cached(
        "INSERT INTO paper_order (id, client_id, side, orig_qty, executed_qty, avg_price, status, reduce_only,
           complete_at_ms, algo_id, created_ms, update_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
         ON CONFLICT(id) DO UPDATE SET executed_qty = ?5, avg_price = ?6, status = ?7, complete_at_ms = ?9,
           update_ms = ?12",
    )?;
    for &i in &b.dirty.orders {
        let o = &b.orders[i];
        st.execute(params![
            o.id,
            o.client_id,
            o.side.as_str(),
            o.orig_qty.to_string(),
            o.executed_qty.to_string(),
            o.avg_price.to_string(),
            order_status_str(o.status),
            o.reduce_only,
            o.complete_at_ms,
            o.algo_id,
            o.created_ms,
            o.update_ms
        ])?;
    }
    drop(st);
    let mut st = tx.prepare_cached(
        "INSERT INTO paper_conditional (id, client_id, kind, side, trigger_price, qty, working_type, status,
           actual_order_id, actual_price, actual_qty, created_ms, update_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)
         ON CONFLICT(id) DO UPDATE SET status = ?8, actual_order_id = ?9, actual_price = ?10, actual_qty = ?11,
           update_ms = ?13",
    )?;
    for &i in &b.dirty.conds {
        let c = &b.conds[i];
        st.execute(params![
            c.id,
            c.client_id,
            kind_str(c.kind),
            c.side.as_str(),
            c.trigger.to_string(),
            c.qty.to_string(),
            working_type_str(c.working_type),
            cond_status_str(c.status),
            c.actual_order_id,
            c.actual_price.map(|d| d.to_string()),
            c.actual_qty.map(|d| d.to_string()),
            c.created_ms,
            c.update_ms
        ])?;
    }
    drop(st);
    let mut st = tx.prepare_cached(
        "INSERT INTO paper_fill (order_id, price, qty, commission, realized_pnl, time_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
    )?;
    for (i, f) in &b.dirty.fills {
        st.execute(params![
            b.orders[*i].id,
            f.price.to_string(),
            f.qty.to_string(),
            f.commission.to_string(),
            f.realized_pnl.to_string(),
            f.time_ms
        ])?;
    }
    drop(st);
    Ok(tx.commit()?)
}
