//! The API key, the secret and the signature never appear in a transcript or an error text,
//! even when the server echoes them back.

use super::harness::{config, creds, fixture, signature_verifies, Env, KEY, SECRET, T0};
use httpmock::prelude::*;
use mcbot::clock::{Clock, ManualClock};
use mcbot::core::types::OrderSide;
use mcbot::exchange::binance::BinanceFutures;
use mcbot::exchange::{ConditionalKind, ConditionalOrderRequest, ExResult, Exchange, MarketOrderRequest, WorkingType};
use rust_decimal_macros::dec;
use std::sync::Arc;

fn entry() -> MarketOrderRequest {
    MarketOrderRequest {
        symbol: "BTCUSDT".into(),
        side: OrderSide::Buy,
        qty: dec!(0.003),
        reduce_only: false,
        client_id: "x-xcKtGhcua07c4d393b087cd6cdb02c".into(),
    }
}

/// Everything a caller could print or store from a result.
fn texts<T: std::fmt::Debug>(r: &ExResult<T>) -> Vec<String> {
    match r {
        Ok(v) => vec![format!("{v:?}")],
        Err(e) => vec![e.to_string(), format!("{e:?}"), e.message.clone(), e.raw.clone().unwrap_or_default()],
    }
}

#[track_caller]
fn assert_clean(texts: &[String]) {
    for t in texts {
        assert!(!t.contains(KEY), "API key leaked: {t}");
        assert!(!t.contains(SECRET), "secret leaked: {t}");
        assert!(!t.contains("signature"), "signature leaked: {t}");
    }
}

#[test]
fn no_credential_or_signature_in_any_raw_or_error_text() {
    let env = Env::new();
    // The requests really were signed and keyed, so the absence below means something.
    let signed = env.server.mock(|when, then| {
        when.method(POST).path("/fapi/v1/order").header("X-MBX-APIKEY", KEY).matches(signature_verifies);
        then.status(200).body(fixture("rest_order_filled_market_buy_hedge_btcusdt.json"));
    });
    let ok = env.ex.place_market(&entry()).unwrap();
    signed.assert_hits(1);
    let mut all = vec![ok.raw.clone(), format!("{ok:?}")];

    // A hostile or buggy server echoing the credentials back in an error and in a success body.
    let echo =
        format!(r#"{{"code":-1022,"msg":"Signature for this request is not valid. key={KEY} secret={SECRET}"}}"#);
    let env = Env::new();
    env.answer(POST, "/fapi/v1/order", 400, &echo);
    all.extend(texts(&env.ex.place_market(&entry())));
    let env = Env::new();
    let body = fixture("rest_algo_order_new_doc.json")
        .replace("\"TAKE_PROFIT\"", "\"STOP_MARKET\"")
        .replace("EXPIRE_MAKER", &format!("{KEY}{SECRET}"));
    env.answer(POST, "/fapi/v1/algoOrder", 200, &body);
    let req = ConditionalOrderRequest {
        symbol: "BNBUSDT".into(),
        side: OrderSide::Sell,
        kind: ConditionalKind::StopMarket,
        trigger_price: dec!(700),
        qty: dec!(0.01),
        working_type: WorkingType::MarkPrice,
        client_id: "6B2I9XVcJpCjqPAJ4YoFX7".into(),
    };
    let r = env.ex.place_conditional(&req);
    assert!(r.as_ref().is_ok_and(|c| c.raw.contains("***")), "{r:?}");
    all.extend(texts(&r));

    // Timeouts, connect failures and bans.
    let env = Env::with_timeout(800);
    env.server.mock(|when, then| {
        when.method(DELETE).path("/fapi/v1/order");
        then.status(200).delay(std::time::Duration::from_millis(3000)).body("{}");
    });
    all.extend(texts(&env.ex.cancel_order("BTCUSDT", "abc")));
    env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/openOrders");
        then.status(418)
            .header("Retry-After", "60")
            .body(r#"{"code":-1003,"msg":"Way too many requests; IP banned until 1."}"#);
    });
    all.extend(texts(&env.ex.open_orders("BTCUSDT")));
    all.extend(texts(&env.ex.open_orders("BTCUSDT")));
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let dead = BinanceFutures::new(&config("http://127.0.0.1:9", 500), creds(), clock).unwrap();
    all.extend(texts(&dead.place_market(&entry())));
    all.push(format!("{dead:?}"));

    assert!(all.len() > 15);
    assert_clean(&all);
}
