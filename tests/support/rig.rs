//! The engine in-process over the scripted fake (`Bot::new().fake()`): the config, the open state
//! DB, the fake and its `ManualClock`, the use cases as methods (through `steps`), and the DB and
//! the fake's call log read back.

use super::fake_exchange::FakeExchange;
use super::{audit_of, events_of, steps, TestEnv};
use mcbot::clock::ManualClock;
use mcbot::config::Config;
use mcbot::core::position::ExitReason;
use mcbot::error::Error;
use mcbot::exec::Engine;
use mcbot::outcome::Report;
use mcbot::store::Store;
use rust_decimal_macros::dec;

/// The fake's clock at the start of every test.
pub const T0: i64 = 1_700_000_000_000;

pub struct Rig {
    /// The temp dir; `mcbot.toml` in it is the config `cfg` was parsed from.
    pub env: TestEnv,
    pub cfg: Config,
    pub store: Store,
    pub ex: FakeExchange,
    pub clock: ManualClock,
}

impl Rig {
    /// The fake at mark 40000 on a fresh clock at `T0`; `Bot::fake` has opened `store`.
    pub(super) fn new(env: TestEnv, cfg: Config, store: Store) -> Rig {
        let clock = ManualClock::new(T0);
        let ex = FakeExchange::new(clock.clone(), dec!(40000));
        Rig { env, cfg, store, ex, clock }
    }
    pub fn engine(&mut self) -> Engine<'_> {
        Engine::new(&self.cfg, &mut self.store, &self.ex, &self.clock)
    }
    pub fn reconcile(&mut self) -> Result<Report, Error> {
        steps::reconcile(&mut self.engine())
    }
    pub fn enter(&mut self) -> Result<Report, Error> {
        steps::enter(&mut self.engine())
    }
    pub fn exit(&mut self, reason: &ExitReason) -> Result<Report, Error> {
        steps::exit(&mut self.engine(), reason)
    }
    pub fn protect(&mut self) -> Result<Report, Error> {
        steps::protect(&mut self.engine())
    }
    pub fn tick(&mut self) -> Result<Report, Error> {
        steps::tick(&mut self.engine())
    }
    pub fn count(&self, sql: &str) -> i64 {
        self.store.conn().query_row(sql, [], |r| r.get(0)).unwrap()
    }
    /// The order_event rows of one client id, as event names.
    pub fn events(&self, client_id: &str) -> Vec<String> {
        events_of(self.store.conn(), client_id)
    }
    /// How many calls the fake received whose label starts with `prefix` (`place_market:ENTRY`).
    pub fn sent_count(&self, prefix: &str) -> usize {
        self.ex.sent().iter().filter(|c| c.starts_with(prefix)).count()
    }
    /// The journal the scenario left behind passes `replay` (CONTRACT §7.9).
    #[track_caller]
    pub fn assert_replay_clean(&self) {
        let rep = mcbot::store::replay::replay_store(&self.store).unwrap();
        assert!(rep.is_clean(), "replay violations: {:?}", rep.violations());
    }
    pub fn halted(&self) -> bool {
        self.store.system().unwrap().is_halted()
    }
    /// `SEVERITY:kind` of every audit_event row, in order.
    pub fn audit_kinds(&self) -> Vec<String> {
        audit_of(self.store.conn())
    }
}
