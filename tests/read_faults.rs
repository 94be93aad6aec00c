//! Unreadable and failing reads through the binary against the stateful Binance mock (issue 11
//! item 3, issue 12 §4): every read a command makes (`time`, the position, `openOrders`,
//! `openAlgoOrders`, `exchangeInfo`) answered with an empty 200, truncated JSON, a missing field or
//! a null — for one try (retried within the command, which ends as usual) and for ever (bounded
//! by the command's one retry budget, naming the read and `exchange.base_url`). The position's
//! STOP was cancelled by hand each time: it must end protected whenever the position is known
//! to exist and the exchange takes orders (seed 000 AC1, F-002 naked position; AC3 bounded
//! failure; F-005 exchange outage).

use crate::support::bot::Bot;
use crate::support::fault::Fault;
use crate::support::mock_binance::{unreadable_bodies, READS};
use crate::support::scenario::{cid, Scenario, ALGO, ORDER};
use mcbot::exchange::paper::db::kind_str;
use rust_decimal_macros::dec;

/// Faulted for ever: more matches than any command can make.
const FOREVER: usize = usize::MAX;
/// `BudgetLimits::COMMAND.max_retries` (src/exchange/retry.rs).
const MAX_RETRIES: usize = 12;

/// Entered and protected (STOP_1, TP_1); then the STOP is cancelled by hand.
fn naked_stop() -> Scenario {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.cancel_algos(|a| kind_str(a.kind) == "STOP_MARKET");
    // The faulted run starts without the offset `enter` kept, so it reads `/fapi/v1/time` too.
    s.store().conn().execute("DELETE FROM clock_sync", []).unwrap();
    s
}

/// The STOP placed after the hand cancel: reduce-only, the full 0.010, the plan's 39000, as
/// attempt 2 (a new client id; STOP_1 is CANCELED on the exchange). TP_1 still stands.
#[track_caller]
fn assert_stop_2_protects(s: &Scenario, from: usize, why: &str) {
    let writes = s.mock.writes_since(from);
    assert_eq!(writes, [format!("POST {ALGO} {}", cid("STOP", 2))], "{why}");
    s.assert_protected(&cid("STOP", 2), &cid("TP", 1));
    let req = s.request("POST", ALGO, &cid("STOP", 2));
    assert_eq!(
        (req.param("reduceOnly"), req.param("quantity"), req.param("triggerPrice")),
        (Some("true"), Some("0.01"), Some("39000")),
        "{why}"
    );
    assert_eq!(s.events(&cid("STOP", 2)), ["SUBMITTING", "ACKED"], "{why}");
    assert_eq!(s.mode(), "RUNNING", "{why}");
}

/// Requests to `path` since request `from`, and how many of them the fault answered.
fn hits(s: &Scenario, path: &str, from: usize) -> usize {
    s.mock.requests().iter().skip(from).filter(|r| r.method == "GET" && r.path == path).count()
}

/// One try of each read unreadable, each of the four ways: retried within the command, which
/// repairs the hand-cancelled STOP and exits 0.
fn once(path: &str) {
    for (i, body) in unreadable_bodies(path).iter().enumerate() {
        let why = format!("{path} answered {body:?} once (case {i})");
        let s = naked_stop();
        let from = s.mock.request_count();
        s.mock.on("GET", path, None, Fault::ok_body(body), 1);
        let out = s.run(&["reconcile"]);
        assert_eq!(out.code, 0, "{why}\n{}\n{}", out.stdout, out.stderr);
        assert!(hits(&s, path, from) >= 1, "{why}: the read was made");
        assert_stop_2_protects(&s, from, &why);
        s.finish();
    }
}

/// A read unreadable on every try, one of the four ways chosen by the seed: the command is
/// bounded by its budget, names the read and the base URL, and a position the exchange still
/// shows (or the journal knows) ends protected.
fn forever(path: &str, seed: usize) {
    let k = (seed + READS.iter().position(|p| *p == path).unwrap_or(0)) % 4;
    let body = unreadable_bodies(path)[k];
    let why = format!("{path} answered {body:?} on every try (seed {seed})");
    let s = naked_stop();
    let from = s.mock.request_count();
    s.mock.on("GET", path, None, Fault::ok_body(body), FOREVER);
    let out = s.run(&["reconcile"]);
    let text = format!("{}\n{}", out.stdout, out.stderr);
    // Bounded: the first try of each read plus the command's retries, never more.
    let n = hits(&s, path, from);
    assert!(n <= 3 + MAX_RETRIES, "{why}: {n} requests\n{text}");
    match path {
        // /time unreadable: signed calls use the local clock; exchangeInfo unreadable: the
        // position keeps its recorded STOP/TP prices. Either way the repair completes.
        "/fapi/v1/time" => {
            assert_eq!(out.code, 0, "{why}\n{text}");
            assert!(out.stderr.contains("binance.clock_unsynced"), "{why}: says it signs unsynced\n{text}");
        }
        "/fapi/v1/exchangeInfo" => {
            assert_eq!(out.code, 0, "{why}\n{text}");
            let named = format!("binance.exchange_info from {}", s.mock.url());
            assert!(out.stderr.contains(&named), "{why}: names the read and base_url\n{text}");
        }
        _ => {
            assert_eq!(out.code, 1, "{why}\n{text}");
            let j = out.json();
            let err = j["error"].as_str().unwrap_or_default();
            let read = match path {
                "/fapi/v3/positionRisk" => "binance.position_risk",
                "/fapi/v1/openOrders" => "binance.open_orders",
                _ => "binance.open_algo_orders",
            };
            assert!(err.contains(read), "{why}: names the read: {err}");
            assert!(err.contains(&s.mock.url()), "{why}: names exchange.base_url: {err}");
            assert!(err.contains("retr"), "{why}: says the retries were spent: {err}");
            assert_eq!(j["outcome"], "read_failed_protected", "{why}: {j}");
            assert!(s.audit().contains(&"WARN:reconcile_repair".to_string()), "{why}");
        }
    }
    assert_stop_2_protects(&s, from, &why);
    s.mock.clear_faults();
    // Once the read answers again, the next reconcile agrees and sends nothing.
    let mark = s.mock.request_count();
    s.run(&["reconcile"]).code(0);
    assert!(s.mock.writes_since(mark).is_empty(), "{why}");
    s.finish();
}

#[test]
fn time_unreadable_once_then_reconcile_as_usual() {
    once("/fapi/v1/time");
}
#[test]
fn position_unreadable_once_is_retried_within_the_command() {
    once("/fapi/v3/positionRisk");
}
#[test]
fn open_orders_unreadable_once_is_retried_within_the_command() {
    once("/fapi/v1/openOrders");
}
#[test]
fn open_algo_orders_unreadable_once_is_retried_within_the_command() {
    once("/fapi/v1/openAlgoOrders");
}
#[test]
fn exchange_info_unreadable_once_is_retried_within_the_command() {
    once("/fapi/v1/exchangeInfo");
}

#[test]
fn unreadable_for_ever_sweep_seed_1() {
    for path in READS {
        forever(path, 1);
    }
}
#[test]
fn unreadable_for_ever_sweep_seed_2() {
    for path in READS {
        forever(path, 2);
    }
}

/// `openAlgoOrders` unreadable for ever and the STOP cannot be placed either (503 on every
/// POST): the position is known and cannot be protected, so the guarantee's failure path runs —
/// CLOSE at market, the TP cancelled by its journaled client id, HALT, exit 10 (seed 000 AC3).
#[test]
fn unprotectable_position_behind_an_unreadable_read_is_closed_and_halted() {
    let s = naked_stop();
    let from = s.mock.request_count();
    s.mock.on("GET", "/fapi/v1/openAlgoOrders", None, Fault::ok_body("null"), FOREVER);
    s.mock.on("POST", ALGO, Some("STOP"), Fault::service_unavailable(), FOREVER);
    let out = s.run(&["reconcile"]);
    assert_eq!(out.code, 10, "{}\n{}", out.stdout, out.stderr);
    let writes = s.mock.writes_since(from);
    let want = [
        format!("POST {ALGO} {}", cid("STOP", 2)),
        format!("POST {ALGO} {}", cid("STOP", 3)),
        format!("POST {ORDER} {}", cid("CLOSE", 1)),
    ];
    for w in &want {
        assert!(writes.contains(w), "{w} missing from {writes:?}");
    }
    assert!(writes.contains(&format!("DELETE {ALGO} {}", cid("TP", 1))), "{writes:?}");
    assert_eq!(s.mock.position(), dec!(0), "flat on the exchange");
    assert!(s.mock.open_algos().is_empty(), "{:?}", s.mock.open_algos());
    assert_eq!(s.mode(), "HALTED");
    let audit = s.audit();
    for kind in ["CRITICAL:protection_failed", "CRITICAL:forced_close", "CRITICAL:halt"] {
        assert!(audit.iter().any(|a| a == kind), "{kind} missing from {audit:?}");
    }
    s.mock.clear_faults();
    s.finish();
}

/// `tick` with `openAlgoOrders` unreadable for ever: the hand-cancelled STOP is replaced once
/// (by reconcile; tick's protect step finds it by client id and sends nothing more), nothing is
/// evaluated or entered, exit 1.
#[test]
fn tick_behind_an_unreadable_read_protects_once_and_enters_nothing() {
    let s = naked_stop();
    let from = s.mock.request_count();
    s.mock.on("GET", "/fapi/v1/openAlgoOrders", None, Fault::ok_body(""), FOREVER);
    let out = s.run(&["tick"]);
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    let j = out.json();
    let steps: Vec<_> = j["steps"].as_array().unwrap().iter().map(|x| x["step"].as_str().unwrap_or("")).collect();
    assert_eq!(steps, ["reconcile", "protect"], "no evaluate, no enter: {j}");
    assert_eq!(j["steps"][0]["outcome"], "read_failed_protected", "{j}");
    assert_stop_2_protects(&s, from, "tick, openAlgoOrders empty 200 for ever");
    assert_eq!(hits(&s, "/fapi/v1/klines", from), 0, "nothing evaluated");
    s.mock.clear_faults();
    s.finish();
}

/// The exchange answers every read with 503 "Service Unavailable." (F-005): `reconcile` gives
/// up within the budget, names the base URL, sends nothing (the journal's STOP and TP stand as
/// far as anything can tell), at most one WARN line per retried request, and does not halt.
#[test]
fn every_read_503_is_bounded_and_sends_nothing() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    let from = s.mock.request_count();
    for path in READS.iter().chain(&["/fapi/v1/algoOrder", "/fapi/v1/order"]) {
        s.mock.on("GET", path, None, Fault::service_unavailable(), FOREVER);
    }
    for cmd in ["reconcile", "tick"] {
        let mark = s.mock.request_count();
        let out = s.run(&[cmd]);
        assert_eq!(out.code, 1, "{cmd}\n{}\n{}", out.stdout, out.stderr);
        assert!(out.stdout.contains(&s.mock.url()), "{cmd} names exchange.base_url: {}", out.stdout);
        let sent = s.mock.request_count() - mark;
        assert!(sent <= 6 + 2 * MAX_RETRIES, "{cmd}: {sent} requests");
        let warns = out.stderr.lines().filter(|l| l.contains("WARN") && l.contains("exchange.retry")).count();
        assert!(2 * warns <= sent, "{cmd}: {warns} WARN lines for {sent} requests\n{}", out.stderr);
        assert!(warns >= 1, "{cmd}: the retries are visible\n{}", out.stderr);
    }
    assert!(s.mock.writes_since(from).is_empty());
    assert_eq!(s.mode(), "RUNNING");
    assert_eq!(s.mock.position(), dec!(0.010));
    s.mock.clear_faults();
    s.run(&["reconcile"]).code(0);
    s.finish();
}

/// The figures in docs/binance.md ("Retries"): wall time and WARN lines of `reconcile` and
/// `tick` with a protected position, against a port nothing listens on and a mock answering 503
/// to every read, with the default timeouts. Prints; asserts nothing about time.
/// `cargo test --locked --test integration measure_unreachable -- --ignored --nocapture`
#[test]
#[ignore]
fn measure_unreachable_exchange() {
    let only = std::env::var("MEASURE_TARGET").unwrap_or_default();
    for target in ["closed port", "503"].into_iter().filter(|t| only.is_empty() || only == *t) {
        let s = Bot::new()
            .set("execution.close_retry_max_elapsed_ms", "60000")
            .set("exchange.http_timeout_ms", "10000")
            .planned_long()
            .mock();
        s.run(&["enter"]).code(0);
        if target == "503" {
            for path in READS.iter().chain(&["/fapi/v1/algoOrder", "/fapi/v1/order", "/fapi/v1/klines"]) {
                s.mock.on("GET", path, None, Fault::service_unavailable(), FOREVER);
            }
        } else {
            let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let url = format!("http://{}", closed.local_addr().unwrap());
            drop(closed);
            let text = std::fs::read_to_string(s.env.config_path()).unwrap();
            s.env.write_config(&text.replace(&s.mock.url(), &url));
            // The same account behind another address: let the state adopt the new base_url.
            let db = s.env.db();
            db.execute_batch("DROP TRIGGER state_identity_no_delete; DELETE FROM state_identity;").unwrap();
        }
        for cmd in ["reconcile", "tick"] {
            let mark = s.mock.request_count();
            let t0 = std::time::Instant::now();
            let out = s.run(&[cmd]);
            let ms = t0.elapsed().as_millis();
            let warns = out.stderr.lines().filter(|l| l.contains("WARN")).count();
            let retry_warns = out.stderr.lines().filter(|l| l.contains("WARN") && l.contains("retry")).count();
            println!(
                "MEASURE {target:>11} {cmd:>9}: exit {} in {ms} ms, {} requests, {warns} WARN lines ({retry_warns} retry)",
                out.code,
                s.mock.request_count() - mark
            );
        }
    }
}
