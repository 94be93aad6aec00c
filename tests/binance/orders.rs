//! The order path: MARKET on /fapi/v1/order, STOP/TP on /fapi/v1/algoOrder (never -4120), the
//! look-ups with their "not found" answers, both cancel shapes, margin type and leverage.

use super::harness::{fixture, signature_verifies, Env, KEY};
use httpmock::prelude::*;
use mcbot::core::types::OrderSide;
use mcbot::exchange::{
    CancelOutcome, ConditionalKind, ConditionalOrderRequest, ConditionalStatus, ErrorClass, ExOrderStatus, Exchange,
    ExchangeErrorKind, MarketOrderRequest, WorkingType,
};
use rust_decimal_macros::dec;

pub(super) fn close_request() -> MarketOrderRequest {
    // The fixture's own client id, so the answer matches the request.
    MarketOrderRequest {
        symbol: "BTCUSDT".into(),
        side: OrderSide::Sell,
        qty: dec!(0.003),
        reduce_only: true,
        client_id: "x-xcKtGhcuabe007933d67c8e9553afd".into(),
    }
}

fn stop_request() -> ConditionalOrderRequest {
    ConditionalOrderRequest {
        symbol: "BTCUSDT".into(),
        side: OrderSide::Buy,
        kind: ConditionalKind::StopMarket,
        trigger_price: dec!(69080.20),
        qty: dec!(0.002),
        working_type: WorkingType::ContractPrice,
        client_id: "x-yHjDKm8h7cd1bf4f-9ce3-4d55-b9f".into(),
    }
}

/// Mirrors any order sent to /fapi/v1/order: it must stay unused by STOP/TP (-4120 territory).
fn order_endpoint_trap(env: &Env) -> httpmock::Mock<'_> {
    env.server.mock(|when, then| {
        when.path("/fapi/v1/order");
        then.status(400).body(fixture("error_-4120_stop_order_switch_algo.json"));
    })
}

#[test]
fn close_is_a_signed_reduce_only_market_order_with_result() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(POST)
            .path("/fapi/v1/order")
            .header("X-MBX-APIKEY", KEY)
            .query_param("symbol", "BTCUSDT")
            .query_param("side", "SELL")
            .query_param("type", "MARKET")
            .query_param("quantity", "0.003")
            .query_param("reduceOnly", "true")
            .query_param("newClientOrderId", "x-xcKtGhcuabe007933d67c8e9553afd")
            .query_param("newOrderRespType", "RESULT")
            .matches(signature_verifies);
        then.status(200).body(fixture("rest_order_filled_market_reduceonly_sell_btcusdt.json"));
    });
    let o = env.ex.place_market(&close_request()).unwrap();
    m.assert_hits(1);
    assert_eq!(
        (o.order_id.as_str(), o.status, o.executed_qty, o.avg_price),
        ("216959588188", ExOrderStatus::Filled, dec!(0.003), dec!(38148.90000))
    );
    assert!(o.reduce_only);
    assert_eq!(o.update_time_ms, 1_701_258_811_708);
    assert!(
        o.raw.starts_with("POST /fapi/v1/order symbol=BTCUSDT&side=SELL&type=MARKET&quantity=0.003&reduceOnly=true"),
        "{}",
        o.raw
    );
    assert!(o.raw.contains("-> 200 {") && o.raw.contains("216959588188"), "{}", o.raw);
}

#[test]
fn entry_sends_no_reduce_only() {
    let env = Env::new();
    let trap = env.server.mock(|when, then| {
        when.method(POST).path("/fapi/v1/order").query_param_exists("reduceOnly");
        then.status(500);
    });
    let ok = env.answer(POST, "/fapi/v1/order", 200, &fixture("rest_order_filled_market_buy_hedge_btcusdt.json"));
    let req = MarketOrderRequest {
        symbol: "BTCUSDT".into(),
        side: OrderSide::Buy,
        qty: dec!(0.0030),
        reduce_only: false,
        client_id: "x-xcKtGhcua07c4d393b087cd6cdb02c".into(),
    };
    let o = env.ex.place_market(&req).unwrap();
    trap.assert_hits(0);
    ok.assert_hits(1);
    assert_eq!((o.avg_price, o.reduce_only), (dec!(37225.10000), false));
}

#[test]
fn stop_goes_to_the_algo_endpoint_with_every_parameter() {
    let env = Env::new();
    let trap = order_endpoint_trap(&env);
    let algo = env.server.mock(|when, then| {
        when.method(POST)
            .path("/fapi/v1/algoOrder")
            .query_param("algoType", "CONDITIONAL")
            .query_param("symbol", "BTCUSDT")
            .query_param("side", "BUY")
            .query_param("type", "STOP_MARKET")
            .query_param("quantity", "0.002")
            .query_param("triggerPrice", "69080.2")
            .query_param("workingType", "CONTRACT_PRICE")
            .query_param("reduceOnly", "true")
            .query_param("clientAlgoId", "x-yHjDKm8h7cd1bf4f-9ce3-4d55-b9f")
            .matches(signature_verifies);
        // The real FINISHED capture stands in for the NEW answer: same shape, more fields.
        then.status(200).body(fixture("rest_algo_order_query_finished_stop_market_btcusdt.json"));
    });
    let c = env.ex.place_conditional(&stop_request()).unwrap();
    algo.assert_hits(1);
    trap.assert_hits(0);
    assert_eq!(
        (c.kind, c.side, c.trigger_price, c.qty),
        (ConditionalKind::StopMarket, OrderSide::Buy, dec!(69080.20), dec!(0.002))
    );
    assert!(c.raw.starts_with("POST /fapi/v1/algoOrder algoType=CONDITIONAL&symbol=BTCUSDT"), "{}", c.raw);
}

#[test]
fn take_profit_goes_to_the_algo_endpoint_and_parses_the_new_answer() {
    let env = Env::new();
    let trap = order_endpoint_trap(&env);
    // The docs' placement answer is a TAKE_PROFIT (limit) order; mcbot places the _MARKET kind.
    let body = fixture("rest_algo_order_new_doc.json").replace("\"TAKE_PROFIT\"", "\"TAKE_PROFIT_MARKET\"");
    let algo = env.server.mock(|when, then| {
        when.method(POST)
            .path("/fapi/v1/algoOrder")
            .query_param("type", "TAKE_PROFIT_MARKET")
            .query_param("workingType", "MARK_PRICE")
            .query_param("triggerPrice", "750");
        then.status(200).body(body);
    });
    let req = ConditionalOrderRequest {
        symbol: "BNBUSDT".into(),
        side: OrderSide::Sell,
        kind: ConditionalKind::TakeProfitMarket,
        trigger_price: dec!(750.000),
        qty: dec!(0.01),
        working_type: WorkingType::MarkPrice,
        client_id: "6B2I9XVcJpCjqPAJ4YoFX7".into(),
    };
    let c = env.ex.place_conditional(&req).unwrap();
    algo.assert_hits(1);
    trap.assert_hits(0);
    assert_eq!((c.algo_id.as_str(), c.status, c.actual_order_id.clone()), ("2146760", ConditionalStatus::New, None));
}

#[test]
fn query_order_found_and_not_found() {
    let env = Env::new();
    let mut m = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/order")
            .query_param("symbol", "BTCUSDT")
            .query_param("origClientOrderId", "x-xcKtGhcua07c4d393b087cd6cdb02c");
        then.status(200).body(fixture("rest_order_filled_market_buy_hedge_btcusdt.json"));
    });
    let o = env.ex.query_order("BTCUSDT", "x-xcKtGhcua07c4d393b087cd6cdb02c").unwrap().unwrap();
    assert_eq!((o.order_id.as_str(), o.status), ("209177894884", ExOrderStatus::Filled));
    m.delete();
    let nf = env.answer(GET, "/fapi/v1/order", 400, &fixture("error_-2013_order_does_not_exist.json"));
    assert_eq!(env.ex.query_order("BTCUSDT", "mc_p1_ENTRY_1").unwrap(), None);
    nf.assert_hits(1); // an answer, not an error: never retried
}

#[test]
fn query_conditional_reads_the_triggered_child() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/algoOrder").query_param("clientAlgoId", "x-yHjDKm8h7cd1bf4f-9ce3-4d55-b9f");
        then.status(200).body(fixture("rest_algo_order_query_finished_stop_market_btcusdt.json"));
    });
    let c = env.ex.query_conditional("BTCUSDT", "x-yHjDKm8h7cd1bf4f-9ce3-4d55-b9f").unwrap().unwrap();
    m.assert_hits(1);
    assert_eq!(c.status, ConditionalStatus::Finished);
    assert_eq!(c.actual_order_id.as_deref(), Some("974828356187"));
    assert_eq!((c.actual_price, c.actual_qty), (Some(dec!(69067.60000)), Some(dec!(0.002))));
    assert!(c.reduce_only && !c.close_position);
    assert_eq!(c.update_time_ms, 1_775_461_936_135);
}

#[test]
fn query_conditional_falls_back_to_all_algo_orders() {
    let env = Env::new();
    let direct = env.answer(GET, "/fapi/v1/algoOrder", 400, &fixture("error_-2013_order_does_not_exist.json"));
    let all = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/allAlgoOrders")
            .query_param("symbol", "BTCUSDT")
            .query_param("limit", "1000")
            .query_param_exists("startTime")
            .query_param_exists("endTime");
        then.status(200).body(fixture("rest_all_algo_orders_finished_btcusdt.json"));
    });
    let c = env.ex.query_conditional("BTCUSDT", "x-yHjDKm8h7cd1bf4f-9ce3-4d55-b9f").unwrap().unwrap();
    assert_eq!(c.algo_id, "1000001270850379");
    all.assert_hits(1); // found in the newest window: no older window is read
                        // An id in no window: every week of the history is read, then "none".
    assert_eq!(env.ex.query_conditional("BTCUSDT", "mc_p1_STOP_1").unwrap(), None);
    direct.assert_hits(2);
    all.assert_hits(1 + mcbot::exchange::binance::ALGO_HISTORY_WINDOWS);
}

#[test]
fn query_conditional_of_a_foreign_type_is_an_error_not_a_guess() {
    let env = Env::new();
    env.answer(GET, "/fapi/v1/algoOrder", 200, &fixture("rest_algo_order_query_canceled_doc.json"));
    let e = env.ex.query_conditional("BNBUSDT", "6B2I9XVcJpCjqPAJ4YoFX7").unwrap_err();
    assert_eq!((e.kind, e.class), (ExchangeErrorKind::Parse, ErrorClass::Fatal));
}

#[test]
fn cancel_order_cancelled_and_not_open() {
    let env = Env::new();
    let mut m = env.server.mock(|when, then| {
        when.method(DELETE)
            .path("/fapi/v1/order")
            .query_param("symbol", "BTCUSDT")
            .query_param("origClientOrderId", "myOrder1");
        then.status(200).body(fixture("rest_order_cancel_canceled_doc.json"));
    });
    let out = env.ex.cancel_order("BTCUSDT", "myOrder1").unwrap();
    assert!(matches!(out, CancelOutcome::Cancelled { .. }), "{out:?}");
    assert!(out.raw().starts_with("DELETE /fapi/v1/order symbol=BTCUSDT&origClientOrderId=myOrder1"), "{}", out.raw());
    m.delete();
    let gone = env.answer(DELETE, "/fapi/v1/order", 400, &fixture("error_-2011_unknown_order_sent.json"));
    let out = env.ex.cancel_order("BTCUSDT", "myOrder1").unwrap();
    gone.assert_hits(1);
    assert!(matches!(&out, CancelOutcome::NotOpen { raw } if raw.contains("-2011")), "{out:?}");
}

#[test]
fn cancel_conditional_tolerates_both_answer_shapes() {
    let shapes = [
        fixture("rest_algo_order_cancel_doc.json"), // {algoId, clientAlgoId, code:"200", msg}
        fixture("rest_algo_order_query_canceled_doc.json"), // the full order, CANCELED
        fixture("rest_algo_open_orders_cancel_all_doc.json"), // {code:200, msg} (number)
    ];
    for (i, body) in shapes.iter().enumerate() {
        let env = Env::new();
        let m = env.server.mock(|when, then| {
            when.method(DELETE).path("/fapi/v1/algoOrder").query_param("clientAlgoId", "6B2I9XVcJpCjqPAJ4YoFX7");
            then.status(200).body(body);
        });
        let out = env.ex.cancel_conditional("BNBUSDT", "6B2I9XVcJpCjqPAJ4YoFX7").unwrap();
        m.assert_hits(1);
        assert!(matches!(out, CancelOutcome::Cancelled { .. }), "shape {i}: {out:?}");
    }
    let env = Env::new();
    env.answer(DELETE, "/fapi/v1/algoOrder", 400, &fixture("error_-2011_unknown_order_sent.json"));
    assert!(matches!(
        env.ex.cancel_conditional("BNBUSDT", "6B2I9XVcJpCjqPAJ4YoFX7").unwrap(),
        CancelOutcome::NotOpen { .. }
    ));
    let env = Env::new();
    env.answer(DELETE, "/fapi/v1/algoOrder", 200, &fixture("rest_algo_order_cancel_doc.json"));
    let e = env.ex.cancel_conditional("BNBUSDT", "someOtherId").unwrap_err();
    assert_eq!((e.kind, e.class), (ExchangeErrorKind::Parse, ErrorClass::Fatal));
}

#[test]
fn isolated_margin_is_idempotent() {
    let env = Env::new();
    let mut ok = env.server.mock(|when, then| {
        when.method(POST)
            .path("/fapi/v1/marginType")
            .query_param("symbol", "BTCUSDT")
            .query_param("marginType", "ISOLATED");
        then.status(200).body(fixture("rest_margin_type_success_doc.json"));
    });
    env.ex.set_isolated_margin("BTCUSDT").unwrap();
    ok.delete();
    let already =
        env.answer(POST, "/fapi/v1/marginType", 400, &fixture("error_-4046_no_need_to_change_margin_type.json"));
    env.ex.set_isolated_margin("BTCUSDT").unwrap();
    already.assert_hits(1);
}

#[test]
fn leverage_answer_must_confirm_the_request() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(POST).path("/fapi/v1/leverage").query_param("symbol", "BTCUSDT").query_param("leverage", "21");
        then.status(200).body(fixture("rest_leverage_doc.json"));
    });
    env.ex.set_leverage("BTCUSDT", 21).unwrap();
    m.assert_hits(1);
    let env = Env::new();
    env.answer(POST, "/fapi/v1/leverage", 200, &fixture("rest_leverage_doc.json"));
    let e = env.ex.set_leverage("BTCUSDT", 1).unwrap_err();
    assert_eq!((e.kind, e.class), (ExchangeErrorKind::Parse, ErrorClass::Fatal));
    assert_eq!(env.ex.set_leverage("BTCUSDT", 0).unwrap_err().kind, ExchangeErrorKind::Local);
}
