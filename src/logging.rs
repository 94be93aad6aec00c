//! Logging: tracing to stderr, as text or JSON lines. stdout is reserved for the command's report.
//!
//! How much: `--log-filter` / `RUST_LOG` (an `EnvFilter` directive such as `mcbot=debug` or
//! `off`) when set and valid; otherwise `-v`/`-q`: default info, `-v` debug (each command's config, lock and outcome;
//! every HTTP request), `-vv` trace, `-q` warnings only, `-qq` errors only, `-qqq` nothing.
//! Other crates log warnings and worse unless `RUST_LOG` says otherwise.

use tracing_subscriber::EnvFilter;

/// Log line format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The filter for a verbosity (`-v` count minus `-q` count).
pub(crate) fn level_filter(verbosity: i8) -> String {
    let level = match verbosity {
        i8::MIN..=-3 => "off",
        -2 => "error",
        -1 => "warn",
        0 => "info",
        1 => "debug",
        _ => "trace",
    };
    if level == "off" {
        "off".to_string()
    } else {
        format!("mcbot={level},warn")
    }
}

/// `RUST_LOG` when set, non-empty and valid (an invalid one is reported once on stderr and the
/// flags apply), else the flags' level.
fn filter(verbosity: i8, rust_log: Option<&str>) -> (EnvFilter, Option<String>) {
    match rust_log.map(str::trim).filter(|s| !s.is_empty()) {
        Some(directive) => match EnvFilter::try_new(directive) {
            Ok(f) => (f, None),
            Err(e) => (
                EnvFilter::new(level_filter(verbosity)),
                Some(format!("RUST_LOG={directive:?} ignored ({e}); using the -v/-q level")),
            ),
        },
        None => (EnvFilter::new(level_filter(verbosity)), None),
    }
}

/// Installs the global subscriber once; later calls (a second `run` in one process) keep the first.
/// `rust_log` is `--log-filter` / `$RUST_LOG` (clap reads the environment).
pub(crate) fn init(verbosity: i8, format: LogFormat, rust_log: Option<&str>) {
    let (filter, problem) = filter(verbosity, rust_log);
    let builder = tracing_subscriber::fmt().with_writer(std::io::stderr).with_env_filter(filter).with_target(false);
    let _ = match format {
        LogFormat::Text => builder.with_ansi(false).try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
    if let Some(p) = problem {
        tracing::warn!(event = "log.filter_invalid", "{p}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_map_to_levels_and_rust_log_wins_when_valid() {
        assert_eq!(level_filter(0), "mcbot=info,warn");
        assert_eq!(level_filter(1), "mcbot=debug,warn");
        assert_eq!(level_filter(5), "mcbot=trace,warn");
        assert_eq!(level_filter(-1), "mcbot=warn,warn");
        assert_eq!(level_filter(-3), "off");
        assert!(filter(0, Some("mcbot=trace")).1.is_none());
        assert!(filter(0, Some("  ")).1.is_none());
        assert!(filter(0, Some("mcbot=[")).1.unwrap().contains("ignored"));
    }
}
