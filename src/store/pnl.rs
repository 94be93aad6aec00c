//! The money figures `status` and the metrics textfile both show (issue 13 §3), read from the
//! store: the balance and mark price the last `evaluate` saw, the open position's unrealised PnL
//! at that mark, and the realised PnL to date from the journal. Here, below `cmd/`, so that
//! `alerts/` can read them without depending on a command (issue 16 item 3).

use crate::core::trades::{closed_trades, price_pnl, totals, Totals};
use crate::store::journal::journal_facts;
use crate::store::positions::PositionRecord;
use crate::store::runs::MarketSeen;
use crate::store::{Store, StoreResult};
use rust_decimal::Decimal;

/// The figures, as `status` and the metrics textfile show them.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct PnlView {
    pub seen: MarketSeen,
    /// `None` when flat or no mark price has been read yet.
    pub unrealized: Option<Decimal>,
    pub realized: Totals,
}

/// Reads what the figures need from the store.
pub(crate) fn read(store: &Store, position: Option<&PositionRecord>) -> StoreResult<PnlView> {
    let seen = store.market_seen()?;
    let unrealized = position
        .zip(seen.mark_price)
        .map(|(p, (mark, _))| price_pnl(p.side, p.entry_price, mark, p.qty).round_dp(8).normalize());
    let facts = journal_facts(&store.full_journal()?);
    Ok(PnlView { seen, unrealized, realized: totals(&closed_trades(&facts, None)) })
}
