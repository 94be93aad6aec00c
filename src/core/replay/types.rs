//! The data of a replay: rule names, the journal rows it reads (as plain core values) and what it
//! produces (timeline, violations, summary). Serialisable so `--json` and `sim` reuse them as is.

use crate::core::audit;
use crate::core::ledger::OrderFact;
use crate::core::order::{OrderEvent, OrderRole, OrderState};
use rust_decimal::Decimal;
use serde::Serialize;

/// The rule names a [`Violation`] carries.
pub(crate) mod rule {
    pub(crate) const INVALID_TRANSITION: &str = "invalid_transition";
    pub(crate) const DUPLICATE_ENTRY: &str = "duplicate_entry";
    pub(crate) const UNPROTECTED_FILL: &str = "unprotected_fill";
    pub(crate) const EXIT_WITHOUT_REASON: &str = "exit_without_reason";
    pub(crate) const ENTRY_WHILE_HALTED: &str = "entry_while_halted";
    pub(crate) const ATTEMPT_SEQUENCE: &str = "attempt_sequence";
    pub(crate) const CLIENT_ID_MISMATCH: &str = "client_id_mismatch";
    /// Checked by the shell over the whole journal (the hash chain is not per plan).
    pub(crate) const JOURNAL_CHAIN: &str = "journal_chain";
    #[cfg(test)]
    pub(crate) const ALL: [&str; 8] = [
        INVALID_TRANSITION,
        DUPLICATE_ENTRY,
        UNPROTECTED_FILL,
        EXIT_WITHOUT_REASON,
        ENTRY_WHILE_HALTED,
        ATTEMPT_SEQUENCE,
        CLIENT_ID_MISMATCH,
        JOURNAL_CHAIN,
    ];
}

/// One audit_event row, as the core sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditFact {
    pub seq: i64,
    pub ts_ms: i64,
    /// INFO, WARN or CRITICAL.
    pub severity: String,
    pub kind: String,
    pub plan_id: Option<String>,
    pub message: String,
    /// The JSON `data` text.
    pub data: Option<String>,
}

/// One journal row of either table.
#[derive(Debug, Clone, PartialEq)]
pub enum JournalFact {
    Order { fact: OrderFact, detail: Option<String> },
    Audit(AuditFact),
}

impl JournalFact {
    pub fn seq(&self) -> i64 {
        match self {
            JournalFact::Order { fact, .. } => fact.seq,
            JournalFact::Audit(a) => a.seq,
        }
    }
    pub fn plan_id(&self) -> Option<&str> {
        match self {
            JournalFact::Order { fact, .. } => fact.plan_id.as_deref(),
            JournalFact::Audit(a) => a.plan_id.as_deref(),
        }
    }
    /// A `halt` or `resume` audit: it matters to every plan.
    pub fn is_mode_change(&self) -> bool {
        matches!(self, JournalFact::Audit(a) if a.kind == audit::HALT || a.kind == audit::RESUME)
    }
}

/// Which table a timeline row came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    Order,
    Audit,
}

/// One line of the rebuilt lifecycle.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TimelineRow {
    pub seq: i64,
    pub ts_ms: i64,
    pub source: Source,
    pub role: Option<OrderRole>,
    pub attempt: Option<u32>,
    pub client_id: Option<String>,
    pub event: Option<OrderEvent>,
    /// The order's state after this row; `None` when the state machine refused the row.
    pub state: Option<OrderState>,
    pub price: Option<Decimal>,
    pub qty: Option<Decimal>,
    pub severity: Option<String>,
    pub kind: Option<String>,
    pub message: Option<String>,
    /// Order row detail text (error, what a look-up found).
    pub detail: Option<String>,
}

/// A broken rule, named, at the row that shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Violation {
    pub rule: &'static str,
    pub seq: i64,
    pub detail: String,
}

/// What became of the plan, derived from the rows.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    /// `closed:<exit_reason>`, `open`, `entering`, `not_filled`, `refused`, `expired`, `planned`.
    pub outcome: String,
    pub entry_client_id: Option<String>,
    pub entry_fill_price: Option<Decimal>,
    pub entry_fill_qty: Option<Decimal>,
    /// From the first ENTRY fill row to the first row proving a STOP was live; `None` without one.
    pub unprotected_window_ms: Option<i64>,
    pub exit_reason: Option<String>,
    pub forced_close: bool,
    pub adopted: bool,
    pub rows: usize,
    pub first_ts_ms: Option<i64>,
    pub last_ts_ms: Option<i64>,
}

/// The replay of one plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PlanReplay {
    pub plan_id: String,
    pub timeline: Vec<TimelineRow>,
    pub violations: Vec<Violation>,
    pub summary: Summary,
}

impl PlanReplay {
    pub fn is_clean(&self) -> bool {
        self.violations.is_empty()
    }
}
