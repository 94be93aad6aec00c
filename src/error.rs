//! The top-level error: every failure knows its exit code, so `main` never guesses by downcast.

use crate::config::ConfigError;
use crate::exchange::ExchangeError;
use crate::lock::LockError;
use crate::outcome::ExitCode;
use crate::store::StoreError;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{0}")]
    Usage(String),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("refused: the system is HALTED ({0})")]
    Halted(String),
    #[error("pre-flight check `{check}` failed: {message}")]
    Preflight { check: String, message: String },
    /// A persisted Binance ban has not passed: nothing was sent.
    #[error("{0}")]
    Banned(String),
    #[error("CRITICAL: {0}")]
    Critical(String),
    /// The state DB cannot be written and nothing was exposed: fix the disk, nothing to retry.
    #[error("{0}")]
    Unwritable(String),
    #[error(transparent)]
    Exchange(#[from] ExchangeError),
    #[error("`{0}` is not available yet in this build of mcbot")]
    NotAvailable(&'static str),
    #[error("{0}")]
    Failed(String),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl Error {
    pub fn exit_code(&self) -> ExitCode {
        match self {
            Error::Usage(_) | Error::Config(_) | Error::Banned(_) | Error::Unwritable(_) => ExitCode::Usage,
            Error::Store(e) if e.is_open_error() => ExitCode::Usage,
            Error::Lock(LockError::Busy { .. }) => ExitCode::LockBusy,
            Error::Lock(LockError::Io { .. }) => ExitCode::Usage,
            // A refused key or secret is configuration: restarting into the same refusal is futile.
            Error::Exchange(e) if e.is_credentials_rejected() => ExitCode::Usage,
            Error::Halted(_) => ExitCode::Halted,
            Error::Preflight { .. } => ExitCode::Preflight,
            Error::Critical(_) => ExitCode::Critical,
            Error::Store(_) | Error::Exchange(_) | Error::NotAvailable(_) | Error::Failed(_) | Error::Other(_) => {
                ExitCode::Failed
            }
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
