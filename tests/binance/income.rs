//! `funding_history` over `GET /fapi/v1/income` (issue 13 §3): the official fields, the query
//! Binance needs (FUNDING_FEE, inclusive window, limit 1000), paging past a full page, and the
//! refusals that keep an unknown funding from passing for a known one.

use super::harness::{fixture, Env, T0};
use httpmock::prelude::*;
use mcbot::exchange::{ErrorClass, Exchange, ExchangeErrorKind};
use rust_decimal_macros::dec;

const DAY: i64 = 86_400_000;

#[test]
fn funding_rows_parse_with_the_query_binance_needs() {
    let env = Env::new();
    let m = env.server.mock(|when, then| {
        when.method(GET)
            .path("/fapi/v1/income")
            .query_param("symbol", "BTCUSDT")
            .query_param("incomeType", "FUNDING_FEE")
            .query_param("startTime", (T0 - DAY).to_string())
            .query_param("endTime", (T0 + DAY).to_string())
            .query_param("limit", "1000")
            .query_param_exists("signature");
        then.status(200).body(fixture("rest_income_funding_fee_doc.json"));
    });
    let f = env.ex.funding_history("BTCUSDT", T0 - DAY, T0 + DAY).unwrap();
    m.assert_hits(1);
    let got: Vec<_> = f.iter().map(|p| (p.time_ms, p.amount, p.asset.as_str())).collect();
    assert_eq!(got, [(1_775_433_600_000, dec!(-0.03964800), "USDT"), (1_775_462_400_000, dec!(0.01210000), "USDT")]);
}

/// A full page (1000 rows) is not the end: the next page starts after its last row, and the
/// rows of both pages come back once each, oldest first.
#[test]
fn a_full_page_is_followed_by_the_next() {
    let env = Env::new();
    let start = T0 - 80 * DAY;
    let row = |t: i64| {
        format!(
            r#"{{"symbol":"BTCUSDT","incomeType":"FUNDING_FEE","income":"-0.01","asset":"USDT","info":"FUNDING_FEE","time":{t},"tranId":{t},"tradeId":""}}"#
        )
    };
    let first: Vec<String> = (0..1000).map(|i| row(start + i * 3_600_000)).collect();
    let last = start + 999 * 3_600_000;
    let p1 = env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/income").query_param("startTime", start.to_string());
        then.status(200).body(format!("[{}]", first.join(",")));
    });
    let p2 = env.server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/income").query_param("startTime", (last + 1).to_string());
        then.status(200).body(format!("[{}]", row(last + 3_600_000)));
    });
    let f = env.ex.funding_history("BTCUSDT", start, T0).unwrap();
    p1.assert_hits(1);
    p2.assert_hits(1);
    assert_eq!(f.len(), 1001);
    assert_eq!(f.iter().map(|p| p.amount).sum::<rust_decimal::Decimal>(), dec!(-10.01));
    assert!(f.windows(2).all(|w| w[0].time_ms < w[1].time_ms));
}

/// Binance keeps three months: an older window would come back short and pass for the whole, so
/// it is refused before anything is sent. A backwards window is refused the same way.
#[test]
fn a_window_older_than_three_months_is_refused_unsent() {
    let env = Env::new();
    let m = env.answer(GET, "/fapi/v1/income", 200, "[]");
    for (from, to) in [(T0 - 91 * DAY, T0), (T0, T0 - 1)] {
        let e = env.ex.funding_history("BTCUSDT", from, to).unwrap_err();
        assert_eq!((&e.kind, e.class), (&ExchangeErrorKind::Local, ErrorClass::Fatal), "{e}");
    }
    m.assert_hits(0);
    // Within the three months, an empty answer is a known zero.
    assert!(env.ex.funding_history("BTCUSDT", T0 - 89 * DAY, T0).unwrap().is_empty());
}

/// A row of another symbol or another income type is not this trade's funding: refused, never
/// summed.
#[test]
fn foreign_rows_are_refused_not_summed() {
    let env = Env::new();
    for (from, to) in [
        ("\"symbol\": \"BTCUSDT\"", "\"symbol\": \"ETHUSDT\""),
        ("\"FUNDING_FEE\",\n    \"income\"", "\"COMMISSION\",\n    \"income\""),
    ] {
        let body = fixture("rest_income_funding_fee_doc.json").replacen(from, to, 1);
        assert_ne!(body, fixture("rest_income_funding_fee_doc.json"), "{to}");
        let mut m = env.answer(GET, "/fapi/v1/income", 200, &body);
        let e = env.ex.funding_history("BTCUSDT", T0 - DAY, T0).unwrap_err();
        assert_eq!(e.class, ErrorClass::Fatal, "{to}: {e}");
        m.delete();
    }
}
