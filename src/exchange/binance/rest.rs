//! The request pipeline every endpoint goes through: rate gate → sign (server-time offset) → send
//! once → record usage → classify → sanitised transcript. The only retry here is the documented
//! one: a -1021 (timestamp outside recvWindow) is rejected before execution, so the adapter
//! resyncs its clock offset and sends once more (CONTRACT §6, BINANCE.md §6).

use crate::clock::{Clock, ClockSync};
use crate::config::secrets::{ApiKey, Credentials};
use crate::core::millis::Millis;
use crate::exchange::binance::codes;
use crate::exchange::binance::endpoints::{self, Endpoint};
use crate::exchange::binance::http::Http;
use crate::exchange::binance::limits_file::{Limits, LimitsFile};
use crate::exchange::binance::ratelimit::{Gate, RateGate, RETRY_AFTER_WAIT};
use crate::exchange::binance::sign::{self, Query, Signer};
use crate::exchange::binance::transcript::{self, Redactor};
use crate::exchange::binance::wire;
use crate::exchange::error::{ErrorClass, ExResult, ExchangeError, ExchangeErrorKind};
use crate::exchange::retry::RetryBudget;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

/// A successful answer and how to describe it.
#[derive(Debug, Clone)]
pub(crate) struct Reply {
    pub status: u16,
    pub body: String,
    /// `METHOD /path query` (no signature).
    pub request: String,
}

impl Reply {
    /// The whole exchange as one sanitised line.
    pub(crate) fn transcript(&self) -> String {
        format!("{} -> {}", self.request, transcript::answered(self.status, &self.body))
    }
    /// The transcript of row `i` of `n` of a list answer.
    pub(crate) fn row_transcript(&self, i: usize, n: usize, row: &serde_json::Value) -> String {
        format!("{} -> {} [{}/{n}] {row}", self.request, self.status, i + 1)
    }
}

/// Signed and public REST calls for one base URL.
pub(crate) struct Rest {
    http: Http,
    base_url: String,
    creds: Option<(ApiKey, Signer)>,
    redactor: Redactor,
    pub clock: Arc<dyn Clock>,
    recv_window_ms: Millis,
    /// Server time minus local time, ms.
    offset_ms: AtomicI64,
    synced: AtomicBool,
    /// Local time of the last measurement of `offset_ms` (by `/fapi/v1/time` here, or by an
    /// earlier process when seeded); `NOT_MEASURED` when signing with the local clock unmeasured.
    measured_ms: AtomicI64,
    /// Held while the first clock sync runs, so concurrent first calls (the snapshot's three reads)
    /// wait for one `/fapi/v1/time` instead of each sending their own.
    first_sync: Mutex<()>,
    pub gate: RateGate,
    /// The environment variables the key and secret came from, named when Binance refuses them.
    key_env: String,
    secret_env: String,
    /// Where bans and back-offs outlive this process (none for tests and the public client).
    limits_file: Option<LimitsFile>,
    /// The command's retry budget: a read does not wait out a 429 back-off past its deadline.
    budget: Option<Arc<RetryBudget>>,
}

/// `measured_ms` before any measurement.
const NOT_MEASURED: i64 = i64::MIN;

fn local(message: impl Into<String>) -> ExchangeError {
    ExchangeError::new(ExchangeErrorKind::Local, ErrorClass::Fatal, message)
}

impl Rest {
    /// # Errors
    /// Fatal when the HTTP client or the signer cannot be built.
    pub(crate) fn new(
        base_url: &str,
        http_timeout_ms: Millis,
        recv_window_ms: Millis,
        creds: Option<Credentials>,
        clock: Arc<dyn Clock>,
    ) -> ExResult<Rest> {
        let http = Http::new(http_timeout_ms.as_u64())?;
        let (creds, redactor) = match creds {
            Some(c) => {
                let signer = Signer::new(&c.secret).map_err(local)?;
                let redactor = Redactor::new([c.key.expose(), c.secret.expose()]);
                (Some((c.key, signer)), redactor)
            }
            None => (None, Redactor::default()),
        };
        Ok(Rest {
            http,
            base_url: base_url.trim_end_matches('/').to_string(),
            creds,
            redactor,
            clock,
            recv_window_ms,
            offset_ms: AtomicI64::new(0),
            synced: AtomicBool::new(false),
            measured_ms: AtomicI64::new(NOT_MEASURED),
            first_sync: Mutex::new(()),
            gate: RateGate::default(),
            key_env: "the API key variable".into(),
            secret_env: "the API secret variable".into(),
            limits_file: None,
            budget: None,
        })
    }

    /// Names the variables the credentials came from (`exchange.api_key_env` / `api_secret_env`),
    /// so a refusal says which one to fix.
    pub(crate) fn with_credential_names(mut self, key_env: &str, secret_env: &str) -> Rest {
        self.key_env = key_env.to_string();
        self.secret_env = secret_env.to_string();
        self
    }

    /// Reads do not wait out a 429 back-off longer than what is left of `budget`.
    pub(crate) fn with_budget(self, budget: Arc<RetryBudget>) -> Rest {
        Rest { budget: Some(budget), ..self }
    }

    /// Restores the ban / back-off persisted in `file` and persists every new one there.
    pub(crate) fn with_limits_file(self, file: LimitsFile) -> Rest {
        let l = file.load();
        self.gate.restore(l.banned_until_ms, l.backoff_until_ms);
        Rest { limits_file: Some(file), ..self }
    }

    /// What to fix after Binance refused the credentials (-1002, -1022, -2014, -2015).
    fn credential_hint(&self, code: Option<i64>) -> String {
        match code {
            Some(-1022) => {
                format!("Binance could not verify the request with the secret in ${}: check it", self.secret_env)
            }
            Some(-2014) => format!("Binance says the API key in ${} is malformed", self.key_env),
            _ => format!(
                "Binance rejected the API key in ${} (wrong key, IP not whitelisted, or futures not enabled for it)",
                self.key_env
            ),
        }
    }

    /// `exchange.base_url`, named in the errors of reads that gave up.
    pub(crate) fn base_url(&self) -> &str {
        &self.base_url
    }

    /// Our best estimate of the exchange's clock.
    pub(crate) fn server_now_ms(&self) -> i64 {
        self.clock.now_ms() + self.offset_ms.load(Ordering::SeqCst)
    }

    /// Exchange clock minus local clock, ms, as the last time sync measured it; `None` before
    /// the first sync (nothing measured is not "no offset").
    pub(crate) fn clock_offset_ms(&self) -> Option<i64> {
        self.synced.load(Ordering::SeqCst).then(|| self.offset_ms.load(Ordering::SeqCst))
    }

    /// The offset and when it was measured; `None` while nothing was measured (not even by an
    /// earlier process).
    pub(crate) fn clock_sync(&self) -> Option<ClockSync> {
        let measured_ms = self.measured_ms.load(Ordering::SeqCst);
        (self.synced.load(Ordering::SeqCst) && measured_ms != NOT_MEASURED)
            .then(|| ClockSync { offset_ms: self.offset_ms.load(Ordering::SeqCst), measured_ms })
    }

    /// Starts from an offset an earlier process measured instead of syncing before the first
    /// signed call. The caller decides it is young enough; a -1021 still resyncs (see `call`).
    pub(crate) fn seed_clock(&self, sync: ClockSync) {
        let _first = self.first_sync.lock().unwrap_or_else(PoisonError::into_inner);
        self.offset_ms.store(sync.offset_ms, Ordering::SeqCst);
        self.measured_ms.store(sync.measured_ms, Ordering::SeqCst);
        self.synced.store(true, Ordering::SeqCst);
    }

    /// The `recvWindow` signed requests carry, ms.
    pub(crate) fn recv_window_ms(&self) -> Millis {
        self.recv_window_ms
    }

    /// `GET /fapi/v1/time`: measures the offset (midpoint of the round trip) and returns the
    /// server's time.
    ///
    /// # Errors
    /// Any failure of the request; an unreadable answer is fatal.
    pub(crate) fn sync_time(&self) -> ExResult<i64> {
        let t0 = self.clock.now_ms();
        let reply = self.call(&endpoints::TIME, &Query::new(), 0)?;
        let t1 = self.clock.now_ms();
        let st: wire::ServerTime = serde_json::from_str(&reply.body)
            .map_err(|e| codes::parse_error(false, format!("/fapi/v1/time: {e}")).with_raw(reply.transcript()))?;
        let server = st.server_time.0;
        let midpoint = t0 + (t1 - t0) / 2;
        self.offset_ms.store(server - midpoint, Ordering::SeqCst);
        self.measured_ms.store(midpoint, Ordering::SeqCst);
        self.synced.store(true, Ordering::SeqCst);
        Ok(server)
    }

    /// Calls `ep` with `params`: signed endpoints get `recvWindow`, `timestamp` and `signature`.
    /// `kline_limit` only matters for the klines weight.
    ///
    /// # Errors
    /// The classified failure, carrying the sanitised transcript in `raw`.
    pub(crate) fn call(&self, ep: &Endpoint, params: &Query, kline_limit: usize) -> ExResult<Reply> {
        if !ep.signed {
            self.pass_gate(ep, params.as_str(), kline_limit)?;
            let url = sign::public_url(&self.base_url, ep.path, params);
            return self.send(ep, &url, params.as_str(), None);
        }
        let Some((key, signer)) = self.creds.as_ref() else {
            return Err(local(format!("{} {} needs API credentials (public-only client)", ep.method, ep.path)));
        };
        if !self.synced.load(Ordering::SeqCst) {
            let _first = self.first_sync.lock().unwrap_or_else(PoisonError::into_inner);
            if !self.synced.load(Ordering::SeqCst) {
                match self.sync_time() {
                    Ok(_) => {}
                    // The server answered but its time cannot be read (issue 11 item 3): sign with
                    // the local clock. A skewed clock then gets a -1021, a definite refusal that
                    // resyncs below; an unreadable /time must not block every signed call.
                    Err(e) if e.kind == ExchangeErrorKind::Parse => {
                        tracing::warn!(event = "binance.clock_unsynced", error = %e, "server time unreadable: signing with the local clock");
                        self.synced.store(true, Ordering::SeqCst);
                    }
                    Err(e) => return Err(not_sent(e, ep)),
                }
            }
        }
        let signed_with = self.measured_ms.load(Ordering::SeqCst);
        let first = self.send_signed(ep, params, key, signer, kline_limit);
        let rejected = match first {
            Err(e) if e.code() == Some(codes::INVALID_TIMESTAMP) => e,
            other => return other,
        };
        // Concurrent calls refused together share one resync: whoever comes second finds the
        // offset measured after its own request was signed and only signs again.
        let resync = self.first_sync.lock().unwrap_or_else(PoisonError::into_inner);
        if self.measured_ms.load(Ordering::SeqCst) == signed_with {
            tracing::warn!(event = "binance.clock_resync", path = ep.path, "timestamp rejected (-1021): resyncing");
            if let Err(sync) = self.sync_time() {
                return Err(clock_skew(rejected, &format!("the resync failed: {sync}")));
            }
        }
        drop(resync);
        match self.send_signed(ep, params, key, signer, kline_limit) {
            Err(e) if e.code() == Some(codes::INVALID_TIMESTAMP) => Err(clock_skew(e, "even after a resync")),
            other => other,
        }
    }

    /// Passes the rate gate *before* signing, so the timestamp is taken after any wait.
    fn send_signed(&self, ep: &Endpoint, params: &Query, key: &ApiKey, signer: &Signer, n: usize) -> ExResult<Reply> {
        self.pass_gate(ep, params.as_str(), n)?;
        let now = self.server_now_ms();
        let req = sign::sign_request(&self.base_url, ep.path, params, self.recv_window_ms.as_u64(), now, signer);
        self.send(ep, &req.url, &req.loggable_query, Some(key))
    }

    /// Sleeps until the rate gate lets `ep` through; refuses outright while banned (418).
    fn pass_gate(&self, ep: &Endpoint, query: &str, n: usize) -> ExResult<()> {
        let weight = ep.weight_for(n);
        // Two rounds at most: a 429 back-off can be followed by a minute-boundary wait.
        for _ in 0..2 {
            match self.gate.check(self.server_now_ms(), weight, ep.counts_order) {
                Gate::Go => break,
                Gate::Wait { ms, why } => {
                    let left = self.budget.as_ref().map(|b| b.left_ms(self.clock.now_ms()));
                    if let Some(left) = left.filter(|left| why == RETRY_AFTER_WAIT && !ep.write && ms > *left) {
                        // Honour Retry-After, but never past the command's deadline: give up now.
                        let request = self.redactor.scrub(&transcript::request(ep.method.as_str(), ep.path, query));
                        return Err(ExchangeError::new(
                            ExchangeErrorKind::Http { status: 429 },
                            ErrorClass::Retryable,
                            format!(
                                "rate limited: Binance asked to wait {ms} ms (Retry-After), more than the {left} ms left in the command's retry budget; request not sent"
                            ),
                        )
                        .with_retry_after(Some(ms))
                        .with_raw(format!("{request} -> not sent (429 back-off)")));
                    }
                    tracing::info!(event = "binance.rate_wait", path = ep.path, wait_ms = ms, why, "backing off");
                    self.clock.sleep_ms(ms);
                }
                Gate::Banned { until_ms } => {
                    let request = self.redactor.scrub(&transcript::request(ep.method.as_str(), ep.path, query));
                    let wait = u64::try_from(until_ms - self.server_now_ms()).unwrap_or(0);
                    return Err(ExchangeError::new(
                        ExchangeErrorKind::Http { status: 418 },
                        ErrorClass::Fatal,
                        format!("IP banned by Binance until {until_ms} (server ms); request not sent"),
                    )
                    .with_retry_after(Some(wait))
                    .with_raw(format!("{request} -> not sent (banned)")));
                }
            }
        }
        Ok(())
    }

    /// Sends once, records usage, classifies.
    fn send(&self, ep: &Endpoint, url: &str, query: &str, key: Option<&ApiKey>) -> ExResult<Reply> {
        self.send_to(ep, url, query, key, true)
    }

    /// Calls a signed endpoint on another Binance host (the spot host that serves
    /// `/sapi/v1/account/apiRestrictions`) with this client's key and clock offset. Its usage
    /// headers are another host's, so they are not recorded against this host's limits.
    ///
    /// # Errors
    /// As [`Rest::call`]; no -1021 resend (the only caller is a read).
    pub(crate) fn call_signed_at(&self, base_url: &str, ep: &Endpoint, params: &Query) -> ExResult<Reply> {
        let Some((key, signer)) = self.creds.as_ref() else {
            return Err(local(format!("{} {} needs API credentials (public-only client)", ep.method, ep.path)));
        };
        if !self.synced.load(Ordering::SeqCst) {
            self.sync_time().map_err(|e| not_sent(e, ep))?;
        }
        let base = base_url.trim_end_matches('/');
        let req = sign::sign_request(base, ep.path, params, self.recv_window_ms.as_u64(), self.server_now_ms(), signer);
        self.send_to(ep, &req.url, &req.loggable_query, Some(key), false)
    }

    fn send_to(&self, ep: &Endpoint, url: &str, query: &str, key: Option<&ApiKey>, record: bool) -> ExResult<Reply> {
        let request = self.redactor.scrub(&transcript::request(ep.method.as_str(), ep.path, query));
        let answer = match self.http.send(ep.method, url, key) {
            Ok(a) => a,
            Err(mut e) => {
                e.message = self.redactor.scrub(&e.message);
                let raw = format!("{request} -> transport error: {}", e.message);
                return Err(e.with_raw(raw));
            }
        };
        let now = self.server_now_ms();
        if record {
            self.gate.record(now, answer.used_weight_1m, answer.order_count_1m);
            self.gate.record_orders_10s(now, answer.order_count_10s);
        }
        let reply = Reply { status: answer.status, body: self.redactor.scrub(&answer.body), request };
        tracing::debug!(
            event = "binance.request",
            path = ep.path,
            status = reply.status,
            used_weight = answer.used_weight_1m
        );
        match codes::check_answer(reply.status, &reply.body, answer.retry_after_s, now) {
            Ok(()) => Ok(reply),
            Err(mut e) => {
                match reply.status {
                    429 if record => self.gate.back_off(now, e.retry_after_ms.unwrap_or(1000)),
                    418 if record => self.gate.ban(now, e.retry_after_ms),
                    _ => {}
                }
                if record && matches!(reply.status, 418 | 429) {
                    if let Some(f) = &self.limits_file {
                        let (banned_until_ms, backoff_until_ms) = self.gate.restrictions();
                        f.save(Limits { banned_until_ms, backoff_until_ms });
                    }
                }
                e.message = self.redactor.scrub(&e.message);
                if codes::is_credentials_rejected(&e) {
                    e.message = format!("{}; Binance said: {}", self.credential_hint(e.code()), e.message);
                }
                Err(e.with_raw(reply.transcript()))
            }
        }
    }
}

/// The clock sync that precedes the first signed call failed: the request itself never left, so
/// an ambiguous sync failure must not make the caller believe an order may exist.
fn not_sent(mut e: ExchangeError, ep: &Endpoint) -> ExchangeError {
    if let ExchangeErrorKind::Transport { .. } = e.kind {
        e.kind = ExchangeErrorKind::Transport { sent: false };
    }
    if e.class == ErrorClass::Ambiguous {
        e.class = ErrorClass::Retryable;
    }
    e.message = format!("clock sync before {} {} failed; request not sent: {}", ep.method, ep.path, e.message);
    e
}

/// A -1021 the resync could not cure: not executed, so the caller may try again later.
fn clock_skew(rejected: ExchangeError, why: &str) -> ExchangeError {
    let raw = rejected.raw.clone().unwrap_or_default();
    ExchangeError::new(
        ExchangeErrorKind::ClockSkew,
        ErrorClass::Retryable,
        format!("timestamp rejected (-1021) {why}: {}", rejected.message),
    )
    .with_raw(raw)
}
