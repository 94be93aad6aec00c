//! API credentials: read only from the environment variables the config names, never printed.
//!
//! `ApiSecret` has no `Display` and no `Serialize`; its `Debug` prints `***`. Only the signer reads
//! it, through `expose()`.

use crate::config::ConfigError;
use std::fmt;
use std::path::Path;

/// The API key (sent as a header, but still never logged).
#[derive(Clone)]
pub struct ApiKey(String);

/// The API secret (only the HMAC signer sees it).
#[derive(Clone)]
pub struct ApiSecret(String);

impl ApiKey {
    pub fn new(s: impl Into<String>) -> Self {
        ApiKey(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl ApiSecret {
    pub fn new(s: impl Into<String>) -> Self {
        ApiSecret(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiKey(***)")
    }
}

impl fmt::Debug for ApiSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ApiSecret(***)")
    }
}

/// Both credentials.
#[derive(Clone, Debug)]
pub struct Credentials {
    pub key: ApiKey,
    pub secret: ApiSecret,
}

/// Reads the two variables. A missing or empty one is a configuration error naming the variable
/// (and the config key that names it), never its value.
pub fn from_env(key_var: &str, secret_var: &str) -> Result<Credentials, ConfigError> {
    from_env_or_file(key_var, secret_var, None)
}

/// The value of `var` in an env file: `KEY=value` lines as systemd's `EnvironmentFile` and
/// `set -a; . file` read them (`export ` prefix, one pair of surrounding quotes, `#` comments).
fn lookup_in(text: &str, var: &str) -> Option<String> {
    text.lines().rev().find_map(|line| {
        let line = line.trim();
        let line = line.strip_prefix("export ").unwrap_or(line);
        let (k, v) = line.split_once('=')?;
        if k.trim() != var || line.starts_with('#') {
            return None;
        }
        let v = v.trim();
        let unquoted = ['"', '\''].iter().find_map(|q| v.strip_prefix(*q).and_then(|x| x.strip_suffix(*q)));
        Some(unquoted.unwrap_or(v).to_string())
    })
}

/// As [`from_env`], but a variable set in `file` (`--env-file`) wins over the environment. An
/// unreadable file is a configuration error naming `--env-file`; values are never in the error.
pub fn from_env_or_file(key_var: &str, secret_var: &str, file: Option<&Path>) -> Result<Credentials, ConfigError> {
    let text = match file {
        None => None,
        Some(p) => Some(
            std::fs::read_to_string(p)
                .map_err(|e| ConfigError::invalid("--env-file", format!("{}: cannot read: {e}", p.display())))?,
        ),
    };
    let read = |var: &str, cfg_key: &str| -> Result<String, ConfigError> {
        #[allow(clippy::disallowed_methods)] // the one sanctioned environment read
        let v =
            text.as_deref().and_then(|t| lookup_in(t, var)).unwrap_or_else(|| std::env::var(var).unwrap_or_default());
        if v.trim().is_empty() {
            let place = file.map_or(String::new(), |p| format!(" (nor in {})", p.display()));
            return Err(ConfigError::invalid(
                cfg_key,
                format!("environment variable {var} is not set{place} (the signed API needs it)"),
            ));
        }
        Ok(v)
    };
    Ok(Credentials {
        key: ApiKey::new(read(key_var, "exchange.api_key_env")?),
        secret: ApiSecret::new(read(secret_var, "exchange.api_secret_env")?),
    })
}

/// A sink URL or bot token read from the environment. Like `ApiSecret`: no `Display`, no
/// `Serialize`, `Debug` prints `***`; only the HTTP call reads it.
#[derive(Clone)]
pub struct SinkSecret(String);

impl SinkSecret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for SinkSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SinkSecret(***)")
    }
}

/// Reads an alert sink's / heartbeat's variable at send time; None when unset or empty.
pub fn sink_secret(var: &str) -> Option<SinkSecret> {
    #[allow(clippy::disallowed_methods)] // the one sanctioned environment read
    let v = std::env::var(var).unwrap_or_default();
    let v = v.trim();
    (!v.is_empty()).then(|| SinkSecret(v.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_file_lines_as_systemd_and_set_a_read_them() {
        let t = "# comment\nMCBOT_API_KEY=plain\nexport MCBOT_API_SECRET=\"quoted value\"\n#MCBOT_X=no\n";
        assert_eq!(lookup_in(t, "MCBOT_API_KEY").as_deref(), Some("plain"));
        assert_eq!(lookup_in(t, "MCBOT_API_SECRET").as_deref(), Some("quoted value"));
        assert_eq!(lookup_in(t, "MCBOT_X"), None);
        assert_eq!(lookup_in(t, "MCBOT_API"), None);
    }

    #[test]
    fn debug_never_shows_the_secret() {
        let c = Credentials { key: ApiKey::new("abc-key"), secret: ApiSecret::new("top-secret") };
        let s = format!("{c:?}");
        assert!(!s.contains("top-secret") && !s.contains("abc-key"), "{s}");
    }
}
