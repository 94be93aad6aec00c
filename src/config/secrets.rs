//! API credentials: read only from the environment variables the config names, never printed.
//!
//! `ApiSecret` has no `Display` and no `Serialize`; its `Debug` prints `***`. Only the signer reads
//! it, through `expose()`.

use crate::config::ConfigError;
use std::fmt;

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
    let read = |var: &str, cfg_key: &str| -> Result<String, ConfigError> {
        #[allow(clippy::disallowed_methods)] // the one sanctioned environment read
        let v = std::env::var(var).unwrap_or_default();
        if v.trim().is_empty() {
            return Err(ConfigError::invalid(
                cfg_key,
                format!("environment variable {var} is not set (the signed API needs it)"),
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
    fn debug_never_shows_the_secret() {
        let c = Credentials { key: ApiKey::new("abc-key"), secret: ApiSecret::new("top-secret") };
        let s = format!("{c:?}");
        assert!(!s.contains("top-secret") && !s.contains("abc-key"), "{s}");
    }
}
