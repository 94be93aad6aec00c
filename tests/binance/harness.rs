//! Shared set-up for the adapter alone: an httpmock server standing in for fapi, a `ManualClock`,
//! and the adapter. A component harness; set-ups of the whole bot are `support::bot::Bot`.

use httpmock::prelude::*;
use httpmock::Mock;
use mcbot::clock::{Clock, ManualClock};
use mcbot::config::secrets::{ApiKey, ApiSecret, Credentials};
use mcbot::config::{ExchangeConfig, ExchangeKind};
use mcbot::core::millis::Millis;
use mcbot::exchange::binance::sign::Signer;
use mcbot::exchange::binance::BinanceFutures;
use std::sync::Arc;

/// The documented example credentials ([GI] "SIGNED Endpoint Examples").
pub const KEY: &str = "dbefbc809e3e83c283a984c3a1459732ea7db1360ca80c5c2c8867408d28cc83";
pub const SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";

/// Local and server time at the start of every test: 30 s into a minute.
pub const T0: i64 = 1_775_461_950_000;

/// A fixture's text.
#[track_caller]
pub fn fixture(name: &str) -> String {
    let path = format!("{}/tests/fixtures/binance/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn config(base_url: &str, http_timeout_ms: u32) -> ExchangeConfig {
    ExchangeConfig {
        kind: ExchangeKind::Binance,
        base_url: base_url.to_string(),
        api_key_env: "UNUSED".into(),
        api_secret_env: "UNUSED".into(),
        recv_window_ms: Millis::from_ms(5000),
        http_timeout_ms: Millis::from_ms(http_timeout_ms),
    }
}

pub fn creds() -> Credentials {
    Credentials { key: ApiKey::new(KEY), secret: ApiSecret::new(SECRET) }
}

/// One mock fapi plus an adapter pointed at it, its clock at `T0` and server time `T0`.
pub struct Env {
    pub server: MockServer,
    pub clock: ManualClock,
    pub ex: BinanceFutures,
    time_id: usize,
}

impl Env {
    pub fn new() -> Env {
        Env::with_timeout(3000)
    }

    pub fn with_timeout(http_timeout_ms: u32) -> Env {
        let server = MockServer::start();
        let clock = ManualClock::new(T0);
        let time_id = server
            .mock(|when, then| {
                when.method(GET).path("/fapi/v1/time");
                then.status(200).body(format!("{{\"serverTime\": {T0}}}"));
            })
            .id;
        let shared: Arc<dyn Clock> = Arc::new(clock.clone());
        let ex = BinanceFutures::new(&config(&server.base_url(), http_timeout_ms), creds(), shared).unwrap();
        Env { server, clock, ex, time_id }
    }

    /// The `GET /fapi/v1/time` mock (for hit counts).
    pub fn time(&self) -> Mock<'_> {
        Mock::new(self.time_id, &self.server)
    }

    /// A mock answering `method path` with `status` and `body`.
    pub fn answer(&self, method: httpmock::Method, path: &str, status: u16, body: &str) -> Mock<'_> {
        let body = body.to_string();
        self.server.mock(|when, then| {
            when.method(method).path(path);
            then.status(status).header("content-type", "application/json").body(body);
        })
    }
}

/// The query of a recorded request, in order, as sent (our values need no decoding).
pub fn query_pairs(req: &httpmock::prelude::HttpMockRequest) -> Vec<(String, String)> {
    req.query_params.clone().unwrap_or_default()
}

/// The value of one query parameter.
pub fn param(req: &HttpMockRequest, name: &str) -> Option<String> {
    query_pairs(req).into_iter().find(|(k, _)| k == name).map(|(_, v)| v)
}

/// The `timestamp` parameter of a signed request.
pub fn timestamp(req: &HttpMockRequest) -> i64 {
    param(req, "timestamp").and_then(|t| t.parse().ok()).unwrap_or(i64::MIN)
}

/// True when `signature` is the last parameter and is the HMAC of everything before it.
pub fn signature_verifies(req: &HttpMockRequest) -> bool {
    let pairs = query_pairs(req);
    let Some((last_key, sig)) = pairs.last() else { return false };
    if last_key != "signature" {
        return false;
    }
    let signed: Vec<String> = pairs[..pairs.len() - 1].iter().map(|(k, v)| format!("{k}={v}")).collect();
    Signer::from_bytes(SECRET.as_bytes()).unwrap().sign(&signed.join("&")) == *sig
}
