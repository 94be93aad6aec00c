//! HMAC-SHA256 request signing and query-string building. Pure: no I/O, no clock.
//!
//! Binance signs `totalParams` exactly as sent, so the query is built once, percent-encoded, and the
//! signature is computed over those same bytes and appended last (BINANCE.md §2). Parameters go in
//! the query string for every method (as the official SDK does), never in a body.

use crate::config::secrets::ApiSecret;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::fmt;

type HmacSha256 = Hmac<Sha256>;

/// A keyed HMAC-SHA256. Keyed once so each request only clones the prepared state.
#[derive(Clone)]
pub struct Signer {
    mac: HmacSha256,
}

impl fmt::Debug for Signer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Signer(***)")
    }
}

impl Signer {
    /// Keys the HMAC with the API secret.
    ///
    /// # Errors
    /// Never in practice (HMAC takes keys of any length); the `Result` mirrors the hmac API so a
    /// future key type cannot turn into a panic.
    pub fn new(secret: &ApiSecret) -> Result<Self, String> {
        Self::from_bytes(secret.expose().as_bytes())
    }

    /// Keys the HMAC with raw bytes (tests and benches).
    ///
    /// # Errors
    /// See [`Signer::new`].
    pub fn from_bytes(secret: &[u8]) -> Result<Self, String> {
        HmacSha256::new_from_slice(secret).map(|mac| Signer { mac }).map_err(|e| format!("HMAC key: {e}"))
    }

    /// Lower-case hex HMAC-SHA256 of `payload`.
    pub fn sign(&self, payload: &str) -> String {
        let mut mac = self.mac.clone();
        mac.update(payload.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }
}

/// Appends `value` percent-encoded: RFC 3986 unreserved characters pass, everything else is `%XX`.
/// Our values are ASCII symbols, decimals and client ids, so this only ever touches `:` and `/`
/// (allowed in client ids); encoding before signing is what Binance asks for (BINANCE.md §2).
fn push_encoded(out: &mut String, value: &str) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for b in value.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
}

/// A query string in insertion order (the order is what gets signed).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Query {
    buf: String,
}

impl Query {
    pub fn new() -> Self {
        Query { buf: String::with_capacity(192) }
    }

    /// Appends `key=value` (value percent-encoded; keys are our own ASCII constants).
    pub fn push(&mut self, key: &str, value: &str) -> &mut Self {
        if !self.buf.is_empty() {
            self.buf.push('&');
        }
        self.buf.push_str(key);
        self.buf.push('=');
        push_encoded(&mut self.buf, value);
        self
    }

    pub fn as_str(&self) -> &str {
        &self.buf
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// A request ready to send: the URL with the signature, and the same query without it (the only
/// form that may be logged or stored).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedRequest {
    pub url: String,
    /// `params&recvWindow=…&timestamp=…`: exactly what was signed, no signature.
    pub loggable_query: String,
}

/// Adds `recvWindow` and `timestamp`, signs the whole query, appends `signature` last and builds
/// the URL.
pub fn sign_request(
    base_url: &str,
    path: &str,
    params: &Query,
    recv_window_ms: u64,
    timestamp_ms: i64,
    signer: &Signer,
) -> SignedRequest {
    let mut q = params.clone();
    q.push("recvWindow", &recv_window_ms.to_string());
    q.push("timestamp", &timestamp_ms.to_string());
    let signature = signer.sign(q.as_str());
    let mut url = String::with_capacity(base_url.len() + path.len() + q.buf.len() + 80);
    url.push_str(base_url);
    url.push_str(path);
    url.push('?');
    url.push_str(q.as_str());
    url.push_str("&signature=");
    url.push_str(&signature);
    SignedRequest { url, loggable_query: q.buf }
}

/// An unsigned (public) request's URL.
pub fn public_url(base_url: &str, path: &str, params: &Query) -> String {
    if params.is_empty() {
        format!("{base_url}{path}")
    } else {
        format!("{base_url}{path}?{}", params.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9";

    #[test]
    fn documented_vector_example_1() {
        // BINANCE.md §2, [GI] "SIGNED Endpoint Examples for POST /fapi/v1/order - HMAC Keys".
        let s = Signer::from_bytes(SECRET.as_bytes()).unwrap();
        let payload = "symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943";
        assert_eq!(s.sign(payload), "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9");
    }

    #[test]
    fn reordered_params_sign_differently() {
        // The signature covers the exact byte order sent (BINANCE.md §2, second vector).
        let s = Signer::from_bytes(SECRET.as_bytes()).unwrap();
        let payload = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943";
        assert_eq!(s.sign(payload), "ec11dcc17e67e47f0d3c3f513dfe9062307e37619c5c82ebaa8fe0bdf3d59519");
    }

    #[test]
    fn sign_request_appends_window_timestamp_then_signature() {
        let s = Signer::from_bytes(SECRET.as_bytes()).unwrap();
        let mut q = Query::new();
        q.push("symbol", "BTCUSDT").push("side", "BUY").push("type", "LIMIT").push("quantity", "1");
        q.push("price", "9000").push("timeInForce", "GTC");
        let r = sign_request("https://x", "/fapi/v1/order", &q, 5000, 1_591_702_613_943, &s);
        assert_eq!(
            r.url,
            "https://x/fapi/v1/order?symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC&recvWindow=5000&timestamp=1591702613943&signature=3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
        );
        assert!(!r.loggable_query.contains("signature"));
        assert!(r.loggable_query.ends_with("timestamp=1591702613943"));
    }

    #[test]
    fn values_are_percent_encoded() {
        let mut q = Query::new();
        q.push("newClientOrderId", "mc_a:b/c-1.x_y~").push("x", "a b&c=d");
        assert_eq!(q.as_str(), "newClientOrderId=mc_a%3Ab%2Fc-1.x_y~&x=a%20b%26c%3Dd");
    }

    #[test]
    fn debug_hides_the_key() {
        let s = Signer::from_bytes(SECRET.as_bytes()).unwrap();
        assert_eq!(format!("{s:?}"), "Signer(***)");
    }
}
