//! Alert delivery and the heartbeat: the imperative shell around the outbox. Runs after a
//! command's safety work and after the state lock is released, with short timeouts, so a sink
//! that hangs can delay neither an order nor the next run.
//!
//! Errors name the sink kind and an HTTP status or failure class, never a URL or token.

pub(crate) mod metrics;
pub(crate) mod reminders;

use crate::config::notify::{NotifyConfig, SinkConfig, SinkKind};
use crate::config::secrets::{sink_secret, SinkSecret};
use crate::store::outbox::OutboxAlert;
use crate::store::Store;
use serde::Serialize;
use serde_json::json;
use std::time::Duration;

/// Per-request limit. An alert not sent in this time is retried by a later run.
const SEND_TIMEOUT: Duration = Duration::from_secs(3);
/// At most this many alerts are sent per run (the rest wait for the next run).
const MAX_PER_RUN: u32 = 20;
/// While one run sends an alert, others leave it alone for this long.
const CLAIM_LEASE_MS: i64 = 60_000;

/// Who the alert is about; goes into every message.
#[derive(Debug, Clone)]
pub(crate) struct Origin<'a> {
    pub bot_id: &'a str,
    pub symbol: &'a str,
}

/// What one sink did with one alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct SendResult {
    pub sink: &'static str,
    pub ok: bool,
    /// `HTTP 200`, `timeout`, `connection failed`, `MCBOT_X is not set`, ...
    pub detail: String,
}

/// Delivery totals of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub(crate) struct DeliverySummary {
    pub delivered: u32,
    pub failed: u32,
}

/// One line of text for ntfy and Telegram: `[CRITICAL] mc BTCUSDT forced_close (plan p1): ...`.
pub(crate) fn text(a: &OutboxAlert, o: &Origin<'_>) -> String {
    let plan = a.trade_plan_id.as_deref().map(|p| format!(" (plan {p})")).unwrap_or_default();
    format!("[{}] {} {} {}{}: {}", a.level.as_str().to_uppercase(), o.bot_id, o.symbol, a.kind, plan, a.message)
}

/// The webhook body (CONTRACT §12).
pub(crate) fn webhook_body(a: &OutboxAlert, o: &Origin<'_>) -> serde_json::Value {
    let at = chrono::DateTime::from_timestamp_millis(a.created_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true))
        .unwrap_or_default();
    json!({
        "id": a.id, "level": a.level.as_str(), "kind": a.kind, "bot_id": o.bot_id, "symbol": o.symbol,
        "plan_id": a.trade_plan_id, "message": a.message, "at": at,
    })
}

fn client() -> Option<reqwest::blocking::Client> {
    reqwest::blocking::Client::builder()
        .timeout(SEND_TIMEOUT)
        .connect_timeout(SEND_TIMEOUT)
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .ok()
}

/// Failure class without the URL (reqwest's own Display would print it, token included).
fn class(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        "timeout".into()
    } else if e.is_connect() {
        "connection failed".into()
    } else {
        "request failed".into()
    }
}

fn json_post(
    http: &reqwest::blocking::Client,
    url: &str,
    body: &serde_json::Value,
) -> reqwest::blocking::RequestBuilder {
    http.post(url).header("Content-Type", "application/json").body(body.to_string())
}

fn need(var: &str) -> Result<SinkSecret, String> {
    sink_secret(var).ok_or_else(|| format!("{var} is not set"))
}

fn send_one(http: &reqwest::blocking::Client, sink: &SinkConfig, a: &OutboxAlert, o: &Origin<'_>) -> SendResult {
    let req = match &sink.kind {
        SinkKind::Webhook { url_env } => need(url_env).map(|u| json_post(http, u.expose(), &webhook_body(a, o))),
        SinkKind::Ntfy { url_env } => need(url_env)
            .map(|u| http.post(u.expose()).header("Title", format!("mcbot {} {}", o.bot_id, a.kind)).body(text(a, o))),
        SinkKind::Telegram { token_env, chat_id, api_base } => need(token_env).map(|t| {
            let url = format!("{}/bot{}/sendMessage", api_base.trim_end_matches('/'), t.expose());
            json_post(http, &url, &json!({"chat_id": chat_id, "text": text(a, o)}))
        }),
    };
    let (ok, detail) = match req.map(reqwest::blocking::RequestBuilder::send) {
        Err(missing) => (false, missing),
        Ok(Err(e)) => (false, class(&e)),
        Ok(Ok(resp)) => (resp.status().is_success(), format!("HTTP {}", resp.status().as_u16())),
    };
    SendResult { sink: sink.name(), ok, detail }
}

/// Sends `a` to every sink whose `min_level` it reaches. Delivered when every such sink took it
/// (a sink with a lower bar than the alert never sees it). Sinks are tried independently.
fn send_to_all(
    http: &reqwest::blocking::Client,
    cfg: &NotifyConfig,
    a: &OutboxAlert,
    o: &Origin<'_>,
) -> Vec<SendResult> {
    cfg.sinks.iter().filter(|s| a.level >= s.min_level).map(|s| send_one(http, s, a, o)).collect()
}

/// Delivers what is due in the outbox. Never fails the command: problems are logged (without
/// secrets) and left for the next run.
pub(crate) fn deliver_due(store: &mut Store, cfg: &NotifyConfig, o: &Origin<'_>, now_ms: i64) -> DeliverySummary {
    let mut sum = DeliverySummary::default();
    if cfg.sinks.is_empty() {
        // Nothing to send to: alerts wait (for a sink to be configured) until they expire.
        if let Err(e) = store.due_alerts(now_ms, 0) {
            tracing::warn!(event = "alerts.outbox", error = %e, "cannot expire old alerts");
        }
        return sum;
    }
    let Some(http) = client() else {
        tracing::warn!(event = "alerts.client", "cannot build the HTTP client; alerts wait for a later run");
        return sum;
    };
    let due = match store.claim_due_alerts(now_ms, CLAIM_LEASE_MS, MAX_PER_RUN) {
        Ok(d) => d,
        Err(e) => {
            tracing::warn!(event = "alerts.outbox", error = %e, "cannot read the alert outbox");
            return sum;
        }
    };
    for a in due {
        let results = send_to_all(&http, cfg, &a, o);
        let failed: Vec<String> =
            results.iter().filter(|r| !r.ok).map(|r| format!("{}: {}", r.sink, r.detail)).collect();
        let marked = if failed.is_empty() {
            sum.delivered += 1;
            store.mark_alert_delivered(&a.id, now_ms).map(|_| ())
        } else {
            sum.failed += 1;
            tracing::warn!(event = "alerts.failed", id = %a.id, problem = %failed.join("; "), "alert not delivered; will retry");
            store.mark_alert_failed(&a.id, now_ms, &failed.join("; "))
        };
        if let Err(e) = marked {
            tracing::warn!(event = "alerts.outbox", error = %e, "cannot record the delivery");
        }
    }
    sum
}

/// `mcbot notify --test`: one test alert straight to every sink (not through the outbox).
pub(crate) fn send_test(cfg: &NotifyConfig, o: &Origin<'_>, now_ms: i64) -> Vec<SendResult> {
    let a = OutboxAlert {
        id: format!("test-{now_ms}"),
        audit_seq: 0,
        created_ms: now_ms,
        level: crate::core::alert::AlertLevel::Critical,
        kind: "test".into(),
        trade_plan_id: None,
        message: "test alert from mcbot notify --test".into(),
        attempts: 0,
    };
    match client() {
        Some(http) => cfg.sinks.iter().map(|s| send_one(&http, s, &a, o)).collect(),
        None => cfg
            .sinks
            .iter()
            .map(|s| SendResult { sink: s.name(), ok: false, detail: "cannot build the HTTP client".into() })
            .collect(),
    }
}

/// After a `tick`: GET `<url>` when it exited 0, `<url>/fail` otherwise (healthchecks.io).
pub(crate) fn heartbeat(cfg: &NotifyConfig, exit_code: i32) -> Option<SendResult> {
    let var = cfg.heartbeat_url_env.as_deref()?;
    let (ok, detail) = match (need(var), client()) {
        (Err(m), _) => (false, m),
        (_, None) => (false, "cannot build the HTTP client".into()),
        (Ok(url), Some(http)) => {
            let base = url.expose().trim_end_matches('/');
            let target = if exit_code == 0 { base.to_string() } else { format!("{base}/fail") };
            match http.get(target).send() {
                Err(e) => (false, class(&e)),
                Ok(r) => (r.status().is_success(), format!("HTTP {}", r.status().as_u16())),
            }
        }
    };
    if !ok {
        tracing::warn!(event = "heartbeat.failed", problem = %detail, "heartbeat not sent");
    }
    Some(SendResult { sink: "heartbeat", ok, detail })
}
