//! The one table from Binance error codes, HTTP statuses and transport failures to an
//! [`ErrorClass`] and the port's [`Refusal`] kinds, and the function that turns an HTTP answer
//! into an [`ExchangeError`].
//!
//! Sources: BINANCE.md §3 and §6 (the official error-code page), seed 001 (taxonomy; unknown →
//! fatal). `docs/binance.md` embeds [`markdown`]'s output; a test fails when they drift.

use crate::exchange::binance::wire::ApiErrorBody;
use crate::exchange::error::{ErrorClass, ExchangeError, ExchangeErrorKind, Refusal};

use ErrorClass::{Ambiguous, Fatal, IdempotentSafe, Retryable, RetryableWithModification as Modify};

/// One Binance error code and what a caller may do after it.
#[derive(Debug, Clone, Copy)]
pub struct CodeRule {
    pub code: i64,
    pub name: &'static str,
    pub class: ErrorClass,
    pub why: &'static str,
}

const fn rule(code: i64, name: &'static str, class: ErrorClass, why: &'static str) -> CodeRule {
    CodeRule { code, name, class, why }
}

/// Every code mcbot knows. A code not listed here is `fatal` (seed 001: no retry storms on the
/// unknown), except with a 5xx status, where it is `ambiguous` (the server failed mid-way).
pub const CODES: &[CodeRule] = &[
    rule(-1000, "UNKNOWN", Ambiguous, "unknown outcome; look the order up"),
    rule(-1001, "DISCONNECTED", Ambiguous, "internal error; reads retry, writes look up"),
    rule(-1002, "UNAUTHORIZED", Fatal, "configuration: the key is not authorised for this request (exit 2)"),
    rule(-1003, "TOO_MANY_REQUESTS", Retryable, "back off (Retry-After); with HTTP 418 it is a ban: fatal"),
    rule(-1004, "SERVER_BUSY", Retryable, "server busy, not processed"),
    rule(-1006, "UNEXPECTED_RESP", Ambiguous, "execution status unknown"),
    rule(-1007, "TIMEOUT", Ambiguous, "send and execution status unknown; look up by client id"),
    rule(-1008, "REQUEST_THROTTLED", Retryable, "definite failure; back off"),
    rule(-1015, "TOO_MANY_ORDERS", Retryable, "order rate limit; back off"),
    rule(-1021, "INVALID_TIMESTAMP", Retryable, "rejected before execution; the adapter resyncs and retries once"),
    rule(-1022, "INVALID_SIGNATURE", Fatal, "configuration: wrong secret (exit 2)"),
    rule(-1102, "MANDATORY_PARAM_EMPTY_OR_MALFORMED", Fatal, "request bug"),
    rule(-1106, "PARAM_NOT_REQUIRED", Fatal, "request bug (e.g. reduceOnly in hedge mode)"),
    rule(-1111, "BAD_PRECISION", Modify, "re-quantise to tick/step"),
    rule(-1118, "EMPTY_NEW_CL_ORD_ID", Fatal, "client id bug"),
    rule(-1116, "INVALID_ORDER_TYPE", Fatal, "request bug"),
    rule(-1121, "BAD_SYMBOL", Fatal, "configuration"),
    rule(-2010, "NEW_ORDER_REJECTED", Fatal, "rejected; no order exists"),
    rule(-2011, "CANCEL_REJECTED", Fatal, "on cancel: not an error, `NotOpen`"),
    rule(-2013, "NO_SUCH_ORDER", Fatal, "on query: not an error, `None`"),
    rule(-2014, "BAD_API_KEY_FMT", Fatal, "configuration: the API key is malformed (exit 2)"),
    rule(-2015, "REJECTED_MBX_KEY", Fatal, "configuration: API key, IP whitelist or futures permission (exit 2)"),
    rule(-2018, "BALANCE_NOT_SUFFICIENT", Modify, "size down"),
    rule(-2019, "MARGIN_NOT_SUFFICIENT", Modify, "size down"),
    rule(
        -2021,
        "ORDER_WOULD_IMMEDIATELY_TRIGGER",
        Fatal,
        "stop/TP on the wrong side of the mark: it would fire at once",
    ),
    rule(-2022, "REDUCE_ONLY_REJECT", Modify, "no position, or already covered"),
    rule(-2027, "MAX_LEVERAGE_RATIO", Modify, "position too large for the leverage"),
    rule(-2028, "MIN_LEVERAGE_RATIO", Modify, "leverage too small for the margin balance"),
    rule(-4003, "QTY_LESS_THAN_ZERO", Modify, "LOT_SIZE: quantity not positive"),
    rule(-4004, "QTY_LESS_THAN_MIN", Modify, "LOT_SIZE"),
    rule(-4005, "QTY_GREATER_THAN_MAX", Modify, "LOT_SIZE / MARKET_LOT_SIZE"),
    rule(-4006, "STOP_PRICE_LESS_THAN_ZERO", Modify, "PRICE_FILTER: trigger not positive"),
    rule(-4007, "STOP_PRICE_GREATER_THAN_MAX_PRICE", Modify, "PRICE_FILTER maxPrice"),
    rule(-4013, "PRICE_LESS_THAN_MIN_PRICE", Modify, "PRICE_FILTER minPrice"),
    rule(-4014, "PRICE_NOT_INCREASED_BY_TICK_SIZE", Modify, "re-quantise"),
    rule(-4015, "INVALID_CL_ORD_ID_LEN", Fatal, "client id bug"),
    rule(-4016, "PRICE_HIGHER_THAN_MULTIPLIER_UP", Modify, "PERCENT_PRICE"),
    rule(-4023, "QTY_NOT_INCREASED_BY_STEP_SIZE", Modify, "re-quantise"),
    rule(-4024, "PRICE_LOWER_THAN_MULTIPLIER_DOWN", Modify, "PERCENT_PRICE"),
    rule(-4028, "INVALID_LEVERAGE", Fatal, "leverage out of range, or already set (set it only when it differs)"),
    rule(-4045, "MAX_STOP_ORDER_EXCEEDED", Fatal, "conditional-order cap"),
    rule(-4046, "NO_NEED_TO_CHANGE_MARGIN_TYPE", IdempotentSafe, "already isolated: success"),
    rule(-4047, "MARGIN_TYPE_WITH_OPEN_ORDERS", Fatal, "cancel orders first"),
    rule(-4048, "MARGIN_TYPE_WITH_POSITION", Fatal, "close the position first"),
    rule(-4059, "NO_NEED_TO_CHANGE_POSITION_SIDE", IdempotentSafe, "already one-way: success"),
    rule(-4061, "POSITION_SIDE_NOT_MATCH", Fatal, "account is in hedge mode"),
    rule(-4062, "REDUCE_ONLY_CONFLICT", Fatal, "request bug: reduceOnly not allowed here"),
    rule(-4067, "POSITION_SIDE_CHANGE_WITH_OPEN_ORDERS", Fatal, "cancel orders first"),
    rule(-4068, "POSITION_SIDE_CHANGE_WITH_POSITION", Fatal, "close the position first"),
    rule(-4109, "INACTIVE_ACCOUNT", Fatal, "configuration: fund the futures wallet to activate it"),
    rule(-4116, "DUPLICATED_CLIENT_ORDER_ID", Ambiguous, "an earlier send with this id exists: look it up, adopt it"),
    rule(-4117, "STOP_ORDER_TRIGGERING", Retryable, "conditional order mid-trigger; wait, re-query"),
    rule(-4118, "REDUCE_ONLY_MARGIN_CHECK_FAILED", Modify, "resting reduce-only orders already cover it"),
    rule(-4120, "STOP_ORDER_SWITCH_ALGO", Fatal, "bug: STOP/TP must go to /fapi/v1/algoOrder"),
    rule(-4131, "MARKET_ORDER_REJECT", Retryable, "thin book (PERCENT_PRICE); not executed"),
    rule(-4142, "STRATEGY_INVALID_TRIGGER_PRICE", Fatal, "algo trigger price already crossed: it would fire at once"),
    rule(-4161, "ISOLATED_LEVERAGE_REJECT_WITH_POSITION", Fatal, "set leverage while flat"),
    rule(-4164, "MIN_NOTIONAL", Modify, "size up (reduce-only is exempt)"),
    rule(-4168, "JOINT_MARGIN_REJECT_WITH_ISOLATED", Fatal, "turn off Multi-Assets mode"),
    rule(-4400, "TRADING_QUANTITATIVE_RULE", Fatal, "account restricted to reduce-only"),
    rule(-4401, "LARGE_POSITION_SYM_RULE", Fatal, "account restricted to reduce-only"),
    rule(-5028, "ME_RECVWINDOW_REJECT", Retryable, "rejected at the matching engine before execution"),
];

/// Codes that mean "no such order": on a query they are `Ok(None)`, on a cancel `NotOpen`.
/// -2011 and -2013 both appear on the algo endpoints too (freqtrade#12681).
pub const NOT_FOUND: [i64; 2] = [-2013, -2011];

/// Binance refused the credentials themselves: a configuration error (exit 2, CONTRACT §11), not
/// a failure to retry (exit 1 makes systemd restart into the same refusal).
pub const CREDENTIALS_REJECTED: [i64; 4] = [-1002, -1022, -2014, -2015];

/// Is this error Binance refusing the API key or secret?
pub fn is_credentials_rejected(e: &ExchangeError) -> bool {
    e.code().is_some_and(|c| CREDENTIALS_REJECTED.contains(&c))
}

/// The port's word for what a Binance `code` refused; `None` for codes that are not a refusal
/// the bot acts on by kind (rate limits, timeouts, request bugs) and for unknown codes. Callers
/// outside this adapter match the [`Refusal`], never the number.
pub fn refusal_of_code(code: i64) -> Option<Refusal> {
    if CREDENTIALS_REJECTED.contains(&code) {
        return Some(Refusal::CredentialsRejected);
    }
    if NOT_FOUND.contains(&code) {
        return Some(Refusal::NoSuchOrder);
    }
    match code {
        -2021 | -4142 => Some(Refusal::WouldTrigger),
        -2022 | -4118 => Some(Refusal::NothingToReduce),
        -4116 => Some(Refusal::DuplicateClientId),
        -2018 | -2019 => Some(Refusal::InsufficientMargin),
        -1111 | -4003 | -4004 | -4005 | -4006 | -4007 | -4013 | -4014 | -4016 | -4023 | -4024 | -4164 => {
            Some(Refusal::FilterViolation)
        }
        _ => None,
    }
}

/// The clock-offset rejection the adapter handles itself (resync, then one retry).
pub const INVALID_TIMESTAMP: i64 = -1021;

/// Which statuses an HTTP rule covers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StatusMatch {
    Is(u16),
    /// 400–499
    Client,
    /// 500–599
    Server,
    /// Anything else that is not 2xx (redirects are not followed).
    Other,
}

/// How an HTTP answer without a Binance `code` is classified; the first matching row wins.
#[derive(Debug, Clone, Copy)]
pub struct HttpRule {
    pub status: StatusMatch,
    /// The rule only applies when the JSON `msg` starts with this text.
    pub msg_prefix: Option<&'static str>,
    pub class: ErrorClass,
    pub why: &'static str,
}

const fn http(status: StatusMatch, msg_prefix: Option<&'static str>, class: ErrorClass, why: &'static str) -> HttpRule {
    HttpRule { status, msg_prefix, class, why }
}

/// 418 and 429 win over any code in the body; the others apply when the body has no code.
pub const HTTP_RULES: &[HttpRule] = &[
    http(
        StatusMatch::Is(418),
        None,
        Fatal,
        "IP banned: never retried; retry_after = Retry-After or the ban-until time",
    ),
    http(StatusMatch::Is(429), None, Retryable, "rate limited: retried no sooner than Retry-After"),
    http(StatusMatch::Is(408), None, Ambiguous, "backend timeout: outcome unknown"),
    http(StatusMatch::Is(403), None, Fatal, "WAF refusal"),
    http(StatusMatch::Server, Some("Service Unavailable"), Retryable, "503 variant B: a 100% failure"),
    http(StatusMatch::Server, None, Ambiguous, "5xx (\"Unknown error…\", empty or HTML body): outcome unknown"),
    http(StatusMatch::Client, None, Fatal, "4xx without a code (e.g. an HTML page): rejected"),
    http(StatusMatch::Other, None, Fatal, "unexpected status"),
];

/// Failures with no HTTP answer, or with one mcbot cannot read.
pub const TRANSPORT_RULES: &[(&str, ErrorClass, &str)] = &[
    ("connect failure", CONNECT_FAILED, "provably not sent"),
    ("timeout or broken connection after sending", SENT_NO_ANSWER, "may have executed"),
    ("2xx answer to a write that cannot be read", UNREADABLE_WRITE, "probably executed: look it up"),
    ("answer to a read that cannot be read (empty 200, truncated JSON, a missing field, a null)", UNREADABLE_READ, "a read changes nothing: retried within the command's budget, never a default that looks like success"),
    ("a read answer of the right shape that says something mcbot cannot use (hedge mode, an unknown status, a missing filter, symbol not listed)", Fatal, "kind Parse; asking again gets the same answer"),
    ("-1021 again after the resync", Retryable, "kind ClockSkew; not executed"),
    ("an answer for another symbol / client id", Fatal, "kind Parse"),
];

pub const CONNECT_FAILED: ErrorClass = Retryable;
pub const SENT_NO_ANSWER: ErrorClass = Ambiguous;
pub const UNREADABLE_WRITE: ErrorClass = Ambiguous;
pub const UNREADABLE_READ: ErrorClass = Retryable;

/// Is `code` in [`CODES`]? Only a listed code can be a known, definite refusal of an order write;
/// any other code leaves the write's outcome unknown (issue 10 item 1).
pub fn is_known_code(code: i64) -> bool {
    CODES.iter().any(|r| r.code == code)
}

/// The class of a Binance `code` answered with HTTP `status`.
pub fn class_of_code(code: i64, status: u16) -> ErrorClass {
    match status {
        418 => return Fatal,
        429 => return Retryable,
        _ => {}
    }
    match CODES.iter().find(|r| r.code == code) {
        Some(r) => r.class,
        None if (500..600).contains(&status) => Ambiguous,
        None => Fatal,
    }
}

fn status_matches(m: StatusMatch, status: u16) -> bool {
    match m {
        StatusMatch::Is(s) => s == status,
        StatusMatch::Client => (400..500).contains(&status),
        StatusMatch::Server => (500..600).contains(&status),
        StatusMatch::Other => true,
    }
}

/// The class of a non-2xx answer without a Binance `code`.
pub fn class_of_status(status: u16, msg: &str) -> ErrorClass {
    HTTP_RULES
        .iter()
        .find(|r| status_matches(r.status, status) && r.msg_prefix.is_none_or(|p| msg.starts_with(p)))
        .map_or(Fatal, |r| r.class)
}

/// "Way too many requests; IP banned until 1602590829423." → 1602590829423.
fn ban_until_ms(msg: &str) -> Option<i64> {
    let rest = &msg[msg.find("until ")? + 6..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A short single-line excerpt of a body for error messages.
pub fn excerpt(body: &str) -> String {
    let one_line: String = body.chars().map(|c| if c.is_control() { ' ' } else { c }).take(200).collect();
    let t = one_line.trim();
    if t.is_empty() {
        "empty body".into()
    } else {
        t.to_string()
    }
}

/// Turns an HTTP answer into `Err` when it is an error: a negative Binance `code` (whatever the
/// status, since some 200s carry one) or a non-2xx status. `server_now_ms` converts a ban-until
/// time into a wait.
///
/// # Errors
/// The classified error, without the transcript (the caller attaches it).
pub fn check_answer(
    status: u16,
    body: &str,
    retry_after_s: Option<u64>,
    server_now_ms: i64,
) -> Result<(), ExchangeError> {
    let parsed: Option<ApiErrorBody> =
        if body.trim_start().starts_with('{') { serde_json::from_str(body).ok() } else { None };
    let code = parsed.as_ref().and_then(|p| p.code.map(|c| c.0)).filter(|c| *c < 0);
    let msg = parsed.as_ref().and_then(|p| p.msg.clone()).unwrap_or_default();
    if (200..300).contains(&status) && code.is_none() {
        return Ok(());
    }
    let mut retry_after_ms = retry_after_s.map(|s| s.saturating_mul(1000));
    if status == 418 {
        let ban = ban_until_ms(&msg).map(|until| u64::try_from(until - server_now_ms).unwrap_or(0));
        retry_after_ms = match (retry_after_ms, ban) {
            (Some(a), Some(b)) => Some(a.max(b)),
            (a, b) => a.or(b),
        };
    }
    let err = match code {
        Some(code) => {
            let e = ExchangeError::new(ExchangeErrorKind::Api { code }, class_of_code(code, status), msg)
                .with_refusal(refusal_of_code(code));
            if is_known_code(code) {
                e
            } else {
                e.with_unknown_code()
            }
        }
        None => {
            let text = if msg.is_empty() { excerpt(body) } else { msg };
            ExchangeError::new(ExchangeErrorKind::Http { status }, class_of_status(status, &text), text)
        }
    };
    Err(err.with_retry_after(retry_after_ms))
}

/// A failure before any answer arrived. `sent` is false only when the connection was never made.
pub fn transport_error(sent: bool, message: impl Into<String>) -> ExchangeError {
    let class = if sent { SENT_NO_ANSWER } else { CONNECT_FAILED };
    ExchangeError::new(ExchangeErrorKind::Transport { sent }, class, message)
}

/// An answer that could not be understood. `write_2xx`: a write the exchange accepted.
pub fn parse_error(write_2xx: bool, message: impl Into<String>) -> ExchangeError {
    let class = if write_2xx { UNREADABLE_WRITE } else { UNREADABLE_READ };
    ExchangeError::new(ExchangeErrorKind::Parse, class, message)
}

/// A readable answer to a read that names something impossible (a symbol not listed, an unknown
/// margin type): asking again gets the same answer, so it is fatal, never retried.
pub fn invalid_answer(message: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Parse, Fatal, message)
}

/// An answer about another symbol or order than the one asked for: always fatal.
pub fn mismatch_error(message: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Parse, Fatal, message)
}

/// The tables as Markdown, embedded verbatim in `docs/binance.md`.
pub fn markdown() -> String {
    let mut s = String::from("| Code | Name | Class | Port kind | Why |\n|---|---|---|---|---|\n");
    for r in CODES {
        let kind = refusal_of_code(r.code).map_or("", Refusal::as_str);
        s.push_str(&format!("| {} | {} | {} | {kind} | {} |\n", r.code, r.name, r.class, r.why));
    }
    s.push_str("| any other code | | fatal (ambiguous with a 5xx status) | | seed 001: unknown means stop; on an order write it is never a refusal: look the order up |\n");
    s.push_str("\n| HTTP status | Body message starts with | Class | Why |\n|---|---|---|---|\n");
    for r in HTTP_RULES {
        let st = match r.status {
            StatusMatch::Is(n) => n.to_string(),
            StatusMatch::Client => "4xx".into(),
            StatusMatch::Server => "5xx".into(),
            StatusMatch::Other => "other".into(),
        };
        s.push_str(&format!("| {st} | {} | {} | {} |\n", r.msg_prefix.unwrap_or(""), r.class, r.why));
    }
    s.push_str("\n| Failure | Class | Why |\n|---|---|---|\n");
    for (what, class, why) in TRANSPORT_RULES {
        s.push_str(&format!("| {what} | {class} | {why} |\n"));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_has_no_duplicates() {
        let mut codes: Vec<i64> = CODES.iter().map(|r| r.code).collect();
        codes.sort_unstable();
        codes.dedup();
        assert_eq!(codes.len(), CODES.len());
    }

    /// Issue 10 item 1: the table is the list of known refusals; a code it does not list (an
    /// HTTP 400 -1199 "An unexpected new error occurred.") is never one, so an order write
    /// answered with it is looked up, not taken as "not accepted".
    #[test]
    fn only_listed_codes_are_known_refusals() {
        let unknown = check_answer(400, r#"{"code":-1199,"msg":"An unexpected new error occurred."}"#, None, 0);
        let unknown = unknown.err().unwrap();
        assert_eq!(unknown.class, Fatal, "reads still stop on it (seed 001)");
        assert!(!unknown.is_known_refusal());
        let refused = check_answer(400, r#"{"code":-2010,"msg":"Order would immediately match."}"#, None, 0);
        assert!(refused.err().unwrap().is_known_refusal());
        let busy = check_answer(400, r#"{"code":-1004,"msg":"Server is busy."}"#, None, 0);
        assert!(busy.err().unwrap().is_known_refusal());
        for r in CODES {
            let e = check_answer(400, &format!(r#"{{"code":{},"msg":"x"}}"#, r.code), None, 0).err().unwrap();
            assert_eq!(e.is_known_refusal(), e.class != Ambiguous && e.class != IdempotentSafe, "{}", r.code);
        }
    }

    /// Issue 16 item 3: the port's kinds come from this table alone. Every code that maps to a
    /// kind is a listed code (an unknown code is never a refusal), the kinds `exec/` acts on come
    /// from the codes Binance documents for them, and the kind reaches the error.
    #[test]
    fn codes_map_to_the_port_kinds() {
        use Refusal::*;
        for code in -6000..0 {
            if refusal_of_code(code).is_some() {
                assert!(is_known_code(code), "{code} maps to a kind but is not in CODES");
            }
        }
        let cases: &[(i64, Option<Refusal>)] = &[
            (-2021, Some(WouldTrigger)),
            (-4142, Some(WouldTrigger)),
            (-2022, Some(NothingToReduce)),
            (-4118, Some(NothingToReduce)),
            (-4116, Some(DuplicateClientId)),
            (-2011, Some(NoSuchOrder)),
            (-2013, Some(NoSuchOrder)),
            (-2018, Some(InsufficientMargin)),
            (-2019, Some(InsufficientMargin)),
            (-1111, Some(FilterViolation)),
            (-4164, Some(FilterViolation)),
            (-4023, Some(FilterViolation)),
            (-4003, Some(FilterViolation)),
            (-1002, Some(CredentialsRejected)),
            (-1022, Some(CredentialsRejected)),
            (-2014, Some(CredentialsRejected)),
            (-2015, Some(CredentialsRejected)),
            (-1021, None),
            (-1003, None),
            (-1007, None),
            (-2010, None),
            (-4109, None),
            (-9999, None),
        ];
        for (code, kind) in cases {
            assert_eq!(refusal_of_code(*code), *kind, "{code}");
            let e = check_answer(400, &format!(r#"{{"code":{code},"msg":"x"}}"#), None, 0).unwrap_err();
            assert_eq!((e.refusal, e.code()), (*kind, Some(*code)), "{code}: the code stays for the journal");
            assert_eq!(e.is_would_trigger(), *kind == Some(WouldTrigger), "{code}");
            assert_eq!(e.is_credentials_rejected(), is_credentials_rejected(&e), "{code}");
        }
        let html = check_answer(502, "<html>bad gateway</html>", None, 0).unwrap_err();
        assert_eq!(html.refusal, None);
    }

    #[test]
    fn classification_cases() {
        let cases: &[(u16, &str, ErrorClass, Option<i64>)] = &[
            (400, r#"{"code":-1007,"msg":"Timeout"}"#, Ambiguous, Some(-1007)),
            (400, r#"{"code":-4046,"msg":"No need"}"#, IdempotentSafe, Some(-4046)),
            (400, r#"{"code":-9999,"msg":"new"}"#, Fatal, Some(-9999)),
            (503, r#"{"code":-9999,"msg":"new"}"#, Ambiguous, Some(-9999)),
            (429, r#"{"code":-1003,"msg":"Too many"}"#, Retryable, Some(-1003)),
            (418, r#"{"code":-1003,"msg":"Way too many requests; IP banned until 1000."}"#, Fatal, Some(-1003)),
            (503, r#"{"msg":"Service Unavailable."}"#, Retryable, None),
            (503, r#"{"msg":"Unknown error, please check your request or try again later."}"#, Ambiguous, None),
            (502, "", Ambiguous, None),
            (500, "<html><body>oops</body></html>", Ambiguous, None),
            (404, "<html>not found</html>", Fatal, None),
            (408, "", Ambiguous, None),
            (200, r#"{"code":-2013,"msg":"Order does not exist."}"#, Fatal, Some(-2013)),
        ];
        for (i, (status, body, class, code)) in cases.iter().enumerate() {
            let e = check_answer(*status, body, None, 0).unwrap_err();
            assert_eq!(e.class, *class, "case {i}: {e}");
            assert_eq!(e.code(), *code, "case {i}");
        }
        assert!(check_answer(200, r#"{"code":200,"msg":"success"}"#, None, 0).is_ok());
        assert!(check_answer(200, r#"{"code":"200","msg":"success"}"#, None, 0).is_ok());
        assert!(check_answer(200, "[]", None, 0).is_ok());
    }

    #[test]
    fn docs_carry_the_generated_table() {
        let doc = include_str!("../../../docs/binance.md");
        assert!(doc.contains(&markdown()), "docs/binance.md is out of date; the table is now:\n{}", markdown());
    }

    #[test]
    fn ban_time_becomes_retry_after() {
        let e =
            check_answer(418, r#"{"code":-1003,"msg":"Way too many requests; IP banned until 125000."}"#, None, 5_000)
                .unwrap_err();
        assert_eq!(e.retry_after_ms, Some(120_000));
        let e = check_answer(418, "", Some(300), 0).unwrap_err();
        assert_eq!(e.retry_after_ms, Some(300_000));
        let e = check_answer(429, "", Some(7), 0).unwrap_err();
        assert_eq!((e.class, e.retry_after_ms), (Retryable, Some(7_000)));
    }
}
