//! The two paper modes through the binary (issue 14 item 2): `paper.mode = "replay"` (offline
//! history, one candle per tick: what `sim` and the other tests use) and `paper.mode = "live"` (a
//! dry run on live public prices, no keys, fills by the paper book), named by `init` and `status`;
//! the end of the replay data; a state DB that keeps its mode. Seed 000: a configuration problem is
//! exit 2 naming its key, before anything is sent; nothing is signed without keys.

use crate::support::{TestEnv, BASE_CONFIG};
use httpmock::prelude::*;
use serde_json::{json, Value};

const H4: i64 = 14_400_000;

fn no_api_key(req: &HttpMockRequest) -> bool {
    !req.headers.clone().unwrap_or_default().iter().any(|(k, _)| k.eq_ignore_ascii_case("x-mbx-apikey"))
}

/// The shipped candles' last `n`, moved in time so the last one is the 4h candle open now (as
/// Binance's klines answer: the newest may still be open), in Binance's klines JSON shape.
fn klines_ending_now(n: usize) -> String {
    let all = mcbot::marketdata::load_candles(std::path::Path::new("data/BTCUSDT-4h.csv")).unwrap();
    let tail = &all[all.len() - n..];
    let now = chrono::Utc::now().timestamp_millis();
    let shift = (now - now.rem_euclid(H4)) - tail[n - 1].open_time_ms;
    let rows: Vec<Value> = tail
        .iter()
        .map(|c| {
            json!([
                c.open_time_ms + shift,
                c.open.to_string(),
                c.high.to_string(),
                c.low.to_string(),
                c.close.to_string(),
                c.volume.to_string(),
                c.close_time_ms + shift,
                "0",
                1,
                "0",
                "0",
                "0"
            ])
        })
        .collect();
    Value::Array(rows).to_string()
}

fn premium_index() -> String {
    std::fs::read_to_string(format!(
        "{}/tests/fixtures/binance/rest_premium_index_btcusdt_doc.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap()
}

/// A live-mode config reading prices from `prices_url`; the trading host is a closed port, so any
/// request that went there instead would fail the tick.
fn live_config(prices_url: &str) -> String {
    format!("{}base_url = \"http://127.0.0.1:9\"\n{}", BASE_CONFIG, live_section(prices_url))
}

fn live_section(prices_url: &str) -> String {
    format!("[paper]\nmode = \"live\"\nprices_url = \"{prices_url}\"\n")
}

#[test]
fn init_writes_the_live_dry_run_when_asked_and_status_names_each_mode() {
    let env = TestEnv::empty();
    let v = env.run(&["--json", "init", "--paper-mode", "live"]).json();
    assert_eq!(v["paper_mode"], "live");
    let written = std::fs::read_to_string(env.config_path()).unwrap();
    assert!(written.lines().any(|l| l.starts_with("mode = \"live\"")), "{written}");
    // status reads only the DB: no price request, in either mode.
    let s = env.run(&["--json", "status"]).json();
    assert_eq!(s["paper"]["mode"], "live");
    assert_eq!(s["paper"]["prices_url"], "https://fapi.binance.com");
    env.run(&["status"]).code(0).stdout_contains("live dry run: public prices from https://fapi.binance.com");

    // Plain `init` writes the offline replay (issue 14 item 1: the first hour works offline).
    let replay = TestEnv::empty();
    assert_eq!(replay.run(&["--json", "init"]).json()["paper_mode"], "replay");
    let s = replay.run(&["--json", "status"]).json();
    assert_eq!(s["paper"]["mode"], "replay");
    assert_eq!(s["paper"]["finished"], false);
    replay.run(&["status"]).code(0).stdout_contains("history replay of the shipped BTCUSDT 4h data");
    // A real exchange has no paper section in status.
    let binance = TestEnv::new();
    binance.write_config(&BASE_CONFIG.replace("kind = \"paper\"", "kind = \"binance\""));
    assert!(binance.run(&["--json", "status"]).json()["paper"].is_null());
}

#[test]
fn a_live_dry_run_tick_reads_public_prices_without_a_key_and_trades_on_the_paper_book() {
    let server = MockServer::start();
    let klines = server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/klines")
            .query_param("symbol", "BTCUSDT")
            .query_param("interval", "4h")
            .matches(no_api_key);
        then.status(200).body(klines_ending_now(1001));
    });
    let premium = server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/premiumIndex").matches(no_api_key);
        then.status(200).body(premium_index());
    });
    let env = TestEnv::new();
    env.write_config(&live_config(&server.base_url()));
    let out = env.run(&["--json", "tick"]);
    let v = out.json();
    assert_eq!(v["outcome"], "ok", "{v}");
    out.code(0);
    assert!(klines.hits() >= 1, "the evaluation read public klines");
    let _ = premium.hits(); // funding is read only when a settlement is passed or a plan is sized
                            // The wall clock, not a replay clock: no paper clock row, and the journal is stamped today.
    assert_eq!(env.count("SELECT count(*) FROM paper_clock"), 0);
    let reconciled = env.count("SELECT last_reconcile_ms FROM system_state");
    assert!(reconciled > chrono::Utc::now().timestamp_millis() - 3_600_000, "reconcile stamped {reconciled}");
    assert_eq!(env.run(&["--json", "status"]).json()["paper"]["mode"], "live");
}

#[test]
fn live_prices_unreachable_is_exit_1_and_sends_nothing() {
    let env = TestEnv::new();
    // A closed local port: connection refused, a retryable read error as in the Binance adapter;
    // the persistent reads give up after `close_retry_max_elapsed_ms` (60 s by default).
    env.write_config(&format!("{}[execution]\nclose_retry_max_elapsed_ms = 500\n", live_config("http://127.0.0.1:9")));
    let out = env.run(&["--json", "tick"]);
    let v = out.json();
    assert_eq!(v["exit_code"], 1, "{v}");
    assert_eq!(env.count("SELECT count(*) FROM order_event"), 0, "no order without prices");
    assert!(
        v["error"].as_str().unwrap_or_default().contains("127.0.0.1:9") || v.to_string().contains("connect"),
        "{v}"
    );
}

#[test]
fn the_end_of_the_replay_is_exit_2_naming_paper_candles_and_the_clock_stays() {
    let env = TestEnv::new();
    // The shipped data's last day: candles open 00:00 .. 20:00 on 2026-05-16.
    env.write_config(&format!("{BASE_CONFIG}[paper]\nstart = \"2026-05-16\"\n"));
    let mut ok = 0;
    let refused = loop {
        let out = env.run(&["--json", "tick"]);
        let v = out.json();
        if v["exit_code"] != 0 {
            break v;
        }
        ok += 1;
        assert!(ok <= 6, "more ticks than candles");
    };
    assert_eq!(ok, 6, "one tick per candle of the last day");
    assert_eq!(refused["exit_code"], 2, "{refused}");
    let msg = refused["error"].as_str().unwrap();
    assert!(msg.contains("`paper.candles`") && msg.contains("replay finished"), "{msg}");
    let clock = env.count("SELECT now_ms FROM paper_clock");
    let events = env.count("SELECT count(*) FROM audit_event") + env.count("SELECT count(*) FROM order_event");
    // Refused again and again, without moving the clock or writing the journal.
    for _ in 0..2 {
        assert_eq!(env.run(&["--json", "tick"]).json()["exit_code"], 2);
    }
    assert_eq!(env.count("SELECT now_ms FROM paper_clock"), clock);
    assert_eq!(env.count("SELECT count(*) FROM audit_event") + env.count("SELECT count(*) FROM order_event"), events);
    let s = env.run(&["--json", "status"]).json();
    assert_eq!(s["paper"]["finished"], true);
    assert_eq!(s["paper"]["data_end"], "2026-05-16T23:59:59.999Z");
    env.run(&["status"]).code(0).stdout_contains("FINISHED");
    // The timer's service does not restart on 2 (a restart loop would refuse every 5 s).
    let unit = std::fs::read_to_string(format!("{}/cron/mcbot-tick.service", env!("CARGO_MANIFEST_DIR"))).unwrap();
    let no_restart: Vec<&str> = unit
        .lines()
        .filter_map(|l| l.strip_prefix("RestartPreventExitStatus="))
        .flat_map(str::split_whitespace)
        .collect();
    assert!(no_restart.contains(&"2"), "{no_restart:?}");
}

#[test]
fn a_state_db_keeps_its_paper_mode_and_the_old_key_names_the_new_one() {
    let server = MockServer::start();
    let klines = server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/klines");
        then.status(200).body(klines_ending_now(1001));
    });
    server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/premiumIndex");
        then.status(200).body(premium_index());
    });
    let env = TestEnv::new();
    env.run(&["tick"]).code(0); // a replay: its clock is in 2020
    env.write_config(&format!("{BASE_CONFIG}{}", live_section(&server.base_url())));
    let v = env.run(&["--json", "tick"]).json();
    assert_eq!(v["exit_code"], 2, "{v}");
    let msg = v["error"].as_str().unwrap();
    assert!(msg.contains("`paper.mode`") && msg.contains("history replay"), "{msg}");
    assert_eq!(klines.hits(), 0, "refused before any price request");

    // The reverse: a live book, then a replay config on the same DB.
    let live = TestEnv::new();
    live.write_config(&format!("{BASE_CONFIG}{}", live_section(&server.base_url())));
    live.run(&["tick"]).code(0);
    live.write_config(BASE_CONFIG);
    let v = live.run(&["--json", "reconcile"]).json();
    assert_eq!(v["exit_code"], 2, "{v}");
    assert!(v["error"].as_str().unwrap().contains("`paper.mode`"), "{v}");
    assert_eq!(live.count("SELECT count(*) FROM paper_clock"), 0, "no replay clock started");

    for (old, new) in [("binance", "live"), ("file", "replay")] {
        let e = TestEnv::new();
        e.write_config(&format!("{BASE_CONFIG}[paper]\nmarket_data = \"{old}\"\n"));
        let v = e.run(&["--json", "status"]).json();
        assert_eq!(v["exit_code"], 2);
        let msg = v["error"].as_str().unwrap();
        assert!(msg.contains("`paper.market_data`") && msg.contains(&format!("mode = \"{new}\"")), "{msg}");
    }
    let e = TestEnv::new();
    e.write_config(&format!("{BASE_CONFIG}[paper]\nmode = \"dry\"\n"));
    assert!(e.run(&["--json", "status"]).json()["error"].as_str().unwrap().contains("`paper.mode`"));
    e.write_config(&format!("{BASE_CONFIG}[paper]\nprices_url = \"http://127.0.0.1:99999\"\n"));
    assert!(e.run(&["--json", "status"]).json()["error"].as_str().unwrap().contains("`paper.prices_url`"));
    // A replay-only key in a live config would be ignored without a word.
    e.write_config(&format!("{BASE_CONFIG}[paper]\nmode = \"live\"\nstart = \"2024-01-01\"\n"));
    assert!(e.run(&["--json", "status"]).json()["error"].as_str().unwrap().contains("`paper.start`"));
}
