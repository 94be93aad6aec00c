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
/// Place, verify and resize STOP and TP; the protection guarantee's failure path.
/// The posture hook: evidence → controller → stored mode; RED halts.
pub mod posture;
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
use crate::cmd::Ctx;
use crate::config::Config;
use crate::error::Result;
use crate::exchange::Exchange;
use crate::outcome::Report;
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

/// `halt --flatten`: close the position after halting.
pub fn flatten_after_halt(ctx: &mut Ctx) -> Result<Report> {
    let ex = ctx.connect()?;
    let mut engine = Engine::new(&ctx.config, &mut ctx.store, ex.as_ref(), ctx.clock.as_ref());
    close::exit_position(&mut engine, &crate::core::position::ExitReason::Manual)
}
