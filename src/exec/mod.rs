//! Use cases over the ports: the sequences of exchange calls and journal writes that enter,
//! protect, exit and reconcile. Decisions come from `core`; this layer carries them out and
//! writes every exchange interaction to the journal before and after it happens.

/// The one rule for an order write's unknown outcome: look it up by client id.
pub mod ambiguity;
/// Cancel STOP/TP, CLOSE at market until flat, finalise the position.
pub mod close;
/// The ENTRY sequence: pre-flight, two-phase submit, fill window, protection.
pub mod entry;
/// `evaluate`: fetch closed candles and market inputs, decide, record plan or regime exit.
pub mod evaluate;
/// Protect or close from exchange truth when the state DB cannot be written.
pub mod failsafe;
/// The posture hook: evidence → controller → stored mode; RED halts.
pub mod posture;
/// Place, verify and resize STOP and TP; the protection guarantee's failure path.
pub mod protect;
/// Restart recovery: exchange truth → repairs → re-protection.
pub mod reconcile;
/// Journal and audit helpers shared by every use case.
pub mod record;
/// One concurrent read of what the exchange holds for the symbol.
pub mod snapshot;
/// The cron cycle: reconcile, evaluate, exit or enter, protect.
pub mod tick;
/// Protection from the journal when a read keeps failing.
pub mod unreadable;

use crate::clock::Clock;
use crate::config::Config;
use crate::exchange::Exchange;
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
}

impl<'a> Engine<'a> {
    pub fn new(cfg: &'a Config, store: &'a mut Store, ex: &'a dyn Exchange, clock: &'a dyn Clock) -> Self {
        Engine { cfg, store, ex, clock, prefetched: None }
    }

    /// Keeps the adapter's clock offset for the next process when this one measured a newer one
    /// than the state DB holds (issue 16 item 6). Only a measurement writes: a process that
    /// started from the stored offset adds no DB write.
    ///
    /// # Errors
    /// State DB failures.
    pub fn keep_clock_sync(&mut self) -> crate::error::Result<()> {
        let Some(now) = self.ex.clock_sync() else { return Ok(()) };
        if self.store.clock_sync()?.is_none_or(|kept| kept.measured_ms < now.measured_ms) {
            self.store.set_clock_sync(now)?;
        }
        Ok(())
    }
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
    pub fn symbol(&self) -> &str {
        &self.cfg.symbol
    }
}
