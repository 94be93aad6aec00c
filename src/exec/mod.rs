//! Use cases over the ports: the sequences of exchange calls and journal writes that enter,
//! protect, exit and reconcile. Decisions come from `core`; this layer carries them out and
//! writes every exchange interaction to the journal before and after it happens.

/// The one rule for an order write's unknown outcome: look it up by client id.
pub(crate) mod ambiguity;
/// Idempotent cancels of protective orders and ENTRY remainders.
pub(crate) mod cancel;
/// CLOSE at market until the exchange shows the position flat.
pub(crate) mod close;
/// The ENTRY sequence: pre-flight, two-phase submit, fill window, protection.
pub mod entry;
/// `evaluate`: fetch closed candles and market inputs, decide, record plan or regime exit.
pub mod evaluate;
/// `exit`: cancel the TP, CLOSE, then cancel the STOP; finalise (or HALT and re-protect).
pub mod exit;
/// The protection guarantee's failure path: CLOSE, cancel protection, HALT, CRITICAL.
pub(crate) mod failsafe;
/// Typed results of the use cases; only `cmd/` turns them into a report.
pub(crate) mod outcome;
/// A position's record from the exchange's evidence: adoption, finalisation, fees, funding.
pub(crate) mod position;
/// The posture hook: evidence → controller → stored mode; RED halts.
pub(crate) mod posture;
/// Place, verify and resize STOP and TP; the protection guarantee's failure path.
pub mod protect;
/// Restart recovery: exchange truth → repairs → re-protection.
pub mod reconcile;
/// Journal and audit helpers shared by every use case.
pub mod record;
/// One concurrent read of what the exchange holds for the symbol.
pub(crate) mod snapshot;
/// The cron cycle: reconcile, evaluate, exit or enter, protect.
pub mod tick;
/// Protection from the journal when a read keeps failing.
pub(crate) mod unreadable;
/// Protect or close from exchange truth when the state DB cannot be written.
pub(crate) mod unwritable;

use crate::clock::Clock;
use crate::config::Config;
use crate::core::ledger::Ledger;
use crate::error::Result;
use crate::exchange::retry::{Retrier, RetryPolicy};
use crate::exchange::Exchange;
use crate::exchange::{ExPosition, ExResult};
use crate::store::Store;

/// The ports a use case works over.
pub struct Engine<'a> {
    pub cfg: &'a Config,
    pub store: &'a mut Store,
    pub ex: &'a dyn Exchange,
    pub clock: &'a dyn Clock,
    /// What a reconcile that repaired nothing read for the ENTRY that follows it, in its own read
    /// round (issue 16 item 6); taken, at most once, by `entry::enter`.
    pub(crate) prefetched: Option<entry::Prefetched>,
    /// The symbol's filters as this command last read them (pre-flight): the STOP of a fresh fill
    /// is placed with them when a read right after the fill fails, never left unplaced.
    pub(crate) filters_seen: Option<crate::core::money::SymbolFilters>,
}

impl<'a> Engine<'a> {
    pub fn new(cfg: &'a Config, store: &'a mut Store, ex: &'a dyn Exchange, clock: &'a dyn Clock) -> Self {
        Engine { cfg, store, ex, clock, prefetched: None, filters_seen: None }
    }

    /// Keeps the adapter's clock offset for the next process when this one measured a newer one
    /// than the state DB holds (issue 16 item 6): after reconcile's reads, and once more when the
    /// command ends, so a resync after a -1021 later in the command starts the next process too.
    /// Only a measurement writes: a process that started from the stored offset adds no DB
    /// write. A failure to keep it is logged, never the command's failure: the next process then
    /// measures again.
    pub fn keep_clock_sync(&mut self) {
        let Some(now) = self.ex.clock_sync() else { return };
        let kept = self.store.clock_sync().and_then(|kept| match kept {
            Some(k) if k.measured_ms >= now.measured_ms => Ok(()),
            _ => self.store.set_clock_sync(now),
        });
        if let Err(err) = kept {
            tracing::warn!(event = "clock_sync.unsaved", error = %err, "clock offset not kept for the next run");
        }
    }
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
    pub fn symbol(&self) -> &str {
        &self.cfg.symbol
    }
}

/// Reads, with the retry rule of the command; and the journal's ledger of a plan.
impl Engine<'_> {
    /// Reads with the bounded READ retry policy — unless the exchange retries its reads itself
    /// under the command's budget (Binance): then once, so retries never nest (issue 12 §4).
    pub fn read<T>(&self, what: &str, mut op: impl FnMut(u32) -> ExResult<T>) -> ExResult<T> {
        if self.ex.retries_reads() {
            return op(1);
        }
        let seed = u64::try_from(self.now()).unwrap_or(0);
        Retrier::new(self.clock, RetryPolicy::READ, seed).run(what, what, op)
    }

    /// Reads that guard a position's protection: retried (bounded by
    /// `close_retry_max_elapsed_ms`, like CLOSE) rather than given up after a short outage — by
    /// the exchange itself when it retries its reads (Binance: the command's one budget).
    pub fn read_persistent<T>(&self, what: &str, mut op: impl FnMut(u32) -> ExResult<T>) -> ExResult<T> {
        if self.ex.retries_reads() {
            return op(1);
        }
        let policy = RetryPolicy {
            max_attempts: 30,
            max_elapsed_ms: self.cfg.execution.close_retry_max_elapsed_ms.as_u64(),
            base_delay_ms: 250,
            max_delay_ms: 5_000,
        };
        let seed = u64::try_from(self.now()).unwrap_or(0);
        Retrier::new(self.clock, policy, seed).run(what, what, op)
    }

    /// The exchange position, read with retries.
    pub fn read_position(&self) -> ExResult<ExPosition> {
        let symbol = self.symbol().to_string();
        self.read("position", |_| self.ex.position(&symbol))
    }

    /// The journal ledger of one plan id.
    pub fn ledger(&self, plan_id: &str) -> Result<Ledger> {
        Ok(self.store.ledger_for_plan(plan_id)?)
    }
}
