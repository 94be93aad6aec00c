//! `[[alerts.sink]]`, `[heartbeat]` and `[metrics]` (CONTRACT §12): raw TOML shapes and their
//! validated form. Only environment variable *names* live here; values are read at send time.

use crate::config::{ConfigError, ConfigResult};
use crate::core::alert::AlertLevel;
use std::path::{Path, PathBuf};

#[derive(Debug, Default)]
pub(crate) struct RawAlerts {
    pub sink: Vec<RawSink>,
}

#[derive(Debug)]
pub(crate) struct RawSink {
    pub kind: Option<String>,
    pub url_env: Option<String>,
    pub token_env: Option<String>,
    pub chat_id: Option<String>,
    pub api_base: Option<String>,
    pub min_level: Option<String>,
}

#[derive(Debug)]
pub(crate) struct RawHeartbeat {
    pub url_env: Option<String>,
}

#[derive(Debug)]
pub(crate) struct RawMetrics {
    pub textfile: Option<String>,
}

/// Where one sink delivers. Secrets are environment variable names, never values.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SinkKind {
    /// POST one JSON object per alert to the URL in `url_env`.
    Webhook { url_env: String },
    /// POST the message text to the topic URL in `url_env`.
    Ntfy { url_env: String },
    /// Bot API `sendMessage` with the token in `token_env`.
    Telegram { token_env: String, chat_id: String, api_base: String },
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SinkConfig {
    pub kind: SinkKind,
    pub min_level: AlertLevel,
}

impl SinkConfig {
    /// `webhook`, `ntfy` or `telegram`: how reports and errors name a sink (never by URL).
    pub fn name(&self) -> &'static str {
        match self.kind {
            SinkKind::Webhook { .. } => "webhook",
            SinkKind::Ntfy { .. } => "ntfy",
            SinkKind::Telegram { .. } => "telegram",
        }
    }
}

/// Alerts, heartbeat and metrics; all optional (empty = nothing is sent or written).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct NotifyConfig {
    pub sinks: Vec<SinkConfig>,
    /// Environment variable holding the heartbeat URL.
    pub heartbeat_url_env: Option<String>,
    /// Prometheus textfile path.
    pub metrics_textfile: Option<PathBuf>,
}

fn env_name(key: &str, v: Option<String>) -> ConfigResult<String> {
    let v = v.ok_or_else(|| ConfigError::invalid(key, "missing (name of the environment variable to read)"))?;
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_') {
        // Not echoed: someone may have pasted the URL or token itself here.
        return Err(ConfigError::invalid(key, "must name an environment variable ([A-Z0-9_]+), not hold a value"));
    }
    Ok(v)
}

/// Validates the three sections; keys in errors are dotted (`alerts.sink[1].url_env`).
pub(crate) fn validate(
    alerts: RawAlerts,
    heartbeat: Option<RawHeartbeat>,
    metrics: Option<RawMetrics>,
    base: &Path,
) -> ConfigResult<NotifyConfig> {
    let mut sinks = Vec::new();
    for (i, s) in alerts.sink.into_iter().enumerate() {
        let key = |k: &str| format!("alerts.sink[{i}].{k}");
        let min_level = match s.min_level.as_deref() {
            None => AlertLevel::Warn,
            Some(l) => AlertLevel::parse(l).ok_or_else(|| {
                ConfigError::invalid(&key("min_level"), format!("{l:?} is not info, warn or critical"))
            })?,
        };
        let kind = match s.kind.as_deref() {
            Some("webhook") => SinkKind::Webhook { url_env: env_name(&key("url_env"), s.url_env)? },
            Some("ntfy") => SinkKind::Ntfy { url_env: env_name(&key("url_env"), s.url_env)? },
            Some("telegram") => {
                let chat_id = s.chat_id.filter(|c| !c.trim().is_empty()).ok_or_else(|| {
                    ConfigError::invalid(&key("chat_id"), "missing (the chat to send to, e.g. \"123456\")")
                })?;
                let api_base = s.api_base.unwrap_or_else(|| "https://api.telegram.org".into());
                if !(api_base.starts_with("https://") || api_base.starts_with("http://")) {
                    return Err(ConfigError::invalid(&key("api_base"), "must be an http(s) URL"));
                }
                SinkKind::Telegram { token_env: env_name(&key("token_env"), s.token_env)?, chat_id, api_base }
            }
            Some(other) => {
                return Err(ConfigError::invalid(&key("kind"), format!("{other:?} is not webhook, telegram or ntfy")))
            }
            None => return Err(ConfigError::invalid(&key("kind"), "missing (webhook, telegram or ntfy)")),
        };
        sinks.push(SinkConfig { kind, min_level });
    }
    let heartbeat_url_env = heartbeat.map(|h| env_name("heartbeat.url_env", h.url_env)).transpose()?;
    let metrics_textfile = match metrics {
        None => None,
        Some(m) => {
            let t = m
                .textfile
                .filter(|t| !t.trim().is_empty())
                .ok_or_else(|| ConfigError::invalid("metrics.textfile", "missing (path of the .prom file to write)"))?;
            let p = Path::new(&t);
            Some(if p.is_absolute() { p.to_path_buf() } else { base.join(p) })
        }
    };
    Ok(NotifyConfig { sinks, heartbeat_url_env, metrics_textfile })
}

#[cfg(test)]
mod tests {
    use crate::config::{parse, ConfigError};
    use crate::core::alert::AlertLevel;
    use std::path::Path;

    const MIN: &str = "bot_id = \"mc\"\nsymbol = \"BTCUSDT\"\nstate_db = \"s.db\"\n[exchange]\nkind = \"paper\"\n";

    fn err_key(extra: &str) -> String {
        match parse(&format!("{MIN}{extra}"), Path::new("/b")) {
            Err(ConfigError::Invalid { key, .. }) => key,
            other => panic!("expected an invalid key, got {other:?}"),
        }
    }

    #[test]
    fn contract_example_parses() {
        let c = parse(
            &format!(
                "{MIN}[[alerts.sink]]\nkind = \"webhook\"\nurl_env = \"MCBOT_WEBHOOK_URL\"\nmin_level = \"warn\"\n\
                 [[alerts.sink]]\nkind = \"ntfy\"\nurl_env = \"MCBOT_NTFY_URL\"\nmin_level = \"critical\"\n\
                 [[alerts.sink]]\nkind = \"telegram\"\ntoken_env = \"MCBOT_TELEGRAM_TOKEN\"\nchat_id = \"123456\"\n\
                 api_base = \"http://127.0.0.1:9\"\n\
                 [heartbeat]\nurl_env = \"MCBOT_HEARTBEAT_URL\"\n[metrics]\ntextfile = \"state/mcbot.prom\"\n"
            ),
            Path::new("/b"),
        )
        .unwrap();
        let n = &c.notify;
        assert_eq!(n.sinks.len(), 3);
        assert_eq!(n.sinks[1].min_level, AlertLevel::Critical);
        assert_eq!(n.sinks[2].name(), "telegram");
        assert_eq!(n.heartbeat_url_env.as_deref(), Some("MCBOT_HEARTBEAT_URL"));
        assert_eq!(n.metrics_textfile.as_deref(), Some(Path::new("/b/state/mcbot.prom")));
        assert_eq!(parse(MIN, Path::new("/b")).unwrap().notify, Default::default());
    }

    #[test]
    fn errors_name_the_dotted_key_and_never_echo_a_pasted_secret() {
        assert_eq!(err_key("[[alerts.sink]]\nkind = \"pager\"\n"), "alerts.sink[0].kind");
        assert_eq!(err_key("[[alerts.sink]]\nkind = \"webhook\"\n"), "alerts.sink[0].url_env");
        assert_eq!(
            err_key("[[alerts.sink]]\nkind = \"ntfy\"\nurl_env = \"X\"\nmin_level = \"loud\"\n"),
            "alerts.sink[0].min_level"
        );
        assert_eq!(
            err_key("[[alerts.sink]]\nkind = \"ntfy\"\nurl_env = \"X\"\n[[alerts.sink]]\nkind = \"telegram\"\ntoken_env = \"T\"\n"),
            "alerts.sink[1].chat_id"
        );
        assert_eq!(err_key("[heartbeat]\n"), "heartbeat.url_env");
        assert_eq!(err_key("[metrics]\ntextfile = \"\"\n"), "metrics.textfile");
        let pasted = "https://hooks.example/SECRET123";
        let e = parse(&format!("{MIN}[[alerts.sink]]\nkind = \"webhook\"\nurl_env = \"{pasted}\"\n"), Path::new("/b"))
            .unwrap_err();
        assert!(!e.to_string().contains("SECRET123"), "{e}");
    }
}
