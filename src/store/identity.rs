//! State identity (CONTRACT §14): the `bot_id`, `symbol`, `exchange.kind` and `exchange.base_url`
//! a state DB belongs to, so that two configs never act on one DB (another bot's plan, or a
//! testnet position marked closed by a production config).

use crate::store::{Store, StoreResult};
use rusqlite::{params, OptionalExtension};

/// What a state DB was created for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StateIdentity {
    pub bot_id: String,
    pub symbol: String,
    /// `exchange.kind` as written in the config ("binance", "paper").
    pub exchange_kind: String,
    pub base_url: String,
}

/// The first config key (dotted) whose value differs from the recorded one, with both values.
/// Pure: the caller turns it into the exit-2 error.
pub(crate) fn first_difference(
    recorded: &StateIdentity,
    configured: &StateIdentity,
) -> Option<(&'static str, String, String)> {
    [
        ("bot_id", &recorded.bot_id, &configured.bot_id),
        ("symbol", &recorded.symbol, &configured.symbol),
        ("exchange.kind", &recorded.exchange_kind, &configured.exchange_kind),
        ("exchange.base_url", &recorded.base_url, &configured.base_url),
    ]
    .into_iter()
    .find(|(_, a, b)| a != b)
    .map(|(k, a, b)| (k, a.clone(), b.clone()))
}

impl Store {
    /// The recorded identity, if any config has opened this DB since migration 8.
    pub fn identity(&self) -> StoreResult<Option<StateIdentity>> {
        Ok(self
            .conn
            .prepare_cached("SELECT bot_id, symbol, exchange_kind, base_url FROM state_identity WHERE id = 1")?
            .query_row([], |r| {
                Ok(StateIdentity {
                    bot_id: r.get(0)?,
                    symbol: r.get(1)?,
                    exchange_kind: r.get(2)?,
                    base_url: r.get(3)?,
                })
            })
            .optional()?)
    }

    /// Records `id` unless an identity is already recorded (the first config adopts the DB), and
    /// returns the identity now recorded. One statement: two first openers cannot both win.
    pub fn adopt_identity(&self, id: &StateIdentity, now_ms: i64) -> StoreResult<StateIdentity> {
        self.conn
            .prepare_cached(
                "INSERT INTO state_identity (id, bot_id, symbol, exchange_kind, base_url, adopted_ms) \
                 VALUES (1, ?1, ?2, ?3, ?4, ?5) ON CONFLICT(id) DO NOTHING",
            )?
            .execute(params![id.bot_id, id.symbol, id.exchange_kind, id.base_url, now_ms])?;
        Ok(self.identity()?.unwrap_or_else(|| id.clone()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(bot: &str, url: &str) -> StateIdentity {
        StateIdentity {
            bot_id: bot.into(),
            symbol: "BTCUSDT".into(),
            exchange_kind: "binance".into(),
            base_url: url.into(),
        }
    }

    #[test]
    fn first_difference_names_the_first_differing_key() {
        let a = id("mc", "https://demo-fapi.binance.com");
        assert_eq!(first_difference(&a, &a), None);
        let b = id("mx", "https://fapi.binance.com");
        assert_eq!(first_difference(&a, &b).map(|d| d.0), Some("bot_id"));
        let c = id("mc", "https://fapi.binance.com");
        assert_eq!(first_difference(&a, &c).map(|d| d.0), Some("exchange.base_url"));
    }

    #[test]
    fn the_first_opener_adopts_and_later_ones_cannot_overwrite() {
        let dir = tempfile::tempdir().unwrap();
        let s = Store::open(&dir.path().join("s.db"), 1).unwrap();
        assert_eq!(s.identity().unwrap(), None);
        let a = id("mc", "https://demo-fapi.binance.com");
        assert_eq!(s.adopt_identity(&a, 2).unwrap(), a);
        assert_eq!(s.adopt_identity(&id("mx", "http://x"), 3).unwrap(), a);
        assert!(s.conn.execute("UPDATE state_identity SET bot_id = 'mx'", []).is_err());
        assert!(s.conn.execute("DELETE FROM state_identity", []).is_err());
    }
}
