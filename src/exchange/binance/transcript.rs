//! Sanitised request/response transcripts for `order_event.raw` and error texts: one line,
//! `METHOD /path query -> status body`, with no signature and no API key or secret, ever.

/// Longest body kept in a transcript; Binance order answers are well under this.
const MAX_BODY_CHARS: usize = 4000;

/// Scrubs the credentials out of any text before it leaves the adapter.
#[derive(Clone, Default)]
pub(crate) struct Redactor {
    secrets: Vec<String>,
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor({} secrets)", self.secrets.len())
    }
}

impl Redactor {
    /// `secrets`: the API key and secret. Very short values are ignored: replacing them would
    /// mangle ordinary text, and real keys are 64 characters.
    pub(crate) fn new<'a>(secrets: impl IntoIterator<Item = &'a str>) -> Self {
        Redactor { secrets: secrets.into_iter().filter(|s| s.len() >= 8).map(str::to_string).collect() }
    }

    /// `text` with every credential replaced by `***` and any `signature=<hex>` cut out.
    pub(crate) fn scrub(&self, text: &str) -> String {
        let mut out = text.to_string();
        for s in &self.secrets {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), "***");
            }
        }
        strip_signature(&out)
    }
}

/// Removes `signature=…` parameters (defence in depth: transcripts are built from the unsigned
/// query, but an error text might quote a URL).
fn strip_signature(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(i) = rest.find("signature=") {
        let before = &rest[..i];
        out.push_str(before.strip_suffix('&').unwrap_or(before));
        let after = &rest[i + "signature=".len()..];
        let end = after.find(|c: char| !c.is_ascii_alphanumeric()).unwrap_or(after.len());
        rest = &after[end..];
    }
    out.push_str(rest);
    out
}

/// One-line body: control characters become spaces, long bodies are cut.
fn compact(body: &str) -> String {
    let mut s: String = body.chars().take(MAX_BODY_CHARS).map(|c| if c.is_control() { ' ' } else { c }).collect();
    if body.chars().nth(MAX_BODY_CHARS).is_some() {
        s.push_str("…(truncated)");
    }
    s.trim().to_string()
}

/// `POST /fapi/v1/order symbol=…&timestamp=…` (the query is the unsigned one).
pub(crate) fn request(method: &str, path: &str, query: &str) -> String {
    if query.is_empty() {
        format!("{method} {path}")
    } else {
        format!("{method} {path} {query}")
    }
}

/// `POST /fapi/v1/order symbol=…&timestamp=… -> 200 {…}` (the shape the tests pin).
#[cfg(test)]
pub(crate) fn line(method: &str, path: &str, query: &str, outcome: &str) -> String {
    format!("{} -> {outcome}", request(method, path, query))
}

/// The outcome part for an HTTP answer.
pub(crate) fn answered(status: u16, body: &str) -> String {
    format!("{status} {}", compact(body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scrubs_credentials_and_signatures() {
        let r = Redactor::new(["KEYKEYKEYKEY", "SECRETSECRET", "x"]);
        let s = r.scrub("a KEYKEYKEYKEY b SECRETSECRET c url?x=1&signature=abcdef0123&y=2 x");
        assert_eq!(s, "a *** b *** c url?x=1&y=2 x");
        assert_eq!(r.scrub("signature=ff"), "");
    }

    #[test]
    fn lines_are_single_line_and_bounded() {
        let l = line("GET", "/fapi/v1/time", "", &answered(200, "{\n \"serverTime\": 1\n}"));
        assert_eq!(l, "GET /fapi/v1/time -> 200 {  \"serverTime\": 1 }");
        let long = "x".repeat(MAX_BODY_CHARS + 10);
        assert!(answered(200, &long).ends_with("…(truncated)"));
    }
}
