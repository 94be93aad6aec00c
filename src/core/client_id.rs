//! Client order ids `<bot_id>_<trade_plan_id>_<ROLE>_<attempt>` (seed 000 §3.1, CONTRACT §5).
//!
//! The id is the only thing that ties an exchange order back to its plan after a crash, so it is
//! built and parsed in exactly one place.

use crate::core::order::OrderRole;
use std::fmt;

/// Binance's limit for `newClientOrderId` and `clientAlgoId`.
pub(crate) const MAX_LEN: usize = 36;

/// A validated client order id.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct ClientOrderId {
    pub bot_id: String,
    pub plan_id: String,
    pub role: OrderRole,
    pub attempt: u32,
}

/// Why a string is not one of our client ids.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum ClientIdError {
    #[error("client id {0:?} is longer than {MAX_LEN} characters")]
    TooLong(String),
    #[error("client id {0:?} is not of the form <bot>_<plan>_<ROLE>_<attempt>")]
    Malformed(String),
}

fn is_lower_alnum(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
}

impl ClientOrderId {
    pub(crate) fn new(bot_id: &str, plan_id: &str, role: OrderRole, attempt: u32) -> Result<Self, ClientIdError> {
        let id = ClientOrderId { bot_id: bot_id.to_string(), plan_id: plan_id.to_string(), role, attempt };
        let s = id.to_string();
        if !is_lower_alnum(bot_id) || !is_lower_alnum(plan_id) || attempt == 0 {
            return Err(ClientIdError::Malformed(s));
        }
        if s.len() > MAX_LEN {
            return Err(ClientIdError::TooLong(s));
        }
        Ok(id)
    }

    /// Parses a string; `None`-like errors for ids that are not ours (another bot, manual orders).
    pub(crate) fn parse(s: &str) -> Result<Self, ClientIdError> {
        if s.len() > MAX_LEN {
            return Err(ClientIdError::TooLong(s.to_string()));
        }
        let parts: Vec<&str> = s.split('_').collect();
        let [bot, plan, role, attempt] = parts.as_slice() else {
            return Err(ClientIdError::Malformed(s.to_string()));
        };
        let role: OrderRole = role.parse().map_err(|_| ClientIdError::Malformed(s.to_string()))?;
        let attempt: u32 = attempt.parse().map_err(|_| ClientIdError::Malformed(s.to_string()))?;
        if attempt.to_string() != *attempt_str(s) {
            return Err(ClientIdError::Malformed(s.to_string()));
        }
        ClientOrderId::new(bot, plan, role, attempt)
    }

    /// True when `s` is one of this bot's ids (the `<bot_id>_` prefix match of CONTRACT §5).
    pub(crate) fn is_ours(s: &str, bot_id: &str) -> bool {
        ClientOrderId::parse(s).is_ok_and(|id| id.bot_id == bot_id)
    }

    /// The same role and plan, next attempt (the tests' shorthand; exec counts attempts itself).
    #[cfg(test)]
    pub(crate) fn next_attempt(&self) -> Self {
        ClientOrderId { attempt: self.attempt + 1, ..self.clone() }
    }
}

fn attempt_str(s: &str) -> &str {
    s.rsplit('_').next().unwrap_or("")
}

impl fmt::Display for ClientOrderId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_{}_{}_{}", self.bot_id, self.plan_id, self.role.as_str(), self.attempt)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binance_pattern() {
        let id = ClientOrderId::new("mc", "a1b2c3d4e5f6", OrderRole::Entry, 1).unwrap();
        let s = id.to_string();
        assert_eq!(s, "mc_a1b2c3d4e5f6_ENTRY_1");
        assert!(s.len() <= MAX_LEN);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:/-".contains(&b) || b == b'_'));
        assert_eq!(ClientOrderId::parse(&s).unwrap(), id);
        assert_eq!(id.next_attempt().to_string(), "mc_a1b2c3d4e5f6_ENTRY_2");
    }

    #[test]
    fn longest_possible_id_fits() {
        let id = ClientOrderId::new("abcdefgh", "abcdefghijkl", OrderRole::Close, 99_999).unwrap();
        assert!(id.to_string().len() <= MAX_LEN, "{}", id);
    }

    #[test]
    fn foreign_and_malformed_ids_are_not_ours() {
        for s in [
            "x-xcKtGhcu123",
            "mc_plan_ENTRY",
            "mc_plan_ENTRY_0",
            "mc_plan_BOGUS_1",
            "mc_plan_ENTRY_01",
            "MC_plan_ENTRY_1",
            "mc_Plan_ENTRY_1",
            "other_abc123_STOP_1",
        ] {
            assert!(!ClientOrderId::is_ours(s, "mc"), "{s}");
        }
        assert!(ClientOrderId::is_ours("mc_abc123_TP_2", "mc"));
    }
}
