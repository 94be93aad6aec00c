//! `mcbot trades`: closed trades from the journal alone (CONTRACT §11): a table, `--csv` (RFC
//! 4180) or `--json`. Reads the DB only (no lock, no exchange call); the rows and totals come from
//! `core::trades`.

use crate::clock::rfc3339;
use crate::cmd::Ctx;
use crate::core::trades::{closed_trades, totals, Totals, Trade};
use crate::error::{Error, Result};
use crate::outcome::Report;
use rust_decimal::Decimal;
use serde_json::{json, Value};

/// Arguments of `mcbot trades`.
#[derive(Debug, clap::Args)]
pub struct TradesArgs {
    /// Only trades closed on or after this day (UTC), YYYY-MM-DD
    #[arg(long, value_name = "YYYY-MM-DD", value_parser = since_ms)]
    pub since: Option<i64>,
    /// Print CSV (a header row, then one row per trade) instead of the table
    #[arg(long)]
    pub csv: bool,
}

/// `--since`: midnight UTC of the day, in ms; clap turns an error into exit 2 before anything runs.
fn since_ms(s: &str) -> std::result::Result<i64, String> {
    let d = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|_| format!("{s:?} is not a date YYYY-MM-DD"))?;
    d.and_hms_opt(0, 0, 0).map(|t| t.and_utc().timestamp_millis()).ok_or_else(|| format!("{s:?} has no midnight"))
}

/// The CSV columns, in order (also the JSON keys of a trade).
const COLUMNS: [&str; 14] = [
    "plan_id",
    "side",
    "qty",
    "entry_time",
    "entry_price",
    "exit_time",
    "exit_price",
    "exit_reason",
    "realized_pnl",
    "fees",
    "funding",
    "net_pnl",
    "r_multiple",
    "stop",
];

fn d(v: Option<Decimal>) -> Option<String> {
    v.map(|x| x.normalize().to_string())
}

/// One trade's values in [`COLUMNS`] order; `None` is unknown.
fn cells(t: &Trade) -> [Option<String>; 14] {
    [
        Some(t.plan_id.clone()),
        t.side.map(|s| s.as_str().to_string()),
        d(t.qty),
        t.entry_ms.map(rfc3339),
        d(t.entry_price),
        Some(rfc3339(t.exit_ms)),
        d(t.exit_price),
        Some(t.exit_reason.clone()),
        d(t.realized_pnl),
        d(t.fees),
        d(t.funding),
        d(t.net_pnl),
        d(t.r_multiple),
        d(t.stop),
    ]
}

/// One trade as JSON: the [`COLUMNS`] as keys, decimals as strings, unknown as null.
pub(crate) fn trade_json(t: &Trade) -> Value {
    let m: serde_json::Map<String, Value> =
        COLUMNS.iter().zip(cells(t)).map(|(k, v)| ((*k).to_string(), v.map_or(Value::Null, Value::String))).collect();
    Value::Object(m)
}

/// The totals as JSON, decimals as strings.
pub(crate) fn totals_json(t: &Totals) -> Value {
    let s = |x: Decimal| x.normalize().to_string();
    json!({
        "trades": t.trades, "wins": t.wins, "win_rate": s(t.win_rate), "realized_pnl": s(t.realized_pnl),
        "fees": s(t.fees), "funding": s(t.funding), "net_pnl": s(t.net_pnl), "max_drawdown": s(t.max_drawdown),
        "pnl_unknown": t.pnl_unknown, "fees_unknown": t.fees_unknown, "funding_unknown": t.funding_unknown,
    })
}

/// RFC 4180: a header row and one row per trade, fields quoted where needed, CRLF line ends.
pub(crate) fn to_csv(trades: &[Trade]) -> Result<String> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::CRLF).from_writer(Vec::new());
    let io = |e: csv::Error| Error::Failed(format!("writing CSV: {e}"));
    w.write_record(COLUMNS).map_err(io)?;
    for t in trades {
        w.write_record(cells(t).iter().map(|c| c.as_deref().unwrap_or(""))).map_err(io)?;
    }
    let bytes = w.into_inner().map_err(|e| Error::Failed(format!("writing CSV: {e}")))?;
    String::from_utf8(bytes).map_err(|e| Error::Failed(format!("writing CSV: {e}")))
}

/// Money in the table, to 4 places (the JSON and the CSV keep every digit).
fn money(v: Option<Decimal>) -> Option<String> {
    v.map(|x| x.round_dp(4).normalize().to_string())
}

fn text_line(t: &Trade) -> String {
    let u = |v: Option<String>| v.unwrap_or_else(|| "?".into());
    let [plan, side, qty, entry_at, entry_px, exit_at, exit_px, reason, _, _, _, _, r, _] = cells(t);
    let (pnl, fees, net) = (money(t.realized_pnl), money(t.fees), money(t.net_pnl));
    format!(
        "{} {} {} {} @ {} -> {} @ {} {}: pnl {} fees {} funding {} net {} R {}",
        u(plan),
        u(side),
        u(qty),
        u(entry_at),
        u(entry_px),
        u(exit_at),
        u(exit_px),
        u(reason),
        u(pnl),
        u(fees),
        u(money(t.funding)),
        u(net),
        u(r)
    )
}

/// `realised PnL 3 (fees 0.32, funding unknown, net 2.68, R 0.3)`: what `exit` and `replay` tell.
pub(crate) fn pnl_line(t: &Trade) -> String {
    let u = |v: Option<Decimal>| v.map_or_else(|| "unknown".to_string(), |x| x.normalize().to_string());
    format!(
        "realised PnL {} (fees {}, funding {}, net {}, R {})",
        u(t.realized_pnl),
        u(t.fees),
        u(t.funding),
        u(t.net_pnl),
        u(t.r_multiple)
    )
}

/// A sum for people: `unknown` when no trade's value is known, else the sum with a note.
fn known_sum(sum: Decimal, unknown: usize, of: usize) -> String {
    match unknown {
        0 => sum.round_dp(4).normalize().to_string(),
        n if n == of => "unknown".to_string(),
        n => format!("{} (+{n} unknown)", sum.round_dp(4).normalize()),
    }
}

/// The one-line totals summary.
pub(crate) fn totals_line(t: &Totals) -> String {
    format!(
        "totals: {} trades, win rate {}%, net PnL {} (price PnL {}, fees {}, funding {}), max drawdown {}",
        t.trades,
        (t.win_rate * Decimal::ONE_HUNDRED).round_dp(2).normalize(),
        known_sum(t.net_pnl, t.pnl_unknown, t.trades),
        known_sum(t.realized_pnl, t.pnl_unknown, t.trades),
        known_sum(t.fees, t.fees_unknown, t.trades),
        known_sum(t.funding, t.funding_unknown, t.trades),
        t.max_drawdown.round_dp(4).normalize()
    )
}

pub(crate) fn run(args: &TradesArgs, ctx: &mut Ctx) -> Result<Report> {
    if args.csv && ctx.json {
        return Err(Error::Usage("--csv and --json are two outputs; choose one".into()));
    }
    let facts = crate::cmd::replay::journal_facts(&ctx.store.full_journal()?);
    let trades = closed_trades(&facts, args.since);
    let sum = totals(&trades);
    let mut r = Report::ok("trades")
        .field("since", args.since.map(rfc3339))
        .field("trades", trades.iter().map(trade_json).collect::<Vec<_>>())
        .field("totals", totals_json(&sum));
    if args.csv {
        // The CSV is the whole text output: no summary line a spreadsheet would read as a row.
        r.push_line(to_csv(&trades)?.trim_end_matches("\r\n"));
        return Ok(r);
    }
    if trades.is_empty() {
        r.push_line("no closed trades");
    }
    for t in &trades {
        r.push_line(text_line(t));
    }
    r.push_line(totals_line(&sum));
    Ok(r)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::types::PositionSide;
    use rust_decimal_macros::dec;

    #[test]
    fn since_is_a_utc_day() {
        assert_eq!(since_ms("2026-12-01"), Ok(1_796_083_200_000));
        assert!(since_ms("2026-13-01").is_err());
        assert!(since_ms("yesterday").is_err());
    }

    /// RFC 4180: a field with a comma or a quote is quoted, quotes doubled; unknown is empty.
    #[test]
    fn csv_quotes_what_needs_quoting() {
        let t = Trade {
            plan_id: "abc123".into(),
            side: Some(PositionSide::Long),
            qty: Some(dec!(0.010)),
            entry_ms: None,
            entry_price: Some(dec!(100)),
            exit_ms: 0,
            exit_price: Some(dec!(110)),
            exit_reason: "forced_close:a,\"b\"".into(),
            realized_pnl: Some(dec!(0.1)),
            fees: None,
            funding: None,
            net_pnl: Some(dec!(0.1)),
            r_multiple: None,
            stop: None,
        };
        let csv = to_csv(&[t]).unwrap();
        let mut lines = csv.split("\r\n");
        assert_eq!(lines.next().unwrap(), COLUMNS.join(","));
        assert_eq!(
            lines.next().unwrap(),
            "abc123,LONG,0.01,,100,1970-01-01T00:00:00.000Z,110,\"forced_close:a,\"\"b\"\"\",0.1,,,0.1,,"
        );
    }
}
