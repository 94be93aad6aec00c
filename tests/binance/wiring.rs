//! The public-only client (for the paper exchange's live prices) and `connect_exchange`.

use super::harness::{config, fixture, T0};
use httpmock::prelude::*;
use mcbot::clock::{Clock, ManualClock};
use mcbot::exchange::binance::BinanceFutures;
use mcbot::exchange::{ErrorClass, Exchange, ExchangeErrorKind};
use std::sync::Arc;

fn no_api_key(req: &HttpMockRequest) -> bool {
    !req.headers.clone().unwrap_or_default().iter().any(|(k, _)| k.eq_ignore_ascii_case("x-mbx-apikey"))
}

#[test]
fn public_client_reads_market_data_without_a_key_and_refuses_signed_calls() {
    let server = MockServer::start();
    let klines = server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/klines").matches(no_api_key);
        then.status(200).body(fixture("rest_klines_btcusdt_1m.json"));
    });
    let premium = server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/premiumIndex").matches(no_api_key);
        then.status(200).body(fixture("rest_premium_index_btcusdt_doc.json"));
    });
    let signed = server.mock(|when, then| {
        when.path_contains("/fapi/");
        then.status(500);
    });
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let ex = BinanceFutures::public(&config(&server.base_url(), 2000), clock).unwrap();
    assert_eq!(ex.klines("BTCUSDT", "1m", 3).unwrap().len(), 3);
    ex.mark_info("BTCUSDT").unwrap();
    klines.assert_hits(1);
    premium.assert_hits(1);
    let e = ex.position("BTCUSDT").unwrap_err();
    assert_eq!((e.kind, e.class), (ExchangeErrorKind::Local, ErrorClass::Fatal));
    signed.assert_hits(0);
}

fn binance_config(key_env: &str, secret_env: &str) -> mcbot::config::Config {
    let text = format!(
        "bot_id = \"mc\"\nsymbol = \"BTCUSDT\"\nstate_db = \"s.db\"\n[exchange]\nkind = \"binance\"\n\
         base_url = \"https://demo-fapi.binance.com\"\napi_key_env = \"{key_env}\"\napi_secret_env = \"{secret_env}\"\n"
    );
    mcbot::config::parse(&text, std::path::Path::new(".")).unwrap()
}

#[test]
fn connect_exchange_needs_the_secret_before_any_request() {
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let cfg = binance_config("MCBOT_TEST_NEVER_SET_KEY_7F3A", "MCBOT_TEST_NEVER_SET_SECRET_7F3A");
    let err = mcbot::cmd::connect_exchange(&cfg, clock.clone()).err().unwrap();
    assert!(matches!(err, mcbot::error::Error::Config(_)), "{err}");
    assert!(err.to_string().contains("exchange.api_key_env"), "{err}");

    std::env::set_var("MCBOT_TEST_BINANCE_KEY_7F3A", "k".repeat(64));
    std::env::set_var("MCBOT_TEST_BINANCE_SECRET_7F3A", "s".repeat(64));
    let cfg = binance_config("MCBOT_TEST_BINANCE_KEY_7F3A", "MCBOT_TEST_BINANCE_SECRET_7F3A");
    let ex = mcbot::cmd::connect_exchange(&cfg, clock).unwrap();
    assert_eq!(ex.name(), "binance");
}

/// `paper.mode = "live"`: the paper exchange's live prices come from Binance's public
/// klines and premiumIndex (no key), and trading works on them.
#[test]
fn live_market_data_feeds_the_paper_exchange_from_public_endpoints() {
    use mcbot::exchange::paper::live::LiveMarketData;
    use mcbot::exchange::paper::market::MarketData;
    let server = MockServer::start();
    server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/klines").matches(no_api_key);
        then.status(200).body(fixture("rest_klines_btcusdt_1m.json"));
    });
    server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/premiumIndex").matches(no_api_key);
        then.status(200).body(fixture("rest_premium_index_btcusdt_doc.json"));
    });
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let public = BinanceFutures::public(&config(&server.base_url(), 2000), clock).unwrap();
    let live = LiveMarketData::new(Box::new(public), "BTCUSDT", "1m").unwrap();
    assert_eq!(live.interval_ms(), 60_000);
    // The fixture's candles open from 1712738460000 on; ask for the two up to the second one.
    let got = live.candles_until(1_712_738_520_000, 2).unwrap();
    assert_eq!(got.len(), 2);
    assert_eq!(got[1].open_time_ms, 1_712_738_520_000);
    assert!(got.windows(2).all(|w| w[0].open_time_ms < w[1].open_time_ms));
    let f = live.last_funding(1_712_738_520_000).unwrap().unwrap();
    assert_eq!(f.rate.to_string(), "0.00038246");
    // Settlements every 8 h: one between 00:00 and 09:00.
    let day = 1_712_707_200_000; // 2024-04-10T00:00Z
    assert_eq!(live.funding_between(day, day + 9 * 3_600_000).unwrap().len(), 1);
}

/// A live dry run's paper book asks its market data on every call: one klines request serves the
/// calls after it, and a host that is down is not asked again by each of them (its typed,
/// retryable error is returned at once).
#[test]
fn live_market_data_asks_the_host_once_for_many_calls() {
    use mcbot::exchange::paper::live::LiveMarketData;
    use mcbot::exchange::paper::market::MarketData;
    let server = MockServer::start();
    let klines = server.mock(|when, then| {
        when.method(GET).path("/fapi/v1/klines");
        then.status(200).body(fixture("rest_klines_btcusdt_1m.json"));
    });
    let clock: Arc<dyn Clock> = Arc::new(ManualClock::new(T0));
    let public = BinanceFutures::public(&config(&server.base_url(), 2000), clock.clone()).unwrap();
    let live = LiveMarketData::new(Box::new(public), "BTCUSDT", "1m").unwrap();
    for _ in 0..5 {
        assert_eq!(live.candles_until(1_712_738_520_000, 2).unwrap().len(), 2);
    }
    assert_eq!(klines.hits(), 1);

    // Down: a closed port. The adapter's retries run once; the next calls fail at once, typed.
    let down = BinanceFutures::public(&config("http://127.0.0.1:9", 500), clock).unwrap();
    let live = LiveMarketData::new(Box::new(down), "BTCUSDT", "1m").unwrap();
    let first = live.candles_until(T0, 2).unwrap_err();
    assert_eq!(first.class, ErrorClass::Retryable, "{first:?}");
    let again = live.candles_until(T0, 2).unwrap_err();
    assert_eq!(again, first, "the same error, without a new request");
}
