//! Exchange errors, each carrying its retry class (seed 001 §1) and, for order-path calls, the
//! sanitised transcript of what was sent and received.

use std::fmt;

/// What a caller may do after a failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorClass {
    /// Definitely not executed; the same request may be sent again after a backoff.
    Retryable,
    /// Definitely not executed; may be sent again only after changing it (e.g. re-quantise).
    RetryableWithModification,
    /// The desired end state already holds (e.g. "no need to change margin type"): success.
    IdempotentSafe,
    /// Do not retry; a human or a safety path must act.
    Fatal,
    /// The request may or may not have been executed (timeout after send, 5xx, -1007): look the
    /// order up by client id before anything else.
    Ambiguous,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Retryable => "retryable",
            ErrorClass::RetryableWithModification => "retryable_with_modification",
            ErrorClass::IdempotentSafe => "idempotent_safe",
            ErrorClass::Fatal => "fatal",
            ErrorClass::Ambiguous => "ambiguous",
        }
    }
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What went wrong, in domain terms.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExchangeErrorKind {
    /// Could not connect, or the connection broke. `sent` is false when the request provably never
    /// left (connect failure), true when it may have reached the exchange.
    Transport { sent: bool },
    /// The exchange answered with an error code (Binance `{"code":…, "msg":…}`).
    Api { code: i64 },
    /// An HTTP status without a usable error body (HTML page, empty 5xx body, 429/418).
    Http { status: u16 },
    /// The answer could not be understood (truncated JSON, wrong types, another symbol).
    Parse,
    /// The exchange refused the request because our clock is off (-1021) even after a resync.
    ClockSkew,
    /// The paper exchange's injected fault or any other local refusal.
    Local,
}

/// A failed exchange call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExchangeError {
    pub kind: ExchangeErrorKind,
    pub class: ErrorClass,
    pub message: String,
    /// `Retry-After` (429/418) or a ban-until time, in ms.
    pub retry_after_ms: Option<u64>,
    /// Sanitised transcript of the request/response, when there was one.
    pub raw: Option<String>,
    /// The exchange answered with a code absent from the adapter's table: whatever its class,
    /// it is not a *known* refusal, so an order write answered with it has an unknown outcome.
    pub unknown_code: bool,
}

pub type ExResult<T> = Result<T, ExchangeError>;

impl ExchangeError {
    pub fn new(kind: ExchangeErrorKind, class: ErrorClass, message: impl Into<String>) -> Self {
        ExchangeError { kind, class, message: message.into(), retry_after_ms: None, raw: None, unknown_code: false }
    }
    pub fn with_raw(mut self, raw: impl Into<String>) -> Self {
        self.raw = Some(raw.into());
        self
    }
    /// Marks the code as one the adapter's table does not list (see [`Self::is_known_refusal`]).
    pub fn with_unknown_code(mut self) -> Self {
        self.unknown_code = true;
        self
    }
    pub fn with_retry_after(mut self, ms: Option<u64>) -> Self {
        self.retry_after_ms = ms;
        self
    }
    /// The Binance-style error code, if the exchange sent one.
    pub fn code(&self) -> Option<i64> {
        match self.kind {
            ExchangeErrorKind::Api { code } => Some(code),
            _ => None,
        }
    }
    pub fn is_ambiguous(&self) -> bool {
        self.class == ErrorClass::Ambiguous
    }
    /// The request was definitely not executed: a known, definite refusal. Everything else —
    /// an unknown code, an unreadable answer, a timeout, a 5xx, even "no need to change" — leaves
    /// an order write's outcome unknown (issue 10 item 1; `exec::ambiguity` acts on it).
    pub fn is_known_refusal(&self) -> bool {
        !self.unknown_code
            && matches!(self.class, ErrorClass::Retryable | ErrorClass::RetryableWithModification | ErrorClass::Fatal)
    }
    /// A stop or take-profit that would trigger immediately (-2021 / -4142).
    pub fn is_would_trigger(&self) -> bool {
        matches!(self.code(), Some(-2021) | Some(-4142))
    }
}

impl fmt::Display for ExchangeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ExchangeErrorKind::Api { code } => write!(f, "exchange error {code}: {} [{}]", self.message, self.class),
            ExchangeErrorKind::Http { status } => write!(f, "HTTP {status}: {} [{}]", self.message, self.class),
            ExchangeErrorKind::Transport { sent } => {
                write!(
                    f,
                    "transport error ({}): {} [{}]",
                    if *sent { "may have been sent" } else { "not sent" },
                    self.message,
                    self.class
                )
            }
            ExchangeErrorKind::Parse => write!(f, "unreadable exchange answer: {} [{}]", self.message, self.class),
            ExchangeErrorKind::ClockSkew => write!(f, "clock skew: {} [{}]", self.message, self.class),
            ExchangeErrorKind::Local => write!(f, "{} [{}]", self.message, self.class),
        }
    }
}

impl std::error::Error for ExchangeError {}
