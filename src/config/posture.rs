//! `[posture]`: the belief-debt controller's thresholds and recovery window (CONTRACT §13,
//! docs/posture.md). Read key by key like the rest of the file; every key is optional and
//! defaults to the shipped policy (`Thresholds::default()`); a bad value names its dotted key.

use crate::config::raw::Section;
use crate::config::{ConfigError, ConfigResult};
use crate::core::posture::{Thresholds, ENTER_KEYS, EXIT_KEYS};
use toml::Table;

/// The keys `[posture]` knows.
pub(crate) const KEYS: [&str; 8] =
    ["yellow_enter", "orange_enter", "red_enter", "yellow_exit", "orange_exit", "red_exit", "burst", "recovery_ms"];

/// `[posture]` as written.
#[derive(Debug, Default)]
pub(crate) struct RawPosture {
    pub enter: [Option<i64>; 3],
    pub exit: [Option<i64>; 3],
    pub burst: Option<i64>,
    pub recovery_ms: Option<i64>,
}

/// Reads `[posture]` from the parsed file (absent: all defaults).
///
/// # Errors
/// A non-table `posture`, an unknown key, or a non-integer value, named by its dotted key.
pub(crate) fn read(t: &Table) -> ConfigResult<RawPosture> {
    let p = Section::sub(t, "posture")?;
    p.only(&KEYS)?;
    Ok(RawPosture {
        enter: [p.int(ENTER_KEYS[0])?, p.int(ENTER_KEYS[1])?, p.int(ENTER_KEYS[2])?],
        exit: [p.int(EXIT_KEYS[0])?, p.int(EXIT_KEYS[1])?, p.int(EXIT_KEYS[2])?],
        burst: p.int("burst")?,
        recovery_ms: p.int("recovery_ms")?,
    })
}

fn score(key: &str, v: Option<i64>, default: u32) -> ConfigResult<u32> {
    match v {
        None => Ok(default),
        Some(v) => u32::try_from(v)
            .map_err(|_| ConfigError::invalid(&format!("posture.{key}"), format!("{v} is negative or too large"))),
    }
}

/// The validated policy: defaults for absent keys, then the rules `Thresholds::check` keeps.
///
/// # Errors
/// The first bad value, named `posture.<key>`.
pub(crate) fn validate(raw: RawPosture) -> ConfigResult<Thresholds> {
    let d = Thresholds::default();
    let mut t = d.clone();
    for i in 0..3 {
        t.enter[i] = score(ENTER_KEYS[i], raw.enter[i], d.enter[i])?;
        t.exit[i] = score(EXIT_KEYS[i], raw.exit[i], d.exit[i])?;
    }
    t.burst = score("burst", raw.burst, d.burst)?;
    t.recovery_ms = raw.recovery_ms.unwrap_or(d.recovery_ms);
    t.check().map_err(|(key, why)| ConfigError::invalid(&format!("posture.{key}"), why))?;
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> ConfigResult<Thresholds> {
        let t: Table = text.parse().map_err(|e: toml::de::Error| ConfigError::invalid("toml", e.to_string()))?;
        validate(read(&t)?)
    }

    fn key_of(r: ConfigResult<Thresholds>) -> String {
        match r {
            Err(e) => e.to_string(),
            Ok(t) => format!("accepted {t:?}"),
        }
    }

    #[test]
    fn absent_table_is_the_shipped_policy() {
        assert_eq!(load("").unwrap(), Thresholds::default());
        assert_eq!(load("[posture]\n").unwrap(), Thresholds::default());
    }

    #[test]
    fn every_key_is_read() {
        let t = load(
            "[posture]\nyellow_enter = 25\norange_enter = 55\nred_enter = 120\nyellow_exit = 5\norange_exit = 40\n\
             red_exit = 70\nburst = 80\nrecovery_ms = 43200000\n",
        )
        .unwrap();
        assert_eq!(t, Thresholds { enter: [25, 55, 120], exit: [5, 40, 70], recovery_ms: 43_200_000, burst: 80 });
    }

    /// Every bad value is refused naming its dotted key (exit 2 at the CLI).
    #[test]
    fn bad_values_name_their_key() {
        for (text, key) in [
            ("yellow_enter = 0", "posture.yellow_enter"),
            ("orange_enter = 20", "posture.orange_enter"),
            ("red_enter = 50", "posture.red_enter"),
            ("red_enter = 10001", "posture.red_enter"),
            ("yellow_exit = 20", "posture.yellow_exit"),
            ("orange_exit = 0", "posture.orange_exit"),
            ("red_exit = -1", "posture.red_exit"),
            ("burst = 0", "posture.burst"),
            ("recovery_ms = 0", "posture.recovery_ms"),
            ("recovery_ms = 9999999999999", "posture.recovery_ms"),
            ("burst = \"60\"", "posture.burst"),
            ("burst = 60.0", "posture.burst"),
            ("greeen_enter = 1", "posture.greeen_enter"),
        ] {
            let msg = key_of(load(&format!("[posture]\n{text}\n")));
            assert!(msg.contains(key), "{text}: {msg}");
        }
        assert!(key_of(load("posture = 3\n")).contains("posture"));
    }
}
