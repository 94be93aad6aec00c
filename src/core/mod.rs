//! The functional core: pure, deterministic domain logic with no I/O, clock, env, DB or HTTP.
//!
//! Everything here takes plain values and returns plain values, so it is tested without mocks
//! and shared by live commands, `replay` and `sim`. `tests/architecture.rs` enforces the rule.

/// Which audit events become operator alerts; outbox retry timing.
pub(crate) mod alert;
/// The audit vocabulary (audit_event.kind names).
pub mod audit;
/// Candles: the closed-candle series the strategy reads.
pub mod candle;
/// `<bot_id>_<plan>_<ROLE>_<attempt>` client ids: build and parse.
pub(crate) mod client_id;
/// `doctor`'s verdicts over the facts it read; round-trip sizing.
pub(crate) mod doctor;
/// Fees by asset, and whether they are known.
pub(crate) mod fees;
/// EMA, Wilder ATR, SMA, prior highs/lows: batch and streaming.
pub mod indicators;
/// The order ledger: journal facts folded through the state machine.
pub(crate) mod ledger;
/// The Prometheus textfile text (pure formatter).
pub(crate) mod metrics;
/// `Millis`: a span of milliseconds validated once, lossless to convert, safe to add to a clock.
pub mod millis;
/// Exchange filters and Decimal quantisation of prices and quantities.
pub mod money;
/// Order roles and the order lifecycle state machine.
pub mod order;
/// Trade plans: deterministic ids and the plan lifecycle.
pub mod plan;
/// Positions: lifecycle state machine and exit reasons.
pub mod position;
/// Belief-debt posture: evidence of doubtful belief → mode and entry knobs (CONTRACT §13).
pub mod posture;
/// Pre-flight checks before an ENTRY.
pub(crate) mod preflight;
/// Which STOP/TP legs a position needs: open, exit side, full size.
pub(crate) mod protection;
/// Reconcile decisions: DB belief vs exchange truth → repairs.
pub(crate) mod reconcile;
/// Run-outcome alerts: still HALTED (rate-limited) and repeated failures.
pub(crate) mod reminders;
/// Replay: a plan's lifecycle rebuilt from the journal and checked against the invariants.
pub(crate) mod replay;
/// Deterministic PRNG for jitter and fault injection.
pub(crate) mod rng;
/// The momentum-continuation rules: entry plans, regime exits, sizing.
pub mod strategy;
/// Trade history from the journal: closed trades, PnL rule, R multiple, totals.
pub(crate) mod trades;
/// Sides and small shared enums.
pub mod types;
