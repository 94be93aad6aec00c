//! Bad input from either side: garbage, truncated JSON, HTML pages, empty 5xx bodies, wrong
//! field types, answers about another symbol, and invalid requests. Always a typed error with a
//! class; never a panic, never a default that looks like success.

use super::harness::{fixture, Env};
use httpmock::prelude::*;
use mcbot::core::types::OrderSide;
use mcbot::exchange::retry::BudgetLimits;
use mcbot::exchange::{ErrorClass, Exchange, ExchangeErrorKind, MarketOrderRequest};
use rust_decimal_macros::dec;

fn entry(client_id: &str) -> MarketOrderRequest {
    MarketOrderRequest {
        symbol: "BTCUSDT".into(),
        side: OrderSide::Buy,
        qty: dec!(0.003),
        reduce_only: false,
        client_id: client_id.into(),
    }
}

const CID: &str = "x-xcKtGhcua07c4d393b087cd6cdb02c";

#[test]
fn unreadable_answers_to_an_accepted_order_are_ambiguous() {
    let full = fixture("rest_order_filled_market_buy_hedge_btcusdt.json");
    let bodies = [
        full[..full.len() / 2].to_string(),                                      // truncated
        "garbage".to_string(),                                                   // not JSON
        String::new(),                                                           // empty
        full.replace("\"executedQty\": \"0.003\"", "\"executedQty\": true"),     // wrong type
        full.replace("\"executedQty\": \"0.003\",", ""),                         // missing field
        full.replace("\"status\": \"FILLED\"", "\"status\": \"SOMETHING_NEW\""), // unknown status
    ];
    for (i, body) in bodies.iter().enumerate() {
        let env = Env::new();
        let m = env.answer(POST, "/fapi/v1/order", 200, body);
        let e = env.ex.place_market(&entry(CID)).unwrap_err();
        m.assert_hits(1);
        assert_eq!((e.kind.clone(), e.class), (ExchangeErrorKind::Parse, ErrorClass::Ambiguous), "case {i}: {e}");
        assert!(e.raw.is_some(), "case {i}");
    }
}

/// Issue 11 item 3: an unreadable answer to a read (empty 200, truncated JSON, a wrong or missing
/// field, a null) is retried within the command's budget, then reported as unreadable — never
/// taken for a default.
#[test]
fn unreadable_answers_to_a_read_are_retried_then_reported() {
    let bodies =
        ["", "{not json", "[1,2", r#"{"symbol":"BTCUSDT","markPrice":{},"lastFundingRate":"0","time":1}"#, "null"];
    for (i, body) in bodies.iter().enumerate() {
        let env = Env::new();
        let m = env.answer(GET, "/fapi/v1/premiumIndex", 200, body);
        let e = env.ex.mark_info("BTCUSDT").unwrap_err();
        let max = 1 + BudgetLimits::COMMAND.max_retries as usize;
        assert!(m.hits() > 1 && m.hits() <= max, "case {i}: {} hits", m.hits());
        assert_eq!((e.kind.clone(), e.class), (ExchangeErrorKind::Parse, ErrorClass::Retryable), "case {i}: {e}");
        assert!(e.message.contains("gave up after"), "case {i}: {e}");
    }
}

#[test]
fn html_pages_and_empty_5xx_bodies() {
    let env = Env::new();
    env.answer(POST, "/fapi/v1/order", 502, "<html><body><h1>502 Bad Gateway</h1></body></html>");
    let e = env.ex.place_market(&entry(CID)).unwrap_err();
    assert_eq!((e.kind.clone(), e.class), (ExchangeErrorKind::Http { status: 502 }, ErrorClass::Ambiguous));
    assert!(e.message.contains("502 Bad Gateway"), "{e}");

    let env = Env::new();
    let m = env.answer(GET, "/fapi/v1/premiumIndex", 404, "<html>Not Found</html>");
    assert_eq!(env.ex.mark_info("BTCUSDT").unwrap_err().class, ErrorClass::Fatal);
    m.assert_hits(1);

    // An empty 503 on a read is retried (a read changes nothing), then reported.
    let env = Env::new();
    let m = env.answer(GET, "/fapi/v1/premiumIndex", 503, "");
    let e = env.ex.mark_info("BTCUSDT").unwrap_err();
    assert_eq!((e.kind.clone(), e.class), (ExchangeErrorKind::Http { status: 503 }, ErrorClass::Retryable));
    assert!(m.hits() > 1 && m.hits() <= 1 + BudgetLimits::COMMAND.max_retries as usize, "{}", m.hits());
    assert!(e.message.contains("empty body"), "{e}");
}

#[test]
fn answers_about_another_symbol_or_order_are_refused() {
    let env = Env::new();
    env.answer(GET, "/fapi/v1/premiumIndex", 200, &fixture("rest_premium_index_btcusdt_doc.json"));
    let e = env.ex.mark_info("ETHUSDT").unwrap_err();
    assert_eq!((e.kind, e.class), (ExchangeErrorKind::Parse, ErrorClass::Fatal));

    let env = Env::new();
    env.answer(POST, "/fapi/v1/order", 200, &fixture("rest_order_filled_market_buy_hedge_btcusdt.json"));
    let mut other = entry(CID);
    other.symbol = "ETHUSDT".into();
    assert_eq!(env.ex.place_market(&other).unwrap_err().class, ErrorClass::Fatal);
    assert_eq!(env.ex.place_market(&entry("mc_p1_ENTRY_1")).unwrap_err().class, ErrorClass::Fatal);

    let env = Env::new();
    env.answer(GET, "/fapi/v3/positionRisk", 200, &fixture("rest_position_risk_v3_oneway_long_btcusdt.json"));
    let e = env.ex.position("ETHUSDT").unwrap_err();
    assert_eq!((e.kind.clone(), e.class), (ExchangeErrorKind::Parse, ErrorClass::Fatal));
    assert!(e.message.contains("BTCUSDT"), "{e}");
}

#[test]
fn a_negative_code_in_a_200_is_an_error() {
    let env = Env::new();
    env.answer(GET, "/fapi/v1/openOrders", 200, r#"{"code":-1121,"msg":"Invalid symbol."}"#);
    let e = env.ex.open_orders("BTCUSDT").unwrap_err();
    assert_eq!((e.code(), e.class), (Some(-1121), ErrorClass::Fatal));
}

#[test]
fn missing_filters_are_an_error_not_a_permissive_default() {
    let env = Env::new();
    let body = fixture("rest_exchange_info_btcusdt_trimmed.json").replace("\"MIN_NOTIONAL\"", "\"SOMETHING_ELSE\"");
    env.answer(GET, "/fapi/v1/exchangeInfo", 200, &body);
    let e = env.ex.filters("BTCUSDT").unwrap_err();
    assert!(e.message.contains("MIN_NOTIONAL"), "{e}");
    assert_eq!(e.class, ErrorClass::Fatal);
}

#[test]
fn invalid_requests_are_refused_before_anything_is_sent() {
    let env = Env::new();
    let m = env.answer(POST, "/fapi/v1/order", 200, "{}");
    for bad in ["", "has space", "x".repeat(37).as_str(), "ünïcode", "a&b=c"] {
        let e = env.ex.place_market(&entry(bad)).unwrap_err();
        assert_eq!((e.kind, e.class), (ExchangeErrorKind::Local, ErrorClass::Fatal), "{bad:?}");
    }
    let mut zero = entry(CID);
    zero.qty = dec!(0);
    assert_eq!(env.ex.place_market(&zero).unwrap_err().kind, ExchangeErrorKind::Local);
    let mut lower = entry(CID);
    lower.symbol = "btcusdt".into();
    assert_eq!(env.ex.place_market(&lower).unwrap_err().kind, ExchangeErrorKind::Local);
    assert_eq!(env.ex.klines("BTCUSDT", "1m", 0).unwrap_err().kind, ExchangeErrorKind::Local);
    assert_eq!(env.ex.klines("BTCUSDT", "1m", 1501).unwrap_err().kind, ExchangeErrorKind::Local);
    assert_eq!(env.ex.order_fills("BTCUSDT", "12a", 0).unwrap_err().kind, ExchangeErrorKind::Local);
    m.assert_hits(0);
    env.time().assert_hits(0);
}

/// Issue 12 §4 / issue 11 item 3: a read that gives up names the read and `exchange.base_url`.
#[test]
fn a_failed_read_names_the_read_and_the_host() {
    let env = Env::new();
    env.answer(GET, "/fapi/v1/premiumIndex", 503, "");
    let e = env.ex.mark_info("BTCUSDT").unwrap_err();
    assert!(e.message.contains("binance.premium_index") && e.message.contains(&env.server.base_url()), "{e}");
    let clock: std::sync::Arc<dyn mcbot::clock::Clock> =
        std::sync::Arc::new(mcbot::clock::ManualClock::new(super::harness::T0));
    let dead = mcbot::exchange::binance::BinanceFutures::new(
        &super::harness::config("http://127.0.0.1:9", 500),
        super::harness::creds(),
        clock,
    )
    .unwrap();
    let e = dead.position("BTCUSDT").unwrap_err();
    assert!(e.message.contains("http://127.0.0.1:9"), "{e}");
}
