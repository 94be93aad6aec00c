//! Every read endpoint parsed from the real (or documented) fixtures.

use super::harness::{fixture, Env};
use httpmock::prelude::*;
use mcbot::core::money::SymbolFilters;
use mcbot::exchange::{AccountSettings, ErrorClass, Exchange, ExchangeErrorKind};
use rust_decimal_macros::dec;

#[test]
fn server_time_parses_and_sets_the_offset() {
    let env = Env::new();
    env.time().delete();
    let t = env.answer(GET, "/fapi/v1/time", 200, &fixture("rest_server_time_doc.json"));
    assert_eq!(env.ex.server_time().unwrap(), 1_499_827_319_559);
    t.assert_hits(1);
}

#[test]
fn exchange_info_filters_parse_into_symbol_filters_and_are_cached() {
    let env = Env::new();
    let m = env.answer(GET, "/fapi/v1/exchangeInfo", 200, &fixture("rest_exchange_info_btcusdt_trimmed.json"));
    let want = SymbolFilters {
        symbol: "BTCUSDT".into(),
        tick_size: dec!(0.10),
        min_price: dec!(402),
        max_price: dec!(1246396.60),
        step_size: dec!(0.001),
        min_qty: dec!(0.001),
        max_qty: dec!(1000),
        market_max_qty: dec!(1000),
        min_notional: dec!(10),
    };
    assert_eq!(env.ex.filters("BTCUSDT").unwrap(), want);
    assert_eq!(env.ex.filters("BTCUSDT").unwrap(), want);
    m.assert_hits(1);
    // Not listed: an error, not a default.
    let e = env.ex.filters("ETHUSDT").unwrap_err();
    assert_eq!((e.kind, e.class), (ExchangeErrorKind::Parse, ErrorClass::Fatal));
}

#[test]
fn exchange_info_accepts_stringified_numbers_and_newer_filters() {
    // ccxt's capture of a newer BTCUSDT entry: ints as strings, MARKET_LOT_SIZE maxQty 120.
    let env = Env::new();
    let entry = fixture("rest_exchange_info_symbol_btcusdt_ccxt_markets.json");
    let body = format!(r#"{{"rateLimits":[],"symbols":[{{"symbol":"ETHUSDT","filters":"odd"}},{entry}]}}"#);
    env.answer(GET, "/fapi/v1/exchangeInfo", 200, &body);
    let f = env.ex.filters("BTCUSDT").unwrap();
    assert_eq!(
        (f.tick_size, f.min_price, f.market_max_qty, f.min_notional),
        (dec!(0.10), dec!(556.80), dec!(120), dec!(5))
    );
    // The quantisation in core works on what was parsed.
    assert_eq!(f.check_market_qty(dec!(0.0129), dec!(43000), false), Ok(dec!(0.012)));
}

#[test]
fn klines_parse_mixed_rows() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/klines")
            .query_param("symbol", "BTCUSDT")
            .query_param("interval", "1m")
            .query_param("limit", "3");
        then.status(200).body(fixture("rest_klines_btcusdt_1m.json"));
    });
    let c = env.ex.klines("BTCUSDT", "1m", 3).unwrap();
    m.assert_hits(1);
    assert_eq!(c.len(), 3);
    assert_eq!(
        (c[0].open_time_ms, c[0].close_time_ms, c[0].open, c[0].volume),
        (1_712_738_460_000, 1_712_738_519_999, dec!(71481.90), dec!(0.002))
    );
    assert_eq!((c[1].high, c[1].low, c[1].close), (dec!(71471.00), dec!(70459.40), dec!(70459.40)));
}

#[test]
fn premium_index_gives_mark_and_funding() {
    let env = Env::new();
    env.answer(GET, "/fapi/v1/premiumIndex", 200, &fixture("rest_premium_index_btcusdt_doc.json"));
    let m = env.ex.mark_info("BTCUSDT").unwrap();
    assert_eq!((m.mark_price, m.funding_rate, m.time_ms), (dec!(11793.63104562), dec!(0.00038246), 1_597_370_495_002));
}

#[test]
fn position_risk_v3_one_way_long() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v3/positionRisk").query_param("symbol", "BTCUSDT");
        then.status(200).body(fixture("rest_position_risk_v3_oneway_long_btcusdt.json"));
    });
    let p = env.ex.position("BTCUSDT").unwrap();
    m.assert_hits(1);
    assert_eq!(
        (p.qty, p.entry_price, p.mark_price, p.update_time_ms),
        (dec!(0.009), dec!(67445.9), dec!(67502.68519858), 1_722_161_166_529)
    );
    assert!(!p.is_flat());
}

#[test]
fn position_empty_array_is_flat_and_v2_flat_row_too() {
    let env = Env::new();
    env.answer(GET, "/fapi/v3/positionRisk", 200, "[]");
    assert!(env.ex.position("BTCUSDT").unwrap().is_flat());
    let env = Env::new();
    env.answer(GET, "/fapi/v3/positionRisk", 200, &fixture("rest_position_risk_v2_oneway_isolated_doc.json"));
    let p = env.ex.position("BTCUSDT").unwrap();
    assert!(p.is_flat());
    assert_eq!(p.mark_price, dec!(6679.50671178));
}

#[test]
fn hedge_mode_rows_are_refused() {
    let env = Env::new();
    env.answer(GET, "/fapi/v3/positionRisk", 200, &fixture("rest_position_risk_v2_hedge_btcusdt.json"));
    let e = env.ex.position("BTCUSDT").unwrap_err();
    assert_eq!(e.class, ErrorClass::Fatal);
    assert!(e.message.contains("hedge mode"), "{e}");
}

#[test]
fn open_orders_parse_with_a_row_transcript_each() {
    let env = Env::new();
    let body = format!("[{}]", fixture("rest_open_order_new_gtx_ltcusdt.json"));
    env.answer(GET, "/fapi/v1/openOrders", 200, &body);
    let o = env.ex.open_orders("LTCUSDT").unwrap();
    assert_eq!(o.len(), 1);
    assert_eq!(
        (o[0].order_id.as_str(), o[0].orig_qty, o[0].executed_qty, o[0].avg_price),
        ("664082074", dec!(0.200), dec!(0), dec!(0))
    );
    assert!(o[0].status.is_open());
    assert!(o[0].raw.starts_with("GET /fapi/v1/openOrders symbol=LTCUSDT&recvWindow=5000&timestamp="), "{}", o[0].raw);
    assert!(o[0].raw.contains("[1/1]") && o[0].raw.contains("664082074"), "{}", o[0].raw);
}

#[test]
fn open_algo_orders_keep_ours_and_skip_foreign_types() {
    let env = Env::new();
    // The docs' example is a TAKE_PROFIT (limit) order: not a type mcbot places or can represent.
    let doc = fixture("rest_open_algo_orders_doc.json");
    let mut m = env.answer(GET, "/fapi/v1/openAlgoOrders", 200, &doc);
    assert_eq!(env.ex.open_conditional_orders("BNBUSDT").unwrap(), vec![]);
    m.delete();
    env.answer(GET, "/fapi/v1/openAlgoOrders", 200, &doc.replace("\"TAKE_PROFIT\"", "\"TAKE_PROFIT_MARKET\""));
    let c = env.ex.open_conditional_orders("BNBUSDT").unwrap();
    assert_eq!(c.len(), 1);
    assert_eq!(
        (c[0].client_id.as_str(), c[0].trigger_price, c[0].qty),
        ("MRumok0dkhrP4kCm12AHaB", dec!(750.000), dec!(0.01))
    );
    // Untriggered: actualOrderId "" and actualPrice "0.00000" mean "not yet", not zero.
    assert_eq!((c[0].actual_order_id.clone(), c[0].actual_price), (None, None));
}

#[test]
fn account_settings_from_symbol_config_and_dual_side() {
    for (fixture_name, leverage) in
        [("rest_symbol_config_btcusdt.json", 20), ("rest_symbol_config_doc_stringbool.json", 21)]
    {
        let env = Env::new();
        env.answer(GET, "/fapi/v1/symbolConfig", 200, &fixture(fixture_name));
        env.answer(GET, "/fapi/v1/positionSide/dual", 200, &fixture("rest_position_side_dual.json"));
        let s = env.ex.account_settings("BTCUSDT").unwrap();
        assert_eq!(s, AccountSettings { isolated: false, leverage, dual_side: true }, "{fixture_name}");
    }
    let env = Env::new();
    env.answer(
        GET,
        "/fapi/v1/symbolConfig",
        200,
        r#"[{"symbol":"BTCUSDT","marginType":"ISOLATED","isAutoAddMargin":"false","leverage":"1"}]"#,
    );
    env.answer(GET, "/fapi/v1/positionSide/dual", 200, r#"{"dualSidePosition":"false"}"#);
    assert_eq!(
        env.ex.account_settings("BTCUSDT").unwrap(),
        AccountSettings { isolated: true, leverage: 1, dual_side: false }
    );
}

#[test]
fn symbol_config_rows_for_other_symbols_are_refused() {
    // nautilus's two-row example includes ETHUSDT: asked for BTCUSDT, that answer is not trusted.
    let env = Env::new();
    env.answer(GET, "/fapi/v1/symbolConfig", 200, &fixture("rest_symbol_config_isolated_nautilus.json"));
    let e = env.ex.account_settings("BTCUSDT").unwrap_err();
    assert_eq!((e.kind, e.class), (ExchangeErrorKind::Parse, ErrorClass::Fatal));
}

#[test]
fn wallet_balance_is_available_balance() {
    let env = Env::new();
    env.answer(GET, "/fapi/v3/balance", 200, &fixture("rest_balance_v3_doc.json"));
    assert_eq!(env.ex.wallet_balance("USDT").unwrap(), dec!(23.72469206));
    assert_eq!(env.ex.wallet_balance("BNB").unwrap_err().class, ErrorClass::Fatal);
}

#[test]
fn user_trades_become_fills() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/userTrades")
            .query_param("symbol", "BTCUSDT")
            .query_param("orderId", "3524852987");
        then.status(200).body(fixture("rest_user_trades_btcusdt.json"));
    });
    let f = env.ex.order_fills("BTCUSDT", "3524852987", 0).unwrap();
    m.assert_hits(1);
    assert_eq!(f.len(), 1);
    assert_eq!(
        (f[0].price, f[0].qty, f[0].commission, f[0].realized_pnl, f[0].time_ms),
        (dec!(36567.10), dec!(0.010), dec!(0.14626840), dec!(0), 1_699_972_836_419)
    );
}

#[test]
fn user_trades_with_numeric_ids_and_a_foreign_order_row() {
    let env = Env::new();
    let rows: Vec<serde_json::Value> = serde_json::from_str(&fixture("rest_user_trades_ethusdt_numeric.json")).unwrap();
    let mut m = env.answer(GET, "/fapi/v1/userTrades", 200, &serde_json::to_string(&rows[..1]).unwrap());
    let f = env.ex.order_fills("ETHUSDT", "831238666", 0).unwrap();
    assert_eq!((f[0].order_id.as_str(), f[0].time_ms), ("831238666", 1_645_930_322_371));
    m.delete();
    // Both rows: the second belongs to another order, so the answer is refused.
    env.answer(GET, "/fapi/v1/userTrades", 200, &fixture("rest_user_trades_ethusdt_numeric.json"));
    let e = env.ex.order_fills("ETHUSDT", "831238666", 0).unwrap_err();
    assert_eq!((e.kind, e.class), (ExchangeErrorKind::Parse, ErrorClass::Fatal));
}

/// Issue 12 §1: a BNB commission is reported in BNB (never refused, which lost the fill, and
/// never counted as USDT).
#[test]
fn fees_in_another_asset_keep_their_asset() {
    let env = Env::new();
    let body = fixture("rest_user_trades_btcusdt.json")
        .replace("\"commissionAsset\": \"USDT\"", "\"commissionAsset\": \"BNB\"");
    env.answer(GET, "/fapi/v1/userTrades", 200, &body);
    let f = env.ex.order_fills("BTCUSDT", "3524852987", 0).unwrap();
    assert_eq!((f.len(), f[0].commission, f[0].commission_asset.as_str()), (1, dec!(0.14626840), "BNB"));
}

#[test]
fn signed_reads_carry_key_and_window() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v3/balance")
            .header("X-MBX-APIKEY", super::harness::KEY)
            .query_param("recvWindow", "5000")
            .query_param("timestamp", super::harness::T0.to_string())
            .query_param_exists("signature");
        then.status(200).body(fixture("rest_balance_v3_doc.json"));
    });
    env.ex.wallet_balance("USDT").unwrap();
    m.assert_hits(1);
    env.time().assert_hits(1);
}

#[test]
fn concurrent_first_signed_calls_share_one_clock_sync() {
    // `snapshot::read` sends its three reads at once on a fresh adapter: one /fapi/v1/time, not three.
    let env = Env::new();
    env.answer(GET, "/fapi/v3/positionRisk", 200, "[]");
    env.answer(GET, "/fapi/v1/openOrders", 200, "[]");
    env.answer(GET, "/fapi/v1/openAlgoOrders", 200, "[]");
    std::thread::scope(|s| {
        let a = s.spawn(|| env.ex.position("BTCUSDT").map(|_| ()));
        let b = s.spawn(|| env.ex.open_orders("BTCUSDT").map(|_| ()));
        let c = env.ex.open_conditional_orders("BTCUSDT").map(|_| ());
        a.join().unwrap().unwrap();
        b.join().unwrap().unwrap();
        c.unwrap();
    });
    env.time().assert_hits(1);
}
