//! `mcbot trades` (CONTRACT §11, issue 13 §3) through the binary: the history the journal tells
//! must be the exchange's own fills — against the stateful Binance mock after a real `enter` →
//! STOP fill and a take-profit, and against the paper exchange's fills after a `sim` run of ticks.
//! Seed 000 AC5: every exit has an auditable reason, and here also its PnL.

use crate::support::bot::Bot;
use crate::support::fault::Fault;
use crate::support::mock_binance::SYMBOL;
use crate::support::scenario::{cid, Scenario, PLAN};
use crate::support::TestEnv;
use mcbot::exchange::ConditionalStatus;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;
use serde_json::Value;
use std::str::FromStr;

fn d(v: &Value) -> Decimal {
    Decimal::from_str(v.as_str().unwrap_or_else(|| panic!("not a decimal string: {v}"))).unwrap()
}

const PLAN2: &str = "b1b2c3d4e5f7";

/// The mock's fills of one plan: (price of each fill by client id, Σ realised PnL, Σ commission).
fn fills_of(s: &Scenario, plan: &str) -> (Vec<(String, Decimal)>, Decimal, Decimal) {
    let f: Vec<_> = s.mock.fills().into_iter().filter(|f| f.0.contains(plan)).collect();
    let prices = f.iter().map(|x| (x.0.clone(), x.1)).collect();
    (prices, f.iter().map(|x| x.3).sum(), f.iter().map(|x| x.4).sum())
}

/// A losing STOP fill, then a winning TP: each row is what the exchange filled (entry and exit
/// price, realised PnL = Σ realizedPnl, fees = Σ commission), R is −1 and +2, and the totals
/// are their arithmetic (win rate ½, drawdown = the first trade's net loss).
#[test]
fn trades_match_the_mock_fills_after_a_stop_fill_and_a_take_profit() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.set_mark(dec!(38950)); // through the STOP at 39000
    s.run(&["reconcile"]).code(0);
    // The second trade: the cooldown lifted by hand, a fresh plan, the TP at 2R = 42000.
    s.store().set_cooldown_until(0).unwrap();
    s.mock.set_mark(dec!(40000));
    s.add_plan(PLAN2);
    s.run(&["enter"]).code(0);
    s.mock.set_mark(dec!(42050));
    assert_eq!(s.mock.position(), Decimal::ZERO, "the TP fired");
    s.run(&["reconcile"]).code(0);

    let v = s.run(&["trades"]).json();
    assert_eq!((v["command"].as_str(), v["outcome"].as_str()), (Some("trades"), Some("ok")), "{v}");
    let rows = v["trades"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{v}");
    let mut net_total = Decimal::ZERO;
    for (row, plan, exit_role, reason, r) in
        [(&rows[0], PLAN, "STOP", "stop_hit", dec!(-1)), (&rows[1], PLAN2, "TP", "tp_hit", dec!(2))]
    {
        let (prices, pnl, fees) = fills_of(&s, plan);
        let price = |cid: &str| prices.iter().find(|p| p.0 == cid).map(|p| p.1).unwrap();
        let entry_cid = format!("mc_{plan}_ENTRY_1");
        let exit_cid = format!("mc_{plan}_{exit_role}_1");
        assert_eq!(row["plan_id"], plan);
        assert_eq!((row["side"].as_str(), d(&row["qty"])), (Some("LONG"), dec!(0.010)));
        assert_eq!(d(&row["entry_price"]), price(&entry_cid), "{row}");
        assert_eq!(d(&row["exit_price"]), price(&exit_cid), "{row}");
        assert_eq!(row["exit_reason"], reason);
        assert_eq!(d(&row["realized_pnl"]), pnl, "Σ realizedPnl of the exchange's fills: {row}");
        assert_eq!(d(&row["fees"]), fees, "Σ commission of the ENTRY and the trigger's child: {row}");
        assert_eq!(d(&row["net_pnl"]), pnl - fees);
        assert_eq!(d(&row["r_multiple"]), r, "{row}");
        // The exchange answered the income read with no settlement in the window: a known zero.
        assert_eq!(d(&row["funding"]), Decimal::ZERO, "{row}");
        assert!(row["entry_time"].as_str().unwrap() <= row["exit_time"].as_str().unwrap());
        net_total += pnl - fees;
    }
    // −10 − 0.316 and +20 − 0.328 (4 bp of each fill's notional).
    let t = &v["totals"];
    assert_eq!((t["trades"].as_u64(), t["wins"].as_u64()), (Some(2), Some(1)), "{t}");
    assert_eq!(d(&t["win_rate"]), dec!(0.5));
    assert_eq!(d(&t["net_pnl"]), net_total);
    assert_eq!(d(&t["net_pnl"]), dec!(9.356));
    assert_eq!(d(&t["max_drawdown"]), dec!(10.316));
    assert_eq!((t["pnl_unknown"].as_u64(), t["fees_unknown"].as_u64()), (Some(0), Some(0)));

    // CSV: a header row and one row per trade, the same values.
    let csv = s.env.run(&["trades", "--csv"]);
    csv.code(0);
    let lines: Vec<&str> = csv.stdout.trim_end().split("\r\n").collect();
    assert_eq!(lines.len(), 3, "{}", csv.stdout);
    assert!(lines[0].starts_with("plan_id,side,qty,entry_time,entry_price,exit_time,exit_price,exit_reason,"));
    assert!(lines[1].starts_with(&format!("{PLAN},LONG,0.01,")) && lines[1].contains(",stop_hit,"), "{}", lines[1]);
    // --since a day after today: nothing closed since, zero totals.
    let tomorrow = (chrono::Utc::now() + chrono::Duration::days(1)).format("%Y-%m-%d").to_string();
    let later = s.run(&["trades", "--since", &tomorrow]).json();
    assert_eq!((later["trades"].as_array().map(Vec::len), later["totals"]["trades"].as_u64()), (Some(0), Some(0)));
    assert_eq!(s.mock.count("POST", "/fapi/v1/order", &cid("ENTRY", 2)), 0, "no second ENTRY");
    s.finish();
}

/// The entry fill time mcbot journaled for the open position (the funding window's start).
fn entry_filled_ms(s: &Scenario) -> i64 {
    let pos = s.store().active_position(SYMBOL).unwrap().expect("an open position");
    pos.entry_filled_ms.expect("the ENTRY fill time")
}

/// The `/fapi/v1/income` requests mcbot sent, with their index in the request log.
fn income_reads(s: &Scenario) -> Vec<(usize, crate::support::mock_binance::Request)> {
    s.mock.requests().into_iter().enumerate().filter(|(_, r)| r.path == "/fapi/v1/income").collect()
}

/// Issue 13 §3: a trade held across funding settlements shows what the exchange settled in its
/// window — entry fill to close, both ends included — and its net PnL accounts for it. The
/// settlement before the entry and the one after the close are another trade's. The income read
/// comes after the CLOSE (bookkeeping never delays the close) and asks for FUNDING_FEE only.
#[test]
fn funding_settled_while_held_is_on_the_row_and_in_net_pnl() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    let start = entry_filled_ms(&s);
    {
        let mut st = s.mock.state();
        st.funding.push((start - 1, dec!(-5))); // before the position
        st.funding.push((start, dec!(-0.04))); // at the entry fill: inclusive
        st.funding.push((start + 1, dec!(0.01)));
        let later = crate::support::mock_binance::now_ms() + 3_600_000;
        st.funding.push((later, dec!(-7))); // after the close
    }
    s.mock.set_mark(dec!(40300));
    s.run(&["exit"]).code(0);
    let (_, pnl, fees) = fills_of(&s, PLAN);
    let v = s.run(&["trades"]).json();
    let row = &v["trades"][0];
    assert_eq!(d(&row["funding"]), dec!(-0.03), "{row}");
    assert_eq!(d(&row["net_pnl"]), pnl - fees - dec!(0.03), "price PnL − fees + funding: {row}");
    let t = &v["totals"];
    assert_eq!((d(&t["funding"]), t["funding_unknown"].as_u64()), (dec!(-0.03), Some(0)), "{t}");
    assert_eq!(d(&t["net_pnl"]), pnl - fees - dec!(0.03));

    let reads = income_reads(&s);
    assert_eq!(reads.len(), 1, "one page: {reads:?}");
    let (at, r) = &reads[0];
    assert_eq!(r.param("incomeType"), Some("FUNDING_FEE"));
    assert_eq!(r.param("symbol"), Some(SYMBOL));
    assert_eq!(r.param("startTime"), Some(start.to_string().as_str()));
    assert_eq!(r.param("limit"), Some("1000"));
    assert!(r.signed);
    let close_at = s
        .mock
        .requests()
        .iter()
        .position(|q| q.method == "POST" && q.client_id() == Some(cid("CLOSE", 1).as_str()))
        .expect("the CLOSE was sent");
    assert!(close_at < *at, "the funding read follows the CLOSE");
    s.finish();
}

/// The exchange's income read failing at close leaves the funding unknown (null, counted in
/// `funding_unknown`), never 0, and the close itself is unaffected.
#[test]
fn funding_the_exchange_does_not_tell_stays_unknown() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.on("GET", "/fapi/v1/income", None, Fault::api_error(400, -1000, "An unknown error occurred."), 100);
    s.mock.set_mark(dec!(40300));
    s.run(&["exit"]).code(0);
    assert_eq!(s.mock.position(), Decimal::ZERO, "closed all the same");
    let v = s.run(&["trades"]).json();
    let row = &v["trades"][0];
    assert!(row["funding"].is_null(), "{row}");
    assert_eq!(d(&row["net_pnl"]), d(&row["realized_pnl"]) - d(&row["fees"]), "{row}");
    assert_eq!(v["totals"]["funding_unknown"], 1);
    s.finish();
}

/// Issue 13 §3: a STOP that filled while mcbot was down is found by the next reconcile; the
/// trade's exit time is the exchange's fill time (the algo order's update time), not the
/// reconcile's, and the funding window ends there too.
#[test]
fn a_stop_filled_while_down_exits_at_the_exchange_fill_time() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    let start = entry_filled_ms(&s);
    s.mock.set_mark(dec!(38950)); // through the STOP at 39000, with nobody watching
    let filled_at = start + 1;
    {
        let mut st = s.mock.state();
        let i = st.book.cond_by_client(&cid("STOP", 1)).expect("the STOP");
        let stop = &mut st.book.conds[i];
        assert_eq!(stop.status, ConditionalStatus::Finished);
        stop.update_ms = filled_at;
        st.funding.push((filled_at, dec!(-0.02))); // settled with the fill: inclusive
    }
    s.run(&["reconcile"]).code(0);
    let v = s.run(&["trades"]).json();
    let row = &v["trades"][0];
    assert_eq!(row["exit_reason"], "stop_hit");
    assert_eq!(row["exit_time"].as_str(), Some(mcbot::clock::rfc3339(filled_at).as_str()), "{row}");
    let closed_row_ms: i64 =
        s.env.db().query_row("SELECT ts_ms FROM audit_event WHERE kind = 'position_closed'", [], |r| r.get(0)).unwrap();
    assert!(closed_row_ms > filled_at, "the journal recorded the close later, at the reconcile");
    assert_eq!(d(&row["funding"]), dec!(-0.02), "{row}");
    let reads = income_reads(&s);
    assert_eq!(reads.last().unwrap().1.param("endTime"), Some(filled_at.to_string().as_str()));
    s.finish();
}

/// The exchange's clock may run ahead of ours: a fill time a little in our future is still the
/// exit time; one a day ahead is no fill time, and the journal's own time is kept.
#[test]
fn an_exchange_fill_time_ahead_of_our_clock_is_kept_within_reason() {
    for (ahead, kept) in [(20_000, true), (86_400_000, false)] {
        let s = Scenario::new();
        s.run(&["enter"]).code(0);
        s.mock.set_mark(dec!(38950));
        let filled_at = crate::support::mock_binance::now_ms() + ahead;
        {
            let mut st = s.mock.state();
            let i = st.book.cond_by_client(&cid("STOP", 1)).expect("the STOP");
            st.book.conds[i].update_ms = filled_at;
        }
        s.run(&["reconcile"]).code(0);
        let v = s.run(&["trades"]).json();
        let exit_time = v["trades"][0]["exit_time"].as_str().unwrap().to_string();
        let closed_row_ms: i64 = s
            .env
            .db()
            .query_row("SELECT ts_ms FROM audit_event WHERE kind = 'position_closed'", [], |r| r.get(0))
            .unwrap();
        let want = if kept { filled_at } else { closed_row_ms };
        assert_eq!(exit_time, mcbot::clock::rfc3339(want), "{ahead} ms ahead");
        s.finish();
    }
}

/// `exit` closes at market: the row is the CLOSE fill, the reason the one given, fees both fills;
/// `exit --json` and `replay --json` carry that same row.
#[test]
fn a_manual_exit_is_a_trade_row_with_the_close_fill() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.set_mark(dec!(40300));
    let out = s.run(&["exit"]);
    out.code(0);
    let (prices, pnl, fees) = fills_of(&s, PLAN);
    let v = s.run(&["trades"]).json();
    let row = &v["trades"][0];
    assert_eq!(row["exit_reason"], "manual");
    assert_eq!(d(&row["exit_price"]), prices.iter().find(|p| p.0 == cid("CLOSE", 1)).unwrap().1);
    assert_eq!((d(&row["realized_pnl"]), d(&row["fees"])), (pnl, fees), "{row}");
    assert_eq!(pnl, dec!(3), "(40300 − 40000) × 0.010");
    assert_eq!(d(&row["r_multiple"]), dec!(0.3));
    // `exit` and `replay` tell the same trade (issue 13 §3).
    assert_eq!(out.json()["trade"], *row, "exit's trade = the trades row");
    let rep = s.run(&["replay", PLAN]).json();
    assert_eq!(rep["trade"], *row, "replay's trade = the trades row");
    let text = s.env.run_env(&["replay", PLAN], &[]);
    assert!(text.stdout.contains("realised PnL 3 (fees "), "{}", text.stdout);
    s.finish();
}

/// F-002: the STOP refused, the position force-closed and HALTED (exit 10). The trade is still a
/// row with its forced reason, and its fees are the exchange's (the CLOSE's commission is read
/// after the close and the halt, never before).
#[test]
fn a_forced_close_is_a_trade_row_with_its_fees() {
    let s = Scenario::new();
    s.mock.on(
        "POST",
        "/fapi/v1/algoOrder",
        Some("STOP"),
        Fault::api_error(400, -4045, "Reach max stop order limit."),
        1,
    );
    s.run(&["enter"]).code(10);
    let (_, pnl, fees) = fills_of(&s, PLAN);
    let v = s.run(&["trades"]).json();
    let row = &v["trades"][0];
    assert!(row["exit_reason"].as_str().unwrap().starts_with("forced_close:"), "{row}");
    assert_eq!((d(&row["realized_pnl"]), d(&row["fees"])), (pnl, fees), "{row}");
    assert_eq!(v["totals"]["fees_unknown"], 0);
    s.finish();
}

/// Paper ticks: a year of `sim` on the shipped candles leaves a state DB; `trades` over it agrees
/// with the paper exchange's own fills (Σ commission, Σ realised PnL) and with the sim report.
#[test]
fn trades_match_the_paper_fills_after_a_year_of_ticks() {
    let env = TestEnv::new();
    let sim = env.run(&["--json", "sim", "--from", "2021-01-01", "--to", "2021-12-31", "--state-db", "state/mcbot.db"]);
    sim.code(0);
    let report = sim.json();
    let out = env.run(&["--json", "trades"]);
    out.code(0);
    let v = out.json();
    let t = &v["totals"];
    assert!(t["trades"].as_u64().unwrap() > 5, "{t}");
    assert_eq!(t["trades"], report["trades"], "trades vs sim: {t} / {report}");
    assert_eq!((t["pnl_unknown"].as_u64(), t["fees_unknown"].as_u64()), (Some(0), Some(0)), "{t}");
    // The fills of closed trades: the position still open at the end of the year is no trade yet.
    let open: String = env
        .db()
        .query_row("SELECT trade_plan_id FROM position WHERE state = 'OPEN'", [], |r| r.get(0))
        .unwrap_or_default();
    let sum = |col: &str| -> Decimal {
        let db = env.db();
        let sql = format!(
            "SELECT f.{col} FROM paper_fill f JOIN paper_order o ON o.id = f.order_id
             WHERE ?1 = '' OR o.client_id NOT LIKE '%' || ?1 || '%'"
        );
        let mut st = db.prepare(&sql).unwrap();
        st.query_map([&open], |r| r.get::<_, String>(0)).unwrap().map(|x| Decimal::from_str(&x.unwrap()).unwrap()).sum()
    };
    assert_eq!(d(&t["fees"]), sum("commission"), "fees = Σ paper commission of the closed trades");
    // The paper book rounds each fill's PnL to 8 places; the journal keeps the exact product.
    let off = (d(&t["realized_pnl"]) - sum("realized_pnl")).abs();
    assert!(off < dec!(0.000001), "PnL = Σ paper realised PnL: off by {off}");
    // Funding: every trade's is known, and they sum to what the paper book itself settled (its
    // balance moved by −funding_paid; the position open at the end has crossed no settlement).
    assert_eq!(t["funding_unknown"].as_u64(), Some(0), "{t}");
    let paid: String = env.db().query_row("SELECT funding_paid FROM paper_account", [], |r| r.get(0)).unwrap();
    assert_ne!(d(&t["funding"]), Decimal::ZERO, "a year of trades crosses settlements");
    assert_eq!(d(&t["funding"]), -Decimal::from_str(&paid).unwrap(), "Σ trade funding = the book's settlements");
    let wins = v["trades"].as_array().unwrap().iter().filter(|r| d(&r["net_pnl"]) > Decimal::ZERO).count();
    assert_eq!(t["wins"].as_u64(), Some(wins as u64));
    for r in v["trades"].as_array().unwrap() {
        assert!(r["exit_reason"].as_str().is_some_and(|x| x != "unknown"), "{r}");
        assert!(!r["r_multiple"].is_null() && !r["entry_price"].is_null(), "{r}");
    }
}

/// An empty journal is zero trades and zero totals, not an error; a bad `--since` is exit 2
/// naming the flag, before anything is read.
#[test]
fn empty_journal_is_zero_and_a_bad_since_is_exit_2() {
    let env = TestEnv::new();
    let bad = env.run(&["trades", "--since", "2026-02-30"]);
    bad.code(2);
    assert!(bad.stderr.contains("--since") || bad.stdout.contains("--since"), "{bad:?}");
    assert!(!env.db_path().exists(), "a usage error creates no state DB");
    let v = env.run(&["--json", "trades"]).json();
    assert_eq!(v["outcome"], "ok");
    assert_eq!(v["trades"], serde_json::json!([]));
    assert_eq!(v["totals"]["trades"], 0);
    assert_eq!((v["totals"]["net_pnl"].as_str(), v["totals"]["max_drawdown"].as_str()), (Some("0"), Some("0")));
    env.run(&["trades"]).code(0).stdout_contains("no closed trades");
    env.run(&["--json", "trades", "--csv"]).code(2);
}

/// Issue 13 §2–§3: `status` shows the balance and mark the last evaluate read, the open position's
/// unrealised PnL at that mark and the realised PnL to date; the metrics textfile says the same,
/// with the last tick's exit code.
#[test]
fn status_and_metrics_show_balance_unrealised_and_realised_pnl() {
    let s = Bot::new().set("metrics.textfile", "\"state/mcbot.prom\"").planned_long().mock();
    let metric = |name: &str| -> Option<String> {
        let text = std::fs::read_to_string(s.env.path().join("state/mcbot.prom")).unwrap();
        let prefix = format!("{name}{{bot_id=\"mc\",symbol=\"BTCUSDT\"}} ");
        text.lines().find_map(|l| l.strip_prefix(&prefix)).map(str::to_string)
    };
    let st = s.run(&["status"]).json();
    assert!(st["balance"].is_null() && st["unrealized_pnl"].is_null(), "nothing read yet: {st}");
    assert_eq!(st["realized_pnl"]["trades"], 0);
    let text = s.env.run(&["status"]).stdout;
    assert!(text.lines().any(|l| l.starts_with("balance:") && l.contains("unknown")), "{text}");

    s.run(&["enter"]).code(0);
    s.mock.set_mark(dec!(40200));
    // `evaluate` reads balance and mark (it may record a regime exit; only `exit`/`tick` act on it).
    s.run(&["evaluate"]).code(0);
    let st = s.run(&["status"]).json();
    let balance = s.mock.state().book.balance;
    assert_eq!(d(&st["balance"]["usdt"]), balance, "{st}");
    assert_eq!(d(&st["unrealized_pnl"]["mark_price"]), dec!(40200));
    assert_eq!(d(&st["unrealized_pnl"]["usdt"]), dec!(2), "(40200 − 40000) × 0.010");
    assert_eq!(metric("mcbot_unrealized_pnl_usdt").as_deref(), Some("2"));
    assert_eq!(metric("mcbot_last_tick_exit_code"), None, "no tick yet");
    let human = s.env.run_env(&["status"], &[]).stdout;
    assert!(human.lines().any(|l| l.starts_with("unrealised PnL:") && l.contains("2 USDT at mark 40200")), "{human}");

    s.run(&["exit"]).code(0);
    let st = s.run(&["status"]).json();
    let trades = s.run(&["trades"]).json();
    assert!(st["unrealized_pnl"].is_null(), "flat: {st}");
    assert_eq!(st["realized_pnl"], trades["totals"], "status tells the trades totals");
    assert_eq!(st["realized_pnl"]["trades"], 1);
    assert_eq!(metric("mcbot_unrealized_pnl_usdt"), None, "flat: left out, not 0");
    assert_eq!(metric("mcbot_trades_closed_total").as_deref(), Some("1"));
    assert_eq!(metric("mcbot_realized_pnl_usdt_total"), trades["totals"]["realized_pnl"].as_str().map(str::to_string));
    let tick = s.run(&["tick"]);
    assert_eq!(metric("mcbot_last_tick_exit_code"), Some(tick.code.to_string()));
    assert!(metric("mcbot_last_tick_timestamp_seconds").is_some());
    s.finish();
}
