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
}

impl<'a> Engine<'a> {
    pub fn new(cfg: &'a Config, store: &'a mut Store, ex: &'a dyn Exchange, clock: &'a dyn Clock) -> Self {
        Engine { cfg, store, ex, clock }
    }
    pub fn now(&self) -> i64 {
        self.clock.now_ms()
    }
    pub fn symbol(&self) -> &str {
        &self.cfg.symbol
    }
}
