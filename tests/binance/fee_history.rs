//! Issue 12 §1: history reads bounded by time and paged (`userTrades` answers only 7 days and 500
//! rows without a range; `allAlgoOrders` covers at most 7 days). Rows are built from the fields of
//! the official `account_trade_list_response_inner.rs` model (fixture
//! `rest_user_trades_official_no_margin_asset.json`, provenance in SOURCES.md).

use super::harness::{fixture, Env, T0};
use httpmock::prelude::*;
use mcbot::exchange::binance::history::WINDOW_MS;
use mcbot::exchange::Exchange;
use rust_decimal::Decimal;
use rust_decimal_macros::dec;

const DAY: i64 = 86_400_000;
const LEAD: i64 = 3_600_000;

/// `n` trade rows of order 3524852987 starting at trade id `first`, time `t`.
fn trades(first: u64, n: usize, t: i64) -> String {
    let row: serde_json::Value =
        serde_json::from_str::<Vec<serde_json::Value>>(&fixture("rest_user_trades_official_no_margin_asset.json"))
            .unwrap()
            .remove(0);
    let rows: Vec<serde_json::Value> = (0..n)
        .map(|i| {
            let mut r = row.clone();
            r["id"] = serde_json::json!((first + i as u64).to_string());
            r["qty"] = serde_json::json!("0.001");
            r["commission"] = serde_json::json!("0.01");
            r["time"] = serde_json::json!((t + i as i64).to_string());
            r
        })
        .collect();
    serde_json::to_string(&rows).unwrap()
}

/// A 7-day-old order (seed 000: exits carry auditable fees): its trades are asked for around its
/// own time, not "the last 7 days" that no longer hold it.
#[test]
fn fills_of_a_week_old_order_are_read_around_its_own_time() {
    let env = Env::new();
    let placed = T0 - 8 * DAY;
    let start = placed - LEAD;
    let m = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/userTrades")
            .query_param("symbol", "BTCUSDT")
            .query_param("orderId", "3524852987")
            .query_param("startTime", start.to_string())
            .query_param("endTime", (start + WINDOW_MS).to_string())
            .query_param("limit", "1000");
        then.status(200).body(trades(1, 2, placed + 5));
    });
    let f = env.ex.order_fills("BTCUSDT", "3524852987", placed).unwrap();
    m.assert_hits(1);
    assert_eq!(f.len(), 2);
    assert_eq!(f.iter().map(|f| f.qty).sum::<Decimal>(), dec!(0.002));
}

/// More than a page (1000 rows): the full page's range is split and both halves read; every
/// trade is counted once, none is lost to the page limit.
#[test]
fn fills_beyond_one_page_are_all_read() {
    let env = Env::new();
    let placed = T0 - DAY;
    let start = placed - LEAD;
    let end = start + WINDOW_MS;
    let mid = start + (end - start) / 2;
    let window = |a: i64, b: i64, body: String| {
        env.server.mock(move |when, then| {
            when.method(GET)
                .path("/fapi/v1/userTrades")
                .query_param("startTime", a.to_string())
                .query_param("endTime", b.to_string());
            then.status(200).body(body);
        })
    };
    let whole = window(start, end, trades(1, 1000, placed));
    let early = window(start, mid, trades(1, 700, placed));
    let late = window(mid + 1, end, trades(701, 500, mid + 10));
    let f = env.ex.order_fills("BTCUSDT", "3524852987", placed).unwrap();
    assert_eq!((whole.hits(), early.hits(), late.hits()), (1, 1, 1));
    assert_eq!(f.len(), 1200);
    assert_eq!(f.iter().map(|f| f.commission).sum::<Decimal>(), dec!(12.00));
    // Read oldest first.
    assert!(f.windows(2).all(|w| w[0].time_ms <= w[1].time_ms));
}

/// A row answered twice (overlapping pages) is counted once.
#[test]
fn a_trade_answered_twice_is_counted_once() {
    let env = Env::new();
    let body = fixture("rest_user_trades_official_no_margin_asset.json");
    let doubled = format!("[{0},{0}]", &body.trim()[1..body.trim().len() - 1]);
    env.answer(GET, "/fapi/v1/userTrades", 200, &doubled);
    assert_eq!(env.ex.order_fills("BTCUSDT", "3524852987", 1_699_972_836_000).unwrap().len(), 1);
}

/// An order that filled but has no trades in its window answers an empty list (the engine then
/// records its fees as unknown, never zero: `core::fees` tests and the exit test).
#[test]
fn filled_order_without_trades_is_an_empty_answer_not_an_error() {
    let env = Env::new();
    let m = env.answer(GET, "/fapi/v1/userTrades", 200, "[]");
    assert!(env.ex.order_fills("BTCUSDT", "3524852987", T0).unwrap().is_empty());
    m.assert_hits(1);
}

/// `allAlgoOrders` fallback: each query is an explicit window, newest first, and an order a
/// week or more old is found in an older window.
#[test]
fn algo_history_fallback_walks_back_by_week() {
    let env = Env::new();
    env.answer(GET, "/fapi/v1/algoOrder", 400, &fixture("error_-2013_order_does_not_exist.json"));
    let newest_end = T0 + 60_000;
    let newest_start = newest_end - WINDOW_MS;
    let newest = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/allAlgoOrders")
            .query_param("startTime", newest_start.to_string())
            .query_param("endTime", newest_end.to_string());
        then.status(200).body("[]");
    });
    let older = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/allAlgoOrders")
            .query_param("startTime", (newest_start - 1 - WINDOW_MS).to_string())
            .query_param("endTime", (newest_start - 1).to_string());
        then.status(200).body(fixture("rest_all_algo_orders_finished_btcusdt.json"));
    });
    let c = env.ex.query_conditional("BTCUSDT", "x-yHjDKm8h7cd1bf4f-9ce3-4d55-b9f").unwrap().unwrap();
    assert_eq!(c.algo_id, "1000001270850379");
    newest.assert_hits(1);
    older.assert_hits(1);
}

/// With the placement time known (the look-up after an ambiguous STOP write, reconcile's
/// refresh), the fallback reads the newest window and the placement's, not 13 weeks: a missing
/// order costs two queries on the naked window's path, and an old one is still found.
#[test]
fn algo_history_with_a_placement_time_reads_two_windows_at_most() {
    let env = Env::new();
    let direct = env.answer(GET, "/fapi/v1/algoOrder", 400, &fixture("error_-2013_order_does_not_exist.json"));
    let placed = T0 - 20 * DAY;
    let start = placed - 3_600_000;
    let placement = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/allAlgoOrders")
            .query_param("startTime", start.to_string())
            .query_param("endTime", (start + WINDOW_MS).to_string());
        then.status(200).body(fixture("rest_all_algo_orders_finished_btcusdt.json"));
    });
    let any = env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/allAlgoOrders");
        then.status(200).body("[]");
    });
    let c = env.ex.query_conditional_placed("BTCUSDT", "x-yHjDKm8h7cd1bf4f-9ce3-4d55-b9f", placed).unwrap().unwrap();
    assert_eq!(c.algo_id, "1000001270850379");
    assert_eq!((placement.hits(), any.hits()), (1, 1), "the newest window, then the placement's");
    // Just placed (within the newest window): an absent id is one window, one query.
    assert_eq!(env.ex.query_conditional_placed("BTCUSDT", "mc_p1_STOP_1", T0).unwrap(), None);
    assert_eq!((placement.hits(), any.hits()), (1, 2));
    direct.assert_hits(2);
}

/// Reconcile's history reads (`order_history`, `conditional_history`) send an explicit end too:
/// `since` plus 7 days, or now when that is sooner.
#[test]
fn order_and_algo_history_send_an_explicit_window() {
    let env = Env::new();
    let since = T0 - 2 * DAY;
    let orders = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/allOrders")
            .query_param("startTime", since.to_string())
            .query_param("endTime", (T0 + 60_000).to_string())
            .query_param("limit", "1000");
        then.status(200).body("[]");
    });
    let old = T0 - 30 * DAY;
    let algos = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/allAlgoOrders")
            .query_param("startTime", old.to_string())
            .query_param("endTime", (old + WINDOW_MS).to_string());
        then.status(200).body("[]");
    });
    assert!(env.ex.order_history("BTCUSDT", since).unwrap().is_empty());
    assert!(env.ex.conditional_history("BTCUSDT", old).unwrap().is_empty());
    orders.assert_hits(1);
    algos.assert_hits(1);
}
