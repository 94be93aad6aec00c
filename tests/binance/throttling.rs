//! Retry-After honoured, 418 never retried, and the gate that backs off *before* the per-minute
//! limits, all measured on the `ManualClock` through the `timestamp` each signed request carried.

use super::harness::{fixture, timestamp, Env, T0};
use httpmock::prelude::*;
use mcbot::clock::Clock;
use mcbot::core::types::OrderSide;
use mcbot::exchange::{ErrorClass, Exchange, ExchangeErrorKind, MarketOrderRequest};
use rust_decimal_macros::dec;
use std::collections::BTreeSet;
use std::sync::Mutex;

const MINUTE: i64 = 60_000;

/// Records the distinct timestamps a matcher saw (it may be asked more than once per request).
fn record(set: &Mutex<BTreeSet<i64>>, req: &HttpMockRequest) -> bool {
    set.lock().unwrap().insert(timestamp(req));
    true
}

static RETRY_AFTER_SEEN: Mutex<BTreeSet<i64>> = Mutex::new(BTreeSet::new());
fn retry_after_seen(req: &HttpMockRequest) -> bool {
    record(&RETRY_AFTER_SEEN, req)
}

#[test]
fn f429_retry_after_is_honoured_between_read_attempts() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v3/positionRisk").matches(retry_after_seen);
        then.status(429)
            .header("Retry-After", "3")
            .body(r#"{"code":-1003,"msg":"Too many requests; current limit is 2400 requests per minute."}"#);
    });
    let e = env.ex.position("BTCUSDT").unwrap_err();
    assert_eq!((e.class, e.retry_after_ms), (ErrorClass::Retryable, Some(3000)));
    let seen: Vec<i64> = RETRY_AFTER_SEEN.lock().unwrap().iter().copied().collect();
    assert_eq!(seen.len(), m.hits(), "one timestamp per attempt: {seen:?}");
    assert!(seen.len() >= 2, "a 429 on a read is retried: {seen:?}");
    for w in seen.windows(2) {
        assert!(w[1] - w[0] >= 3000, "a request came sooner than Retry-After: {seen:?}");
    }
}

/// Issue 12 §4: `Retry-After` longer than what is left of the command's retry budget (20 s): the
/// read gives up at once, saying so — no sleep, no retry — and a later read of the same command
/// is not sent into the back-off either (it would have to wait past the deadline).
#[test]
fn f429_retry_after_past_the_budget_gives_up_at_once() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/premiumIndex");
        then.status(429)
            .header("Retry-After", "30")
            .body(r#"{"code":-1003,"msg":"Too many requests; current limit is 2400 requests per minute."}"#);
    });
    let t0 = env.clock.now_ms();
    let e = env.ex.mark_info("BTCUSDT").unwrap_err();
    m.assert_hits(1);
    assert_eq!(env.clock.now_ms(), t0, "no sleep");
    assert!(e.message.contains("Retry-After") && e.message.contains("30000 ms"), "{e}");
    assert!(e.message.contains("gave up after 1 try"), "{e}");
    assert_eq!(env.ex.budget().used(), 0, "no retry spent");
    let e = env.ex.mark_info("BTCUSDT").unwrap_err();
    m.assert_hits(1);
    assert_eq!(env.clock.now_ms(), t0, "no sleep into the back-off");
    assert!(e.message.contains("request not sent"), "{e}");
}

#[test]
fn f429_on_an_order_is_not_retried_by_the_adapter() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(POST).path("/fapi/v1/order");
        then.status(429).header("Retry-After", "5").body(r#"{"code":-1015,"msg":"Too many new orders."}"#);
    });
    let req = MarketOrderRequest {
        symbol: "BTCUSDT".into(),
        side: OrderSide::Buy,
        qty: dec!(0.003),
        reduce_only: false,
        client_id: "mc_p1_ENTRY_1".into(),
    };
    let e = env.ex.place_market(&req).unwrap_err();
    m.assert_hits(1);
    assert_eq!((e.class, e.retry_after_ms), (ErrorClass::Retryable, Some(5000)));
    // The next request waits out the Retry-After before it goes.
    env.answer(GET, "/fapi/v1/premiumIndex", 200, &fixture("rest_premium_index_btcusdt_doc.json"));
    let before = env.clock.now_ms();
    env.ex.mark_info("BTCUSDT").unwrap();
    assert!(env.clock.now_ms() - before >= 5000);
}

#[test]
fn f418_is_never_retried_and_blocks_further_requests() {
    let env = Env::new();
    let ban_until = T0 + 300_000;
    let m = env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/premiumIndex");
        then.status(418)
            .header("Retry-After", "120")
            .body(format!(r#"{{"code":-1003,"msg":"Way too many requests; IP banned until {ban_until}. Please use the websocket for live updates to avoid bans."}}"#));
    });
    let e = env.ex.mark_info("BTCUSDT").unwrap_err();
    m.assert_hits(1);
    assert_eq!((e.kind.clone(), e.class), (ExchangeErrorKind::Api { code: -1003 }, ErrorClass::Fatal));
    assert_eq!(e.retry_after_ms, Some(300_000), "the later of Retry-After and the ban time");
    let trades = env.answer(GET, "/fapi/v1/userTrades", 200, "[]");
    let e = env.ex.order_fills("BTCUSDT", "1", 0).unwrap_err();
    assert_eq!((e.kind, e.class), (ExchangeErrorKind::Http { status: 418 }, ErrorClass::Fatal));
    trades.assert_hits(0);
    m.assert_hits(1);
}

static WEIGHT_SEEN: Mutex<BTreeSet<i64>> = Mutex::new(BTreeSet::new());
fn weight_seen(req: &HttpMockRequest) -> bool {
    record(&WEIGHT_SEEN, req)
}

#[test]
fn near_the_weight_limit_the_next_request_waits_for_the_next_minute() {
    let env = Env::new();
    env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v3/positionRisk").matches(weight_seen);
        then.status(200).header("X-MBX-USED-WEIGHT-1M", "2000").body("[]");
    });
    env.ex.position("BTCUSDT").unwrap();
    env.ex.position("BTCUSDT").unwrap();
    let seen: Vec<i64> = WEIGHT_SEEN.lock().unwrap().iter().copied().collect();
    assert_eq!(seen.len(), 2, "{seen:?}");
    let next_minute = (T0.div_euclid(MINUTE) + 1) * MINUTE;
    assert!(seen[0] < next_minute && seen[1] >= next_minute, "second request not held back: {seen:?}");
}

#[test]
fn limits_come_from_exchange_info() {
    // The 2022 capture says REQUEST_WEIGHT 6000/min: 2000 used is far from 80 %.
    let env = Env::new();
    env.answer(GET, "/fapi/v1/exchangeInfo", 200, &fixture("rest_exchange_info_btcusdt_trimmed.json"));
    env.ex.filters("BTCUSDT").unwrap();
    env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v3/positionRisk");
        then.status(200).header("X-MBX-USED-WEIGHT-1M", "2000").body("[]");
    });
    env.ex.position("BTCUSDT").unwrap();
    env.ex.position("BTCUSDT").unwrap();
    assert_eq!(env.clock.now_ms(), T0, "no wait expected");
}

#[test]
fn near_the_order_limit_orders_wait_but_reads_do_not() {
    let env = Env::new();
    env.server.mock(|when, then| {
        when.method(POST).path("/fapi/v1/order");
        then.status(200)
            .header("X-MBX-ORDER-COUNT-1M", "1000")
            .body(fixture("rest_order_filled_market_buy_hedge_btcusdt.json"));
    });
    env.answer(GET, "/fapi/v3/positionRisk", 200, "[]");
    let req = MarketOrderRequest {
        symbol: "BTCUSDT".into(),
        side: OrderSide::Buy,
        qty: dec!(0.003),
        reduce_only: false,
        client_id: "x-xcKtGhcua07c4d393b087cd6cdb02c".into(),
    };
    env.ex.place_market(&req).unwrap();
    env.ex.position("BTCUSDT").unwrap();
    assert_eq!(env.clock.now_ms(), T0, "a read is not held back by the order count");
    env.ex.place_market(&req).unwrap();
    assert!(env.clock.now_ms() >= (T0.div_euclid(MINUTE) + 1) * MINUTE, "the order waited for the next minute");
}
