//! Typed results of the use cases: what happened, as data. `exec/` returns these; only `cmd/`
//! turns them into a `Report` (words, lines, JSON fields). The exit code is a property of the
//! outcome (CONTRACT §2), so it is decided here, once, and the cycle (`tick`) ranks steps by it.

use crate::core::fees::Fees;
use crate::core::order::OrderRole;
use crate::core::position::ExitReason;
use crate::core::reconcile::Repair;
use crate::core::types::PositionSide;
use crate::error::Error;
use crate::exec::evaluate::EvaluateOutcome;
use crate::outcome::ExitCode;
use rust_decimal::Decimal;

/// Why one STOP or TP leg could not be placed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LegFailureKind {
    /// The trigger is on the wrong side of the mark: the exchange refused it.
    WouldTrigger,
    /// Acknowledged, but later than the role's ack timeout.
    AckTimeout,
    /// The exchange was unavailable for both attempts.
    Unavailable,
    /// A definite refusal other than "would trigger".
    Rejected,
    /// The send's answer was lost and the look-up found the order already ended.
    EndedAfterAmbiguousSend,
    /// The send's answer was lost and no look-up could say whether it landed.
    LookupFailed,
}

impl LegFailureKind {
    /// The word in `forced_close:<role>_<word>` (the words journals already carry).
    pub fn word(self) -> &'static str {
        match self {
            LegFailureKind::WouldTrigger => "would_trigger",
            LegFailureKind::AckTimeout => "ack_timeout",
            LegFailureKind::Unavailable => "unavailable",
            LegFailureKind::Rejected => "rejected",
            LegFailureKind::EndedAfterAmbiguousSend => "found",
            LegFailureKind::LookupFailed => "outcome",
        }
    }
}

/// One leg that could not be placed, with the exchange's words for why.
#[derive(Debug, Clone, PartialEq)]
pub struct LegFailure {
    pub role: OrderRole,
    pub client_id: String,
    pub kind: LegFailureKind,
    pub detail: String,
}

impl LegFailure {
    /// The leg's reason as the audit trail words it; it starts with the kind's word.
    pub fn why(&self) -> String {
        let d = &self.detail;
        match self.kind {
            LegFailureKind::AckTimeout => format!("ack_timeout ({d})"),
            LegFailureKind::EndedAfterAmbiguousSend => format!("found {d} after ambiguous send"),
            LegFailureKind::LookupFailed => format!("outcome unknown and look-up failed: {d}"),
            k => format!("{}: {d}", k.word()),
        }
    }
}

/// Why the protection guarantee's failure path ran.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtectionFailure {
    /// The failed legs, STOP first when both failed.
    pub legs: Vec<LegFailure>,
}

impl ProtectionFailure {
    /// `stop_would_trigger`: the first failed leg's role and kind — the forced close's reason word.
    pub fn word(&self) -> String {
        match self.legs.first() {
            Some(l) => format!("{}_{}", l.role.as_str().to_lowercase(), l.kind.word()),
            None => "protection_failed".into(),
        }
    }
    /// `stop_would_trigger: stop would_trigger: …; tp …`: the word, then every leg's reason.
    pub fn summary(&self) -> String {
        let details: Vec<String> =
            self.legs.iter().map(|l| format!("{} {}", l.role.as_str().to_lowercase(), l.why())).collect();
        format!("{}: {}", self.word(), details.join("; "))
    }
    pub fn exit_reason(&self) -> ExitReason {
        ExitReason::ForcedClose(self.word())
    }
}

/// How a forced close (the failure path) ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ForcedClose {
    /// Flat, finalised with `reason`, HALTED.
    Closed { reason: ExitReason },
    /// The CLOSE was not confirmed within `close_retry_max_elapsed_ms`; HALTED.
    NotConfirmed { budget_ms: u64 },
}

/// The protection guarantee's failure path, run to its end: CLOSE, cancel, HALT, CRITICAL.
#[derive(Debug, Clone, PartialEq)]
pub struct ProtectionFailed {
    pub failure: ProtectionFailure,
    pub close: ForcedClose,
}

/// A STOP or TP seen working and covering the position.
#[derive(Debug, Clone, PartialEq)]
pub struct Cover {
    pub role: OrderRole,
    pub client_id: String,
    pub trigger_price: Decimal,
    pub qty: Decimal,
}

/// What ensuring protection for an open position did.
#[derive(Debug, Clone, PartialEq)]
pub enum Protection {
    /// STOP and TP already cover the position.
    Covered { qty: Decimal, covers: Vec<Cover> },
    /// Missing legs were placed; undersized ones cancelled only after.
    Placed { qty: Decimal, placed: Vec<String>, replaced_undersized: usize, cancel_failed: usize },
    /// Placing failed: the failure path ran.
    Failed(ProtectionFailed),
}

impl ProtectionFailed {
    /// `forced_close` when the failure path ended flat, `close_failed` when it could not.
    pub fn word(&self) -> &'static str {
        match self.close {
            ForcedClose::Closed { .. } => "forced_close",
            ForcedClose::NotConfirmed { .. } => "close_failed",
        }
    }
}

impl Protection {
    /// The outcome word (`ok`, or the failure path's).
    pub fn word(&self) -> &'static str {
        match self {
            Protection::Covered { .. } | Protection::Placed { .. } => "ok",
            Protection::Failed(f) => f.word(),
        }
    }
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Protection::Covered { .. } | Protection::Placed { .. } => ExitCode::Ok,
            Protection::Failed(_) => ExitCode::Critical,
        }
    }
}

/// A command gave up on a read that kept failing, after protecting the known position
/// (`exec::unreadable`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReadFailed {
    /// The read that gave up, in the exchange's words.
    pub read_error: String,
    pub result: ReadFailedResult,
}

#[derive(Debug, Clone, PartialEq)]
pub enum ReadFailedResult {
    /// The position is protected (or its protection stands unverified when nothing answered).
    Protected { protection: Protection, position_read: bool, unverified: Vec<String> },
    /// Protection could not even be attempted: HALTED.
    UnprotectedHalted { msg: String },
}

impl ReadFailed {
    /// The outcome word: `read_failed_protected`, or what went wrong protecting.
    pub fn word(&self) -> &'static str {
        match &self.result {
            ReadFailedResult::Protected { protection: Protection::Failed(f), .. } => f.word(),
            ReadFailedResult::Protected { .. } => "read_failed_protected",
            ReadFailedResult::UnprotectedHalted { .. } => "unprotected_halted",
        }
    }
    pub fn exit_code(&self) -> ExitCode {
        match &self.result {
            ReadFailedResult::Protected { protection, .. } if protection.exit_code() == ExitCode::Ok => {
                ExitCode::Failed
            }
            _ => ExitCode::Critical,
        }
    }
}

/// The state DB could not be written while exposure existed (`exec::unwritable`).
#[derive(Debug, Clone, PartialEq)]
pub struct Unwritable {
    pub cause: String,
    pub msg: String,
    pub protected: bool,
    pub closed: bool,
    pub halted: bool,
    pub actions: Vec<String>,
}

/// `protect` (and the protect step of `tick`).
#[derive(Debug, Clone, PartialEq)]
pub enum ProtectOutcome {
    NoPosition,
    /// The exchange was flat: the DB's position was finalised with this reason.
    Finalised(ExitReason),
    Protection(Protection),
    ReadFailed(ReadFailed),
    Unwritable(Unwritable),
}

impl ProtectOutcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ProtectOutcome::NoPosition | ProtectOutcome::Finalised(_) => ExitCode::Ok,
            ProtectOutcome::Protection(p) => p.exit_code(),
            ProtectOutcome::ReadFailed(r) => r.exit_code(),
            ProtectOutcome::Unwritable(_) => ExitCode::Critical,
        }
    }
}

/// Why an ENTRY left no position.
#[derive(Debug, Clone, PartialEq)]
pub enum NotFilledWhy {
    /// A definite refusal (or a lost answer proven absent twice).
    NotAccepted(String),
    /// The order ended with nothing filled.
    NothingFilled,
    /// Nothing filled within `entry_fill_window_ms`; the order was cancelled.
    FillWindow,
}

/// `enter`.
#[derive(Debug, Clone, PartialEq)]
pub enum EntryOutcome {
    /// No PLANNED plan.
    NoPlan,
    /// The plan was stale: EXPIRED, never entered late.
    Expired {
        plan_id: String,
    },
    /// Filled and protected.
    Entered {
        plan_id: String,
        side: PositionSide,
        qty: Decimal,
        avg_price: Decimal,
        unprotected_window_ms: Option<i64>,
    },
    NotFilled {
        plan_id: String,
        why: NotFilledWhy,
    },
    /// The ENTRY's answer was lost and the look-up could not tell, but the position it built was
    /// found and is now protected.
    FoundAndProtected {
        plan_id: String,
    },
    /// The ENTRY's fate is unknown and nothing was found: HALTED.
    Unresolved {
        plan_id: String,
        msg: String,
    },
    /// A partial fill did not complete in time: the filled part was closed.
    PartialClosed {
        plan_id: String,
        reason: ExitReason,
    },
    /// A partial fill did not complete in time and its CLOSE was not confirmed: HALTED.
    PartialCloseFailed,
    /// Protection of the fill (or its resize) failed: the failure path ran.
    ProtectionFailed(ProtectionFailed),
    Unwritable(Unwritable),
}

impl EntryOutcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            EntryOutcome::NoPlan
            | EntryOutcome::Expired { .. }
            | EntryOutcome::Entered { .. }
            | EntryOutcome::FoundAndProtected { .. } => ExitCode::Ok,
            EntryOutcome::NotFilled { .. } | EntryOutcome::PartialClosed { .. } => ExitCode::Failed,
            EntryOutcome::Unresolved { .. }
            | EntryOutcome::PartialCloseFailed
            | EntryOutcome::ProtectionFailed(_)
            | EntryOutcome::Unwritable(_) => ExitCode::Critical,
        }
    }
    /// A position was opened and protected by this run.
    pub fn entered(&self) -> bool {
        matches!(self, EntryOutcome::Entered { .. })
    }
}

/// `exit` (and `halt --flatten`, and tick's exit step).
#[derive(Debug, Clone, PartialEq)]
pub enum CloseOutcome {
    /// Nothing on the exchange or in the DB; leftover protection cancelled.
    NoPosition { orphans_cancel_failed: usize },
    /// The exchange was already flat: the DB's position was finalised from the evidence.
    AlreadyFlat { reason: ExitReason },
    /// Closed at market and finalised.
    Closed {
        side: PositionSide,
        reason: ExitReason,
        exit_price: Option<Decimal>,
        qty: Decimal,
        avg_price: Decimal,
        fees: Fees,
        protection_cancel_failed: usize,
    },
    /// The CLOSE was not confirmed: HALTED, protection re-placed if it could be.
    NotConfirmed { budget_ms: u64, protection_restored: bool },
}

impl CloseOutcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            CloseOutcome::NotConfirmed { .. } => ExitCode::Critical,
            _ => ExitCode::Ok,
        }
    }
    /// The position ended in this run (closed now, or found closed).
    pub fn exit_reason(&self) -> Option<&ExitReason> {
        match self {
            CloseOutcome::AlreadyFlat { reason } | CloseOutcome::Closed { reason, .. } => Some(reason),
            _ => None,
        }
    }
}

/// How a completed reconcile ended.
#[derive(Debug, Clone, PartialEq)]
pub enum ReconcileVerdict {
    Ok,
    /// Some repair could not be carried out (a cancel failed); state is safe.
    RepairsFailed,
    /// Own-prefix orders this journal never wrote: HALTED, nothing touched.
    AnotherInstance,
    /// The position changed side by hand: mcbot's ended (external), HALTED.
    SideFlipped,
    /// A repair's protection failed: the failure path ran.
    ProtectionFailed(ProtectionFailed),
    /// A repair's protection gave up on a read.
    ReadFailed(ReadFailed),
}

/// What a reconcile's protection repair did.
#[derive(Debug, Clone, PartialEq)]
pub enum RepairProtection {
    Protection(Protection),
    ReadFailed(ReadFailed),
}

impl RepairProtection {
    /// The outcome word of what it did (the audit row names it).
    pub fn word(&self) -> &'static str {
        match self {
            RepairProtection::Protection(p) => p.word(),
            RepairProtection::ReadFailed(r) => r.word(),
        }
    }
}

/// One thing a reconcile did, in order: said in words, or a protection repair (whose words are
/// the protect step's own).
#[derive(Debug, Clone, PartialEq)]
pub enum Note {
    Said(String),
    Protection(RepairProtection),
}

impl Note {
    pub fn said(text: String) -> Note {
        Note::Said(text)
    }
}

/// A reconcile that read the exchange and decided.
#[derive(Debug, Clone, PartialEq)]
pub struct Reconciled {
    pub verdict: ReconcileVerdict,
    /// What it did, in order.
    pub notes: Vec<Note>,
    pub clean: bool,
    pub mismatches: usize,
    pub streak: u32,
    pub repairs: Vec<Repair>,
    pub entry_block_reason: Option<String>,
    pub position_qty: Decimal,
}

/// `reconcile` (and the first step of every trading command).
#[derive(Debug, Clone, PartialEq)]
pub enum ReconcileOutcome {
    Done(Reconciled),
    /// The snapshot could not be read: the known position was protected from the journal.
    ReadFailed(ReadFailed),
    Unwritable(Unwritable),
}

impl ReconcileOutcome {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            ReconcileOutcome::Done(r) => match &r.verdict {
                ReconcileVerdict::Ok => ExitCode::Ok,
                ReconcileVerdict::RepairsFailed => ExitCode::Failed,
                ReconcileVerdict::ReadFailed(x) => x.exit_code(),
                ReconcileVerdict::AnotherInstance
                | ReconcileVerdict::SideFlipped
                | ReconcileVerdict::ProtectionFailed(_) => ExitCode::Critical,
            },
            ReconcileOutcome::ReadFailed(r) => r.exit_code(),
            ReconcileOutcome::Unwritable(_) => ExitCode::Critical,
        }
    }
}

/// One step of a tick, with what it returned (a step's error is its outcome, never the tick's).
#[derive(Debug)]
pub enum TickStep {
    Reconcile(Result<ReconcileOutcome, Error>),
    /// The posture moved after a reconcile that could not read (the new mode), or not recorded.
    PostureAfterFailedRead(Result<Option<String>, Error>),
    Evaluate(Box<Result<EvaluateOutcome, Error>>),
    /// The pending exit reason in the DB could not be parsed.
    ExitUnparsable(String),
    Exit(Result<CloseOutcome, Error>),
    Enter(Result<EntryOutcome, Error>),
    Protect(Result<ProtectOutcome, Error>),
}

impl TickStep {
    /// The exit code this step contributes (`None`: it does not rank).
    pub fn exit_code(&self) -> Option<ExitCode> {
        fn of<T>(r: &Result<T, Error>, code: impl Fn(&T) -> ExitCode) -> ExitCode {
            match r {
                Ok(o) => code(o),
                Err(e) => e.exit_code(),
            }
        }
        Some(match self {
            TickStep::Reconcile(r) => of(r, ReconcileOutcome::exit_code),
            TickStep::PostureAfterFailedRead(_) => return None,
            TickStep::Evaluate(r) => match r.as_ref() {
                Ok(_) => ExitCode::Ok,
                Err(_) => ExitCode::Failed,
            },
            TickStep::ExitUnparsable(_) => ExitCode::Failed,
            TickStep::Exit(r) => of(r, CloseOutcome::exit_code),
            TickStep::Enter(r) => of(r, EntryOutcome::exit_code),
            TickStep::Protect(r) => of(r, ProtectOutcome::exit_code),
        })
    }
}

/// Why a tick did neither exit nor enter.
#[derive(Debug, Clone, PartialEq)]
pub enum Idle {
    /// Reconcile did not complete: no entry, but protect still ran.
    ReconcileIncomplete,
    /// The decision asked for nothing (its word).
    NothingToDo(String),
}

/// `tick`: the steps in order, and the cycle's exit code (the worst step's).
#[derive(Debug)]
pub struct TickOutcome {
    pub steps: Vec<TickStep>,
    pub idle: Option<Idle>,
    /// The protect step was skipped because no position was open.
    pub no_position_to_protect: bool,
    /// HALTED at the end of an otherwise clean cycle (the reason): the tick exits 3.
    pub halted: Option<String>,
    pub exit: ExitCode,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leg(role: OrderRole, kind: LegFailureKind, detail: &str) -> LegFailure {
        LegFailure { role, client_id: format!("mc_p_{}_1", role.as_str()), kind, detail: detail.into() }
    }

    /// The forced close's reason word is the first failed leg's role and kind, as journals name it
    /// (`forced_close:stop_would_trigger`); the summary keeps every leg's words.
    #[test]
    fn a_protection_failure_names_its_first_leg() {
        let f = ProtectionFailure {
            legs: vec![
                leg(OrderRole::Stop, LegFailureKind::WouldTrigger, "-2021 Order would immediately trigger."),
                leg(OrderRole::Tp, LegFailureKind::AckTimeout, "1200 ms > 1000 ms"),
            ],
        };
        assert_eq!(f.word(), "stop_would_trigger");
        assert_eq!(f.exit_reason().to_string(), "forced_close:stop_would_trigger");
        assert_eq!(
            f.summary(),
            "stop_would_trigger: stop would_trigger: -2021 Order would immediately trigger.; tp ack_timeout (1200 ms > 1000 ms)"
        );
        assert_eq!(ProtectionFailure { legs: vec![] }.word(), "protection_failed");
    }

    /// Every leg kind's word parses back as an exit reason (replay reads them).
    #[test]
    fn every_leg_kind_makes_a_valid_exit_reason() {
        use LegFailureKind::*;
        for k in [WouldTrigger, AckTimeout, Unavailable, Rejected, EndedAfterAmbiguousSend, LookupFailed] {
            let f = ProtectionFailure { legs: vec![leg(OrderRole::Tp, k, "x")] };
            let text = f.exit_reason().to_string();
            assert_eq!(text.parse::<ExitReason>(), Ok(f.exit_reason()), "{text}");
            assert!(f.legs[0].why().starts_with(k.word()), "{}", f.legs[0].why());
        }
    }

    /// The exit codes of the contract (§2): a failure path is 10, a safe failure 1.
    #[test]
    fn outcomes_carry_their_exit_codes() {
        let failed = ProtectionFailed {
            failure: ProtectionFailure { legs: vec![] },
            close: ForcedClose::NotConfirmed { budget_ms: 1 },
        };
        assert_eq!(failed.word(), "close_failed");
        assert_eq!(EntryOutcome::ProtectionFailed(failed.clone()).exit_code(), ExitCode::Critical);
        assert_eq!(
            EntryOutcome::NotFilled { plan_id: "p".into(), why: NotFilledWhy::FillWindow }.exit_code(),
            ExitCode::Failed
        );
        assert_eq!(EntryOutcome::NoPlan.exit_code(), ExitCode::Ok);
        let read = ReadFailed {
            read_error: "timeout".into(),
            result: ReadFailedResult::Protected {
                protection: Protection::Covered { qty: Decimal::ONE, covers: vec![] },
                position_read: true,
                unverified: vec![],
            },
        };
        assert_eq!(read.exit_code(), ExitCode::Failed);
        assert_eq!(read.word(), "read_failed_protected");
        assert_eq!(ProtectOutcome::ReadFailed(read).exit_code(), ExitCode::Failed);
        assert_eq!(
            CloseOutcome::NotConfirmed { budget_ms: 1, protection_restored: true }.exit_code(),
            ExitCode::Critical
        );
        assert_eq!(TickStep::Evaluate(Box::new(Err(Error::Failed("x".into())))).exit_code(), Some(ExitCode::Failed));
        assert_eq!(TickStep::PostureAfterFailedRead(Ok(None)).exit_code(), None);
    }
}
