//! The money part of `status` (issue 13 §3): the balance and mark price the last `evaluate` read
//! (status itself reads no exchange), the open position's unrealised PnL at that mark, and the
//! realised PnL to date from the journal (the totals `trades` prints), as `store::pnl` reads them.
//! Kept apart from `status.rs` so the layout of status can change without touching the figures.

use crate::clock::rfc3339;
use crate::cmd::trades::totals_json;
use crate::outcome::Report;
use rust_decimal::Decimal;
use serde_json::{json, Value};

pub(crate) use crate::store::pnl::{read, PnlView};

/// Adds `balance`, `unrealized_pnl` and `realized_pnl` to the report (fields and lines).
pub(crate) fn add_to(r: &mut Report, t: &mut crate::cmd::human::Rows, v: &PnlView, position_open: bool) {
    let n = |d: Decimal| d.normalize().to_string();
    r.set("balance", v.seen.balance.map_or(Value::Null, |(b, t)| json!({"usdt": n(b), "as_of": rfc3339(t)})));
    r.set(
        "unrealized_pnl",
        match (v.unrealized, v.seen.mark_price) {
            (Some(u), Some((m, t))) => json!({"usdt": n(u), "mark_price": n(m), "as_of": rfc3339(t)}),
            _ => Value::Null,
        },
    );
    r.set("realized_pnl", totals_json(&v.realized));
    let time = crate::cmd::human::time;
    t.row(
        "balance",
        match v.seen.balance {
            Some((b, at)) => format!("{} USDT (as of {})", n(b), time(at)),
            None => "unknown (no evaluate has read it yet)".to_string(),
        },
    );
    if position_open {
        t.row(
            "unrealised PnL",
            match (v.unrealized, v.seen.mark_price) {
                (Some(u), Some((m, at))) => format!("{} USDT at mark {} (as of {})", n(u), n(m), time(at)),
                _ => "unknown (no mark price read yet)".to_string(),
            },
        );
    }
    let m = |d: Decimal| d.round_dp(4).normalize().to_string();
    t.row(
        "realised PnL",
        format!(
            "{} USDT net over {} trades (price PnL {}, fees {}; `mcbot trades` lists them)",
            m(v.realized.net_pnl),
            v.realized.trades,
            m(v.realized.realized_pnl),
            m(v.realized.fees)
        ),
    );
}
