//! The space reserve beside the state DB: a file of allocated blocks that is deleted when a write
//! fails for lack of space, so the rows that matter most (the fill, the protection, the HALT) can
//! still be written on a full disk (issue 11 item 2, docs/recovery.md).

use fs2::FileExt;
use std::path::{Path, PathBuf};

/// The reserve's size: a few hundred journal rows with their WAL frames.
pub(crate) const RESERVE_BYTES: u64 = 1024 * 1024;

/// `<state_db>.reserve`.
pub(crate) fn path_for(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".reserve");
    PathBuf::from(p)
}

/// Creates the reserve when it is missing (or short). Best effort: a disk already too full to
/// hold it is reported by the first write that fails, not here.
pub(crate) fn ensure(db: &Path) {
    let path = path_for(db);
    if std::fs::metadata(&path).is_ok_and(|m| m.len() >= RESERVE_BYTES) {
        return;
    }
    let made = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        // `allocate` reserves real blocks (posix_fallocate); a sparse `set_len` would reserve none.
        .and_then(|f| f.allocate(RESERVE_BYTES).and_then(|()| f.sync_all()));
    if let Err(e) = made {
        let _ = std::fs::remove_file(&path);
        tracing::warn!(event = "store.reserve_unavailable", path = %path.display(), error = %e, "no space reserve beside the state DB");
    }
}

/// Deletes the reserve; returns the bytes it held (0 when there was none).
pub(crate) fn release(db: &Path) -> u64 {
    let path = path_for(db);
    let len = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    match std::fs::remove_file(&path) {
        Ok(()) => len,
        Err(_) => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reserve_is_made_once_and_released_once() {
        let dir = std::env::temp_dir().join(format!("mcbot-reserve-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("mcbot.db");
        ensure(&db);
        assert_eq!(std::fs::metadata(path_for(&db)).unwrap().len(), RESERVE_BYTES);
        ensure(&db);
        assert_eq!(release(&db), RESERVE_BYTES);
        assert_eq!(release(&db), 0, "a second release frees nothing");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
