//! Trade history from the journal alone (CONTRACT §11): one [`Trade`] per `position_closed`
//! audit, its entry read back from the plan's ENTRY fills (folded through the same [`Ledger`]
//! live code and `replay` use), and the [`Totals`] over them. Also the one realised-PnL rule
//! ([`price_pnl`]) that `exec::close` applies when it finalises a position, and the R multiple.
//!
//! Unknown is not zero: a fee, funding amount or price the journal does not hold stays `None`
//! on the row; totals sum what is known and count what is not.

use crate::core::audit;
use crate::core::ledger::{Ledger, OrderFact};
use crate::core::order::{OrderEvent, OrderRole};
use crate::core::replay::{AuditFact, JournalFact};
use crate::core::types::PositionSide;
use rust_decimal::Decimal;
use serde::Serialize;
use std::collections::BTreeMap;
use std::str::FromStr;

/// Realised price PnL of closing `qty` of a `side` position opened at `entry` at `exit`, in the
/// quote asset, before fees and funding. The one rule: `exec::close` journals it, `trades` reads it.
pub(crate) fn price_pnl(side: PositionSide, entry: Decimal, exit: Decimal, qty: Decimal) -> Decimal {
    (exit - entry) * qty * side.sign()
}

/// PnL in units of the initial risk `|entry − stop| × qty`; `None` when that risk is zero.
pub(crate) fn r_multiple(pnl: Decimal, entry: Decimal, stop: Decimal, qty: Decimal) -> Option<Decimal> {
    let risk = (entry - stop).abs() * qty;
    (risk > Decimal::ZERO).then(|| (pnl / risk).round_dp(2))
}

/// One closed trade.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Trade {
    pub plan_id: String,
    pub side: Option<PositionSide>,
    pub qty: Option<Decimal>,
    /// The first ENTRY fill row (or the adoption) of this position, ms.
    pub entry_ms: Option<i64>,
    pub entry_price: Option<Decimal>,
    /// The exchange's time of the fill that closed it (`exit_time_ms`: a STOP/TP found filled by
    /// a later reconcile), else the `position_closed` row's time, ms.
    pub exit_ms: i64,
    pub exit_price: Option<Decimal>,
    pub exit_reason: String,
    /// Price PnL before fees and funding ([`price_pnl`]).
    pub realized_pnl: Option<Decimal>,
    /// Commission of the trade's fills, when the exchange told us.
    pub fees: Option<Decimal>,
    /// Funding received (+) or paid (−) while open, when journaled.
    pub funding: Option<Decimal>,
    /// `realized_pnl − fees + funding`, the unknown parts left out (see `fees`/`funding`).
    pub net_pnl: Option<Decimal>,
    /// `realized_pnl / (|entry − initial stop| × qty)`.
    pub r_multiple: Option<Decimal>,
    /// The initial STOP the R multiple is measured against.
    pub stop: Option<Decimal>,
}

/// Totals over a list of trades.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub(crate) struct Totals {
    pub trades: usize,
    /// Trades with a positive net PnL.
    pub wins: usize,
    /// `wins / trades with a known PnL`, a fraction (0 when there are none).
    pub win_rate: Decimal,
    pub realized_pnl: Decimal,
    pub fees: Decimal,
    pub funding: Decimal,
    pub net_pnl: Decimal,
    /// The largest fall of cumulative net PnL from its running peak (peak starts at 0), ≥ 0.
    pub max_drawdown: Decimal,
    /// Trades whose PnL the journal does not hold (left out of every sum).
    pub pnl_unknown: usize,
    /// Trades whose fees the journal does not hold.
    pub fees_unknown: usize,
    /// Trades whose funding the journal does not hold (the exchange did not answer at close).
    pub funding_unknown: usize,
}

/// Totals over `trades` in the order given (oldest exit first).
pub(crate) fn totals(trades: &[Trade]) -> Totals {
    let mut t = Totals { trades: trades.len(), ..Totals::default() };
    let (mut cum, mut peak, mut known) = (Decimal::ZERO, Decimal::ZERO, 0usize);
    for tr in trades {
        t.fees += tr.fees.unwrap_or_default();
        t.funding += tr.funding.unwrap_or_default();
        t.fees_unknown += usize::from(tr.fees.is_none());
        t.funding_unknown += usize::from(tr.funding.is_none());
        let (Some(gross), Some(net)) = (tr.realized_pnl, tr.net_pnl) else {
            t.pnl_unknown += 1;
            continue;
        };
        known += 1;
        t.realized_pnl += gross;
        t.net_pnl += net;
        if net > Decimal::ZERO {
            t.wins += 1;
        }
        cum += net;
        peak = peak.max(cum);
        t.max_drawdown = t.max_drawdown.max(peak - cum);
    }
    if known > 0 {
        t.win_rate = (Decimal::from(t.wins) / Decimal::from(known)).round_dp(4);
    }
    t
}

/// What a plan's rows told so far about its open position.
#[derive(Default)]
struct Open {
    ledger: Ledger,
    side: Option<PositionSide>,
    stop: Option<Decimal>,
    entry_ms: Option<i64>,
    entry_price: Option<Decimal>,
}

/// Every closed trade in the journal, oldest exit first; `since_ms` keeps those that closed at or
/// after it. Rows may come in any order; they are read by seq.
pub(crate) fn closed_trades(facts: &[JournalFact], since_ms: Option<i64>) -> Vec<Trade> {
    let mut rows: Vec<&JournalFact> = facts.iter().collect();
    rows.sort_by_key(|f| f.seq());
    let mut open: BTreeMap<String, Open> = BTreeMap::new();
    let mut out = Vec::new();
    for f in rows {
        let Some(plan) = f.plan_id() else { continue };
        let st = open.entry(plan.to_string()).or_default();
        match f {
            JournalFact::Order { fact, .. } => order_row(st, fact),
            JournalFact::Audit(a) if a.kind == audit::POSITION_CLOSED => {
                let st = open.remove(plan).unwrap_or_default();
                let t = trade(plan, &st, a);
                if since_ms.is_none_or(|s| t.exit_ms >= s) {
                    out.push(t);
                }
            }
            JournalFact::Audit(a) => audit_row(st, a),
        }
    }
    out
}

fn order_row(st: &mut Open, f: &OrderFact) {
    if st.ledger.apply(f).is_err() {
        return; // `replay` names it; the history keeps what it can read
    }
    match (f.role, f.event) {
        (OrderRole::Entry, OrderEvent::Filled | OrderEvent::PartiallyFilled)
            if f.qty.is_some_and(|q| q > Decimal::ZERO) =>
        {
            st.entry_ms.get_or_insert(f.ts_ms);
        }
        (OrderRole::Stop, OrderEvent::Submitting) => {
            st.stop = st.stop.or(f.price);
        }
        _ => {}
    }
}

fn audit_row(st: &mut Open, a: &AuditFact) {
    let d = data(a);
    match a.kind.as_str() {
        audit::ENTRY_SUBMITTED => {
            st.side = st.side.or_else(|| side(&d["side"]));
            // The plan's stop is the R the trade was sized on.
            if let Some(s) = dec(&d["stop"]) {
                st.stop = Some(s);
            }
        }
        audit::ENTRY_FILLED => {
            st.entry_price = dec(&d["avg_price"]).or(st.entry_price);
        }
        audit::POSITION_ADOPTED => {
            st.entry_ms.get_or_insert(a.ts_ms);
            st.entry_price = st.entry_price.or_else(|| dec(&d["entry_price"]));
            st.side = st.side.or_else(|| side(&d["side"]));
        }
        _ => {}
    }
}

/// The trade a `position_closed` row finalises.
fn trade(plan: &str, st: &Open, a: &AuditFact) -> Trade {
    let d = data(a);
    let entry_fill = st
        .ledger
        .of(plan, OrderRole::Entry)
        .into_iter()
        .find_map(|o| o.fill_price.filter(|_| o.filled_qty.is_some_and(|q| q > Decimal::ZERO)));
    let entry_price = dec(&d["entry_price"]).or(entry_fill).or(st.entry_price);
    let side = side(&d["side"]).or(st.side);
    let qty = dec(&d["qty"]);
    let exit_price = dec(&d["exit_price"]).filter(|p| *p > Decimal::ZERO);
    let computed = match (side, entry_price, exit_price, qty) {
        (Some(s), Some(e), Some(x), Some(q)) => Some(price_pnl(s, e, x, q)),
        _ => None,
    };
    let realized_pnl = dec(&d["realized_pnl"]).or(computed);
    let fees = dec(&d["fees"]);
    let funding = dec(&d["funding"]);
    let net_pnl = realized_pnl.map(|p| p - fees.unwrap_or_default() + funding.unwrap_or_default());
    let r_multiple = match (realized_pnl, entry_price, st.stop, qty) {
        (Some(p), Some(e), Some(s), Some(q)) => r_multiple(p, e, s, q),
        _ => None,
    };
    Trade {
        plan_id: plan.to_string(),
        side,
        qty,
        entry_ms: st.entry_ms,
        entry_price,
        exit_ms: d["exit_time_ms"].as_i64().filter(|t| *t > 0).unwrap_or(a.ts_ms),
        exit_price,
        exit_reason: d["exit_reason"].as_str().unwrap_or("unknown").to_string(),
        realized_pnl,
        fees,
        funding,
        net_pnl,
        r_multiple,
        stop: st.stop,
    }
}

fn data(a: &AuditFact) -> serde_json::Value {
    a.data.as_deref().and_then(|s| serde_json::from_str(s).ok()).unwrap_or(serde_json::Value::Null)
}

fn dec(v: &serde_json::Value) -> Option<Decimal> {
    v.as_str().and_then(|s| Decimal::from_str(s).ok())
}

fn side(v: &serde_json::Value) -> Option<PositionSide> {
    match v.as_str()? {
        "LONG" => Some(PositionSide::Long),
        "SHORT" => Some(PositionSide::Short),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal_macros::dec;

    fn closed(pnl: Option<Decimal>, fees: Option<Decimal>) -> Trade {
        Trade {
            plan_id: "p".into(),
            side: Some(PositionSide::Long),
            qty: Some(dec!(1)),
            entry_ms: Some(0),
            entry_price: Some(dec!(100)),
            exit_ms: 1,
            exit_price: None,
            exit_reason: "manual".into(),
            realized_pnl: pnl,
            fees,
            funding: None,
            net_pnl: pnl.map(|p| p - fees.unwrap_or_default()),
            r_multiple: None,
            stop: None,
        }
    }

    #[test]
    fn the_pnl_rule_signs_by_side() {
        assert_eq!(price_pnl(PositionSide::Long, dec!(100), dec!(110), dec!(0.5)), dec!(5.0));
        assert_eq!(price_pnl(PositionSide::Short, dec!(100), dec!(110), dec!(0.5)), dec!(-5.0));
        assert_eq!(r_multiple(dec!(10), dec!(100), dec!(95), dec!(1)), Some(dec!(2)));
        assert_eq!(r_multiple(dec!(10), dec!(100), dec!(100), dec!(1)), None);
    }

    #[test]
    fn empty_history_gives_zero_totals() {
        assert_eq!(totals(&[]), Totals::default());
        assert!(closed_trades(&[], None).is_empty());
    }

    /// Hand-computed: nets +10, −4, −8, +3, −6 (fees 1 each on gross 11, −3, −7, 4, −5).
    /// Cumulative 10, 6, −2, 1, −5: peak 10, deepest −5 → drawdown 15. Wins 2 of 5 = 0.4.
    #[test]
    fn win_rate_and_max_drawdown_by_hand() {
        let t: Vec<Trade> =
            [dec!(11), dec!(-3), dec!(-7), dec!(4), dec!(-5)].iter().map(|g| closed(Some(*g), Some(dec!(1)))).collect();
        let s = totals(&t);
        assert_eq!(s.trades, 5);
        assert_eq!(s.wins, 2);
        assert_eq!(s.win_rate, dec!(0.4));
        assert_eq!(s.realized_pnl, dec!(0));
        assert_eq!(s.fees, dec!(5));
        assert_eq!(s.net_pnl, dec!(-5));
        assert_eq!(s.max_drawdown, dec!(15));
    }

    /// A losing first trade is a drawdown from the starting peak of 0; a trade that only wins has
    /// none; a break-even trade is not a win.
    #[test]
    fn drawdown_from_zero_and_break_even() {
        let s = totals(&[closed(Some(dec!(-2)), Some(dec!(0))), closed(Some(dec!(5)), Some(dec!(0)))]);
        assert_eq!(s.max_drawdown, dec!(2));
        assert_eq!(s.win_rate, dec!(0.5));
        let s = totals(&[closed(Some(dec!(3)), Some(dec!(0))), closed(Some(dec!(0)), Some(dec!(0)))]);
        assert_eq!((s.max_drawdown, s.wins), (dec!(0), 1));
    }

    /// Unknown is not zero: a trade without a PnL is counted apart and left out of the win rate.
    #[test]
    fn unknown_pnl_and_fees_are_counted_not_zeroed() {
        let s = totals(&[closed(None, None), closed(Some(dec!(4)), None), closed(Some(dec!(-1)), Some(dec!(1)))]);
        assert_eq!((s.trades, s.pnl_unknown, s.fees_unknown, s.funding_unknown), (3, 1, 2, 3));
        assert_eq!(s.win_rate, dec!(0.5));
        assert_eq!(s.net_pnl, dec!(2));
    }

    fn audit(seq: i64, kind: &str, data: &str) -> JournalFact {
        JournalFact::Audit(AuditFact {
            seq,
            ts_ms: seq * 1000,
            severity: "INFO".into(),
            kind: kind.into(),
            plan_id: Some("p1".into()),
            message: String::new(),
            data: Some(data.into()),
        })
    }

    fn order(seq: i64, role: OrderRole, event: OrderEvent, price: Decimal, qty: Decimal) -> JournalFact {
        let r = role.as_str();
        JournalFact::Order {
            fact: OrderFact {
                seq,
                ts_ms: seq * 1000,
                plan_id: Some("p1".into()),
                client_id: format!("mc_p1_{r}_1"),
                role,
                attempt: 1,
                event,
                exchange_order_id: None,
                price: Some(price),
                qty: Some(qty),
            },
            detail: None,
        }
    }

    /// A short closed by its TP at 2R: entry from the ENTRY fill row, R from the plan's stop.
    #[test]
    fn a_trade_is_rebuilt_from_its_rows() {
        let facts = vec![
            audit(1, audit::ENTRY_SUBMITTED, r#"{"side":"SHORT","stop":"110","qty":"2"}"#),
            order(2, OrderRole::Entry, OrderEvent::Submitting, dec!(100), dec!(2)),
            order(3, OrderRole::Entry, OrderEvent::Filled, dec!(101), dec!(2)),
            order(4, OrderRole::Stop, OrderEvent::Submitting, dec!(111), dec!(2)),
            audit(
                9,
                audit::POSITION_CLOSED,
                r#"{"exit_reason":"tp_hit","exit_price":"83","realized_pnl":"36","fees":"0.5","qty":"2"}"#,
            ),
        ];
        let t = closed_trades(&facts, None);
        assert_eq!(t.len(), 1);
        let t = &t[0];
        assert_eq!(
            (t.side, t.entry_price, t.entry_ms, t.exit_ms),
            (Some(PositionSide::Short), Some(dec!(101)), Some(3000), 9000)
        );
        assert_eq!(
            (t.realized_pnl, t.fees, t.net_pnl, t.funding),
            (Some(dec!(36)), Some(dec!(0.5)), Some(dec!(35.5)), None)
        );
        // risk = |101 − 110| × 2 = 18; 36 / 18 = 2R.
        assert_eq!(t.r_multiple, Some(dec!(2)));
        assert_eq!(t.exit_reason, "tp_hit");
        assert!(closed_trades(&facts, Some(9001)).is_empty());
        assert_eq!(closed_trades(&facts, Some(9000)).len(), 1);
    }

    /// The exchange's fill time (`exit_time_ms`) is the exit time when the row has it; the
    /// journaled funding enters the net PnL; a row without either keeps its own time and null.
    #[test]
    fn exit_time_and_funding_come_from_the_close_row() {
        let facts = vec![
            audit(1, audit::POSITION_ADOPTED, r#"{"qty":"1","entry_price":"50","side":"LONG"}"#),
            audit(
                5,
                audit::POSITION_CLOSED,
                r#"{"exit_reason":"stop_hit","exit_price":"45","qty":"1","fees":"0.1","funding":"-0.25","exit_time_ms":2500}"#,
            ),
            audit(6, audit::POSITION_ADOPTED, r#"{"qty":"1","entry_price":"50","side":"LONG"}"#),
            audit(
                7,
                audit::POSITION_CLOSED,
                r#"{"exit_reason":"external","exit_price":"45","qty":"1","funding":null,"exit_time_ms":null}"#,
            ),
        ];
        let t = closed_trades(&facts, None);
        assert_eq!((t[0].exit_ms, t[0].funding, t[0].net_pnl), (2500, Some(dec!(-0.25)), Some(dec!(-5.35))));
        assert_eq!((t[1].exit_ms, t[1].funding), (7000, None));
        let s = totals(&t);
        assert_eq!((s.funding, s.funding_unknown), (dec!(-0.25), 1));
        // `--since` reads the exchange's time too.
        assert_eq!(closed_trades(&facts, Some(2501)).len(), 1);
    }

    /// A `position_closed` without a journaled PnL (an older row) gets it from the one rule.
    #[test]
    fn missing_pnl_is_computed_by_the_same_rule() {
        let facts = vec![
            audit(1, audit::POSITION_ADOPTED, r#"{"qty":"1","entry_price":"50","side":"LONG"}"#),
            audit(2, audit::POSITION_CLOSED, r#"{"exit_reason":"external","exit_price":"45","qty":"1"}"#),
        ];
        let t = &closed_trades(&facts, None)[0];
        assert_eq!((t.realized_pnl, t.entry_ms, t.fees, t.r_multiple), (Some(dec!(-5)), Some(1000), None, None));
    }

    /// Hostile journals: rows out of order, an unreadable `data`, a plan closed twice (adopted
    /// again after its first close), a refused first ENTRY. Nothing panics; unknown stays unknown.
    #[test]
    fn hostile_journals_are_read_not_guessed() {
        let order_n = |seq: i64, attempt: u32, event: OrderEvent, price: Decimal| -> JournalFact {
            let JournalFact::Order { mut fact, detail } = order(seq, OrderRole::Entry, event, price, dec!(1)) else {
                unreachable!()
            };
            fact.attempt = attempt;
            fact.client_id = format!("mc_p1_ENTRY_{attempt}");
            JournalFact::Order { fact, detail }
        };
        let mut facts = vec![
            audit(8, audit::POSITION_CLOSED, r#"{"exit_reason":"manual","exit_price":"120","qty":"1","side":"LONG"}"#),
            order_n(3, 1, OrderEvent::Rejected, dec!(0)),
            order_n(2, 1, OrderEvent::Submitting, dec!(100)),
            order_n(4, 2, OrderEvent::Submitting, dec!(100)),
            order_n(5, 2, OrderEvent::Filled, dec!(102)),
            audit(10, audit::POSITION_ADOPTED, r#"{"qty":"1","entry_price":"90","side":"SHORT"}"#),
            audit(12, audit::POSITION_CLOSED, "not json"),
        ];
        facts.rotate_left(3);
        let t = closed_trades(&facts, None);
        assert_eq!(t.len(), 2);
        // The filled attempt 2 is the entry; the PnL comes from the one rule.
        assert_eq!((t[0].entry_price, t[0].entry_ms, t[0].realized_pnl), (Some(dec!(102)), Some(5000), Some(dec!(18))));
        // The second position of the plan starts from its adoption, not from the first one's rows.
        assert_eq!(
            (t[1].entry_price, t[1].entry_ms, t[1].side),
            (Some(dec!(90)), Some(10_000), Some(PositionSide::Short))
        );
        assert_eq!((t[1].exit_reason.as_str(), t[1].realized_pnl, t[1].qty), ("unknown", None, None));
        let s = totals(&t);
        assert_eq!((s.trades, s.pnl_unknown, s.wins), (2, 1, 1));
    }
}
