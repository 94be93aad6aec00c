//! Order roles and the order lifecycle as an explicit state machine (seed 001 §11, seed 002 Stage 7).
//!
//! `transition` is the only way an order's state changes, in live code and in `replay` alike, so
//! the journal can never describe a lifecycle the live code would not have produced.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// The four logical order roles of a trade (seed 000 §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "UPPERCASE")]
pub enum OrderRole {
    Entry,
    Stop,
    Tp,
    Close,
}

impl OrderRole {
    pub const ALL: [OrderRole; 4] = [OrderRole::Entry, OrderRole::Stop, OrderRole::Tp, OrderRole::Close];
    pub fn as_str(self) -> &'static str {
        match self {
            OrderRole::Entry => "ENTRY",
            OrderRole::Stop => "STOP",
            OrderRole::Tp => "TP",
            OrderRole::Close => "CLOSE",
        }
    }
    /// STOP and TP are conditional orders (Binance Algo Order API).
    pub fn is_conditional(self) -> bool {
        matches!(self, OrderRole::Stop | OrderRole::Tp)
    }
}

impl fmt::Display for OrderRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderRole {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderRole::ALL.into_iter().find(|r| r.as_str() == s).ok_or_else(|| format!("not an order role: {s:?}"))
    }
}

/// Where one order (one client id) is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderState {
    /// Committed to the DB, not yet (known to be) sent.
    Intended,
    /// Sent, outcome ambiguous (timeout, 5xx, -1007): must be looked up by client id.
    Unknown,
    /// Accepted by the exchange, resting (a conditional order waiting for its trigger).
    Acked,
    /// A conditional order whose trigger fired; its child market order is working.
    Triggered,
    PartiallyFilled,
    Filled,
    /// Definitely not accepted.
    Rejected,
    /// A look-up proved the order does not exist: it was never accepted.
    Absent,
    Cancelled,
    Expired,
}

/// What happened to an order; each `order_event` row carries one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum OrderEvent {
    /// The intent is committed before the request (two-phase submit).
    Submitting,
    Acked,
    Triggered,
    PartiallyFilled,
    Filled,
    Rejected,
    /// The outcome of a send is ambiguous.
    Unknown,
    /// A look-up by client id found nothing.
    NotFound,
    Cancelled,
    Expired,
    /// A cancel request failed; the order's state is unchanged.
    CancelFailed,
    /// A look-up confirmed the current state (no change).
    Observed,
}

impl OrderState {
    pub fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderState::Filled
                | OrderState::Rejected
                | OrderState::Absent
                | OrderState::Cancelled
                | OrderState::Expired
        )
    }
    /// The order may still be (or become) live on the exchange.
    pub fn may_be_live(self) -> bool {
        !self.is_terminal()
    }
    pub fn as_str(self) -> &'static str {
        match self {
            OrderState::Intended => "INTENDED",
            OrderState::Unknown => "UNKNOWN",
            OrderState::Acked => "ACKED",
            OrderState::Triggered => "TRIGGERED",
            OrderState::PartiallyFilled => "PARTIALLY_FILLED",
            OrderState::Filled => "FILLED",
            OrderState::Rejected => "REJECTED",
            OrderState::Absent => "ABSENT",
            OrderState::Cancelled => "CANCELLED",
            OrderState::Expired => "EXPIRED",
        }
    }
}

impl OrderEvent {
    pub const ALL: [OrderEvent; 12] = [
        OrderEvent::Submitting,
        OrderEvent::Acked,
        OrderEvent::Triggered,
        OrderEvent::PartiallyFilled,
        OrderEvent::Filled,
        OrderEvent::Rejected,
        OrderEvent::Unknown,
        OrderEvent::NotFound,
        OrderEvent::Cancelled,
        OrderEvent::Expired,
        OrderEvent::CancelFailed,
        OrderEvent::Observed,
    ];
    pub fn as_str(self) -> &'static str {
        match self {
            OrderEvent::Submitting => "SUBMITTING",
            OrderEvent::Acked => "ACKED",
            OrderEvent::Triggered => "TRIGGERED",
            OrderEvent::PartiallyFilled => "PARTIALLY_FILLED",
            OrderEvent::Filled => "FILLED",
            OrderEvent::Rejected => "REJECTED",
            OrderEvent::Unknown => "UNKNOWN",
            OrderEvent::NotFound => "NOT_FOUND",
            OrderEvent::Cancelled => "CANCELLED",
            OrderEvent::Expired => "EXPIRED",
            OrderEvent::CancelFailed => "CANCEL_FAILED",
            OrderEvent::Observed => "OBSERVED",
        }
    }
}

impl fmt::Display for OrderEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl fmt::Display for OrderState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for OrderEvent {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrderEvent::ALL.into_iter().find(|e| e.as_str() == s).ok_or_else(|| format!("not an order event: {s:?}"))
    }
}

/// A transition the state machine does not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid order transition: {from:?} --{event}--> (no such edge)")]
pub struct InvalidTransition {
    pub from: Option<OrderState>,
    pub event: OrderEvent,
}

/// The order state machine. `from = None` means the order has no history yet; the only way in is
/// `Submitting` (persist before you act).
pub fn transition(from: Option<OrderState>, event: OrderEvent) -> Result<OrderState, InvalidTransition> {
    use OrderEvent as E;
    use OrderState as S;
    let bad = || InvalidTransition { from, event };
    let Some(state) = from else {
        return match event {
            E::Submitting => Ok(S::Intended),
            _ => Err(bad()),
        };
    };
    let next = match (state, event) {
        // A look-up may confirm any state.
        (s, E::Observed) => s,
        // Cancel failures change nothing, but only make sense while the order may be live.
        (s, E::CancelFailed) if s.may_be_live() => s,
        (S::Intended | S::Unknown, E::Acked) => S::Acked,
        (S::Intended | S::Unknown, E::Unknown) => S::Unknown,
        (S::Intended | S::Unknown, E::Rejected) => S::Rejected,
        (S::Intended | S::Unknown, E::NotFound) => S::Absent,
        (S::Intended | S::Unknown | S::Acked | S::Triggered | S::PartiallyFilled, E::PartiallyFilled) => {
            S::PartiallyFilled
        }
        (S::Intended | S::Unknown | S::Acked | S::Triggered | S::PartiallyFilled, E::Filled) => S::Filled,
        // An order can be accepted and end at once (a MARKET order that expires unfilled, an algo
        // order cancelled by the system) before any earlier answer was seen.
        (S::Intended | S::Unknown | S::Acked | S::Triggered | S::PartiallyFilled, E::Cancelled) => S::Cancelled,
        (S::Intended | S::Unknown | S::Acked | S::Triggered | S::PartiallyFilled, E::Expired) => S::Expired,
        (S::Unknown | S::Acked, E::Triggered) => S::Triggered,
        // A conditional order can be refused by the matching engine at trigger time.
        (S::Acked | S::Triggered, E::Rejected) => S::Rejected,
        _ => return Err(bad()),
    };
    Ok(next)
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEvent as E;
    use OrderState as S;

    const STATES: [OrderState; 10] = [
        S::Intended,
        S::Unknown,
        S::Acked,
        S::Triggered,
        S::PartiallyFilled,
        S::Filled,
        S::Rejected,
        S::Absent,
        S::Cancelled,
        S::Expired,
    ];

    /// The exhaustive (from, event) table: every pair not listed as valid must be refused.
    #[test]
    fn exhaustive_transition_table() {
        let valid: &[(Option<S>, E, S)] = &[
            (None, E::Submitting, S::Intended),
            (Some(S::Intended), E::Acked, S::Acked),
            (Some(S::Intended), E::Unknown, S::Unknown),
            (Some(S::Intended), E::Rejected, S::Rejected),
            (Some(S::Intended), E::NotFound, S::Absent),
            (Some(S::Intended), E::PartiallyFilled, S::PartiallyFilled),
            (Some(S::Intended), E::Filled, S::Filled),
            (Some(S::Intended), E::Cancelled, S::Cancelled),
            (Some(S::Intended), E::Expired, S::Expired),
            (Some(S::Unknown), E::Acked, S::Acked),
            (Some(S::Unknown), E::Unknown, S::Unknown),
            (Some(S::Unknown), E::Rejected, S::Rejected),
            (Some(S::Unknown), E::NotFound, S::Absent),
            (Some(S::Unknown), E::PartiallyFilled, S::PartiallyFilled),
            (Some(S::Unknown), E::Filled, S::Filled),
            (Some(S::Unknown), E::Cancelled, S::Cancelled),
            (Some(S::Unknown), E::Expired, S::Expired),
            (Some(S::Unknown), E::Triggered, S::Triggered),
            (Some(S::Acked), E::PartiallyFilled, S::PartiallyFilled),
            (Some(S::Acked), E::Filled, S::Filled),
            (Some(S::Acked), E::Cancelled, S::Cancelled),
            (Some(S::Acked), E::Expired, S::Expired),
            (Some(S::Acked), E::Triggered, S::Triggered),
            (Some(S::Acked), E::Rejected, S::Rejected),
            (Some(S::Triggered), E::PartiallyFilled, S::PartiallyFilled),
            (Some(S::Triggered), E::Filled, S::Filled),
            (Some(S::Triggered), E::Cancelled, S::Cancelled),
            (Some(S::Triggered), E::Expired, S::Expired),
            (Some(S::Triggered), E::Rejected, S::Rejected),
            (Some(S::PartiallyFilled), E::PartiallyFilled, S::PartiallyFilled),
            (Some(S::PartiallyFilled), E::Filled, S::Filled),
            (Some(S::PartiallyFilled), E::Cancelled, S::Cancelled),
            (Some(S::PartiallyFilled), E::Expired, S::Expired),
        ];
        let mut froms: Vec<Option<S>> = vec![None];
        froms.extend(STATES.iter().copied().map(Some));
        for from in froms {
            for event in E::ALL {
                let got = transition(from, event);
                let listed = valid.iter().find(|(f, e, _)| *f == from && *e == event);
                let expected = match (from, event) {
                    (Some(s), E::Observed) => Some(s),
                    (Some(s), E::CancelFailed) if !s.is_terminal() => Some(s),
                    _ => listed.map(|(_, _, to)| *to),
                };
                match expected {
                    Some(to) => assert_eq!(got, Ok(to), "{from:?} --{event}-->"),
                    None => assert!(got.is_err(), "{from:?} --{event}--> should be invalid, got {got:?}"),
                }
            }
        }
    }

    #[test]
    fn terminal_states_only_accept_observation() {
        for s in STATES.into_iter().filter(|s| s.is_terminal()) {
            for e in E::ALL {
                let r = transition(Some(s), e);
                assert_eq!(r.is_ok(), e == E::Observed, "{s:?} {e:?}");
            }
        }
    }

    #[test]
    fn names_round_trip() {
        for e in E::ALL {
            assert_eq!(e.as_str().parse::<E>(), Ok(e));
        }
        for r in OrderRole::ALL {
            assert_eq!(r.as_str().parse::<OrderRole>(), Ok(r));
        }
    }
}
