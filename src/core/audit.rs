//! The audit vocabulary: stable `audit_event.kind` names and the JSON `data` each one carries.
//!
//! Execution, reconcile, `replay` and `sim` all speak these names, so they live in one place.
//! `data` is a JSON object; the keys listed with each kind are always present.

/// ENTRY about to be sent. data: {client_id, side, qty, entry_ref, stop}
pub const ENTRY_SUBMITTED: &str = "entry_submitted";
/// ENTRY (partly) filled; a position exists. data: {client_id, filled_qty, avg_price, complete}
pub const ENTRY_FILLED: &str = "entry_filled";
/// An ENTRY filled but no read gave its price; the plan's reference stands in (WARN).
/// data: {client_id, entry_ref}
pub const FILL_PRICE_UNKNOWN: &str = "fill_price_unknown";
/// ENTRY ended with nothing filled (rejected, proven absent). data: {client_id, why}
pub const ENTRY_NOT_FILLED: &str = "entry_not_filled";
/// A halt landed while the ENTRY rested in its fill window; the remainder is cancelled. data: {client_id}
pub const ENTRY_HALTED_IN_WINDOW: &str = "entry_halted_in_window";
/// Pre-flight refused the plan; no order was sent. data: {check, message}
pub const PREFLIGHT_FAILED: &str = "preflight_failed";
/// A plan was not entered before its candle window closed. data: {valid_until}
pub const PLAN_EXPIRED: &str = "plan_expired";
/// STOP or TP acknowledged by the exchange. data: {role, client_id, trigger_price, qty}
pub const PROTECTION_PLACED: &str = "protection_placed";
/// STOP or TP could not be placed (CRITICAL). data: {role, client_id, why}
pub const PROTECTION_FAILED: &str = "protection_failed";
/// The protection guarantee or a fill window forced a CLOSE (CRITICAL). data: {why}
pub const FORCED_CLOSE: &str = "forced_close";
/// A CLOSE could not be confirmed within close_retry_max_elapsed_ms (CRITICAL). data: {why}
pub const CLOSE_FAILED: &str = "close_failed";
/// A position was finalised. data: {exit_reason, exit_price, realized_pnl, fees, qty, side,
/// entry_price, fees_by_asset, fees_complete, fees_unknown_orders}: `realized_pnl` is
/// `core::trades::price_pnl`, before fees; `fees` is the USDT total only when it is the whole of
/// the fees (else null); the `fees_*` fields are null where fees were not read.
pub const POSITION_CLOSED: &str = "position_closed";
/// An exit was decided (regime) and recorded for `exit`/`tick` to carry out. data: {exit_reason}
pub const EXIT_DECIDED: &str = "exit_decided";
/// The system was halted. data: {reason} (may be absent for manual halts)
pub const HALT: &str = "halt";
/// The halt was lifted after a clean reconcile.
pub const RESUME: &str = "resume";
/// Reconcile found and repaired a mismatch. data: {mismatch, repair}
pub const RECONCILE_REPAIR: &str = "reconcile_repair";
/// Reconcile adopted an exchange position the DB did not know (F-003). data: {qty, entry_price, plan_id}
pub const POSITION_ADOPTED: &str = "position_adopted";
/// Something outside mcbot holds the symbol; entries refused. data: {what}
pub const FOREIGN_EXPOSURE: &str = "foreign_exposure";
/// A reconcile finished. data: {clean, mismatches, streak}
pub const RECONCILE_DONE: &str = "reconcile_done";
/// Own-prefix orders an established journal never wrote: another instance or an older state DB.
pub const ANOTHER_INSTANCE: &str = "another_instance";
/// The exchange holds the opposite side of the bot's position (a hand trade). data: {side, qty}
pub const SIDE_FLIPPED: &str = "side_flipped";
/// The posture changed mode (its row in posture_transition has the evidence).
/// data: {from, to, score, growth, reason}
pub const POSTURE_CHANGED: &str = "posture_changed";
/// `evaluate` had an entry signal and the posture refused to plan it, or `enter`'s re-check
/// refused a plan because the posture tightened since. data: {mode, debt_score[, action, reason,
/// planned_qty]}
pub const POSTURE_REFUSED: &str = "posture_refused";
/// The state DB could not be written while exposure existed: the position was protected or
/// closed from what the exchange and the plan say, then HALT was attempted (CRITICAL).
/// data: {cause, done, halted}
pub const STATE_UNWRITABLE: &str = "state_unwritable";
/// `doctor --round-trip` planned its smallest protected position. data: {qty, stop, mark, exit_reason}
pub const DOCTOR_ROUND_TRIP: &str = "doctor_round_trip";
/// `enter`'s re-check sent a smaller ENTRY than planned: the posture's notional cap tightened
/// since the plan was sized. data: {mode, debt_score, action, reason, planned_qty, qty}
pub const POSTURE_SIZED_DOWN: &str = "posture_sized_down";
