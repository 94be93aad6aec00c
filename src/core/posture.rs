//! Belief-debt posture: evidence that mcbot's picture of the exchange is doubtful → a risk mode and
//! the knobs that limit new entries (CONTRACT §13, seeds 001 and 004).
//!
//! One pure function, [`step`]: `(previous state, evidence, now) → (state, knobs, transition)`.
//! It tightens at once (a higher mode is taken the run its score is reached; a burst of new debt
//! trips RED before the absolute score is high) and relaxes one mode at a time, only after the
//! score has stayed under a lower exit threshold for a whole recovery window (hysteresis).
//! The knobs limit entries only: nothing here is ever consulted for exits, protection, reconcile
//! repairs or CLOSE. Thresholds and why: docs/posture.md.

use crate::core::money::SymbolFilters;
use crate::core::reconcile::Repair;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde::Serialize;

/// The four modes, ordered from loosest to tightest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PostureMode {
    Green,
    Yellow,
    Orange,
    Red,
}

impl PostureMode {
    pub const ALL: [PostureMode; 4] = [PostureMode::Green, PostureMode::Yellow, PostureMode::Orange, PostureMode::Red];

    pub fn as_str(self) -> &'static str {
        match self {
            PostureMode::Green => "GREEN",
            PostureMode::Yellow => "YELLOW",
            PostureMode::Orange => "ORANGE",
            PostureMode::Red => "RED",
        }
    }

    pub fn parse(s: &str) -> Option<PostureMode> {
        PostureMode::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// One mode looser; GREEN stays GREEN.
    fn looser(self) -> PostureMode {
        match self {
            PostureMode::Green | PostureMode::Yellow => PostureMode::Green,
            PostureMode::Orange => PostureMode::Yellow,
            PostureMode::Red => PostureMode::Orange,
        }
    }
}

/// Everything mcbot records that says its belief may be wrong. Gathered by the shell (store,
/// last reconcile, adapter counters); all zero/false/None means "all is well".
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Evidence {
    /// Age in ms of an unresolved position-size mismatch (DB vs exchange), if one is open.
    pub position_mismatch_age_ms: Option<i64>,
    /// Age in ms of an open position found without (or with an undersized) protective STOP.
    pub protection_missing_age_ms: Option<i64>,
    /// Orphan or untracked own orders found on the exchange and not yet resolved.
    pub orphan_orders: u32,
    /// Age in ms of the orphan/untracked-order mismatch, if one is open.
    pub orphan_orders_age_ms: Option<i64>,
    /// Something outside mcbot holds exposure on the symbol (foreign position or orders).
    pub foreign_exposure: bool,
    /// Age in ms of the foreign exposure, if it is open.
    pub foreign_exposure_age_ms: Option<i64>,
    /// Consecutive reconciles that had to repair a mismatch.
    pub mismatch_streak: u32,
    /// Orders whose acceptance is still unknown (ambiguous send not yet resolved).
    pub ambiguous_orders: u32,
    /// Consecutive runs that ended in a failure exit.
    pub failed_runs: u32,
    /// Evidence reads (account, orders, position) that failed this run: a failed read raises the
    /// debt, it is never read as "nothing there".
    pub failed_reads: u32,
    /// |local clock − exchange clock| in ms at the last check.
    pub clock_offset_ms: i64,
    /// The signed-request `recvWindow` in ms the offset is compared with.
    pub recv_window_ms: i64,
    /// Highest used share of a rate limit seen this run, in percent (0–100+).
    pub rate_limit_used_pct: u32,
}

/// Where the debt thresholds sit. `Default` is the shipped policy (docs/posture.md).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Thresholds {
    /// Score at or above which a mode is entered: YELLOW, ORANGE, RED.
    pub enter: [u32; 3],
    /// Score below which a mode may be left (each below its enter threshold: hysteresis).
    pub exit: [u32; 3],
    /// How long the score must stay under the exit threshold before relaxing one mode.
    pub recovery_ms: i64,
    /// Score growth in one run that trips RED at once (seed 004 §3: a burst).
    pub burst: u32,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds { enter: [20, 50, 100], exit: [10, 30, 60], recovery_ms: 8 * HOUR_MS, burst: 60 }
    }
}

const HOUR_MS: i64 = 3_600_000;

/// The `[posture]` keys of each threshold, in `Thresholds` order (errors name them).
pub const ENTER_KEYS: [&str; 3] = ["yellow_enter", "orange_enter", "red_enter"];
pub const EXIT_KEYS: [&str; 3] = ["yellow_exit", "orange_exit", "red_exit"];
/// Bounds of a valid policy (`[posture]` in the config; the property tests draw from them).
pub const MAX_SCORE: u32 = 10_000;
pub const MIN_RECOVERY_MS: i64 = 60_000;
pub const MAX_RECOVERY_MS: i64 = 30 * 24 * HOUR_MS;

impl Thresholds {
    /// The rules every policy keeps, so the controller's properties hold for any valid config:
    /// enter thresholds strictly rising (each mode reachable on its own), every exit threshold at
    /// least 1 (each mode can be left) and under its enter threshold (a hysteresis band), a burst
    /// of at least 1 point, and a recovery window between a minute and 30 days.
    ///
    /// # Errors
    /// The `[posture]` key at fault and why.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        for i in 0..3 {
            let e = self.enter[i];
            if !(1..=MAX_SCORE).contains(&e) {
                return Err((ENTER_KEYS[i], format!("{e} is out of range 1..={MAX_SCORE}")));
            }
            if i > 0 && e <= self.enter[i - 1] {
                return Err((
                    ENTER_KEYS[i],
                    format!("{e} must be above {} ({})", ENTER_KEYS[i - 1], self.enter[i - 1]),
                ));
            }
            let x = self.exit[i];
            if x < 1 || x >= e {
                return Err((EXIT_KEYS[i], format!("{x} must be at least 1 and below {} ({e})", ENTER_KEYS[i])));
            }
        }
        if !(1..=MAX_SCORE).contains(&self.burst) {
            return Err(("burst", format!("{} is out of range 1..={MAX_SCORE}", self.burst)));
        }
        if !(MIN_RECOVERY_MS..=MAX_RECOVERY_MS).contains(&self.recovery_ms) {
            return Err((
                "recovery_ms",
                format!("{} is out of range {MIN_RECOVERY_MS}..={MAX_RECOVERY_MS}", self.recovery_ms),
            ));
        }
        Ok(())
    }
}

/// The persisted controller state (one row in `posture_state`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostureState {
    pub mode: PostureMode,
    pub since_ms: i64,
    /// The score at the last evaluation (the base for burst detection).
    pub score: u32,
    /// Since when the score has been under the current mode's exit threshold, if it is.
    pub calm_since_ms: Option<i64>,
}

impl PostureState {
    /// A fresh DB: GREEN, no debt.
    pub fn initial(now_ms: i64) -> Self {
        PostureState { mode: PostureMode::Green, since_ms: now_ms, score: 0, calm_since_ms: None }
    }
}

/// What the rest of the program reads. Limits entries only.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Knobs {
    pub allow_entries: bool,
    /// Share of `risk.max_notional_usdt` a new entry may use (1 = no limit).
    pub notional_cap_fraction: Decimal,
    /// Candles added to the post-trade cooldown.
    pub extra_cooldown_candles: u32,
    /// RED: the shell should halt (exits and protection keep working while halted).
    pub halt_request: bool,
}

impl Knobs {
    pub fn for_mode(mode: PostureMode) -> Knobs {
        let (allow_entries, notional_cap_fraction, extra_cooldown_candles, halt_request) = match mode {
            PostureMode::Green => (true, dec!(1), 0, false),
            PostureMode::Yellow => (true, dec!(0.5), 1, false),
            PostureMode::Orange => (false, dec!(0), 2, false),
            PostureMode::Red => (false, dec!(0), 3, true),
        };
        Knobs { allow_entries, notional_cap_fraction, extra_cooldown_candles, halt_request }
    }

    /// The notional cap in USDT for a configured `risk.max_notional_usdt`.
    pub fn max_notional(&self, configured: Decimal) -> Decimal {
        configured * self.notional_cap_fraction
    }

    /// True when `other` is at least as tight as `self` on every knob.
    pub fn no_looser_than(&self, other: &Knobs) -> bool {
        other.allow_entries <= self.allow_entries
            && other.notional_cap_fraction <= self.notional_cap_fraction
            && other.extra_cooldown_candles >= self.extra_cooldown_candles
            && other.halt_request >= self.halt_request
    }
}

/// What one reconcile's repairs say: each kind of mismatch it had to repair, and the repairs that
/// failed (left unresolved: they weigh like failed reads). Ages are 0: found this run; how long
/// each kind has been open comes from [`track_open`] and [`with_ages`].
pub fn from_repairs(repairs: &[Repair], failed_repairs: u32) -> Evidence {
    let mut e = Evidence::default();
    for r in repairs {
        match r {
            Repair::ForeignOrders { .. } | Repair::ForeignPosition { .. } => e.foreign_exposure = true,
            Repair::SideFlipped { .. } => {
                e.foreign_exposure = true;
                e.position_mismatch_age_ms = Some(0);
            }
            // Own-prefix orders this journal never wrote: untracked orders and a belief that is
            // plainly wrong (another instance, or an older DB).
            Repair::AnotherInstance { client_ids } => {
                e.orphan_orders = e.orphan_orders.saturating_add(u32::try_from(client_ids.len()).unwrap_or(u32::MAX));
                e.position_mismatch_age_ms = Some(0);
            }
            // The normal way mcbot learns that its STOP or TP filled while it was not running:
            // the position is finalised with the reason the fills support. Not doubt by itself
            // (the mismatch streak still counts it once).
            Repair::FinaliseFlat => {}
            Repair::Adopt { .. } | Repair::CorrectRecord { .. } => e.position_mismatch_age_ms = Some(0),
            Repair::EnsureProtection { .. } => e.protection_missing_age_ms = Some(0),
            Repair::CancelOpenOrder { .. } | Repair::CancelOrphan { .. } => {
                e.orphan_orders = e.orphan_orders.saturating_add(1)
            }
        }
    }
    if e.orphan_orders > 0 {
        e.orphan_orders_age_ms = Some(0);
    }
    if e.foreign_exposure {
        e.foreign_exposure_age_ms = Some(0);
    }
    e.failed_reads = failed_repairs;
    e
}

/// When each mismatch kind still open was first seen (stored between runs); `None` = not open.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OpenSince {
    pub position_mismatch_ms: Option<i64>,
    pub protection_missing_ms: Option<i64>,
    pub orphan_orders_ms: Option<i64>,
    pub foreign_exposure_ms: Option<i64>,
}

/// Carries the first-seen times into this run. A kind this run saw keeps the time it was first
/// seen (or starts now); a kind a completed reconcile did not see is closed. `seen = None` is a run
/// that could not read the exchange: every open kind stays open (unknown is not "resolved").
pub fn track_open(prev: &OpenSince, seen: Option<&Evidence>, now_ms: i64) -> OpenSince {
    let Some(e) = seen else { return *prev };
    let keep = |open: bool, since: Option<i64>| open.then(|| since.unwrap_or(now_ms));
    OpenSince {
        position_mismatch_ms: keep(e.position_mismatch_age_ms.is_some(), prev.position_mismatch_ms),
        protection_missing_ms: keep(e.protection_missing_age_ms.is_some(), prev.protection_missing_ms),
        orphan_orders_ms: keep(e.orphan_orders > 0 || e.orphan_orders_age_ms.is_some(), prev.orphan_orders_ms),
        foreign_exposure_ms: keep(e.foreign_exposure || e.foreign_exposure_age_ms.is_some(), prev.foreign_exposure_ms),
    }
}

/// The evidence with each open kind's age (now − first seen). An open kind the evidence does not
/// show (a run that could not look) is added as still open: one orphan, the exposure still there.
pub fn with_ages(e: &Evidence, open: &OpenSince, now_ms: i64) -> Evidence {
    let age = |since: Option<i64>, have: Option<i64>| match (since.map(|t| now_ms.saturating_sub(t).max(0)), have) {
        (Some(a), Some(h)) => Some(a.max(h)),
        (a, h) => a.or(h),
    };
    let orphan_age = age(open.orphan_orders_ms, e.orphan_orders_age_ms);
    let foreign_age = age(open.foreign_exposure_ms, e.foreign_exposure_age_ms);
    Evidence {
        position_mismatch_age_ms: age(open.position_mismatch_ms, e.position_mismatch_age_ms),
        protection_missing_age_ms: age(open.protection_missing_ms, e.protection_missing_age_ms),
        orphan_orders: if orphan_age.is_some() { e.orphan_orders.max(1) } else { e.orphan_orders },
        orphan_orders_age_ms: orphan_age,
        foreign_exposure: e.foreign_exposure || foreign_age.is_some(),
        foreign_exposure_age_ms: foreign_age,
        ..e.clone()
    }
}

/// Two pieces of evidence about the same run, joined (counts add, flags or, ages the oldest).
pub fn join(a: &Evidence, b: &Evidence) -> Evidence {
    let older = |x: Option<i64>, y: Option<i64>| match (x, y) {
        (Some(x), Some(y)) => Some(x.max(y)),
        (x, y) => x.or(y),
    };
    Evidence {
        position_mismatch_age_ms: older(a.position_mismatch_age_ms, b.position_mismatch_age_ms),
        protection_missing_age_ms: older(a.protection_missing_age_ms, b.protection_missing_age_ms),
        orphan_orders: a.orphan_orders.saturating_add(b.orphan_orders),
        orphan_orders_age_ms: older(a.orphan_orders_age_ms, b.orphan_orders_age_ms),
        foreign_exposure: a.foreign_exposure || b.foreign_exposure,
        foreign_exposure_age_ms: older(a.foreign_exposure_age_ms, b.foreign_exposure_age_ms),
        mismatch_streak: a.mismatch_streak.max(b.mismatch_streak),
        ambiguous_orders: a.ambiguous_orders.max(b.ambiguous_orders),
        failed_runs: a.failed_runs.max(b.failed_runs),
        failed_reads: a.failed_reads.saturating_add(b.failed_reads),
        clock_offset_ms: a.clock_offset_ms.saturating_abs().max(b.clock_offset_ms.saturating_abs()),
        recv_window_ms: a.recv_window_ms.max(b.recv_window_ms),
        rate_limit_used_pct: a.rate_limit_used_pct.max(b.rate_limit_used_pct),
    }
}

/// The posture as `status --json` shows it (CONTRACT §13) and as metrics read it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PostureView {
    pub mode: PostureMode,
    pub debt_score: String,
    pub since_ms: i64,
    pub allow_entries: bool,
    pub max_notional_usdt: Decimal,
    pub cooldown_candles: u32,
    pub halt_request: bool,
}

/// The knobs of a stored state against the configured `risk.max_notional_usdt`. This is the one
/// function metrics and alerts call to read the posture.
pub fn view(state: &PostureState, configured_max_notional: Decimal) -> PostureView {
    let k = Knobs::for_mode(state.mode);
    PostureView {
        mode: state.mode,
        debt_score: state.score.to_string(),
        since_ms: state.since_ms,
        allow_entries: k.allow_entries,
        max_notional_usdt: k.max_notional(configured_max_notional),
        cooldown_candles: k.extra_cooldown_candles,
        halt_request: k.halt_request,
    }
}

/// A mode change, for the audit row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub from: PostureMode,
    pub to: PostureMode,
    pub score: u32,
    pub growth: u32,
    /// Why, in words: "score 55 >= 50", "burst +70 >= 60", "score 5 < 10 for 8h".
    pub reason: String,
}

/// The outcome of one evaluation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub state: PostureState,
    pub knobs: Knobs,
    pub transition: Option<Transition>,
}

/// Debt points of an open mismatch: a base plus one point per hour open, capped, so an old
/// mismatch weighs more than a fresh one.
fn aged(base: u32, age_ms: Option<i64>) -> u32 {
    match age_ms {
        None => 0,
        Some(age) => base + u32::try_from(age.max(0) / HOUR_MS).unwrap_or(u32::MAX).min(24),
    }
}

/// The debt score of a piece of evidence. Saturating, and monotone in every field.
pub fn score(e: &Evidence) -> u32 {
    let clock = if e.recv_window_ms > 0 {
        let off = e.clock_offset_ms.saturating_abs();
        if off.saturating_mul(10) >= e.recv_window_ms.saturating_mul(8) {
            30
        } else if off.saturating_mul(2) >= e.recv_window_ms {
            10
        } else {
            0
        }
    } else {
        0
    };
    let rate = match e.rate_limit_used_pct {
        0..=79 => 0,
        80..=94 => 10,
        _ => 20,
    };
    [
        aged(20, e.position_mismatch_age_ms),
        aged(30, e.protection_missing_age_ms),
        e.orphan_orders.saturating_mul(10).min(30).saturating_add(aged(0, e.orphan_orders_age_ms)),
        if e.foreign_exposure || e.foreign_exposure_age_ms.is_some() {
            aged(50, Some(e.foreign_exposure_age_ms.unwrap_or(0)))
        } else {
            0
        },
        e.mismatch_streak.saturating_mul(10),
        e.ambiguous_orders.saturating_mul(15),
        e.failed_runs.saturating_mul(10),
        e.failed_reads.saturating_mul(15),
        clock,
        rate,
    ]
    .into_iter()
    .fold(0u32, u32::saturating_add)
}

fn idx(mode: PostureMode) -> Option<usize> {
    match mode {
        PostureMode::Green => None,
        PostureMode::Yellow => Some(0),
        PostureMode::Orange => Some(1),
        PostureMode::Red => Some(2),
    }
}

/// The mode a score (and its growth) calls for on its own.
fn target(t: &Thresholds, score: u32, growth: u32) -> PostureMode {
    if growth >= t.burst || score >= t.enter[2] {
        PostureMode::Red
    } else if score >= t.enter[1] {
        PostureMode::Orange
    } else if score >= t.enter[0] {
        PostureMode::Yellow
    } else {
        PostureMode::Green
    }
}

/// The controller. Pure: same inputs, same output.
pub fn step(prev: &PostureState, evidence: &Evidence, now_ms: i64, t: &Thresholds) -> Step {
    decide(prev, score(evidence), now_ms, t)
}

/// [`step`] once the evidence is scored: the mode rules alone (the property tests drive them with
/// exact scores against any valid [`Thresholds`]).
pub fn decide(prev: &PostureState, s: u32, now_ms: i64, t: &Thresholds) -> Step {
    let growth = s.saturating_sub(prev.score);
    let want = target(t, s, growth);
    let (mode, calm_since_ms, reason) = if want > prev.mode {
        let reason = if growth >= t.burst && s < t.enter[2] {
            format!("burst +{growth} >= {}", t.burst)
        } else {
            let i = idx(want).unwrap_or(0);
            format!("score {s} >= {}", t.enter[i])
        };
        (want, None, Some(reason))
    } else {
        match idx(prev.mode) {
            Some(i) if s < t.exit[i] => {
                let calm = prev.calm_since_ms.unwrap_or(now_ms);
                if now_ms.saturating_sub(calm) >= t.recovery_ms {
                    let reason = format!("score {s} < {} for {}", t.exit[i], window(t.recovery_ms));
                    // The next step down needs a full window of its own.
                    (prev.mode.looser(), None, Some(reason))
                } else {
                    (prev.mode, Some(calm), None)
                }
            }
            _ => (prev.mode, None, None),
        }
    };
    let transition = reason.map(|reason| Transition { from: prev.mode, to: mode, score: s, growth, reason });
    let since_ms = if transition.is_some() { now_ms } else { prev.since_ms };
    Step { state: PostureState { mode, since_ms, score: s, calm_since_ms }, knobs: Knobs::for_mode(mode), transition }
}

/// A recovery window in words: whole hours as "8h", anything else in minutes or ms.
fn window(ms: i64) -> String {
    if ms % HOUR_MS == 0 {
        format!("{}h", ms / HOUR_MS)
    } else if ms % 60_000 == 0 {
        format!("{}min", ms / 60_000)
    } else {
        format!("{ms}ms")
    }
}

/// The post-trade cooldown with the posture's extra candles added (knob `extra_cooldown_candles`):
/// entries stay blocked `extra` candles longer than the strategy's own cooldown. No cooldown
/// running means none is added: the knob lengthens a cooldown, it does not start one.
pub fn cooldown_until(stored_until_ms: Option<i64>, knobs: &Knobs, interval_ms: i64) -> Option<i64> {
    stored_until_ms.map(|u| u.saturating_add(i64::from(knobs.extra_cooldown_candles).saturating_mul(interval_ms)))
}

/// What the posture says about one ENTRY right before its intent is written (`enter`'s re-check:
/// the plan may have been sized at evaluate time under a looser mode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EntryGate {
    /// The plan goes out as planned.
    Proceed,
    /// The plan's notional is over the posture's cap: send `qty` instead (floored to the step).
    SizedDown { qty: Decimal, reason: String },
    /// No ENTRY: `check` names the rule, `reason` says why in evaluate's words.
    Refused { check: &'static str, reason: String },
}

/// The inputs of [`gate_entry`].
#[derive(Debug, Clone)]
pub struct EntryCheck<'a> {
    pub state: &'a PostureState,
    pub plan_qty: Decimal,
    pub entry_ref: Decimal,
    /// `risk.max_notional_usdt` as configured.
    pub configured_max_notional: Decimal,
    pub filters: &'a SymbolFilters,
    pub now_ms: i64,
    /// The stored post-trade cooldown end, before the posture's extra candles.
    pub cooldown_until_ms: Option<i64>,
    pub interval_ms: i64,
}

/// The posture's verdict on an ENTRY. Pure. Refuses when the mode refuses entries or its extra
/// cooldown is still running; sizes down when the plan's notional is over the mode's cap (and
/// refuses when the capped size is under the exchange minimum: never an order the filters reject).
pub fn gate_entry(c: &EntryCheck<'_>) -> EntryGate {
    let mode = c.state.mode;
    let knobs = Knobs::for_mode(mode);
    if !knobs.allow_entries {
        return EntryGate::Refused {
            check: "posture_allows_entries",
            reason: format!("posture {} (debt {}) refuses new entries", mode.as_str(), c.state.score),
        };
    }
    if let Some(until) = cooldown_until(c.cooldown_until_ms, &knobs, c.interval_ms).filter(|u| c.now_ms < *u) {
        return EntryGate::Refused {
            check: "posture_cooldown",
            reason: format!(
                "posture {} adds {} cooldown candles: cooldown active until {until}",
                mode.as_str(),
                knobs.extra_cooldown_candles
            ),
        };
    }
    let cap = knobs.max_notional(c.configured_max_notional);
    if knobs.notional_cap_fraction >= Decimal::ONE || c.plan_qty * c.entry_ref <= cap {
        return EntryGate::Proceed;
    }
    let why = format!(
        "posture {} caps notional at {} of risk.max_notional_usdt ({cap} USDT)",
        mode.as_str(),
        knobs.notional_cap_fraction
    );
    if c.entry_ref <= Decimal::ZERO {
        return EntryGate::Refused {
            check: "posture_notional_cap",
            reason: format!("{why}; no entry price to size by"),
        };
    }
    match c.filters.check_market_qty(cap / c.entry_ref, c.entry_ref, false) {
        Ok(qty) if qty < c.plan_qty => EntryGate::SizedDown { qty, reason: why },
        Ok(_) => EntryGate::Proceed,
        Err(e) => EntryGate::Refused {
            check: "posture_notional_cap",
            reason: format!("{why}; the capped size is refused: {e}"),
        },
    }
}

/// One mode change as the journal records it (`posture_changed` audit row): where, when, to what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JournalChange {
    pub seq: i64,
    pub ts_ms: i64,
    pub from: PostureMode,
    pub to: PostureMode,
    pub reason: String,
}

/// The change a `posture_changed` audit row's data records (`{from, to, reason}`), if it reads.
pub fn change_of(seq: i64, ts_ms: i64, data: &serde_json::Value) -> Option<JournalChange> {
    let mode = |k: &str| data.get(k).and_then(serde_json::Value::as_str).and_then(PostureMode::parse);
    Some(JournalChange {
        seq,
        ts_ms,
        from: mode("from")?,
        to: mode("to")?,
        reason: data.get("reason").and_then(serde_json::Value::as_str).unwrap_or_default().to_string(),
    })
}

/// The mode in force at journal position `seq`: the last change written before it (`changes` in
/// seq order), GREEN before any. `replay` shows it beside each decision.
pub fn mode_at(changes: &[JournalChange], seq: i64) -> PostureMode {
    changes.iter().take_while(|c| c.seq < seq).last().map_or(PostureMode::Green, |c| c.to)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const T0: i64 = 1_700_000_000_000;
    const CANDLE: i64 = 4 * HOUR_MS;

    fn evidence() -> impl Strategy<Value = Evidence> {
        (
            proptest::option::of(0i64..100 * HOUR_MS),
            proptest::option::of(0i64..100 * HOUR_MS),
            0u32..5,
            proptest::option::of(0i64..100 * HOUR_MS),
            any::<bool>(),
            proptest::option::of(0i64..100 * HOUR_MS),
            0u32..6,
            0u32..4,
            0u32..6,
            0u32..4,
            0i64..10_000,
            0u32..101,
        )
            .prop_map(
                |(pm, pr, orphan, orphan_age, foreign, foreign_age, streak, amb, runs, reads, clock, rate)| Evidence {
                    position_mismatch_age_ms: pm,
                    protection_missing_age_ms: pr,
                    orphan_orders: orphan,
                    orphan_orders_age_ms: orphan_age,
                    foreign_exposure: foreign,
                    foreign_exposure_age_ms: foreign_age,
                    mismatch_streak: streak,
                    ambiguous_orders: amb,
                    failed_runs: runs,
                    failed_reads: reads,
                    clock_offset_ms: clock,
                    recv_window_ms: 5_000,
                    rate_limit_used_pct: rate,
                },
            )
    }

    /// Any policy `[posture]` accepts: rising enter thresholds, each exit threshold in 1..enter,
    /// any burst and recovery window within bounds (`Thresholds::check` holds by construction).
    fn thresholds() -> impl Strategy<Value = Thresholds> {
        (
            2u32..300,
            1u32..300,
            1u32..300,
            any::<u32>(),
            any::<u32>(),
            any::<u32>(),
            1u32..400,
            MIN_RECOVERY_MS..5 * CANDLE,
        )
            .prop_map(|(y, o, r, xy, xo, xr, burst, recovery_ms)| {
                let enter = [y, y + o, y + o + r];
                let exit = [1 + xy % (enter[0] - 1), 1 + xo % (enter[1] - 1), 1 + xr % (enter[2] - 1)];
                Thresholds { enter, exit, recovery_ms, burst }
            })
            .prop_filter("valid policy", |t| t.check().is_ok())
    }

    fn state() -> impl Strategy<Value = PostureState> {
        (0usize..4, 0u32..200, proptest::option::of(0i64..3 * CANDLE)).prop_map(|(m, score, calm)| PostureState {
            mode: PostureMode::ALL[m],
            since_ms: T0 - 10 * CANDLE,
            score,
            calm_since_ms: calm.map(|c| T0 - c),
        })
    }

    /// `b` carries at least as much debt as `a` in every field.
    fn more(a: &Evidence, extra: &Evidence) -> Evidence {
        let add_age = |x: Option<i64>, y: Option<i64>| match (x, y) {
            (None, y) => y,
            (Some(x), None) => Some(x),
            (Some(x), Some(y)) => Some(x + y),
        };
        Evidence {
            position_mismatch_age_ms: add_age(a.position_mismatch_age_ms, extra.position_mismatch_age_ms),
            protection_missing_age_ms: add_age(a.protection_missing_age_ms, extra.protection_missing_age_ms),
            orphan_orders: a.orphan_orders + extra.orphan_orders,
            orphan_orders_age_ms: add_age(a.orphan_orders_age_ms, extra.orphan_orders_age_ms),
            foreign_exposure: a.foreign_exposure || extra.foreign_exposure,
            foreign_exposure_age_ms: add_age(a.foreign_exposure_age_ms, extra.foreign_exposure_age_ms),
            mismatch_streak: a.mismatch_streak + extra.mismatch_streak,
            ambiguous_orders: a.ambiguous_orders + extra.ambiguous_orders,
            failed_runs: a.failed_runs + extra.failed_runs,
            failed_reads: a.failed_reads + extra.failed_reads,
            clock_offset_ms: a.clock_offset_ms + extra.clock_offset_ms,
            recv_window_ms: a.recv_window_ms,
            rate_limit_used_pct: a.rate_limit_used_pct.max(extra.rate_limit_used_pct),
        }
    }

    fn run(t: &Thresholds, scores: &[Evidence]) -> Vec<PostureMode> {
        let mut st = PostureState::initial(T0);
        let mut modes = Vec::new();
        for (i, e) in scores.iter().enumerate() {
            st = step(&st, e, T0 + i as i64 * CANDLE, t).state;
            modes.push(st.mode);
        }
        modes
    }

    fn failed_reads(n: u32) -> Evidence {
        Evidence { failed_reads: n, ..Evidence::default() }
    }

    proptest! {
        /// Monotone: from the same previous state, more debt never loosens a knob, under any
        /// valid policy.
        #[test]
        fn more_debt_never_loosens_a_knob(t in thresholds(), prev in state(), a in evidence(), extra in evidence()) {
            let b = more(&a, &extra);
            prop_assert!(score(&b) >= score(&a));
            let ka = step(&prev, &a, T0, &t);
            let kb = step(&prev, &b, T0, &t);
            prop_assert!(kb.state.mode >= ka.state.mode, "{:?} vs {:?}", ka.state.mode, kb.state.mode);
            prop_assert!(ka.knobs.no_looser_than(&kb.knobs));
        }

        /// Hysteresis: under any valid policy, a score oscillating around an enter threshold
        /// (above it, then back into the band between exit and enter) takes the mode on the first
        /// crossing and never flaps back down while it keeps returning.
        #[test]
        fn no_flapping_around_a_threshold(t in thresholds(), level in 0usize..3, up in 0u32..50, down in 0u32..1000, n in 4usize..30) {
            let enter = t.enter[level];
            // hi: at or over this level's enter threshold, under the next one.
            let ceiling = if level < 2 { t.enter[level + 1] } else { u32::MAX };
            let hi = (enter + up).min(ceiling - 1);
            // lo: in the hysteresis band [exit, enter) of this level.
            let band = enter - t.exit[level];
            let lo = t.exit[level] + down % band;
            // A swing that is itself a burst would trip RED: not this property.
            prop_assume!(hi - lo < t.burst || level == 2);
            let mut st = PostureState { score: lo, ..PostureState::initial(T0) };
            let mut modes = Vec::new();
            for i in 0..n {
                let s = if i % 2 == 0 { hi } else { lo };
                st = decide(&st, s, T0 + i as i64 * CANDLE, &t).state;
                modes.push(st.mode);
            }
            let changes = modes.windows(2).filter(|w| w[0] != w[1]).count();
            prop_assert!(changes == 0, "{modes:?}");
            prop_assert_eq!(modes[0], PostureMode::ALL[level + 1], "{:?}", modes);
        }

        /// Never a panic, and the state and knobs always agree (any valid policy).
        #[test]
        fn knobs_follow_the_mode(t in thresholds(), prev in state(), e in evidence(), dt in 0i64..10 * CANDLE) {
            let s = step(&prev, &e, T0 + dt, &t);
            prop_assert_eq!(s.knobs, Knobs::for_mode(s.state.mode));
            prop_assert_eq!(s.transition.is_some(), s.state.mode != prev.mode);
            // Relaxing is one mode at a time.
            prop_assert!(s.state.mode >= prev.mode.looser());
        }

        /// Bounded, under any valid policy: every mode is reached from GREEN by a score at its
        /// enter threshold, and left back to GREEN by clean runs, one mode at a time.
        #[test]
        fn every_mode_is_reachable_and_left_under_any_policy(t in thresholds()) {
            for level in 0..3 {
                let mut st = PostureState::initial(T0);
                let mut now = T0;
                st = decide(&st, t.enter[level], now, &t).state;
                prop_assert!(st.mode >= PostureMode::ALL[level + 1], "{:?}", st.mode);
                let mut modes = vec![st.mode];
                for _ in 0..20 {
                    now += t.recovery_ms.max(CANDLE);
                    st = decide(&st, 0, now, &t).state;
                    modes.push(st.mode);
                }
                prop_assert_eq!(modes.last(), Some(&PostureMode::Green), "{:?}", modes);
                prop_assert!(modes.windows(2).all(|w| w[1] >= w[0].looser()), "{:?}", modes);
            }
        }

        /// Ages only add debt: the evidence with first-seen ages scores at least the bare one,
        /// and a run that could not look keeps every open kind open.
        #[test]
        fn ages_never_lower_the_debt(e in evidence(), since in proptest::option::of(0i64..50 * HOUR_MS), dt in 0i64..50 * HOUR_MS) {
            let prev = OpenSince { position_mismatch_ms: since.map(|s| T0 - s), protection_missing_ms: since.map(|s| T0 - s),
                orphan_orders_ms: since.map(|s| T0 - s), foreign_exposure_ms: since.map(|s| T0 - s) };
            let now = T0 + dt;
            let open = track_open(&prev, Some(&e), now);
            prop_assert!(score(&with_ages(&e, &open, now)) >= score(&e));
            prop_assert_eq!(track_open(&prev, None, now), prev);
        }
    }

    /// Bounded: every mode is reached from GREEN and left again back to GREEN.
    #[test]
    fn every_mode_is_reachable_and_left() {
        let t = Thresholds::default();
        for (target_mode, climb) in [
            (PostureMode::Yellow, vec![failed_reads(2)]),
            (PostureMode::Orange, vec![failed_reads(2), failed_reads(4)]),
            (PostureMode::Red, vec![failed_reads(7)]),
        ] {
            let mut seq = vec![Evidence::default()];
            seq.extend(climb);
            seq.extend(std::iter::repeat_n(Evidence::default(), 12));
            let modes = run(&t, &seq);
            assert!(modes.contains(&target_mode), "{modes:?}");
            assert_eq!(modes.last(), Some(&PostureMode::Green), "{modes:?}");
            // Down one mode at a time.
            assert!(modes.windows(2).all(|w| w[1] >= w[0].looser()), "{modes:?}");
        }
    }

    /// All is well → GREEN and no limits (the controller costs nothing; `sim` without faults).
    #[test]
    fn no_debt_stays_green_with_open_knobs() {
        let modes = run(&Thresholds::default(), &vec![Evidence::default(); 50]);
        assert!(modes.iter().all(|m| *m == PostureMode::Green));
        let k = Knobs::for_mode(PostureMode::Green);
        assert!(k.allow_entries && !k.halt_request && k.extra_cooldown_candles == 0);
        assert_eq!(k.max_notional(dec!(250)), dec!(250));
    }

    /// Seed 004 §3: a burst of new debt trips RED before the absolute score is high.
    #[test]
    fn burst_trips_red_at_once() {
        let t = Thresholds::default();
        let e = Evidence { failed_reads: 2, ambiguous_orders: 2, ..Evidence::default() }; // 60
        assert!(score(&e) < t.enter[2]);
        let s = step(&PostureState::initial(T0), &e, T0, &t);
        assert_eq!(s.state.mode, PostureMode::Red);
        assert!(s.knobs.halt_request && !s.knobs.allow_entries);
        assert!(s.transition.as_ref().is_some_and(|tr| tr.reason.starts_with("burst")));
        // The same debt reached slowly is only ORANGE.
        let slow = PostureState { score: 45, ..PostureState::initial(T0) };
        assert_eq!(step(&slow, &e, T0, &t).state.mode, PostureMode::Orange);
    }

    /// Recovery needs the whole window under the exit threshold; a relapse restarts it.
    #[test]
    fn recovery_window_restarts_on_relapse() {
        let t = Thresholds::default();
        let yellow = PostureState { mode: PostureMode::Yellow, since_ms: T0, score: 20, calm_since_ms: None };
        let calm = step(&yellow, &Evidence::default(), T0, &t).state;
        assert_eq!(calm.calm_since_ms, Some(T0));
        // Score 10 is not under YELLOW's exit threshold (10): the calm clock resets.
        let relapse = step(&calm, &Evidence { failed_runs: 1, ..Evidence::default() }, T0 + CANDLE, &t).state;
        assert_eq!((relapse.mode, relapse.calm_since_ms), (PostureMode::Yellow, None));
        let s1 = step(&relapse, &Evidence::default(), T0 + 2 * CANDLE, &t).state;
        let s2 = step(&s1, &Evidence::default(), T0 + 3 * CANDLE, &t).state;
        assert_eq!(s2.mode, PostureMode::Yellow);
        let s3 = step(&s2, &Evidence::default(), T0 + 4 * CANDLE, &t);
        assert_eq!(s3.state.mode, PostureMode::Green);
        assert_eq!(s3.transition.map(|tr| tr.from), Some(PostureMode::Yellow));
    }

    /// A failed read is never "nothing there": it raises the score.
    #[test]
    fn failed_reads_and_clock_offset_raise_the_debt() {
        assert!(score(&failed_reads(1)) > 0);
        let near = Evidence { clock_offset_ms: 4_500, recv_window_ms: 5_000, ..Evidence::default() };
        let half = Evidence { clock_offset_ms: -2_600, recv_window_ms: 5_000, ..Evidence::default() };
        assert_eq!((score(&near), score(&half)), (30, 10));
        assert_eq!(score(&Evidence { rate_limit_used_pct: 96, ..Evidence::default() }), 20);
        let old = Evidence { protection_missing_age_ms: Some(10 * HOUR_MS), ..Evidence::default() };
        assert_eq!(score(&old), 40);
    }

    /// A hand-cancelled STOP is YELLOW on first sight; a foreign position is ORANGE at once.
    #[test]
    fn repairs_map_to_evidence() {
        let t = Thresholds::default();
        let stop = from_repairs(&[Repair::EnsureProtection { missing: vec!["STOP".into()] }], 0);
        let streak1 = Evidence { mismatch_streak: 1, ..Evidence::default() };
        let s = step(&PostureState::initial(T0), &join(&stop, &streak1), T0, &t);
        assert_eq!((s.state.score, s.state.mode), (40, PostureMode::Yellow));
        let foreign = from_repairs(&[Repair::ForeignPosition { qty: dec!(0.01) }], 0);
        let s = step(&PostureState::initial(T0), &foreign, T0, &t);
        assert_eq!(s.state.mode, PostureMode::Orange);
        assert!(!s.knobs.allow_entries);
        assert_eq!(from_repairs(&[], 2).failed_reads, 2);
    }

    /// The knob `extra_cooldown_candles` lengthens a running cooldown by whole candles; GREEN
    /// adds nothing and no cooldown running stays none.
    #[test]
    fn extra_cooldown_lengthens_a_running_cooldown() {
        let until = Some(T0);
        assert_eq!(cooldown_until(until, &Knobs::for_mode(PostureMode::Green), CANDLE), until);
        assert_eq!(cooldown_until(until, &Knobs::for_mode(PostureMode::Yellow), CANDLE), Some(T0 + CANDLE));
        assert_eq!(cooldown_until(until, &Knobs::for_mode(PostureMode::Red), CANDLE), Some(T0 + 3 * CANDLE));
        assert_eq!(cooldown_until(None, &Knobs::for_mode(PostureMode::Red), CANDLE), None);
        assert_eq!(cooldown_until(Some(i64::MAX - 1), &Knobs::for_mode(PostureMode::Red), CANDLE), Some(i64::MAX));
    }

    fn gate(mode: PostureMode, qty: Decimal, max_notional: Decimal, cooldown: Option<i64>) -> EntryGate {
        let state = PostureState { mode, score: 33, ..PostureState::initial(T0) };
        gate_entry(&EntryCheck {
            state: &state,
            plan_qty: qty,
            entry_ref: dec!(40000),
            configured_max_notional: max_notional,
            filters: &SymbolFilters::btcusdt_default(),
            now_ms: T0,
            cooldown_until_ms: cooldown,
            interval_ms: CANDLE,
        })
    }

    /// `enter`'s re-check: GREEN sends the plan as sized; YELLOW caps the notional at half of
    /// `risk.max_notional_usdt` (floored to the step); ORANGE and RED refuse; a capped size under
    /// the exchange minimum is refused, never sent; YELLOW's extra cooldown candle refuses.
    #[test]
    fn entry_gate_refuses_or_sizes_down_when_the_posture_tightened() {
        assert_eq!(gate(PostureMode::Green, dec!(0.010), dec!(300), None), EntryGate::Proceed);
        // 0.010 x 40000 = 400 > 50% of 600 = 300 → 300 / 40000 = 0.0075 → 0.007.
        match gate(PostureMode::Yellow, dec!(0.010), dec!(600), None) {
            EntryGate::SizedDown { qty, reason } => {
                assert_eq!(qty, dec!(0.007));
                assert_eq!(reason, "posture YELLOW caps notional at 0.5 of risk.max_notional_usdt (300.0 USDT)");
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(gate(PostureMode::Yellow, dec!(0.010), dec!(800), None), EntryGate::Proceed, "exactly at the cap");
        for mode in [PostureMode::Orange, PostureMode::Red] {
            match gate(mode, dec!(0.010), dec!(10000), None) {
                EntryGate::Refused { check, reason } => {
                    assert_eq!(check, "posture_allows_entries");
                    assert_eq!(reason, format!("posture {} (debt 33) refuses new entries", mode.as_str()));
                }
                other => panic!("{other:?}"),
            }
        }
        // 50% of 150 = 75 USDT < min notional 100: refused, not sent undersized.
        assert!(matches!(
            gate(PostureMode::Yellow, dec!(0.010), dec!(150), None),
            EntryGate::Refused { check: "posture_notional_cap", .. }
        ));
        // The strategy's cooldown ended 1 ms ago; YELLOW adds one candle.
        assert!(matches!(
            gate(PostureMode::Yellow, dec!(0.001), dec!(10000), Some(T0 - 1)),
            EntryGate::Refused { check: "posture_cooldown", .. }
        ));
        assert_eq!(gate(PostureMode::Green, dec!(0.001), dec!(10000), Some(T0 - 1)), EntryGate::Proceed);
    }

    /// Mismatch ages: a kind keeps its first-seen time while every completed reconcile sees it,
    /// is closed by one that does not, and is kept open by a run that could not look.
    #[test]
    fn mismatch_ages_run_from_first_seen() {
        let stop = from_repairs(&[Repair::EnsureProtection { missing: vec!["STOP".into()] }], 0);
        let o1 = track_open(&OpenSince::default(), Some(&stop), T0);
        assert_eq!(o1.protection_missing_ms, Some(T0));
        let o2 = track_open(&o1, Some(&stop), T0 + 10 * HOUR_MS);
        assert_eq!(o2.protection_missing_ms, Some(T0), "first seen, not last seen");
        let aged = with_ages(&stop, &o2, T0 + 10 * HOUR_MS);
        assert_eq!(aged.protection_missing_age_ms, Some(10 * HOUR_MS));
        assert_eq!(score(&aged), 40, "30 + 1 per hour open");
        // The reconcile could not read: still open, still ageing, even with no repair this run.
        let o3 = track_open(&o2, None, T0 + 12 * HOUR_MS);
        let blind = with_ages(&failed_reads(1), &o3, T0 + 12 * HOUR_MS);
        assert_eq!(blind.protection_missing_age_ms, Some(12 * HOUR_MS));
        // A clean reconcile closes it.
        assert_eq!(track_open(&o3, Some(&Evidence::default()), T0 + 16 * HOUR_MS), OpenSince::default());
        // Foreign exposure and orphans age the same way.
        let foreign = from_repairs(&[Repair::ForeignPosition { qty: dec!(0.01) }], 0);
        let o = track_open(&track_open(&OpenSince::default(), Some(&foreign), T0), Some(&foreign), T0 + 5 * HOUR_MS);
        assert_eq!(score(&with_ages(&foreign, &o, T0 + 5 * HOUR_MS)), 55);
        let orphan = from_repairs(&[Repair::CancelOrphan { client_id: "x".into() }], 0);
        let o = track_open(
            &OpenSince { orphan_orders_ms: Some(T0), ..OpenSince::default() },
            Some(&orphan),
            T0 + 3 * HOUR_MS,
        );
        assert_eq!(score(&with_ages(&orphan, &o, T0 + 3 * HOUR_MS)), 13);
    }

    /// `Thresholds::check` refuses what would break a property: no band, an unreachable mode,
    /// a mode that cannot be left.
    #[test]
    fn policy_check_names_the_key() {
        assert!(Thresholds::default().check().is_ok());
        let bad = |f: fn(&mut Thresholds)| {
            let mut t = Thresholds::default();
            f(&mut t);
            t.check().map_err(|(k, _)| k)
        };
        assert_eq!(bad(|t| t.exit[0] = t.enter[0]), Err("yellow_exit"));
        assert_eq!(bad(|t| t.exit[2] = 0), Err("red_exit"));
        assert_eq!(bad(|t| t.enter[1] = t.enter[0]), Err("orange_enter"));
        assert_eq!(bad(|t| t.burst = 0), Err("burst"));
        assert_eq!(bad(|t| t.recovery_ms = 0), Err("recovery_ms"));
    }

    /// `replay`'s posture column: the last change before a row, GREEN before any, unreadable
    /// rows skipped.
    #[test]
    fn mode_at_follows_the_journal_changes() {
        let up = change_of(10, T0, &serde_json::json!({"from": "GREEN", "to": "YELLOW", "reason": "score 40 >= 20"}));
        let down = change_of(20, T0 + CANDLE, &serde_json::json!({"from": "YELLOW", "to": "GREEN", "reason": "x"}));
        assert!(change_of(15, T0, &serde_json::json!({"from": "GREEN"})).is_none());
        let changes: Vec<JournalChange> = [up, down].into_iter().flatten().collect();
        assert_eq!(changes.len(), 2);
        let at: Vec<PostureMode> = [5, 10, 11, 20, 21].iter().map(|s| mode_at(&changes, *s)).collect();
        use PostureMode::{Green as G, Yellow as Y};
        assert_eq!(at, [G, G, Y, Y, G]);
        assert_eq!(mode_at(&[], 99), G);
    }

    #[test]
    fn mode_names_round_trip() {
        for m in PostureMode::ALL {
            assert_eq!(PostureMode::parse(m.as_str()), Some(m));
        }
        assert_eq!(PostureMode::parse("green"), None);
    }
}
