//! The 418 ban and the 429 back-off, persisted beside the state DB, so that a process restarted
//! by systemd or cron does not send its clock sync straight into a ban (Binance escalates bans
//! from 2 minutes to 3 days for repeat offenders). Times are Binance server ms.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// What the last process learned about the exchange's limits.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    pub banned_until_ms: i64,
    pub backoff_until_ms: i64,
}

/// `<state_db>.binance-limits.json`.
#[derive(Debug, Clone)]
pub struct LimitsFile {
    path: PathBuf,
}

impl LimitsFile {
    pub fn beside(state_db: &Path) -> LimitsFile {
        let mut s = state_db.as_os_str().to_owned();
        s.push(".binance-limits.json");
        LimitsFile { path: PathBuf::from(s) }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The persisted limits; none yet, or an unreadable file, is "no restriction known" (the
    /// in-process gate still honours whatever Binance answers next).
    pub fn load(&self) -> Limits {
        match std::fs::read_to_string(&self.path) {
            Ok(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
                tracing::warn!(event = "binance.limits_file_unreadable", path = %self.path.display(), error = %e, "ignored");
                Limits::default()
            }),
            Err(_) => Limits::default(),
        }
    }

    /// Writes `limits` (temp file + rename, so a crash never leaves half a file). A failure is
    /// logged, not fatal: the ban is still honoured in this process.
    pub fn save(&self, limits: Limits) {
        let tmp = self.path.with_extension("json.tmp");
        let written = serde_json::to_string(&limits)
            .map_err(std::io::Error::other)
            .and_then(|text| std::fs::write(&tmp, text))
            .and_then(|()| std::fs::rename(&tmp, &self.path));
        if let Err(e) = written {
            tracing::warn!(event = "binance.limits_file_write_failed", path = %self.path.display(), error = %e, "not persisted");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_tolerates_garbage() {
        let dir = tempfile::tempdir().unwrap();
        let f = LimitsFile::beside(&dir.path().join("state.db"));
        assert_eq!(f.load(), Limits::default());
        let l = Limits { banned_until_ms: 5, backoff_until_ms: 7 };
        f.save(l);
        assert_eq!(f.load(), l);
        std::fs::write(f.path(), "{trunc").unwrap();
        assert_eq!(f.load(), Limits::default());
    }
}
