//! One fault vocabulary for both test exchanges (issue 16 item 1): the in-process fake
//! (`fake_exchange.rs`, faults per call label) and the HTTP mock (`mock_binance.rs`, faults per
//! endpoint and order role) interpret the same [`Fault`].
//!
//! Every refusal is written as Binance writes it on the wire (an HTTP status and a body). The mock
//! sends it as it is; the fake turns it into the port's `ExchangeError` the way the Binance adapter
//! would ([`answer_error`], through `binance::codes::check_answer`), so a test scripts "-2021" once
//! and `exec/` meets the same class and refusal kind on both transports.
//!
//! Variants that make no sense on one transport panic there, naming the one to use instead.
//!
//! The paper exchange's random fault stream (`src/exchange/paper/faults.rs`, `FaultKind`) draws
//! from the same vocabulary; its `//!` says how each kind maps to a variant here.

use mcbot::exchange::binance::codes;
use mcbot::exchange::ExchangeError;
use rust_decimal::Decimal;
use serde_json::json;
use std::sync::Arc;

/// What to do to a matching call or request.
#[derive(Debug, Clone)]
pub enum Fault {
    /// Refuse without executing: answer HTTP `status` with `body` (a Binance error `{"code","msg"}`,
    /// 503 "Service Unavailable.", a 418 ban, a 200 whose body cannot be read).
    Refuse { status: u16, body: String },
    /// Lost on the way in: not executed, no answer (the mock closes the connection; the fake
    /// fails with the adapter's "sent, no answer" error). The caller cannot tell it from
    /// `ExecuteThenDrop`.
    Drop,
    /// Execute, then no answer (a lost acknowledgement).
    ExecuteThenDrop,
    /// Execute, then answer `status` + `body` instead of the result (503 "Unknown error", -1007).
    ExecuteThen { status: u16, body: String },
    /// Execute at arrival, answer `ms` later (the mock sleeps; the fake advances its manual clock).
    Delay(u64),
    /// A MARKET order fills only `qty` (zero: it rests NEW) and stays open; the rest fills
    /// `complete_after_ms` later (never, when `None`) at `rest_price` (the mark, when `None`).
    /// The fake has no clock-driven completion: there, use [`Fault::CompletePartial`].
    PartialFill { qty: Decimal, complete_after_ms: Option<u64>, rest_price: Option<Decimal> },
    /// On an order look-up: the partially filled order completes first (the rest at the mark).
    CompletePartial,
    /// Execute normally, then move the mark (a fast market between two requests); conditional
    /// orders the move crosses fire.
    MoveMarkAfter(Decimal),
    /// Execute normally, then run the hook before answering (e.g. fill the caller's disk).
    Hook(Hook),
    /// Execute normally, then answer in the shape of Binance's official `NewOrderResponse`
    /// model (binance-sdk `derivatives_trading_usds_futures`), which has neither `avgPrice` nor
    /// `cumQuote`: a fill of unknown price (issue 12 §1). Wire only (the mock).
    WithoutPrice,
}

/// Something a test does to the world at the moment a request is executed.
#[derive(Clone)]
pub struct Hook(pub Arc<dyn Fn() + Send + Sync>);

impl std::fmt::Debug for Hook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hook")
    }
}

impl Fault {
    /// A Binance error body `{"code":…,"msg":…}` with HTTP `status`, not executed.
    pub fn api_error(status: u16, code: i64, msg: &str) -> Fault {
        Fault::Refuse { status, body: json!({"code": code, "msg": msg}).to_string() }
    }
    /// 503 variant B: "Service Unavailable." — a definite failure, nothing executed.
    pub fn service_unavailable() -> Fault {
        Fault::Refuse { status: 503, body: r#"{"msg":"Service Unavailable."}"#.into() }
    }
    /// A 200 whose body is `body` (an unreadable read: empty, truncated, a missing field, a null).
    pub fn ok_body(body: &str) -> Fault {
        Fault::Refuse { status: 200, body: body.into() }
    }
    /// 503 variant A after executing: "Unknown error…" — the outcome is unknown to the caller.
    pub fn executed_then_unknown_error() -> Fault {
        Fault::ExecuteThen {
            status: 503,
            body: r#"{"msg":"Unknown error, please check your request or try again later."}"#.into(),
        }
    }
    /// -1007 after executing: "Timeout waiting for response from backend server."
    pub fn executed_then_1007() -> Fault {
        Fault::ExecuteThen {
            status: 408,
            body: r#"{"code":-1007,"msg":"Timeout waiting for response from backend server. Send status unknown; execution status unknown."}"#.into(),
        }
    }
    /// A MARKET order fills only `qty` now and the rest never by itself.
    pub fn partial(qty: Decimal) -> Fault {
        Fault::PartialFill { qty, complete_after_ms: None, rest_price: None }
    }
}

/// The port error the Binance adapter makes of the answer `status` + `body` to a call (a `write`
/// or a read): `codes::check_answer`, or an unreadable 2xx.
pub fn answer_error(status: u16, body: &str, write: bool) -> ExchangeError {
    match codes::check_answer(status, body, None, 0) {
        Err(e) => e,
        Ok(()) => codes::parse_error(write, format!("unreadable answer: {}", codes::excerpt(body))),
    }
}

/// The adapter's error for a request sent whose answer never came.
pub fn lost_answer() -> ExchangeError {
    codes::transport_error(true, "timed out after send")
}
