//! `mcbot doctor` and `doctor --round-trip` (CONTRACT §10, issue 12 §3) through the real binary
//! and its Binance adapter against the stateful mock: each check's ok/warn/fail path, exit codes,
//! the JSON shape, that plain doctor sends no write, and that the round trip goes through the
//! real ENTRY → STOP → TP → CLOSE code (client ids, journal, `replay --all`) and ends flat.
//! Seed 000: AC1 (no position without a STOP: the round trip shows it on the venue), AC5 (every
//! exit has an auditable reason: the round trip's CLOSE records `manual`).

use crate::support::bot::Bot;
use crate::support::fault::Fault;
use crate::support::mock_binance::{MockBinance, API_KEY, API_SECRET};
use crate::support::{plan, Outcome, TestEnv};
use rust_decimal_macros::dec;
use serde_json::Value;

const CREDS: [(&str, &str); 2] = [("MCBOT_API_KEY", API_KEY), ("MCBOT_API_SECRET", API_SECRET)];

fn doctor(env: &TestEnv, args: &[&str]) -> Outcome {
    let mut all = vec!["--json", "doctor"];
    all.extend_from_slice(args);
    let out = env.run_env(&all, &CREDS);
    assert!(!out.stdout.contains(API_SECRET) && !out.stderr.contains(API_SECRET), "the secret leaked");
    out
}

/// `{"name","status","detail"}` of the check `name`, asserting the report's shape on the way.
#[track_caller]
fn check(j: &Value, name: &str) -> (String, String) {
    assert_eq!(j["command"], "doctor", "{j}");
    let checks = j["checks"].as_array().unwrap_or_else(|| panic!("no checks: {j}"));
    for c in checks {
        let keys: Vec<_> = c.as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["detail", "name", "status"], "{c}");
        assert!(["ok", "warn", "fail"].contains(&c["status"].as_str().unwrap()), "{c}");
        assert!(!c["detail"].as_str().unwrap().is_empty(), "{c}");
    }
    let c = checks.iter().find(|c| c["name"] == name).unwrap_or_else(|| panic!("no check {name}: {j}"));
    (c["status"].as_str().unwrap().to_string(), c["detail"].as_str().unwrap().to_string())
}

#[test]
fn healthy_account_is_ok_exit_0_and_nothing_is_written() {
    let mock = MockBinance::start();
    let env = Bot::new().binance(&mock.url());
    let out = doctor(&env, &[]);
    out.code(0);
    let j = out.json();
    assert_eq!(j["outcome"], "ok", "{j}");
    assert_eq!(j["checks"].as_array().unwrap().len(), 11, "{j}");
    for name in ["api_key", "clock", "position_mode", "margin_mode", "symbol", "filters", "isolated_1x", "balance"] {
        assert_eq!(check(&j, name).0, "ok", "{name}: {j}");
    }
    assert_eq!(check(&j, "rate_limits").0, "ok", "{j}");
    assert!(check(&j, "rate_limits").1.contains("of 2400/min"), "{j}");
    assert_eq!(check(&j, "withdrawals").0, "ok", "{j}");
    assert!(check(&j, "filters").1.contains("min notional 100"), "{j}");
    // Read-only: no order, no cancel, no margin change; the journal is untouched.
    assert_eq!(mock.writes(), Vec::<String>::new());
    let paths: Vec<String> = mock.requests().iter().map(|r| r.path.clone()).collect();
    for p in ["/fapi/v1/multiAssetsMargin", "/fapi/v1/positionSide/dual", "/sapi/v1/account/apiRestrictions"] {
        assert!(paths.iter().any(|x| x == p), "{p} not read: {paths:?}");
    }
    assert_eq!(env.count("SELECT COUNT(*) FROM order_event"), 0);
    assert_eq!(env.count("SELECT COUNT(*) FROM audit_event"), 0);
    // Human text: one line per check, then the verdict.
    let text = env.run_env(&["doctor"], &CREDS);
    text.code(0).stdout_contains("position_mode").stdout_contains("doctor: ok");
}

#[test]
fn wrong_key_fails_naming_the_env_var_and_what_binance_said_exit_5() {
    let mock = MockBinance::start();
    let env = Bot::new().binance(&mock.url());
    let out = env.run_env(&["--json", "doctor"], &[("MCBOT_API_KEY", "wrongKey123"), ("MCBOT_API_SECRET", API_SECRET)]);
    out.code(5);
    let j = out.json();
    assert_eq!(j["outcome"], "fail");
    let (s, d) = check(&j, "api_key");
    assert_eq!(s, "fail");
    assert!(d.contains("MCBOT_API_KEY") && d.contains("Invalid API-key"), "{d}");
    assert_eq!(check(&j, "position_mode").0, "fail");
    assert!(check(&j, "position_mode").1.contains("refused the API key"), "{j}");
    // Public reads still answer.
    assert_eq!(check(&j, "symbol").0, "ok");
    assert!(mock.writes().is_empty());
}

#[test]
fn hedge_mode_fails() {
    let mock = MockBinance::start();
    mock.state().dual_side = true;
    let out = doctor(&Bot::new().binance(&mock.url()), &[]);
    out.code(5);
    let j = out.json();
    let (s, d) = check(&j, "position_mode");
    assert_eq!(s, "fail");
    assert!(d.contains("hedge"), "{d}");
    assert!(mock.writes().is_empty(), "doctor never switches the mode itself");
}

#[test]
fn multi_assets_mode_fails() {
    let mock = MockBinance::start();
    mock.state().multi_assets = true;
    let out = doctor(&Bot::new().binance(&mock.url()), &[]);
    out.code(5);
    assert_eq!(check(&out.json(), "margin_mode").0, "fail");
}

#[test]
fn symbol_not_trading_fails() {
    let mock = MockBinance::start();
    mock.state().symbol_status = "BREAK";
    let out = doctor(&Bot::new().binance(&mock.url()), &[]);
    out.code(5);
    let (s, d) = check(&out.json(), "symbol");
    assert_eq!(s, "fail");
    assert!(d.contains("BREAK"), "{d}");
}

#[test]
fn low_balance_fails_against_the_smallest_order() {
    let mock = MockBinance::start();
    mock.state().book.balance = dec!(50);
    let out = doctor(&Bot::new().binance(&mock.url()), &[]);
    out.code(5);
    let (s, d) = check(&out.json(), "balance");
    assert_eq!(s, "fail");
    assert!(d.contains("50") && d.contains("smallest order"), "{d}");
}

#[test]
fn crossed_margin_with_a_position_fails_but_settable_when_flat() {
    let mock = MockBinance::start();
    {
        let mut st = mock.state();
        st.book.isolated = false;
        st.book.leverage = 20;
    }
    let env = Bot::new().binance(&mock.url());
    let out = doctor(&env, &[]);
    out.code(0);
    let (s, d) = check(&out.json(), "isolated_1x");
    assert_eq!(s, "ok");
    assert!(d.contains("CROSSED 20x"), "{d}");
    mock.set_position(dec!(0.01), dec!(40000));
    let out = doctor(&env, &[]);
    out.code(5);
    assert_eq!(check(&out.json(), "isolated_1x").0, "fail");
    assert!(mock.writes().is_empty());
}

#[test]
fn withdraw_enabled_key_warns_loudly_exit_0() {
    let mock = MockBinance::start();
    mock.state().withdrawals_enabled = true;
    let out = doctor(&Bot::new().binance(&mock.url()), &[]);
    out.code(0);
    let j = out.json();
    assert_eq!(j["outcome"], "warn", "{j}");
    let (s, d) = check(&j, "withdrawals");
    assert_eq!(s, "warn");
    assert!(d.contains("CAN WITHDRAW"), "{d}");
}

#[test]
fn clock_offset_warns_then_fails_past_recv_window() {
    let mock = MockBinance::start();
    let env = Bot::new().binance(&mock.url());
    mock.state().server_offset_ms = 2_500;
    let out = doctor(&env, &[]);
    out.code(0);
    let (s, d) = check(&out.json(), "clock");
    assert_eq!(s, "warn", "{d}");
    mock.state().server_offset_ms = -7_000;
    let out = doctor(&env, &[]);
    out.code(5);
    let (s, d) = check(&out.json(), "clock");
    assert_eq!(s, "fail", "{d}");
    assert!(d.contains("recvWindow"), "{d}");
}

#[test]
fn unreachable_host_reports_every_check_naming_base_url_exit_5() {
    // A port nothing listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let env = Bot::new().binance(&format!("http://127.0.0.1:{port}"));
    let out = doctor(&env, &[]);
    out.code(5);
    let j = out.json();
    assert_eq!(j["checks"].as_array().unwrap().len(), 11, "{j}");
    for name in ["api_key", "clock", "position_mode", "margin_mode", "symbol", "balance", "rate_limits"] {
        let (s, d) = check(&j, name);
        assert_eq!(s, "fail", "{name}: {d}");
        assert!(d.contains("exchange.base_url"), "{name}: {d}");
    }
}

#[test]
fn paper_mode_runs_and_says_so() {
    let env = TestEnv::new();
    let out = env.run(&["--json", "doctor"]);
    out.code(0);
    let j = out.json();
    assert_eq!(j["outcome"], "ok", "{j}");
    assert_eq!(check(&j, "api_key"), ("ok".into(), "paper exchange, no key needed".into()));
}

#[test]
fn round_trip_refused_on_the_production_host_exit_2() {
    // Refused before any request: nothing is reachable here, the verdict is about the host.
    let env = Bot::new().binance("https://fapi.binance.com");
    let out = env.run_env(&["--json", "doctor", "--round-trip"], &CREDS);
    out.code(2);
    let j = out.json();
    let e = j["error"].as_str().unwrap();
    assert!(e.contains("--i-know-this-is-live") && e.contains("https://fapi.binance.com"), "{e}");
}

#[test]
fn round_trip_refused_on_an_unknown_host_unless_live_is_acknowledged() {
    let env = Bot::new().binance("https://futures.example.com");
    env.run_env(&["--json", "doctor", "--round-trip"], &CREDS).code(2);
    let out = env.run_env(&["--json", "doctor", "--i-know-this-is-live"], &CREDS);
    out.code(2); // requires --round-trip (clap)
}

/// Request lines of writes, with the plan id replaced by `P`.
fn writes(mock: &MockBinance, plan: &str) -> Vec<String> {
    mock.writes().into_iter().map(|w| w.replace(plan, "P")).collect()
}

#[test]
fn round_trip_enters_protects_verifies_and_closes_through_the_real_paths() {
    let mock = MockBinance::start();
    let env = Bot::new().binance(&mock.url());
    let out = doctor(&env, &["--round-trip"]);
    out.code(0);
    let j = out.json();
    assert_eq!(j["outcome"], "ok", "{j}");
    println!("{}", out.stdout);
    let rt = &j["round_trip"];
    let plan = rt["plan_id"].as_str().unwrap_or_else(|| panic!("no plan: {j}")).to_string();
    // The exchange-side sequence: ENTRY, then STOP and TP (sent together), then the cancels and
    // the CLOSE of a normal exit.
    let w = writes(&mock, &plan);
    assert_eq!(w[0], "POST /fapi/v1/order mc_P_ENTRY_1", "{w:?}");
    let mut protect = w[1..3].to_vec();
    protect.sort();
    assert_eq!(protect, ["POST /fapi/v1/algoOrder mc_P_STOP_1", "POST /fapi/v1/algoOrder mc_P_TP_1"], "{w:?}");
    let at = |line: &str| w.iter().position(|x| x == line).unwrap_or_else(|| panic!("no {line}: {w:?}"));
    let close = at("POST /fapi/v1/order mc_P_CLOSE_1");
    assert!(close > 2, "{w:?}");
    at("DELETE /fapi/v1/algoOrder mc_P_TP_1");
    // The normal exit keeps the STOP until the CLOSE has made the position flat.
    assert!(at("DELETE /fapi/v1/algoOrder mc_P_STOP_1") > close, "{w:?}");
    assert_eq!(w.len(), 6, "{w:?}");
    // The smallest order: 100 USDT min notional + 2 % at mark 40000 -> 0.003.
    let entry = mock.requests().into_iter().find(|r| r.method == "POST" && r.role() == Some("ENTRY")).unwrap();
    assert_eq!(entry.param("quantity"), Some("0.003"));
    // Verified on the exchange (read back from openAlgoOrders between the ENTRY and the CLOSE).
    assert_eq!(rt["protection_seen"]["stop"], format!("mc_{plan}_STOP_1"), "{rt}");
    assert_eq!(rt["protection_seen"]["tp"], format!("mc_{plan}_TP_1"), "{rt}");
    assert_eq!(rt["flat_after"], true);
    assert_eq!(mock.position(), dec!(0));
    assert!(mock.open_algos().is_empty());
    assert!(rt["naked_window_ms"].is_u64(), "{rt}");
    let calls = rt["calls"].as_array().unwrap();
    assert!(calls.iter().any(|c| c["call"] == "place_market" && c["latency_ms"].is_u64()), "{rt}");
    // The journal: the plan closed with the documented exit reason, and it replays clean.
    let reason: String = env.db().query_row("SELECT exit_reason FROM position", [], |r| r.get(0)).unwrap();
    assert_eq!(reason, "manual");
    assert_eq!(env.count("SELECT COUNT(*) FROM audit_event WHERE kind = 'doctor_round_trip'"), 1);
    let mode: String = env.db().query_row("SELECT mode FROM system_state", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "RUNNING");
    env.run_env(&["--json", "replay", "--all"], &CREDS).code(0);
}

#[test]
fn round_trip_refused_while_halted_sends_nothing() {
    let mock = MockBinance::start();
    let env = Bot::new().binance(&mock.url());
    env.run_env(&["halt", "--reason", "test"], &CREDS).code(0);
    doctor(&env, &["--round-trip"]).code(3);
    assert!(mock.writes().is_empty(), "{:?}", mock.writes());
}

#[test]
fn round_trip_not_started_when_a_check_fails() {
    let mock = MockBinance::start();
    mock.state().dual_side = true;
    let out = doctor(&Bot::new().binance(&mock.url()), &["--round-trip"]);
    out.code(5);
    assert_eq!(out.json()["round_trip"]["started"], false);
    assert!(mock.writes().is_empty());
}

#[test]
fn round_trip_stop_rejected_ends_in_the_real_forced_close_and_halt_exit_10() {
    // Seed 000 §5 / F-002 through the round trip: the same failsafe as a real trade.
    let mock = MockBinance::start();
    mock.on("POST", "/fapi/v1/algoOrder", Some("STOP"), Fault::api_error(400, -4045, "Reach max stop order limit."), 1);
    let env = Bot::new().binance(&mock.url());
    let out = doctor(&env, &["--round-trip"]);
    out.code(10);
    let j = out.json();
    assert_eq!(j["outcome"], "fail", "{j}");
    let rt = &j["round_trip"];
    assert_eq!(rt["step"], "enter", "{rt}");
    assert_eq!(rt["last_step"]["outcome"], "forced_close", "{rt}");
    assert!(j["error"].is_string(), "{j}");
    let plan = rt["plan_id"].as_str().unwrap().to_string();
    let w = writes(&mock, &plan);
    assert_eq!(w[0], "POST /fapi/v1/order mc_P_ENTRY_1", "{w:?}");
    assert!(w.contains(&"POST /fapi/v1/order mc_P_CLOSE_1".to_string()), "{w:?}");
    assert_eq!(mock.position(), dec!(0));
    assert!(mock.open_algos().is_empty(), "the TP that landed was cancelled");
    let mode: String = env.db().query_row("SELECT mode FROM system_state", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "HALTED");
    let reason: String = env.db().query_row("SELECT exit_reason FROM position", [], |r| r.get(0)).unwrap();
    assert_eq!(reason, "forced_close:stop_rejected");
    env.run_env(&["--json", "replay", "--all"], &CREDS).code(0);
}

#[test]
fn round_trip_refused_with_an_open_plan_exit_5_nothing_sent() {
    let mock = MockBinance::start();
    let env = Bot::new().binance(&mock.url());
    let now = crate::support::mock_binance::now_ms();
    let store = mcbot::store::Store::open(&env.db_path(), now).unwrap();
    let plan = plan::planned_long(plan::PLAN, now, dec!(40000), dec!(39000));
    store.insert_plan(&plan, None, now).unwrap();
    drop(store);
    let out = doctor(&env, &["--round-trip"]);
    out.code(5);
    assert!(out.json()["error"].as_str().unwrap().contains("a1b2c3d4e5f6"), "{}", out.stdout);
    let audits =
        env.count("SELECT COUNT(*) FROM audit_event WHERE kind = 'preflight_failed' AND data LIKE '%round_trip_idle%'");
    assert_eq!(audits, 1, "exit 5 comes with the audit event that says why");
    assert!(mock.writes().is_empty(), "{:?}", mock.writes());
}

#[test]
fn paper_round_trip_runs_the_same_paths_and_replays_clean() {
    let env = TestEnv::new();
    let out = env.run(&["--json", "doctor", "--round-trip"]);
    out.code(0);
    let j = out.json();
    assert_eq!(j["round_trip"]["flat_after"], true, "{j}");
    let plan = j["round_trip"]["plan_id"].as_str().unwrap().to_string();
    let events: Vec<String> = {
        let db = env.db();
        let mut st = db.prepare("SELECT client_id || ' ' || event FROM order_event ORDER BY seq").unwrap();
        st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
    };
    let first = |role: &str| events.iter().position(|e| e.starts_with(&format!("mc_{plan}_{role}_1 "))).unwrap();
    assert!(
        first("ENTRY") < first("STOP") && first("STOP") < first("CLOSE") && first("TP") < first("CLOSE"),
        "{events:?}"
    );
    env.run(&["--json", "replay", "--all"]).code(0);
}

#[test]
fn plain_doctor_answers_while_the_lock_is_held_the_round_trip_and_paper_wait_for_it() {
    use fs2::FileExt;
    let mock = MockBinance::start();
    let env = Bot::new().binance(&mock.url());
    env.run(&["status"]).code(0); // creates the DB
    let holder = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(env.path().join("state/mcbot.db.lock"))
        .unwrap();
    holder.lock_exclusive().unwrap();
    doctor(&env, &[]).code(0);
    doctor(&env, &["--round-trip"]).code(4);
    assert!(mock.writes().is_empty(), "{:?}", mock.writes());
    FileExt::unlock(&holder).unwrap();
    // The paper book lives in the state DB: paper doctor takes the lock.
    let paper = TestEnv::new();
    paper.run(&["status"]).code(0);
    let holder = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(paper.path().join("state/mcbot.db.lock"))
        .unwrap();
    holder.lock_exclusive().unwrap();
    paper.run(&["--json", "doctor"]).code(4);
    FileExt::unlock(&holder).unwrap();
}

#[test]
fn round_trip_whose_tp_fills_before_the_read_back_is_a_failed_check_not_a_halt() {
    // The mark jumps past the TP (40000 + 2R = 40800) right after the TP is placed: the TP closes
    // the position before doctor reads the protection back.
    let mock = MockBinance::start();
    mock.on("POST", "/fapi/v1/algoOrder", Some("TP"), Fault::MoveMarkAfter(dec!(41000)), 1);
    let env = Bot::new().binance(&mock.url());
    let out = doctor(&env, &["--round-trip"]);
    let j = out.json();
    assert_eq!(mock.position(), dec!(0), "{j}");
    out.code(1);
    assert_eq!(j["outcome"], "fail", "{j}");
    assert!(j["error"].as_str().unwrap_or_default().contains("already closed by its STOP or TP"), "{j}");
    let mode: String = env.db().query_row("SELECT mode FROM system_state", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "RUNNING", "protection worked: no halt");
    env.run_env(&["--json", "replay", "--all"], &CREDS).code(0);
}

#[test]
fn a_second_round_trip_inside_the_cooldown_is_refused_before_any_order() {
    let mock = MockBinance::start();
    let env = Bot::new().binance(&mock.url());
    doctor(&env, &["--round-trip"]).code(0);
    let sent = mock.writes().len();
    let out = doctor(&env, &["--round-trip"]);
    out.code(5);
    assert!(out.json()["error"].as_str().unwrap().contains("cooldown"), "{}", out.stdout);
    assert_eq!(mock.writes().len(), sent, "nothing sent: {:?}", mock.writes());
    assert_eq!(env.count("SELECT COUNT(*) FROM trade_plan"), 1, "no second plan");
    env.run_env(&["--json", "replay", "--all"], &CREDS).code(0);
}

#[test]
fn round_trip_refused_by_enters_preflight_retires_its_plan_so_no_tick_enters_it() {
    // The mark jumps 2.5 % between the plan (made at 40000) and enter's pre-flight: slippage.
    let mock = MockBinance::start();
    mock.on("GET", "/fapi/v1/premiumIndex", None, Fault::MoveMarkAfter(dec!(40000)), 1); // doctor's checks
    mock.on("GET", "/fapi/v1/premiumIndex", None, Fault::MoveMarkAfter(dec!(41000)), 1); // the plan's read
    let env = Bot::new().binance(&mock.url());
    let out = doctor(&env, &["--round-trip"]);
    out.code(5);
    assert!(out.json()["error"].as_str().unwrap().contains("slippage"), "{}", out.stdout);
    assert!(mock.writes().is_empty(), "{:?}", mock.writes());
    let status: String = env.db().query_row("SELECT status FROM trade_plan", [], |r| r.get(0)).unwrap();
    assert_eq!(status, "REFUSED");
    // A tick right after finds no plan to enter.
    let enter = env.run_env(&["--json", "enter"], &CREDS);
    enter.code(0);
    assert_eq!(enter.json()["entered"], false, "{}", enter.stdout);
    assert!(mock.writes().is_empty(), "{:?}", mock.writes());
}
