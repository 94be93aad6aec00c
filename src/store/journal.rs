//! The journal: `order_event` (every exchange interaction) and `audit_event` (decisions, halts,
//! forced closes), append-only by trigger and tamper-evident by one hash chain across both tables.
//!
//! Each row stores `prev_hash` and `hash = sha256(prev_hash ‖ canonical(row))`, with `seq` shared
//! by both tables, so deleting, editing or reordering any row breaks the chain at that row.

use crate::core::order::{OrderEvent, OrderRole};
use crate::store::{Store, StoreError, StoreResult};
use rusqlite::{params, Connection, OptionalExtension};
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::json;
use sha2::{Digest, Sha256};

/// The `prev_hash` of the first row.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Severity of an audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Severity {
    Info,
    Warn,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "INFO",
            Severity::Warn => "WARN",
            Severity::Critical => "CRITICAL",
        }
    }
    fn parse(s: &str) -> StoreResult<Self> {
        match s {
            "INFO" => Ok(Severity::Info),
            "WARN" => Ok(Severity::Warn),
            "CRITICAL" => Ok(Severity::Critical),
            _ => Err(StoreError::BadValue { column: "audit_event.severity", value: s.to_string() }),
        }
    }
}

/// An order event to append.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewOrderEvent {
    pub ts_ms: i64,
    pub trade_plan_id: Option<String>,
    pub role: OrderRole,
    pub attempt: u32,
    pub client_id: String,
    pub correlation_id: Option<String>,
    pub event: OrderEvent,
    pub exchange_order_id: Option<String>,
    /// The exchange's status text, when it reported one.
    pub status: Option<String>,
    /// Fill price (average) or trigger price.
    pub price: Option<Decimal>,
    /// Filled quantity (fills) or order quantity (submissions).
    pub qty: Option<Decimal>,
    /// Human-readable detail (error text, what a look-up found).
    pub detail: Option<String>,
    /// Sanitised request/response transcript.
    pub raw: Option<String>,
}

/// A stored order event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OrderEventRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub event: NewOrderEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// An audit event to append.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NewAuditEvent {
    pub ts_ms: i64,
    pub severity: Severity,
    /// A stable machine name: `entry_submitted`, `protection_failed`, `halt`, `resume`, ...
    pub kind: String,
    pub trade_plan_id: Option<String>,
    pub message: String,
    /// Structured detail as JSON text.
    pub data: Option<String>,
}

/// A stored audit event.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEventRecord {
    pub seq: i64,
    #[serde(flatten)]
    pub event: NewAuditEvent,
    pub prev_hash: String,
    pub hash: String,
}

/// One journal row of either kind, in chain order.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "table", rename_all = "snake_case")]
pub enum JournalEntry {
    OrderEvent(OrderEventRecord),
    AuditEvent(AuditEventRecord),
}

impl JournalEntry {
    pub fn seq(&self) -> i64 {
        match self {
            JournalEntry::OrderEvent(o) => o.seq,
            JournalEntry::AuditEvent(a) => a.seq,
        }
    }
    pub fn ts_ms(&self) -> i64 {
        match self {
            JournalEntry::OrderEvent(o) => o.event.ts_ms,
            JournalEntry::AuditEvent(a) => a.event.ts_ms,
        }
    }
    fn hashes(&self) -> (&str, &str) {
        match self {
            JournalEntry::OrderEvent(o) => (&o.prev_hash, &o.hash),
            JournalEntry::AuditEvent(a) => (&a.prev_hash, &a.hash),
        }
    }
    fn canonical(&self) -> String {
        match self {
            JournalEntry::OrderEvent(o) => canonical_order(o.seq, &o.event),
            JournalEntry::AuditEvent(a) => canonical_audit(a.seq, &a.event),
        }
    }
}

/// The first place the chain does not hold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("journal hash chain broken at seq {seq}: {problem}")]
pub struct BrokenLink {
    pub seq: i64,
    pub problem: String,
}

fn canonical_order(seq: i64, e: &NewOrderEvent) -> String {
    json!([
        "order_event",
        seq,
        e.ts_ms,
        e.trade_plan_id,
        e.role.as_str(),
        e.attempt,
        e.client_id,
        e.correlation_id,
        e.event.as_str(),
        e.exchange_order_id,
        e.status,
        e.price.map(|d| d.to_string()),
        e.qty.map(|d| d.to_string()),
        e.detail,
        e.raw
    ])
    .to_string()
}

fn canonical_audit(seq: i64, e: &NewAuditEvent) -> String {
    json!(["audit_event", seq, e.ts_ms, e.severity.as_str(), e.kind, e.trade_plan_id, e.message, e.data]).to_string()
}

/// sha256(prev_hash ‖ "\n" ‖ canonical), hex.
pub fn chain_hash(prev_hash: &str, canonical: &str) -> String {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(canonical.as_bytes());
    hex::encode(h.finalize())
}

fn head(tx: &Connection) -> StoreResult<(i64, String)> {
    let row: Option<(i64, String)> = tx
        .prepare_cached(
            "SELECT seq, hash FROM (SELECT seq, hash FROM order_event UNION ALL SELECT seq, hash FROM audit_event)
             ORDER BY seq DESC LIMIT 1",
        )?
        .query_row([], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?;
    Ok(row.unwrap_or((0, GENESIS_HASH.to_string())))
}

const ORDER_COLS: &str =
    "seq, ts_ms, trade_plan_id, role, attempt, client_id, correlation_id, event, exchange_order_id,
    status, price, qty, detail, raw, prev_hash, hash";
const AUDIT_COLS: &str = "seq, ts_ms, severity, kind, trade_plan_id, message, data, prev_hash, hash";

fn order_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<OrderRowTuple> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        [r.get(8)?, r.get(9)?, r.get(10)?, r.get(11)?, r.get(12)?, r.get(13)?],
        r.get(14)?,
        r.get(15)?,
    ))
}

type OrderRowTuple =
    (i64, i64, Option<String>, String, i64, String, Option<String>, String, [Option<String>; 6], String, String);

fn to_order_record(v: OrderRowTuple) -> StoreResult<OrderEventRecord> {
    let (seq, ts_ms, plan, role, attempt, client_id, corr, event, rest, prev_hash, hash) = v;
    let [ex_id, status, price, qty, detail, raw] = rest;
    Ok(OrderEventRecord {
        seq,
        event: NewOrderEvent {
            ts_ms,
            trade_plan_id: plan,
            role: crate::store::parse_col("order_event.role", &role)?,
            attempt: u32::try_from(attempt)
                .map_err(|_| StoreError::BadValue { column: "order_event.attempt", value: attempt.to_string() })?,
            client_id,
            correlation_id: corr,
            event: crate::store::parse_col("order_event.event", &event)?,
            exchange_order_id: ex_id,
            status,
            price: crate::store::opt_dec_col("order_event.price", price)?,
            qty: crate::store::opt_dec_col("order_event.qty", qty)?,
            detail,
            raw,
        },
        prev_hash,
        hash,
    })
}

type AuditRowTuple = (i64, i64, String, String, Option<String>, String, Option<String>, String, String);

fn audit_from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<AuditRowTuple> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?, r.get(7)?, r.get(8)?))
}

fn to_audit_record(v: AuditRowTuple) -> StoreResult<AuditEventRecord> {
    let (seq, ts_ms, severity, kind, plan, message, data, prev_hash, hash) = v;
    Ok(AuditEventRecord {
        seq,
        event: NewAuditEvent { ts_ms, severity: Severity::parse(&severity)?, kind, trade_plan_id: plan, message, data },
        prev_hash,
        hash,
    })
}

impl Store {
    /// Appends an order event to the chain; returns its seq.
    pub fn append_order_event(&mut self, e: &NewOrderEvent) -> StoreResult<i64> {
        self.atomically(|tx| {
            let (last, prev) = head(tx)?;
            let seq = last + 1;
            let hash = chain_hash(&prev, &canonical_order(seq, e));
            tx.prepare_cached(&format!("INSERT INTO order_event ({ORDER_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9,?10,?11,?12,?13,?14,?15,?16)"))?.execute(params![
                    seq,
                    e.ts_ms,
                    e.trade_plan_id,
                    e.role.as_str(),
                    i64::from(e.attempt),
                    e.client_id,
                    e.correlation_id,
                    e.event.as_str(),
                    e.exchange_order_id,
                    e.status,
                    e.price.map(|d| d.to_string()),
                    e.qty.map(|d| d.to_string()),
                    e.detail,
                    e.raw,
                    prev,
                    hash
                ])?;
            Ok(seq)
        })
    }

    /// Appends an audit event to the chain; returns its seq. Also mirrored to the log.
    pub fn append_audit(&mut self, e: &NewAuditEvent) -> StoreResult<i64> {
        match e.severity {
            Severity::Critical => {
                tracing::error!(event = "audit", kind = %e.kind, plan = e.trade_plan_id.as_deref(), "{}", e.message)
            }
            Severity::Warn => {
                tracing::warn!(event = "audit", kind = %e.kind, plan = e.trade_plan_id.as_deref(), "{}", e.message)
            }
            Severity::Info => {
                tracing::info!(event = "audit", kind = %e.kind, plan = e.trade_plan_id.as_deref(), "{}", e.message)
            }
        }
        self.atomically(|tx| {
            let (last, prev) = head(tx)?;
            let seq = last + 1;
            let hash = chain_hash(&prev, &canonical_audit(seq, e));
            tx.prepare_cached(&format!("INSERT INTO audit_event ({AUDIT_COLS}) VALUES (?1,?2,?3,?4,?5,?6,?7,?8,?9)"))?
                .execute(params![
                    seq,
                    e.ts_ms,
                    e.severity.as_str(),
                    e.kind,
                    e.trade_plan_id,
                    e.message,
                    e.data,
                    prev,
                    hash
                ])?;
            crate::store::outbox::raise(tx, seq, &hash, e)?;
            Ok(seq)
        })
    }

    /// True once this journal has written any order (an established journal, issue 10 item 7):
    /// own-prefix orders it never wrote then belong to another instance or a newer state.
    pub fn has_order_events(&self) -> StoreResult<bool> {
        let n: i64 = self.conn.prepare_cached("SELECT count(*) FROM order_event")?.query_row([], |r| r.get(0))?;
        Ok(n > 0)
    }

    /// True when this journal has any row for `client_id`.
    pub fn knows_client_id(&self, client_id: &str) -> StoreResult<bool> {
        let n: i64 = self
            .conn
            .prepare_cached("SELECT count(*) FROM order_event WHERE client_id = ?1")?
            .query_row(params![client_id], |r| r.get(0))?;
        Ok(n > 0)
    }

    /// Order events of one client id, in order.
    pub fn order_events_for_client(&self, client_id: &str) -> StoreResult<Vec<OrderEventRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {ORDER_COLS} FROM order_event WHERE client_id = ?1 ORDER BY seq"))?;
        let rows = stmt.query_map(params![client_id], order_from_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(to_order_record).collect()
    }

    /// Plans with an ENTRY whose last journal row leaves it possibly working on the exchange
    /// (whatever the plan's status): reconcile looks each of them up.
    pub fn plans_with_live_entries(&self) -> StoreResult<Vec<String>> {
        self.plans_with_live_orders("e.role = 'ENTRY'")
    }

    /// Plans with a STOP or TP the journal believes may still be working (for `status`, which
    /// lists every protective order, not only the open position's: issue 10 item 5).
    pub fn plans_with_live_protection(&self) -> StoreResult<Vec<String>> {
        self.plans_with_live_orders("e.role IN ('STOP', 'TP')")
    }

    /// Plans with an order of the roles `role_clause` selects whose latest event is not final.
    fn plans_with_live_orders(&self, role_clause: &str) -> StoreResult<Vec<String>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT DISTINCT e.trade_plan_id FROM order_event e
             WHERE {role_clause} AND e.trade_plan_id IS NOT NULL
               AND e.seq = (SELECT max(x.seq) FROM order_event x WHERE x.client_id = e.client_id AND x.event != 'OBSERVED')
               AND e.event IN ('SUBMITTING', 'UNKNOWN', 'ACKED', 'PARTIALLY_FILLED', 'TRIGGERED', 'CANCEL_FAILED')"
        ))?;
        let rows = stmt.query_map([], |r| r.get::<_, String>(0))?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// Order events of one plan, in order.
    pub fn order_events_for_plan(&self, plan_id: &str) -> StoreResult<Vec<OrderEventRecord>> {
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {ORDER_COLS} FROM order_event WHERE trade_plan_id = ?1 ORDER BY seq"))?;
        let rows = stmt.query_map(params![plan_id], order_from_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(to_order_record).collect()
    }

    /// The journal of one plan (both tables), in chain order.
    pub fn journal_for_plan(&self, plan_id: &str) -> StoreResult<Vec<JournalEntry>> {
        let mut out: Vec<JournalEntry> =
            self.order_events_for_plan(plan_id)?.into_iter().map(JournalEntry::OrderEvent).collect();
        let mut stmt = self
            .conn
            .prepare_cached(&format!("SELECT {AUDIT_COLS} FROM audit_event WHERE trade_plan_id = ?1 ORDER BY seq"))?;
        let rows = stmt.query_map(params![plan_id], audit_from_row)?.collect::<Result<Vec<_>, _>>()?;
        for r in rows {
            out.push(JournalEntry::AuditEvent(to_audit_record(r)?));
        }
        out.sort_by_key(JournalEntry::seq);
        Ok(out)
    }

    /// Audit events, newest last, optionally only from `since_seq` on.
    pub fn audit_events(&self, since_seq: i64) -> StoreResult<Vec<AuditEventRecord>> {
        let mut stmt =
            self.conn.prepare_cached(&format!("SELECT {AUDIT_COLS} FROM audit_event WHERE seq >= ?1 ORDER BY seq"))?;
        let rows = stmt.query_map(params![since_seq], audit_from_row)?.collect::<Result<Vec<_>, _>>()?;
        rows.into_iter().map(to_audit_record).collect()
    }

    /// The whole journal in chain order.
    pub fn full_journal(&self) -> StoreResult<Vec<JournalEntry>> {
        let mut out = Vec::new();
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {ORDER_COLS} FROM order_event ORDER BY seq"))?;
        for r in stmt.query_map([], order_from_row)?.collect::<Result<Vec<_>, _>>()? {
            out.push(JournalEntry::OrderEvent(to_order_record(r)?));
        }
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {AUDIT_COLS} FROM audit_event ORDER BY seq"))?;
        for r in stmt.query_map([], audit_from_row)?.collect::<Result<Vec<_>, _>>()? {
            out.push(JournalEntry::AuditEvent(to_audit_record(r)?));
        }
        out.sort_by_key(JournalEntry::seq);
        Ok(out)
    }

    /// Verifies the whole chain; names the first broken link.
    pub fn verify_chain(&self) -> StoreResult<Result<usize, BrokenLink>> {
        Ok(verify_entries(&self.full_journal()?))
    }
}

/// Verifies a full journal (every row, in seq order): consecutive seqs, linked hashes, row hashes.
pub fn verify_entries(entries: &[JournalEntry]) -> Result<usize, BrokenLink> {
    let mut prev = GENESIS_HASH.to_string();
    for (i, e) in entries.iter().enumerate() {
        let want_seq = i64::try_from(i).unwrap_or(i64::MAX) + 1;
        if e.seq() != want_seq {
            return Err(BrokenLink {
                seq: want_seq,
                problem: format!("row {want_seq} is missing (next row is seq {})", e.seq()),
            });
        }
        let (p, h) = e.hashes();
        if p != prev {
            return Err(BrokenLink {
                seq: e.seq(),
                problem: "prev_hash does not match the previous row's hash".into(),
            });
        }
        if chain_hash(p, &e.canonical()) != h {
            return Err(BrokenLink { seq: e.seq(), problem: "row content does not match its hash (edited?)".into() });
        }
        prev = h.to_string();
    }
    Ok(entries.len())
}

impl From<&OrderEventRecord> for crate::core::ledger::OrderFact {
    fn from(r: &OrderEventRecord) -> Self {
        crate::core::ledger::OrderFact {
            seq: r.seq,
            ts_ms: r.event.ts_ms,
            plan_id: r.event.trade_plan_id.clone(),
            client_id: r.event.client_id.clone(),
            role: r.event.role,
            attempt: r.event.attempt,
            event: r.event.event,
            exchange_order_id: r.event.exchange_order_id.clone(),
            price: r.event.price,
            qty: r.event.qty,
        }
    }
}

/// Journal rows as the plain facts the core judges (replay, trades, the PnL figures).
pub fn journal_facts(entries: &[JournalEntry]) -> Vec<crate::core::replay::JournalFact> {
    use crate::core::replay::{AuditFact, JournalFact};
    entries
        .iter()
        .map(|e| match e {
            JournalEntry::OrderEvent(o) => {
                JournalFact::Order { fact: crate::core::ledger::OrderFact::from(o), detail: o.event.detail.clone() }
            }
            JournalEntry::AuditEvent(a) => JournalFact::Audit(AuditFact {
                seq: a.seq,
                ts_ms: a.event.ts_ms,
                severity: a.event.severity.as_str().to_string(),
                kind: a.event.kind.clone(),
                plan_id: a.event.trade_plan_id.clone(),
                message: a.event.message.clone(),
                data: a.event.data.clone(),
            }),
        })
        .collect()
}

impl Store {
    /// The ledger of one plan's orders, folded from the journal.
    pub fn ledger_for_plan(&self, plan_id: &str) -> StoreResult<crate::core::ledger::Ledger> {
        let facts: Vec<crate::core::ledger::OrderFact> =
            self.order_events_for_plan(plan_id)?.iter().map(Into::into).collect();
        crate::core::ledger::Ledger::fold(&facts)
            .map_err(|e| StoreError::Invalid(format!("journal of plan {plan_id}: {e}")))
    }
}
