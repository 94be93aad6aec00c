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
