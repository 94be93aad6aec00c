//! One test per check and boundary of `doctor`'s verdicts (CONTRACT §10).

use super::*;
use rust_decimal_macros::dec;

fn fail(unreachable: bool, credentials: bool, message: &str) -> ReadFail {
    ReadFail { unreachable, credentials, message: message.into() }
}

/// A healthy demo account: every check ok.
fn good() -> Facts {
    Facts {
        paper: false,
        base_url: "https://demo-fapi.binance.com".into(),
        symbol: "BTCUSDT".into(),
        recv_window_ms: crate::core::millis::Millis::from_ms(5000),
        clock_offset_ms: Ok(12),
        dual_side: Ok(false),
        multi_assets: Ok(false),
        symbol_status: Ok("TRADING".into()),
        filters: Ok(SymbolFilters::btcusdt_default()),
        margin: Ok(MarginFacts { isolated: true, leverage: 1, settable: true }),
        balance: Ok(dec!(10000)),
        mark_price: Ok(dec!(50000)),
        risk_per_trade_pct: dec!(1),
        max_notional_usdt: dec!(5000),
        rate: Some(RateFacts {
            used_weight_1m: Some(40),
            weight_limit_1m: 2400,
            order_limit_1m: 1200,
            order_limit_10s: Some(300),
        }),
        key: Ok(Some(KeyFacts { enable_withdrawals: false, ip_restrict: true, enable_futures: true })),
        key_host: Some("https://demo-api.binance.com".into()),
    }
}

fn status_of(f: &Facts, name: &str) -> (Status, String) {
    let c = verdicts(f).into_iter().find(|c| c.name == name).unwrap();
    (c.status, c.detail)
}

#[test]
fn a_healthy_demo_account_is_all_ok_in_a_fixed_order() {
    let checks = verdicts(&good());
    let names: Vec<_> = checks.iter().map(|c| c.name).collect();
    assert_eq!(
        names,
        [
            "base_url",
            "api_key",
            "clock",
            "position_mode",
            "margin_mode",
            "symbol",
            "filters",
            "isolated_1x",
            "balance",
            "rate_limits",
            "withdrawals"
        ]
    );
    for c in &checks {
        assert_eq!(c.status, Status::Ok, "{c:?}");
    }
    assert_eq!(outcome(&checks), Status::Ok);
}

#[test]
fn outcome_is_the_worst_check() {
    let mut f = good();
    f.base_url = "https://fapi.binance.com".into();
    assert_eq!(outcome(&verdicts(&f)), Status::Warn);
    f.dual_side = Ok(true);
    assert_eq!(outcome(&verdicts(&f)), Status::Fail);
    assert_eq!(outcome(&[]), Status::Ok);
}

#[test]
fn venues_by_host() {
    assert_eq!(classify_venue("https://fapi.binance.com"), Venue::Production);
    assert_eq!(classify_venue("https://FAPI.binance.com:443"), Venue::Production);
    assert_eq!(classify_venue("https://demo-fapi.binance.com"), Venue::Demo);
    assert_eq!(classify_venue("https://testnet.binancefuture.com"), Venue::Demo);
    assert_eq!(classify_venue("http://127.0.0.1:8080"), Venue::Local);
    assert_eq!(classify_venue("http://[::1]:9"), Venue::Local);
    assert_eq!(classify_venue("https://fapi.binance.com.evil.example"), Venue::Other);
    assert_eq!(classify_venue("https://example.com"), Venue::Other);
    assert!(round_trip_allowed(Venue::Demo) && round_trip_allowed(Venue::Local));
    assert!(!round_trip_allowed(Venue::Production) && !round_trip_allowed(Venue::Other));
    let mut f = good();
    f.base_url = "https://fapi.binance.com".into();
    let (s, d) = status_of(&f, "base_url");
    assert_eq!(s, Status::Warn);
    assert!(d.contains("real money"), "{d}");
    f.base_url = "https://example.com".into();
    assert_eq!(status_of(&f, "base_url").0, Status::Warn);
}

#[test]
fn a_refused_key_fails_with_what_binance_said_and_other_checks_point_to_it() {
    let mut f = good();
    let refused = fail(false, true, "Binance rejected the API key in $MCBOT_API_KEY (wrong key, IP not whitelisted, or futures not enabled for it); Binance said: -2015 Invalid API-key, IP, or permissions for action");
    f.dual_side = Err(refused.clone());
    f.multi_assets = Err(refused.clone());
    f.margin = Err(refused.clone());
    f.balance = Err(refused);
    let (s, d) = status_of(&f, "api_key");
    assert_eq!(s, Status::Fail);
    assert!(d.contains("-2015") && d.contains("MCBOT_API_KEY"), "{d}");
    let (s, d) = status_of(&f, "position_mode");
    assert_eq!(s, Status::Fail);
    assert!(d.contains("refused the API key"), "{d}");
}

#[test]
fn a_key_that_answered_one_signed_read_is_accepted() {
    let mut f = good();
    f.multi_assets = Err(fail(false, false, "binance.multi_assets_margin: HTTP 500"));
    assert_eq!(status_of(&f, "api_key").0, Status::Ok);
    assert_eq!(status_of(&f, "margin_mode").0, Status::Fail);
}

#[test]
fn an_unreachable_host_fails_every_exchange_check_naming_base_url() {
    let mut f = good();
    let down = fail(true, false, "connection refused");
    f.clock_offset_ms = Err(down.clone());
    f.dual_side = Err(down.clone());
    f.multi_assets = Err(down.clone());
    f.symbol_status = Err(down.clone());
    f.filters = Err(down.clone());
    f.margin = Err(down.clone());
    f.balance = Err(down.clone());
    f.mark_price = Err(down.clone());
    f.rate = None;
    f.key = Err(down);
    let checks = verdicts(&f);
    assert_eq!(checks.len(), 11, "every check is still reported");
    for c in checks.iter().filter(|c| !matches!(c.name, "base_url" | "withdrawals")) {
        assert_eq!(c.status, Status::Fail, "{c:?}");
        assert!(c.detail.contains("exchange.base_url"), "{c:?}");
    }
}

#[test]
fn clock_offset_boundaries_against_recv_window() {
    let mut f = good();
    for (off, want) in [
        (0, Status::Ok),
        (999, Status::Ok),
        (-999, Status::Ok),
        (1000, Status::Warn),
        (-4999, Status::Warn),
        (5000, Status::Fail),
        (-5000, Status::Fail),
        (i64::MIN, Status::Fail),
    ] {
        f.clock_offset_ms = Ok(off);
        let (s, d) = status_of(&f, "clock");
        assert_eq!(s, want, "offset {off}: {d}");
    }
    assert!(status_of(&f, "clock").1.contains("recvWindow"));
}

#[test]
fn hedge_mode_and_multi_assets_fail() {
    let mut f = good();
    f.dual_side = Ok(true);
    let (s, d) = status_of(&f, "position_mode");
    assert_eq!(s, Status::Fail);
    assert!(d.contains("one-way"), "{d}");
    f.multi_assets = Ok(true);
    let (s, d) = status_of(&f, "margin_mode");
    assert_eq!(s, Status::Fail);
    assert!(d.contains("Single-Asset"), "{d}");
}

#[test]
fn a_symbol_not_trading_fails() {
    let mut f = good();
    for st in ["BREAK", "SETTLING", "PENDING_TRADING", ""] {
        f.symbol_status = Ok(st.into());
        let (s, d) = status_of(&f, "symbol");
        assert_eq!(s, Status::Fail, "{st}");
        assert!(d.contains("not TRADING"), "{d}");
    }
}

#[test]
fn unusable_filters_fail() {
    let mut f = good();
    let mut x = SymbolFilters::btcusdt_default();
    x.step_size = Decimal::ZERO;
    f.filters = Ok(x);
    assert_eq!(status_of(&f, "filters").0, Status::Fail);
}

#[test]
fn margin_settings_ok_when_settable_fail_when_locked_by_a_position() {
    let mut f = good();
    f.margin = Ok(MarginFacts { isolated: false, leverage: 20, settable: true });
    let (s, d) = status_of(&f, "isolated_1x");
    assert_eq!(s, Status::Ok);
    assert!(d.contains("CROSSED 20x") && d.contains("sets ISOLATED"), "{d}");
    f.margin = Ok(MarginFacts { isolated: true, leverage: 2, settable: false });
    assert_eq!(status_of(&f, "isolated_1x").0, Status::Fail);
    f.margin = Ok(MarginFacts { isolated: true, leverage: 1, settable: false });
    assert_eq!(status_of(&f, "isolated_1x").0, Status::Ok);
}

#[test]
fn balance_against_the_smallest_order_and_the_configured_risk() {
    let mut f = good();
    // Smallest order at 50000: 100 USDT +2 % -> 0.003 BTC = 150 USDT.
    f.balance = Ok(dec!(149.99));
    let (s, d) = status_of(&f, "balance");
    assert_eq!(s, Status::Fail, "{d}");
    assert!(d.contains("150"), "{d}");
    f.balance = Ok(dec!(150));
    assert_eq!(status_of(&f, "balance").0, Status::Warn);
    f.balance = Ok(dec!(4999.99));
    assert_eq!(status_of(&f, "balance").0, Status::Warn);
    f.balance = Ok(dec!(5000));
    let (s, d) = status_of(&f, "balance");
    assert_eq!(s, Status::Ok);
    assert!(d.contains("risk per trade 50 USDT"), "{d}");
    f.max_notional_usdt = dec!(99);
    let (s, d) = status_of(&f, "balance");
    assert_eq!(s, Status::Fail);
    assert!(d.contains("risk.max_notional_usdt"), "{d}");
}

#[test]
fn rate_headroom_boundaries() {
    let mut f = good();
    for (used, want) in
        [(0, Status::Ok), (1199, Status::Ok), (1200, Status::Warn), (2159, Status::Warn), (2160, Status::Fail)]
    {
        f.rate = Some(RateFacts {
            used_weight_1m: Some(used),
            weight_limit_1m: 2400,
            order_limit_1m: 1200,
            order_limit_10s: None,
        });
        assert_eq!(status_of(&f, "rate_limits").0, want, "used {used}");
    }
    f.rate =
        Some(RateFacts { used_weight_1m: None, weight_limit_1m: 2400, order_limit_1m: 1200, order_limit_10s: None });
    assert_eq!(status_of(&f, "rate_limits").0, Status::Warn);
    f.rate = Some(RateFacts { used_weight_1m: Some(5), weight_limit_1m: 0, order_limit_1m: 0, order_limit_10s: None });
    assert_eq!(status_of(&f, "rate_limits").0, Status::Fail, "a zero limit is no headroom, not a division by zero");
}

#[test]
fn a_withdraw_enabled_key_warns_loudly() {
    let mut f = good();
    f.key = Ok(Some(KeyFacts { enable_withdrawals: true, ip_restrict: false, enable_futures: true }));
    let (s, d) = status_of(&f, "withdrawals");
    assert_eq!(s, Status::Warn);
    assert!(d.contains("CAN WITHDRAW") && d.contains("IP"), "{d}");
    f.key = Ok(None);
    let (s, d) = status_of(&f, "withdrawals");
    assert_eq!(s, Status::Warn);
    assert!(d.contains("by hand"), "{d}");
    f.key = Err(fail(false, false, "HTTP 404"));
    let (s, d) = status_of(&f, "withdrawals");
    assert_eq!(s, Status::Warn);
    assert!(d.contains("demo-api.binance.com") && d.contains("by hand"), "{d}");
}

#[test]
fn paper_needs_no_key_and_says_so() {
    let mut f = good();
    f.paper = true;
    f.key = Ok(None);
    f.rate = None;
    let checks = verdicts(&f);
    assert_eq!(outcome(&checks), Status::Ok, "{checks:?}");
    assert!(checks.iter().find(|c| c.name == "api_key").unwrap().detail.contains("paper exchange, no key needed"));
}

#[test]
fn smallest_order_meets_min_notional_on_the_grid() {
    let x = SymbolFilters::btcusdt_default();
    assert_eq!(smallest_order_qty(&x, dec!(50000)), Some(dec!(0.003)));
    assert_eq!(smallest_order_qty(&x, dec!(102000)), Some(dec!(0.001)));
    assert_eq!(smallest_order_qty(&x, dec!(101999)), Some(dec!(0.002)));
    let q = smallest_order_qty(&x, dec!(43210.7)).unwrap();
    assert!(x.check_market_qty(q, dec!(43210.7), false).is_ok());
    assert_eq!(x.floor_qty(q), q);
    assert_eq!(smallest_order_qty(&x, Decimal::ZERO), None);
    assert_eq!(smallest_order_qty(&x, dec!(0.0001)), None, "above the market max qty");
}

#[test]
fn round_trip_stop_is_below_the_mark_on_the_tick_grid() {
    let x = SymbolFilters::btcusdt_default();
    assert_eq!(round_trip_stop(&x, dec!(50000), dec!(1)), Some(dec!(49500)));
    assert_eq!(round_trip_stop(&x, dec!(50000.05), dec!(1)), Some(dec!(49500)));
    assert_eq!(round_trip_stop(&x, dec!(1), dec!(1)), None, "under min price");
}

#[test]
fn protection_seen_needs_the_plans_open_orders_for_the_whole_position() {
    let c = |id: &str, open: bool, qty: Decimal| SeenConditional { client_id: id.into(), open, qty };
    let both = [c("mc_p1_STOP_1", true, dec!(0.003)), c("mc_p1_TP_1", true, dec!(0.003))];
    assert_eq!(
        protection_seen("mc", "p1", dec!(0.003), &both),
        (Some("mc_p1_STOP_1".into()), Some("mc_p1_TP_1".into()))
    );
    // Another plan's, a finished one, a wrong size, another bot's: none of them protects.
    let wrong = [
        c("mc_p2_STOP_1", true, dec!(0.003)),
        c("mc_p1_STOP_1", false, dec!(0.003)),
        c("mc_p1_TP_1", true, dec!(0.002)),
        c("xx_p1_STOP_1", true, dec!(0.003)),
    ];
    assert_eq!(protection_seen("mc", "p1", dec!(0.003), &wrong), (None, None));
    // A plan id that only starts like ours is not ours.
    assert_eq!(protection_seen("mc", "p", dec!(0.003), &both), (None, None));
    assert_eq!(protection_seen("mc", "p1", Decimal::ZERO, &both), (None, None), "flat: nothing to protect");
    assert_eq!(protection_seen("mc", "p1", dec!(0.003), &both[1..]), (None, Some("mc_p1_TP_1".into())));
}
