//! Positions: the lifecycle state machine and the reasons a position can end (CONTRACT §7.5).

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// Where a position is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum PositionState {
    /// ENTRY sent, not (fully) known to be filled.
    Opening,
    Open,
    /// A CLOSE (or a triggered STOP/TP) is working.
    Closing,
    Closed,
}

/// What happened to a position.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum PositionEvent {
    /// Some or all of the ENTRY filled.
    EntryFilled,
    /// The ENTRY ended with nothing filled.
    EntryAbandoned,
    /// Size or entry price corrected from the exchange (drift).
    Resized,
    CloseStarted,
    /// A close attempt failed; the position is still open.
    CloseFailed,
    /// The exchange shows the position flat.
    Flat,
}

impl PositionState {
    pub fn as_str(self) -> &'static str {
        match self {
            PositionState::Opening => "OPENING",
            PositionState::Open => "OPEN",
            PositionState::Closing => "CLOSING",
            PositionState::Closed => "CLOSED",
        }
    }
    pub fn is_active(self) -> bool {
        self != PositionState::Closed
    }
}

impl FromStr for PositionState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        [PositionState::Opening, PositionState::Open, PositionState::Closing, PositionState::Closed]
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| format!("not a position state: {s:?}"))
    }
}

impl fmt::Display for PositionState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A position transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid position transition: {from:?} --{event:?}-->")]
pub struct InvalidPositionTransition {
    pub from: PositionState,
    pub event: PositionEvent,
}

/// The position state machine.
pub fn transition(from: PositionState, event: PositionEvent) -> Result<PositionState, InvalidPositionTransition> {
    use PositionEvent as E;
    use PositionState as S;
    let next = match (from, event) {
        (S::Opening | S::Open, E::EntryFilled) => S::Open,
        (S::Opening, E::EntryAbandoned) => S::Closed,
        (S::Open | S::Closing, E::Resized) => from,
        (S::Open | S::Closing, E::CloseStarted) => S::Closing,
        (S::Closing, E::CloseFailed) => S::Open,
        (S::Opening | S::Open | S::Closing, E::Flat) => S::Closed,
        _ => return Err(InvalidPositionTransition { from, event }),
    };
    Ok(next)
}

/// Why a position ended: every exit has one (seed 000 §12.5).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum ExitReason {
    StopHit,
    TpHit,
    /// A regime exit decided by `evaluate`: trend_invalidation, volatility_contraction, ...
    Regime(String),
    Manual,
    /// The protection guarantee (or a fill window) forced the close; the text says why.
    ForcedClose(String),
    /// Closed by someone or something other than mcbot.
    External,
}

impl fmt::Display for ExitReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExitReason::StopHit => f.write_str("stop_hit"),
            ExitReason::TpHit => f.write_str("tp_hit"),
            ExitReason::Regime(r) => write!(f, "regime:{r}"),
            ExitReason::Manual => f.write_str("manual"),
            ExitReason::ForcedClose(w) => write!(f, "forced_close:{w}"),
            ExitReason::External => f.write_str("external"),
        }
    }
}

fn is_reason_word(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 64
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_' || b == b'-')
}

impl FromStr for ExitReason {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || {
            format!(
                "not an exit reason: {s:?} (expected stop_hit, tp_hit, manual, external, regime:<name> or forced_close:<why>)"
            )
        };
        match s {
            "stop_hit" => Ok(ExitReason::StopHit),
            "tp_hit" => Ok(ExitReason::TpHit),
            "manual" => Ok(ExitReason::Manual),
            "external" => Ok(ExitReason::External),
            _ => {
                if let Some(r) = s.strip_prefix("regime:") {
                    is_reason_word(r).then(|| ExitReason::Regime(r.to_string())).ok_or_else(err)
                } else if let Some(w) = s.strip_prefix("forced_close:") {
                    is_reason_word(w).then(|| ExitReason::ForcedClose(w.to_string())).ok_or_else(err)
                } else {
                    Err(err())
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_reasons_round_trip() {
        for s in ["stop_hit", "tp_hit", "manual", "external", "regime:trend_invalidation", "forced_close:stop_rejected"]
        {
            assert_eq!(s.parse::<ExitReason>().unwrap().to_string(), s);
        }
        for s in ["", "regime:", "forced_close:", "Stop_hit", "regime:Bad Name", "other"] {
            assert!(s.parse::<ExitReason>().is_err(), "{s}");
        }
    }

    #[test]
    fn exhaustive_position_table() {
        use PositionEvent as E;
        use PositionState as S;
        let states = [S::Opening, S::Open, S::Closing, S::Closed];
        let events = [E::EntryFilled, E::EntryAbandoned, E::Resized, E::CloseStarted, E::CloseFailed, E::Flat];
        let valid = [
            (S::Opening, E::EntryFilled, S::Open),
            (S::Open, E::EntryFilled, S::Open),
            (S::Opening, E::EntryAbandoned, S::Closed),
            (S::Open, E::Resized, S::Open),
            (S::Closing, E::Resized, S::Closing),
            (S::Open, E::CloseStarted, S::Closing),
            (S::Closing, E::CloseStarted, S::Closing),
            (S::Closing, E::CloseFailed, S::Open),
            (S::Opening, E::Flat, S::Closed),
            (S::Open, E::Flat, S::Closed),
            (S::Closing, E::Flat, S::Closed),
        ];
        for s in states {
            for e in events {
                let want = valid.iter().find(|(f, ev, _)| *f == s && *ev == e).map(|v| v.2);
                assert_eq!(transition(s, e).ok(), want, "{s:?} {e:?}");
            }
        }
    }
}
