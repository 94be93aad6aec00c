//! Each error class from the real error bodies, the -1021 resync-and-retry-once rule, and
//! transport failures. Every write is asserted to have been sent exactly as often as allowed.

use super::harness::{config, creds, fixture, timestamp, Env, T0};
use httpmock::prelude::*;
use mcbot::clock::{Clock, ManualClock};
use mcbot::core::types::OrderSide;
use mcbot::exchange::binance::BinanceFutures;
use mcbot::exchange::{
    ConditionalKind, ConditionalOrderRequest, ErrorClass, Exchange, ExchangeErrorKind, MarketOrderRequest, WorkingType,
};
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

#[test]
fn every_error_body_gets_its_class_and_the_order_is_sent_once() {
    use ErrorClass::*;
    let cases: &[(&str, i64, ErrorClass)] = &[
        ("error_-1007_timeout_status_unknown.json", -1007, Ambiguous),
        ("error_-1008_throttled.json", -1008, Retryable),
        ("error_-1022_invalid_signature.json", -1022, Fatal),
        ("error_-1106_reduceonly_not_required.json", -1106, Fatal),
        ("error_-1111_precision.json", -1111, RetryableWithModification),
        ("error_-1121_invalid_symbol.json", -1121, Fatal),
        ("error_-2011_unknown_order_sent.json", -2011, Fatal),
        ("error_-2013_order_does_not_exist.json", -2013, Fatal),
        ("error_-2019_margin_insufficient.json", -2019, RetryableWithModification),
        ("error_-2021_would_immediately_trigger.json", -2021, Fatal),
        ("error_-2022_reduce_only_rejected.json", -2022, RetryableWithModification),
        ("error_-4046_no_need_to_change_margin_type.json", -4046, IdempotentSafe),
        ("error_-4059_no_need_to_change_position_side.json", -4059, IdempotentSafe),
        ("error_-4061_position_side_mismatch.json", -4061, Fatal),
        ("error_-4116_duplicate_client_order_id.json", -4116, Ambiguous),
        ("error_-4118_reduce_only_failed.json", -4118, RetryableWithModification),
        ("error_-4120_stop_order_switch_algo.json", -4120, Fatal),
        ("error_-4164_min_notional.json", -4164, RetryableWithModification),
    ];
    for (name, code, class) in cases {
        let env = Env::new();
        let m = env.answer(POST, "/fapi/v1/order", 400, &fixture(name));
        let e = env.ex.place_market(&entry()).unwrap_err();
        m.assert_hits(1);
        assert_eq!((e.code(), e.class), (Some(*code), *class), "{name}: {e}");
        assert!(e.raw.as_deref().is_some_and(|r| r.contains(&code.to_string())), "{name}: {:?}", e.raw);
        assert_eq!(e.is_would_trigger(), *code == -2021, "{name}");
    }
}

#[test]
fn would_trigger_stop_is_fatal_and_flagged() {
    let env = Env::new();
    let m = env.answer(POST, "/fapi/v1/algoOrder", 400, &fixture("error_-2021_would_immediately_trigger.json"));
    let req = ConditionalOrderRequest {
        symbol: "BTCUSDT".into(),
        side: OrderSide::Sell,
        kind: ConditionalKind::StopMarket,
        trigger_price: dec!(70000),
        qty: dec!(0.002),
        working_type: WorkingType::MarkPrice,
        client_id: "mc_p1_STOP_1".into(),
    };
    let e = env.ex.place_conditional(&req).unwrap_err();
    m.assert_hits(1);
    assert!(e.is_would_trigger() && e.class == ErrorClass::Fatal, "{e}");
}

/// The server's rule: a timestamp more than 1 s ahead of server time is rejected.
fn ahead_of_server(req: &HttpMockRequest) -> bool {
    timestamp(req) > T0 + 1000
}

fn in_window(req: &HttpMockRequest) -> bool {
    let t = timestamp(req);
    t <= T0 + 1000 && t > T0 - 5000
}

#[test]
fn f1021_resyncs_the_clock_then_sends_once_more() {
    let env = Env::new();
    env.ex.server_time().unwrap(); // offset 0
    env.clock.advance_ms(5_000); // the local clock jumps ahead; the server still says T0
    let reject = env.server.mock(|when, then| {
        when.method(POST).path("/fapi/v1/order").matches(ahead_of_server);
        then.status(400).body(fixture("error_-1021_ahead_of_server_time.json"));
    });
    let accept = env.server.mock(|when, then| {
        when.method(POST).path("/fapi/v1/order").matches(in_window);
        then.status(200).body(fixture("rest_order_filled_market_buy_hedge_btcusdt.json"));
    });
    let o = env.ex.place_market(&entry()).unwrap();
    assert_eq!(o.order_id, "209177894884");
    reject.assert_hits(1);
    accept.assert_hits(1);
    env.time().assert_hits(2);
}

#[test]
fn f1021_twice_is_clock_skew_and_nothing_more_is_sent() {
    let env = Env::new();
    let m = env.answer(POST, "/fapi/v1/order", 400, &fixture("error_-1021_outside_recv_window.json"));
    let e = env.ex.place_market(&entry()).unwrap_err();
    m.assert_hits(2);
    env.time().assert_hits(2);
    assert_eq!((e.kind.clone(), e.class), (ExchangeErrorKind::ClockSkew, ErrorClass::Retryable));
    assert!(e.raw.as_deref().is_some_and(|r| r.contains("-1021")), "{e:?}");
}

#[test]
fn connect_failure_is_retryable_and_provably_not_sent() {
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let ex = BinanceFutures::new(&config(&format!("http://127.0.0.1:{port}"), 2000), creds(), clock).unwrap();
    let e = ex.place_market(&entry()).unwrap_err();
    assert_eq!(
        (e.kind, e.class),
        (ExchangeErrorKind::Transport { sent: false }, ErrorClass::Retryable),
        "{}",
        e.message
    );
}

#[test]
fn timeout_after_send_is_ambiguous_for_a_write() {
    let env = Env::with_timeout(800);
    env.ex.server_time().unwrap();
    let m = env.server.mock(|when, then| {
        when.method(POST).path("/fapi/v1/order");
        then.status(200)
            .delay(std::time::Duration::from_millis(3000))
            .body(fixture("rest_order_filled_market_buy_hedge_btcusdt.json"));
    });
    let e = env.ex.place_market(&entry()).unwrap_err();
    assert_eq!((e.kind.clone(), e.class), (ExchangeErrorKind::Transport { sent: true }, ErrorClass::Ambiguous), "{e}");
    assert!(e.raw.as_deref().is_some_and(|r| r.starts_with("POST /fapi/v1/order ")), "{e:?}");
    m.assert_hits(1);
}

#[test]
fn unknown_code_is_fatal_but_ambiguous_with_a_5xx() {
    let env = Env::new();
    env.answer(POST, "/fapi/v1/order", 400, r#"{"code":-4999,"msg":"brand new"}"#);
    assert_eq!(env.ex.place_market(&entry()).unwrap_err().class, ErrorClass::Fatal);
    let env = Env::new();
    env.answer(POST, "/fapi/v1/order", 500, r#"{"code":-4999,"msg":"brand new"}"#);
    assert_eq!(env.ex.place_market(&entry()).unwrap_err().class, ErrorClass::Ambiguous);
}

#[test]
fn service_unavailable_variants() {
    let env = Env::new();
    let m = env.answer(
        POST,
        "/fapi/v1/order",
        503,
        r#"{"msg":"Unknown error, please check your request or try again later."}"#,
    );
    assert_eq!(env.ex.place_market(&entry()).unwrap_err().class, ErrorClass::Ambiguous);
    m.assert_hits(1);
    let env = Env::new();
    env.answer(POST, "/fapi/v1/order", 503, r#"{"msg":"Service Unavailable."}"#);
    assert_eq!(env.ex.place_market(&entry()).unwrap_err().class, ErrorClass::Retryable);
    let env = Env::new();
    env.answer(POST, "/fapi/v1/order", 408, "");
    assert_eq!(env.ex.place_market(&entry()).unwrap_err().class, ErrorClass::Ambiguous);
}

#[test]
fn a_failed_clock_sync_means_the_order_was_not_sent() {
    let env = Env::with_timeout(800);
    env.time().delete();
    env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/time");
        then.status(200).delay(std::time::Duration::from_millis(3000)).body("{}");
    });
    let order = env.answer(POST, "/fapi/v1/order", 200, &fixture("rest_order_filled_market_buy_hedge_btcusdt.json"));
    let e = env.ex.place_market(&entry()).unwrap_err();
    order.assert_hits(0);
    assert_eq!((e.kind.clone(), e.class), (ExchangeErrorKind::Transport { sent: false }, ErrorClass::Retryable), "{e}");
    assert!(e.message.contains("not sent"), "{e}");
}

/// Issue 12 §4: a refused key or secret names the variable to fix, keeps Binance's words, and is
/// a configuration error (exit 2, which the systemd unit does not restart on), not exit 1.
#[test]
fn refused_credentials_name_the_env_var_and_exit_2() {
    use mcbot::outcome::ExitCode;
    let cases = [
        (
            r#"{"code":-2015,"msg":"Invalid API-key, IP, or permissions for action, request ip: 1.2.3.4"}"#,
            "API key in $UNUSED",
        ),
        (r#"{"code":-2014,"msg":"API-key format invalid."}"#, "API key in $UNUSED is malformed"),
        (r#"{"code":-1022,"msg":"Signature for this request is not valid."}"#, "secret in $UNUSED"),
    ];
    for (body, hint) in cases {
        let env = Env::new();
        let m = env.answer(GET, "/fapi/v3/positionRisk", 401, body);
        let e = env.ex.position("BTCUSDT").unwrap_err();
        m.assert_hits(1); // fatal: not retried
        assert!(e.message.contains(hint), "{}", e.message);
        let said = body.split("\"msg\":\"").nth(1).unwrap().trim_end_matches("\"}");
        assert!(e.message.contains(said), "{}", e.message);
        assert_eq!(mcbot::error::Error::from(e).exit_code(), ExitCode::Usage, "{body}");
    }
    // Any other fatal refusal stays exit 1.
    let env = Env::new();
    env.answer(GET, "/fapi/v3/positionRisk", 400, &fixture("error_-1121_invalid_symbol.json"));
    let e = env.ex.position("BTCUSDT").unwrap_err();
    assert_eq!(mcbot::error::Error::from(e).exit_code(), ExitCode::Failed);
}
