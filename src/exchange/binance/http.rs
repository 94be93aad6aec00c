//! The only `reqwest::blocking::Client` in mcbot: rustls, timeouts, no redirects, no retries. It
//! sends one request and reports what came back (status, body, rate-limit headers) or why nothing
//! did. Classifying the answer is `codes`' job.

use crate::config::secrets::ApiKey;
use crate::exchange::binance::codes;
use crate::exchange::error::{ErrorClass, ExResult, ExchangeError, ExchangeErrorKind};
use reqwest::header::{HeaderMap, HeaderValue};
use std::fmt;
use std::time::Duration;

/// The HTTP methods the adapter uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Method {
    Get,
    Post,
    Delete,
}

impl Method {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Method::Get => "GET",
            Method::Post => "POST",
            Method::Delete => "DELETE",
        }
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What came back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Answer {
    pub status: u16,
    pub body: String,
    /// `X-MBX-USED-WEIGHT-1M`
    pub used_weight_1m: Option<u64>,
    /// `X-MBX-ORDER-COUNT-1M`
    pub order_count_1m: Option<u64>,
    /// `X-MBX-ORDER-COUNT-10S` (300 orders / 10 s per account)
    pub order_count_10s: Option<u64>,
    /// `Retry-After`, seconds.
    pub retry_after_s: Option<u64>,
}

/// The blocking HTTP client.
#[derive(Debug)]
pub(crate) struct Http {
    client: reqwest::blocking::Client,
}

fn header_u64(h: &HeaderMap, name: &str) -> Option<u64> {
    h.get(name)?.to_str().ok()?.trim().parse().ok()
}

/// The error's text without the URL (which carries the signature) and with its causes.
fn describe(e: &reqwest::Error) -> String {
    let mut s = String::new();
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(e);
    while let Some(cause) = source {
        if !s.is_empty() {
            s.push_str(": ");
        }
        s.push_str(&cause.to_string());
        source = cause.source();
    }
    let kind = if e.is_connect() {
        "connect failed"
    } else if e.is_timeout() {
        "timed out"
    } else if e.is_body() || e.is_decode() {
        "reading the answer failed"
    } else if e.is_builder() {
        "request could not be built"
    } else {
        "request failed"
    };
    if s.is_empty() {
        kind.to_string()
    } else {
        format!("{kind}: {s}")
    }
}

impl Http {
    /// Builds the client: `timeout_ms` caps each whole request; redirects are refused (a POST must
    /// never be replayed elsewhere) and reqwest's own retries are off (every send is ours).
    ///
    /// # Errors
    /// Fatal when the TLS backend cannot be initialised.
    pub(crate) fn new(timeout_ms: u64) -> ExResult<Http> {
        let timeout = Duration::from_millis(timeout_ms.max(1));
        let client = reqwest::blocking::Client::builder()
            .timeout(timeout)
            .connect_timeout(timeout.min(Duration::from_secs(10)))
            .redirect(reqwest::redirect::Policy::none())
            .retry(reqwest::retry::never())
            .user_agent(concat!("mcbot/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| {
                ExchangeError::new(
                    ExchangeErrorKind::Local,
                    ErrorClass::Fatal,
                    format!("HTTP client: {}", describe(&e)),
                )
            })?;
        Ok(Http { client })
    }

    /// Sends one request to `url` (the query, and signature if any, already in it).
    ///
    /// # Errors
    /// A transport error: `Retryable` when the connection was never made, `Ambiguous` otherwise.
    pub(crate) fn send(&self, method: Method, url: &str, api_key: Option<&ApiKey>) -> ExResult<Answer> {
        let mut req = match method {
            Method::Get => self.client.get(url),
            Method::Post => self.client.post(url),
            Method::Delete => self.client.delete(url),
        };
        if let Some(key) = api_key {
            let mut value = HeaderValue::from_str(key.expose()).map_err(|_| {
                ExchangeError::new(ExchangeErrorKind::Local, ErrorClass::Fatal, "API key is not a valid header value")
            })?;
            value.set_sensitive(true);
            req = req.header("X-MBX-APIKEY", value);
        }
        let resp = req.send().map_err(|e| {
            let e = e.without_url();
            if e.is_builder() {
                // Nothing left this process, and sending it again would fail the same way.
                return ExchangeError::new(ExchangeErrorKind::Local, ErrorClass::Fatal, describe(&e));
            }
            codes::transport_error(!e.is_connect(), describe(&e))
        })?;
        let status = resp.status().as_u16();
        let headers = resp.headers().clone();
        // The request reached the server: a failure to read the answer leaves the outcome unknown.
        let body = resp.text().map_err(|e| codes::transport_error(true, describe(&e.without_url())))?;
        Ok(Answer {
            status,
            body,
            used_weight_1m: header_u64(&headers, "x-mbx-used-weight-1m"),
            order_count_1m: header_u64(&headers, "x-mbx-order-count-1m"),
            order_count_10s: header_u64(&headers, "x-mbx-order-count-10s"),
            retry_after_s: header_u64(&headers, "retry-after"),
        })
    }
}
