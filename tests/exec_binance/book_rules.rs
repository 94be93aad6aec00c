//! Issue 16 item 1: the mock's trading rules are the paper book's. The Binance adapter against
//! the mock meets the account-setting codes that moved into `Book` (-4028 the adapter refuses
//! itself before sending; the book unit test holds it) and the book's REJECTED for a
//! triggered STOP with nothing left to reduce, in Binance's wire format.

use super::*;
use crate::support::mock_binance::{MockBinance, SYMBOL};
use mcbot::clock::{Clock, SystemClock};
use mcbot::config::secrets::{ApiKey, ApiSecret, Credentials};
use mcbot::core::types::OrderSide;
use mcbot::exchange::binance::BinanceFutures;
use mcbot::exchange::{
    ConditionalKind, ConditionalOrderRequest, ConditionalStatus, Exchange, MarketOrderRequest, WorkingType,
};
use std::sync::Arc;

fn adapter(mock: &MockBinance) -> BinanceFutures {
    let cfg = crate::binance::harness::config(&mock.url(), 3000);
    let creds = Credentials { key: ApiKey::new(API_KEY), secret: ApiSecret::new(API_SECRET) };
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    BinanceFutures::new(&cfg, creds, clock).unwrap()
}

/// The answers the mock gave to `method path`, as (status, code).
fn answers(mock: &MockBinance, method: &str, path: &str) -> Vec<(u16, Option<i64>)> {
    mock.requests()
        .iter()
        .filter(|r| r.method == method && r.path == path)
        .map(|r| (r.status, serde_json::from_str::<Value>(&r.body).ok().and_then(|v| v["code"].as_i64())))
        .collect()
}

fn buy(client_id: &str) -> MarketOrderRequest {
    MarketOrderRequest {
        symbol: SYMBOL.into(),
        side: OrderSide::Buy,
        qty: dec!(0.010),
        reduce_only: false,
        client_id: client_id.into(),
    }
}

#[test]
fn margin_type_and_leverage_codes_come_from_the_book() {
    let mock = MockBinance::start();
    let ex = adapter(&mock);
    // Already ISOLATED: the book answers -4046 and the adapter takes it as done.
    ex.set_isolated_margin(SYMBOL).unwrap();
    assert_eq!(answers(&mock, "POST", "/fapi/v1/marginType"), [(400, Some(-4046))]);
    ex.set_leverage(SYMBOL, 20).unwrap();
    ex.place_market(&buy("mc_rules_ENTRY_1")).unwrap();
    assert_eq!(ex.set_leverage(SYMBOL, 1).unwrap_err().code(), Some(-4161), "no reduction with a position");
    mock.state().book.isolated = false;
    assert_eq!(ex.set_isolated_margin(SYMBOL).unwrap_err().code(), Some(-4048), "not with a position");
    assert!(!mock.state().book.isolated);
}

#[test]
fn a_triggered_stop_with_nothing_to_reduce_is_rejected() {
    let mock = MockBinance::start();
    let ex = adapter(&mock);
    ex.place_market(&buy("mc_rules_ENTRY_1")).unwrap();
    let stop = ConditionalOrderRequest {
        symbol: SYMBOL.into(),
        side: OrderSide::Sell,
        kind: ConditionalKind::StopMarket,
        trigger_price: dec!(39000),
        qty: dec!(0.010),
        working_type: WorkingType::MarkPrice,
        client_id: "mc_rules_STOP_1".into(),
    };
    ex.place_conditional(&stop).unwrap();
    mock.fill_market_order("web_hand_sell", false, dec!(0.010)); // flat by hand
    mock.set_mark(dec!(38950));
    let c = ex.query_conditional(SYMBOL, "mc_rules_STOP_1").unwrap().expect("the STOP");
    assert_eq!((c.status, c.actual_order_id), (ConditionalStatus::Rejected, None));
    assert_eq!(mock.position(), Decimal::ZERO);
}

/// Issue 16 items 1 and 3: the book answers in the port's kinds and carries Binance's codes only
/// to read like Binance. Every code it can answer is one the Binance adapter knows, with the same
/// class and port kind, so the paper exchange, `sim` and the fakes over the book lead `exec` to
/// the decisions the same answer from Binance would (one rule for unknown answers: a class the
/// adapter calls ambiguous must not be a definite refusal on paper).
#[test]
fn every_code_the_book_answers_is_classed_as_the_binance_adapter_classes_it() {
    use mcbot::core::money::SymbolFilters;
    use mcbot::exchange::binance::codes;
    use mcbot::exchange::paper::rules::*;
    let f = SymbolFilters::btcusdt_default();
    // Coarser grids than BTCUSDT's, to reach the checks behind the precision check.
    let coarse = SymbolFilters { min_qty: dec!(0.002), step_size: dec!(0.002), tick_size: dec!(0.2), ..f.clone() };
    let qty = |q: Decimal| check_qty(&f, q).unwrap_err();
    let trigger = |p: Decimal| check_trigger(&f, p).unwrap_err();
    let answers = [
        bad_symbol(),
        would_trigger(),
        reduce_only_reject(),
        duplicate_client_id(),
        margin_insufficient(),
        margin_type_unchanged(),
        margin_type_with_position(),
        margin_type_with_open_orders(),
        leverage_invalid(0),
        leverage_reduction_with_position(),
        check_client_id("").unwrap_err(),
        check_client_id(&"x".repeat(37)).unwrap_err(),
        qty(Decimal::ZERO),
        qty(dec!(0.0105)),
        check_qty(&coarse, dec!(0.001)).unwrap_err(),
        check_qty(&SymbolFilters { min_qty: dec!(0.001), ..coarse.clone() }, dec!(0.002)).unwrap_err(),
        qty(f.market_max_qty + Decimal::ONE),
        trigger(Decimal::ZERO),
        trigger(dec!(40000.05)),
        trigger(f.max_price + Decimal::ONE),
        trigger(f.min_price - Decimal::ONE),
        check_trigger(&coarse, dec!(262.1)).unwrap_err(),
        check_notional(&f, dec!(0.001), dec!(40000), false).unwrap_err(),
    ];
    let mut seen = std::collections::BTreeSet::new();
    for e in &answers {
        let code = e.code().expect("an API code");
        seen.insert(code);
        assert!(codes::is_known_code(code), "{code} ({}) is not in the Binance adapter's table", e.message);
        assert_eq!(codes::class_of_code(code, 400), e.class, "{code}: class");
        assert_eq!(codes::refusal_of_code(code), e.refusal, "{code}: port kind");
    }
    // Every check the book makes, each code once (a new check belongs in the list above).
    let want = [
        -1111, -1118, -1121, -2019, -2021, -2022, -4003, -4004, -4005, -4006, -4007, -4013, -4014, -4015, -4023, -4028,
        -4046, -4047, -4048, -4116, -4161, -4164,
    ];
    assert_eq!(seen.into_iter().rev().collect::<Vec<_>>(), want);
}
