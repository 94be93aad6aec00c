//! Deterministic fault injection for the paper exchange (seed 000 §10 failure modes plus process
//! crashes), driven by seeded [`SplitMix64`] streams so the same seed yields the same faults.
//!
//! Every call belongs to a *lane*: the kind of request, e.g. `position`,
//! `place_market(entry)`, `place_conditional(STOP_MARKET)`. Each lane draws from its own stream
//! (seeded from the seed and the lane's name) and has its own outage window. `exec` issues some
//! calls concurrently on scoped threads (the snapshot reads; STOP and TP together), always on
//! different lanes, so which call meets which fault does not depend on thread scheduling.
//!
//! How a call is judged, in this order (only calls that are not paused and not `server_time`):
//! 0. once the process has "died" ([`SimulatedCrash`]), every call fails with the dead error,
//!    is not executed and is not counted, until the driver [`restart`](FaultInjector::restart)s;
//! 1. the global call counter goes up by one; if it equals `crash_at_call`, the process "dies"
//!    there (with concurrent calls, "the Nth call" is whichever arrives Nth);
//! 2. inside its lane's outage window, the call fails with HTTP 503 and is not executed (a retry
//!    of the same request meets the rest of the window);
//! 3. otherwise, with probability `rate`, one fault is drawn uniformly among the kinds that make
//!    sense for that call (see [`CallKind`]).
//!
//! A crash is a value, not a panic: the injector remembers it, the exchange answers every later
//! call with [`dead`] (so the dead process can change nothing on the exchange), a store whose
//! commits are tied to [`FaultInjector::is_dead`] refuses every later write, and the driver reads
//! the crash back with [`FaultInjector::crash`] once the call stack has returned. The world after
//! the crash is the world at the crash; no panic hook, no unwinding.
//!
//! One injector is meant to outlive the exchange instances it serves: after a crash `sim` calls
//! [`restart`](FaultInjector::restart) and goes on with the same injector, so the random sequence
//! continues instead of replaying the crash forever.
//!
//! The kinds are the random-stream form of the fault vocabulary the test exchanges share
//! (`tests/support/fault.rs`, `Fault`, interpreted by the in-process fake and the HTTP mock); the
//! draws stay as they are (same seed, same faults):
//!
//! | [`FaultKind`] | `Fault` |
//! |---|---|
//! | `StopRejected`, `TpRejected` | `Refuse` with -2021 or -2022 (`api_error(400, …)`) |
//! | `EntryAckLost` | `ExecuteThenDrop` (executed, the answer lost) |
//! | `PartialFill` | `PartialFill { qty, complete_after_ms, rest_price: None }` |
//! | `Outage` | `Refuse` with 503 "Service Unavailable" (`service_unavailable()`), for a window |
//! | `Crash` | no `Fault`: the process dies (the fake's `CrashingExchange`) |

use crate::core::rng::SplitMix64;
use crate::exchange::error::{ErrorClass, ExchangeError, ExchangeErrorKind};
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

/// Counts of injected faults by [`FaultKind::as_str`] name. Every kind is present (0 if none), so
/// reports have a stable shape.
pub type FaultStats = BTreeMap<String, u64>;

/// The injectable failure modes. The strings are stable: `sim` reports them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FaultKind {
    /// A STOP placement is rejected (-2021 or -2022); nothing is placed.
    StopRejected,
    /// A TP placement is rejected (-2021 or -2022); nothing is placed.
    TpRejected,
    /// An ENTRY (non-reduce-only market order) executes, but the answer is lost (Ambiguous).
    EntryAckLost,
    /// An ENTRY fills only part of its quantity; the rest stays open (F-004).
    PartialFill,
    /// A window of 1..=N calls that all fail with a Retryable HTTP 503 and are not executed (F-005).
    Outage,
    /// The process dies at an exchange call ([`SimulatedCrash`]), after or instead of the call.
    Crash,
}

impl FaultKind {
    pub const ALL: [FaultKind; 6] = [
        FaultKind::StopRejected,
        FaultKind::TpRejected,
        FaultKind::EntryAckLost,
        FaultKind::PartialFill,
        FaultKind::Outage,
        FaultKind::Crash,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            FaultKind::StopRejected => "stop_rejected",
            FaultKind::TpRejected => "tp_rejected",
            FaultKind::EntryAckLost => "entry_ack_lost",
            FaultKind::PartialFill => "partial_fill",
            FaultKind::Outage => "outage",
            FaultKind::Crash => "crash",
        }
    }
}

/// A simulated process death, as the injector remembers it until [`FaultInjector::restart`].
/// The paper exchange's state is in the DB, committed before the crash, exactly as a real
/// exchange would keep it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimulatedCrash {
    /// The injector's global call counter (from 1) at the crash: the order in which calls arrived,
    /// so not stable across runs when calls run concurrently.
    pub call: u64,
    /// The call's lane: the exchange method, e.g. `position` or `place_market(entry)`.
    pub method: &'static str,
    /// Whether that call took effect on the exchange before the process died.
    pub executed: bool,
    /// The clock at the crash: the dead process's own waits after it never happened.
    pub at_ms: i64,
}

/// What every call of a dead process gets: not executed, not retryable. Callers never need to
/// tell it apart (the driver asks the injector), so it uses today's local-refusal kind.
pub fn dead(crash: &SimulatedCrash) -> ExchangeError {
    ExchangeError::new(
        ExchangeErrorKind::Local,
        ErrorClass::Fatal,
        format!("simulated crash at call {} ({}): the process is dead", crash.call, crash.method),
    )
}

/// What an exchange call is, for choosing which faults may hit it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CallKind {
    /// `place_market` without reduce-only (an ENTRY).
    Entry,
    /// `place_conditional` STOP_MARKET.
    Stop,
    /// `place_conditional` TAKE_PROFIT_MARKET.
    TakeProfit,
    /// Everything else: reads, cancels, reduce-only market orders, settings.
    Other,
}

impl CallKind {
    fn kinds(self) -> &'static [FaultKind] {
        use FaultKind::*;
        match self {
            CallKind::Entry => &[EntryAckLost, PartialFill, Outage, Crash],
            CallKind::Stop => &[StopRejected, Outage, Crash],
            CallKind::TakeProfit => &[TpRejected, Outage, Crash],
            CallKind::Other => &[Outage, Crash],
        }
    }
}

/// The injector's verdict for one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// Run the call normally.
    Clean,
    /// Fail with HTTP 503; do not execute.
    Outage,
    /// Die: `executed` says whether the call runs first. The exchange reports the death with
    /// [`FaultInjector::die`].
    Crash { call: u64, executed: bool },
    /// The process died earlier: fail with [`dead`], do not execute.
    Dead(SimulatedCrash),
    /// A call-specific fault (rejections, lost ack, partial fill): the exchange applies it and
    /// reports back whether it could (`FaultInjector::record`).
    Inject(FaultKind),
}

/// Settings of a [`FaultInjector`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FaultConfig {
    pub seed: u64,
    /// Probability per exchange call of a random fault, in [0, 1].
    pub rate: f64,
    /// Crash at exactly this call (counting from 1), for crash-safety tests. Independent of `rate`.
    pub crash_at_call: Option<u64>,
    /// Whether the `crash_at_call` call executes before the crash (true: "after call N", false:
    /// "between call N-1 and N").
    pub crash_at_call_executes: bool,
    /// Longest outage window, in calls (each window is 1..=this long).
    pub max_outage_calls: u64,
    /// Restrict random faults to this one kind (calls it cannot hit stay clean): for tests and
    /// targeted runs.
    pub only: Option<FaultKind>,
}

impl FaultConfig {
    /// Random faults at `rate` with `seed`; outages of up to 5 calls; no scripted crash.
    pub fn random(seed: u64, rate: f64) -> Self {
        FaultConfig { seed, rate, crash_at_call: None, crash_at_call_executes: true, max_outage_calls: 5, only: None }
    }
    /// Only `kind`, on every call it can hit.
    pub fn always(kind: FaultKind, seed: u64) -> Self {
        FaultConfig { only: Some(kind), ..FaultConfig::random(seed, 1.0) }
    }
    /// Only a crash at exactly call `n`; no random faults.
    pub fn crash_at(n: u64, executes: bool) -> Self {
        FaultConfig { crash_at_call: Some(n), crash_at_call_executes: executes, ..FaultConfig::random(0, 0.0) }
    }
}

/// One lane's random stream and outage window.
#[derive(Debug)]
struct Lane {
    rng: SplitMix64,
    outage_left: u64,
}

#[derive(Debug)]
struct State {
    cfg: FaultConfig,
    calls: u64,
    paused: u32,
    lanes: HashMap<&'static str, Lane>,
    /// Set by [`FaultInjector::die`], taken by [`FaultInjector::restart`].
    crashed: Option<SimulatedCrash>,
}

/// FNV-1a: a lane's stream seed must never change with a std or dependency upgrade (`sim`
/// promises the same report for the same seed).
fn lane_seed(seed: u64, lane: &str) -> u64 {
    let h = lane.bytes().fold(0xCBF2_9CE4_8422_2325u64, |h, b| (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01B3));
    SplitMix64::new(seed ^ h).next_u64()
}

impl State {
    fn lane(&mut self, name: &'static str) -> &mut Lane {
        let seed = self.cfg.seed;
        self.lanes.entry(name).or_insert_with(|| Lane { rng: SplitMix64::new(lane_seed(seed, name)), outage_left: 0 })
    }
}

/// A shared, cloneable fault injector: clones share the random sequence, the call counter, the
/// pause state and the stats.
#[derive(Debug, Clone)]
pub struct FaultInjector {
    state: Arc<Mutex<State>>,
    stats: Arc<Mutex<FaultStats>>,
}

// A poisoned lock (a real panic elsewhere) must not take the simulation down: the guarded data is
// plain counters, valid at every instant.
fn relock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl FaultInjector {
    pub fn new(cfg: FaultConfig) -> Self {
        let stats = FaultKind::ALL.iter().map(|k| (k.as_str().to_string(), 0)).collect();
        FaultInjector {
            state: Arc::new(Mutex::new(State { cfg, calls: 0, paused: 0, lanes: HashMap::new(), crashed: None })),
            stats: Arc::new(Mutex::new(stats)),
        }
    }

    /// The shared counters, for `sim`'s report.
    pub fn stats(&self) -> Arc<Mutex<FaultStats>> {
        Arc::clone(&self.stats)
    }

    /// A copy of the counters now.
    pub fn snapshot(&self) -> FaultStats {
        relock(&self.stats).clone()
    }

    /// Stops injecting (and counting calls) until the matching [`resume`](Self::resume); nests. For a
    /// clean reconcile in `sim`, or to set up a scenario in a test. An outage window in progress
    /// is frozen, not cancelled.
    pub fn pause(&self) {
        relock(&self.state).paused += 1;
    }

    pub fn resume(&self) {
        let mut s = relock(&self.state);
        s.paused = s.paused.saturating_sub(1);
    }

    /// Runs `f` with injection paused (resumed afterwards, also when `f` unwinds).
    pub fn paused<T>(&self, f: impl FnOnce() -> T) -> T {
        struct Resume<'a>(&'a FaultInjector);
        impl Drop for Resume<'_> {
            fn drop(&mut self) {
                self.0.resume();
            }
        }
        self.pause();
        let _resume = Resume(self);
        f()
    }

    pub fn is_paused(&self) -> bool {
        relock(&self.state).paused > 0
    }

    /// Calls judged so far (paused calls and `server_time` are not counted).
    pub fn calls(&self) -> u64 {
        relock(&self.state).calls
    }

    /// Judges one call on `lane`. Outages and crashes are counted here; call-specific faults are
    /// counted by [`record`](Self::record) once the exchange has applied them.
    pub fn decide(&self, lane: &'static str, call: CallKind) -> Decision {
        let decision = {
            let mut s = relock(&self.state);
            if let Some(c) = &s.crashed {
                return Decision::Dead(*c);
            }
            if s.paused > 0 {
                return Decision::Clean;
            }
            s.calls += 1;
            let n = s.calls;
            let cfg = s.cfg;
            let l = s.lane(lane);
            if cfg.crash_at_call == Some(n) {
                Decision::Crash { call: n, executed: cfg.crash_at_call_executes }
            } else if l.outage_left > 0 {
                l.outage_left -= 1;
                // Part of a window already counted at its start.
                return Decision::Outage;
            } else if cfg.rate > 0.0 && cfg.only.is_none_or(|k| call.kinds().contains(&k)) && l.rng.chance(cfg.rate) {
                let kinds = call.kinds();
                let pick = match cfg.only {
                    Some(k) => k,
                    None => kinds[usize::try_from(l.rng.below(kinds.len() as u64)).unwrap_or(0) % kinds.len()],
                };
                match pick {
                    FaultKind::Outage => {
                        l.outage_left = l.rng.below(cfg.max_outage_calls.max(1)); // this call plus 0..max-1 more
                        Decision::Outage
                    }
                    FaultKind::Crash => Decision::Crash { call: n, executed: l.rng.chance(0.5) },
                    other => return Decision::Inject(other),
                }
            } else {
                return Decision::Clean;
            }
        };
        match decision {
            Decision::Outage => self.record(FaultKind::Outage),
            Decision::Crash { .. } => self.record(FaultKind::Crash),
            _ => {}
        }
        decision
    }

    /// The process dies: every later call is [`Decision::Dead`] until [`restart`](Self::restart).
    /// The first death wins (a sibling call cannot die twice).
    pub fn die(&self, crash: SimulatedCrash) {
        relock(&self.state).crashed.get_or_insert(crash);
    }

    /// The crash the process died of, if it is dead.
    pub fn crash(&self) -> Option<SimulatedCrash> {
        relock(&self.state).crashed
    }

    /// Whether the process is dead: what a store's commit guard asks.
    pub fn is_dead(&self) -> bool {
        relock(&self.state).crashed.is_some()
    }

    /// A new process: calls are judged again. Returns the crash it recovers from.
    pub fn restart(&self) -> Option<SimulatedCrash> {
        relock(&self.state).crashed.take()
    }

    /// Counts one applied fault.
    pub fn record(&self, kind: FaultKind) {
        *relock(&self.stats).entry(kind.as_str().to_string()).or_insert(0) += 1;
    }

    /// A draw from `lane`'s stream, for fault parameters (e.g. the partial-fill fraction).
    pub(crate) fn draw_below(&self, lane: &'static str, n: u64) -> u64 {
        relock(&self.state).lane(lane).rng.below(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LANES: [(&str, CallKind); 4] = [
        ("place_market(entry)", CallKind::Entry),
        ("place_conditional(STOP_MARKET)", CallKind::Stop),
        ("place_conditional(TAKE_PROFIT_MARKET)", CallKind::TakeProfit),
        ("position", CallKind::Other),
    ];

    fn run(seed: u64, rate: f64, calls: usize) -> Vec<Decision> {
        let f = FaultInjector::new(FaultConfig::random(seed, rate));
        (0..calls).map(|i| f.decide(LANES[i % 4].0, LANES[i % 4].1)).collect()
    }

    #[test]
    fn same_seed_same_faults_other_seed_differs() {
        assert_eq!(run(7, 0.3, 500), run(7, 0.3, 500));
        assert_ne!(run(7, 0.3, 500), run(8, 0.3, 500));
        assert!(run(7, 0.0, 500).iter().all(|d| *d == Decision::Clean));
    }

    #[test]
    fn lanes_do_not_depend_on_interleaving() {
        // Two lanes called in different orders (as scoped threads might): each lane sees the same.
        let per_lane = |order: &[usize]| {
            let f = FaultInjector::new(FaultConfig::random(5, 0.4));
            let mut out: [Vec<Decision>; 2] = Default::default();
            for &l in order {
                // The crash's global call number is arrival order by definition; the verdict is not.
                let d = match f.decide(LANES[l].0, LANES[l].1) {
                    Decision::Crash { executed, .. } => Decision::Crash { call: 0, executed },
                    d => d,
                };
                out[l].push(d);
            }
            out
        };
        let a: Vec<usize> = (0..200).map(|i| i % 2).collect();
        let b: Vec<usize> = (0..200).map(|i| usize::from(i >= 100)).collect();
        assert_eq!(per_lane(&a), per_lane(&b));
    }

    #[test]
    fn every_kind_drawn_and_counted() {
        let f = FaultInjector::new(FaultConfig::random(3, 0.5));
        for i in 0..4000 {
            if let Decision::Inject(k) = f.decide(LANES[i % 4].0, LANES[i % 4].1) {
                f.record(k);
            }
        }
        let s = f.snapshot();
        assert_eq!(s.len(), FaultKind::ALL.len());
        assert!(s.values().all(|n| *n > 0), "{s:?}");
    }

    #[test]
    fn outage_window_spans_calls_and_is_counted_once() {
        let f = FaultInjector::new(FaultConfig { max_outage_calls: 3, ..FaultConfig::random(11, 0.2) });
        let d: Vec<Decision> = (0..2000).map(|_| f.decide("position", CallKind::Other)).collect();
        let outage_calls = d.iter().filter(|x| **x == Decision::Outage).count() as u64;
        let windows = f.snapshot()["outage"];
        assert!(windows > 0);
        assert!(outage_calls > windows, "some window lasted more than one call");
        assert!(outage_calls <= 3 * windows);
    }

    #[test]
    fn crash_at_call_and_pause() {
        let f = FaultInjector::new(FaultConfig::crash_at(3, false));
        assert_eq!(f.decide("position", CallKind::Other), Decision::Clean);
        f.paused(|| assert_eq!(f.decide("position", CallKind::Other), Decision::Clean));
        assert_eq!(f.calls(), 1, "paused calls are not counted");
        assert_eq!(f.decide("open_orders", CallKind::Other), Decision::Clean);
        assert_eq!(f.decide("place_market(entry)", CallKind::Entry), Decision::Crash { call: 3, executed: false });
        assert_eq!(f.decide("place_market(entry)", CallKind::Entry), Decision::Clean);
        assert_eq!(f.snapshot()["crash"], 1);
        assert!(!f.is_paused());
    }

    #[test]
    fn a_dead_process_makes_no_counted_call_until_it_restarts() {
        let f = FaultInjector::new(FaultConfig::random(4, 0.5));
        let crash = SimulatedCrash { call: 1, method: "position", executed: true, at_ms: 77 };
        f.die(crash);
        f.die(SimulatedCrash { call: 2, ..crash });
        assert!(f.is_dead());
        for lane in LANES {
            assert_eq!(f.decide(lane.0, lane.1), Decision::Dead(crash), "the first death wins");
        }
        f.paused(|| assert_eq!(f.decide("position", CallKind::Other), Decision::Dead(crash)));
        assert_eq!(f.calls(), 0, "calls of a dead process are not counted");
        assert_eq!(f.snapshot().values().sum::<u64>(), 0, "nor counted as faults");
        assert_eq!(f.restart(), Some(crash));
        assert!(!f.is_dead() && f.crash().is_none());
        // The streams were not drawn from while dead: the restarted process meets what a process
        // that never died would have met.
        let fresh = FaultInjector::new(FaultConfig::random(4, 0.5));
        for i in 0..200 {
            let (a, b) = (f.decide(LANES[i % 4].0, LANES[i % 4].1), fresh.decide(LANES[i % 4].0, LANES[i % 4].1));
            assert_eq!(a, b, "call {i}");
            if matches!(a, Decision::Crash { .. }) {
                break; // the two would now differ only in whether the caller reports the death
            }
        }
        let e = dead(&crash);
        assert!(e.class == ErrorClass::Fatal && e.message.contains("simulated crash at call 1"), "{e}");
    }

    #[test]
    fn lane_seeds_are_stable() {
        // Pinned: changing how lanes are seeded changes every sim report for a given seed.
        assert_eq!(lane_seed(0, "position"), lane_seed(0, "position"));
        assert_ne!(lane_seed(0, "position"), lane_seed(0, "open_orders"));
        assert_eq!(lane_seed(42, "place_market(entry)"), PINNED);
    }
    const PINNED: u64 = 3_058_995_563_327_299_817;
}
