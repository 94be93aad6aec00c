//! Exchange errors, each carrying its retry class (seed 001 §1), the port's own word for a
//! refusal ([`Refusal`]) and, for order-path calls, the sanitised transcript of what was sent and
//! received.

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

/// Why the exchange refused a request, in the port's words (issue 16 item 3). Each adapter maps
/// its own answers to these (Binance: `binance::codes::refusal_of_code`), the paper exchange
/// raises them directly, and `exec/` matches these, never an exchange's error number. The
/// exchange's own code and message stay in [`ExchangeErrorKind::Api`] and the message, for the
/// journal and for humans.
///
/// A refusal says what was refused, not what may follow: that is the [`ErrorClass`]'s job
/// (a [`Refusal::DuplicateClientId`] is `ambiguous` on Binance: the earlier order may be ours).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Refusal {
    /// A stop or take-profit whose trigger price is already crossed: it would fire at once.
    WouldTrigger,
    /// A reduce-only order with nothing (left) to reduce: no position, the wrong side, or resting
    /// reduce-only orders already cover it.
    NothingToReduce,
    /// The client order id is already in use.
    DuplicateClientId,
    /// The order named is not on the exchange (or no longer open).
    NoSuchOrder,
    /// Not enough balance or margin for the order.
    InsufficientMargin,
    /// The order breaks a symbol filter: precision, tick or step grid, quantity bounds, minimum
    /// notional, price band.
    FilterViolation,
    /// The API key or secret was refused: a configuration problem (exit 2), not one to retry.
    CredentialsRejected,
}

impl Refusal {
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::WouldTrigger => "would_trigger",
            Refusal::NothingToReduce => "nothing_to_reduce",
            Refusal::DuplicateClientId => "duplicate_client_id",
            Refusal::NoSuchOrder => "no_such_order",
            Refusal::InsufficientMargin => "insufficient_margin",
            Refusal::FilterViolation => "filter_violation",
            Refusal::CredentialsRejected => "credentials_rejected",
        }
    }
}

impl fmt::Display for Refusal {
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
    /// What the exchange refused, when the adapter knows a port word for it.
    pub refusal: Option<Refusal>,
}

pub type ExResult<T> = Result<T, ExchangeError>;

impl ExchangeError {
    pub fn new(kind: ExchangeErrorKind, class: ErrorClass, message: impl Into<String>) -> Self {
        ExchangeError {
            kind,
            class,
            message: message.into(),
            retry_after_ms: None,
            raw: None,
            unknown_code: false,
            refusal: None,
        }
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
    /// Names what was refused (the adapter's mapping of its own codes, or the paper exchange's).
    pub fn with_refusal(mut self, refusal: Option<Refusal>) -> Self {
        self.refusal = refusal;
        self
    }
    pub fn with_retry_after(mut self, ms: Option<u64>) -> Self {
        self.retry_after_ms = ms;
        self
    }
    /// The exchange's own error code, if it sent one: for the journal and humans; decisions
    /// match [`Self::refusal`].
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
    /// A stop or take-profit that would trigger immediately.
    pub fn is_would_trigger(&self) -> bool {
        self.refusal == Some(Refusal::WouldTrigger)
    }
    /// The exchange refused the API key or secret themselves (exit 2, CONTRACT §11).
    pub fn is_credentials_rejected(&self) -> bool {
        self.refusal == Some(Refusal::CredentialsRejected)
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
