//! The state lock: an exclusive `fs2` lock on `<state_db>.lock`, so two mcbot processes never act
//! at once (CONTRACT §7.10). Held for the life of the guard; released on drop.

use crate::core::millis::Millis;
use fs2::FileExt;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Why the lock could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("state lock {path} is held by another mcbot (waited {waited_ms} ms)")]
    Busy { path: String, waited_ms: u64 },
    #[error("cannot open lock file {path}: {problem}")]
    Io { path: String, problem: String },
}

/// RAII guard for the state lock.
#[derive(Debug)]
pub struct StateLock {
    file: File,
    path: PathBuf,
}

impl StateLock {
    /// Polls for the exclusive lock until `timeout` passes. Unlike cargo's lock, "locking not
    /// supported" is an error, never a silent success: a trading bot must not run unlocked.
    pub fn acquire(path: &Path, timeout: Millis) -> Result<StateLock, LockError> {
        let io = |e: std::io::Error| LockError::Io { path: path.display().to_string(), problem: e.to_string() };
        let file = OpenOptions::new().read(true).write(true).create(true).truncate(false).open(path).map_err(io)?;
        let start = Instant::now();
        loop {
            match file.try_lock_exclusive() {
                Ok(()) => return Ok(StateLock { file, path: path.to_path_buf() }),
                Err(e)
                    if e.kind() == std::io::ErrorKind::WouldBlock
                        || e.raw_os_error() == fs2::lock_contended_error().raw_os_error() =>
                {
                    let waited = start.elapsed();
                    if waited >= timeout.as_duration() {
                        return Err(LockError::Busy {
                            path: path.display().to_string(),
                            waited_ms: u64::try_from(waited.as_millis()).unwrap_or(u64::MAX),
                        });
                    }
                    #[allow(clippy::disallowed_methods)] // real processes contend for the lock: wait in real time
                    std::thread::sleep(Duration::from_millis(25));
                }
                Err(e) => return Err(io(e)),
            }
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for StateLock {
    fn drop(&mut self) {
        // Closing the file releases the lock as well; unlocking explicitly just makes it prompt.
        let _ = FileExt::unlock(&self.file);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_times_out_then_succeeds_after_release() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db.lock");
        let first = StateLock::acquire(&p, Millis::ZERO).unwrap();
        let e = StateLock::acquire(&p, Millis::from_ms(50)).unwrap_err();
        assert!(matches!(e, LockError::Busy { .. }), "{e}");
        assert!(e.to_string().contains("s.db.lock"));
        drop(first);
        assert!(StateLock::acquire(&p, Millis::ZERO).is_ok());
    }
}
