//! Issue 12 §1: the shapes Binance's official connector models allow and older captures never
//! show (fixtures `*_official_*`, provenance in tests/fixtures/binance/SOURCES.md). A fill without
//! a price is a known fill, never an ambiguous write; a FINISHED STOP without `actualQty` is
//! resolved from its child order, never recorded as expired.

use super::harness::{fixture, Env};
use super::orders::close_request;
use httpmock::prelude::*;
use mcbot::exchange::{CancelOutcome, ConditionalStatus, ErrorClass, ExOrderStatus, Exchange, ExchangeErrorKind};
use rust_decimal_macros::dec;

const STOP_ID: &str = "x-yHjDKm8h7cd1bf4f-9ce3-4d55-b9f";

/// The FILLED MARKET answer as `new_order_response.rs` models it, then its `GET /fapi/v1/order`.
#[test]
fn filled_market_without_a_price_takes_it_from_the_order_query() {
    let env = Env::new();
    let post = env.answer(POST, "/fapi/v1/order", 200, &fixture("rest_order_new_filled_official_no_price.json"));
    let get = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/order")
            .query_param("symbol", "BTCUSDT")
            .query_param("origClientOrderId", close_request().client_id);
        then.status(200).body(fixture("rest_order_filled_market_reduceonly_sell_btcusdt.json"));
    });
    let o = env.ex.place_market(&close_request()).unwrap();
    post.assert_hits(1); // sent once: a known fill is never re-sent nor called ambiguous
    get.assert_hits(1);
    assert_eq!((o.status, o.executed_qty, o.avg_price), (ExOrderStatus::Filled, dec!(0.003), dec!(38148.90000)));
    assert!(o.raw.starts_with("POST /fapi/v1/order") && o.raw.contains("GET /fapi/v1/order"), "{}", o.raw);
}

/// The same answer to an ENTRY (not reduce-only): the adapter returns the known fill at once with
/// no price (`fill_price()` is `None`, never zero) and sends no look-up — exec sends it in the
/// STOP's own round, so the STOP never waits for the price (issue 12 §1).
#[test]
fn filled_entry_without_a_price_returns_at_once_with_the_price_unknown() {
    let env = Env::new();
    let post = env.answer(POST, "/fapi/v1/order", 200, &fixture("rest_order_new_filled_official_no_price.json"));
    let get = env.answer(GET, "/fapi/v1/order", 200, &fixture("rest_order_filled_market_reduceonly_sell_btcusdt.json"));
    let entry = mcbot::exchange::MarketOrderRequest { reduce_only: false, ..close_request() };
    let o = env.ex.place_market(&entry).unwrap();
    post.assert_hits(1);
    get.assert_hits(0);
    assert_eq!((o.status, o.executed_qty, o.fill_price()), (ExOrderStatus::Filled, dec!(0.003), None));
}

/// When the look-up cannot give a price either, the result is an error (the caller's resolver
/// asks again), never a zero price.
#[test]
fn filled_market_whose_price_stays_unknown_is_never_priced_zero() {
    let env = Env::new();
    let post = env.answer(POST, "/fapi/v1/order", 200, &fixture("rest_order_new_filled_official_no_price.json"));
    let get = env.answer(GET, "/fapi/v1/order", 200, &fixture("rest_order_new_filled_official_no_price.json"));
    let e = env.ex.place_market(&close_request()).unwrap_err();
    post.assert_hits(1);
    assert!(get.hits() >= 1);
    assert_eq!(e.kind, ExchangeErrorKind::Parse);
    assert_eq!(e.class, ErrorClass::Ambiguous);
    assert!(e.message.contains("price is unknown"), "{}", e.message);
    let raw = e.raw.unwrap_or_default();
    assert!(raw.starts_with("POST /fapi/v1/order"), "{raw}");
}

/// A cancel of a partly filled order, shaped as `cancel_order_response.rs` (no price): Cancelled.
#[test]
fn cancel_of_a_partly_filled_order_without_a_price_is_cancelled() {
    let env = Env::new();
    let del =
        env.answer(DELETE, "/fapi/v1/order", 200, &fixture("rest_order_cancel_partly_filled_official_no_price.json"));
    let out = env.ex.cancel_order("BTCUSDT", "mc_p1_ENTRY_1").unwrap();
    del.assert_hits(1);
    assert!(matches!(out, CancelOutcome::Cancelled { .. }), "{out:?}");
}

/// FINISHED without `actualQty`: the fill comes from the triggered MARKET order (`actualOrderId`).
#[test]
fn finished_stop_without_actual_qty_is_resolved_from_its_child_order() {
    let env = Env::new();
    env.answer(GET, "/fapi/v1/algoOrder", 200, &fixture("rest_algo_order_finished_official_no_actual_qty.json"));
    let child = env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/order").query_param("symbol", "BTCUSDT").query_param("orderId", "974828356187");
        then.status(200).body(
            fixture("rest_order_filled_market_reduceonly_sell_btcusdt.json")
                .replace("216959588188", "974828356187")
                .replace("\"0.003\"", "\"0.002\""),
        );
    });
    let c = env.ex.query_conditional("BTCUSDT", STOP_ID).unwrap().unwrap();
    child.assert_hits(1);
    assert_eq!(c.status, ConditionalStatus::Finished);
    assert_eq!((c.actual_qty, c.actual_price), (Some(dec!(0.002)), Some(dec!(38148.90000))));
    assert_eq!(mcbot::exec::record::conditional_status_event(&c), mcbot::core::order::OrderEvent::Filled);
}

/// FINISHED without `actualQty` and a child Binance does not know: an error, not "expired".
#[test]
fn finished_stop_whose_child_is_unknown_is_an_error_not_expired() {
    let env = Env::new();
    env.answer(GET, "/fapi/v1/algoOrder", 200, &fixture("rest_algo_order_finished_official_no_actual_qty.json"));
    env.answer(GET, "/fapi/v1/order", 400, &fixture("error_-2013_order_does_not_exist.json"));
    let e = env.ex.query_conditional("BTCUSDT", STOP_ID).unwrap_err();
    assert_eq!(e.kind, ExchangeErrorKind::Parse);
    assert!(e.message.contains("974828356187"), "{}", e.message);
}

/// FINISHED with neither `actualQty` nor `actualOrderId`: an error, not "expired".
#[test]
fn finished_stop_with_nothing_to_resolve_from_is_an_error() {
    let env = Env::new();
    let body = fixture("rest_algo_order_finished_official_no_actual_qty.json").replace("\"974828356187\"", "\"\"");
    env.answer(GET, "/fapi/v1/algoOrder", 200, &body);
    let trap = env.answer(GET, "/fapi/v1/order", 500, "{}");
    let e = env.ex.query_conditional("BTCUSDT", STOP_ID).unwrap_err();
    trap.assert_hits(0);
    assert!(e.message.contains("neither actualQty nor actualOrderId"), "{}", e.message);
}

/// `userTrades` rows as `account_trade_list_response_inner.rs` models them (no `marginAsset`):
/// the fee keeps the asset the row names, with no exchangeInfo read; a BNB fee stays BNB.
#[test]
fn trades_without_margin_asset_keep_their_commission_asset() {
    let env = Env::new();
    let info = env.answer(GET, "/fapi/v1/exchangeInfo", 200, &fixture("rest_exchange_info_btcusdt_trimmed.json"));
    let mut trades =
        env.answer(GET, "/fapi/v1/userTrades", 200, &fixture("rest_user_trades_official_no_margin_asset.json"));
    let f = env.ex.order_fills("BTCUSDT", "3524852987", 0).unwrap();
    assert_eq!((f.len(), f[0].commission, f[0].commission_asset.as_str()), (1, dec!(0.14626840), "USDT"));
    trades.delete();
    let bnb = fixture("rest_user_trades_official_no_margin_asset.json")
        .replace("\"commissionAsset\": \"USDT\"", "\"commissionAsset\": \"BNB\"");
    env.answer(GET, "/fapi/v1/userTrades", 200, &bnb);
    let f = env.ex.order_fills("BTCUSDT", "3524852987", 0).unwrap();
    assert_eq!(f[0].commission_asset, "BNB");
    info.assert_hits(0);
}
