//! The boundaries that keep the functional core pure hold themselves (issue 16 item 3): a test
//! fails when `src/core` reaches for I/O, the clock, the environment, the DB, HTTP, threads or any
//! other layer of the crate, or when `src/exec` (the use cases) or `src/alerts` reaches up into
//! `src/cmd`, when `src/exec` builds a report, or decides an unknown answer anywhere but
//! `exec::ambiguity` (issue 10), when an exchange adapter reaches up into the bot, or when the
//! bot's store creates or reads the paper exchange's tables.

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let p = entry.path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// Every line of the files under `dir` that names one of `forbidden`, outside comments.
fn offenders(dir: &str, forbidden: &[&str]) -> Vec<String> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join(dir);
    let mut hits = Vec::new();
    for file in rust_files(&root) {
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            for f in forbidden {
                if code.contains(f) {
                    hits.push(format!("{}:{}: {f}: {}", file.display(), n + 1, line.trim()));
                }
            }
        }
    }
    hits
}

#[test]
fn core_is_pure() {
    let forbidden = [
        "std::fs",
        "std::net",
        "std::env",
        "std::process",
        "std::thread",
        "std::io",
        "SystemTime",
        "Instant",
        "rusqlite",
        "reqwest",
        "tracing::",
        "crate::store",
        "crate::exchange",
        "crate::exec",
        "crate::cmd",
        "crate::config",
        "crate::alerts",
        "crate::sim",
        "crate::clock",
        "crate::lock",
        "crate::marketdata",
    ];
    let hits = offenders("src/core", &forbidden);
    assert!(hits.is_empty(), "src/core must stay pure:\n{}", hits.join("\n"));
}

#[test]
fn use_cases_do_not_reach_up_into_the_commands() {
    let hits = offenders("src/exec", &["crate::cmd"]);
    assert!(hits.is_empty(), "src/exec must not import src/cmd:\n{}", hits.join("\n"));
}

/// Every line of one file that names one of `forbidden`, outside comments.
fn file_offenders(file: &str, forbidden: &[&str]) -> Vec<String> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(file);
    let text = std::fs::read_to_string(&path).unwrap();
    let mut hits = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let code = line.split("//").next().unwrap_or("");
        for f in forbidden {
            if code.contains(f) {
                hits.push(format!("{file}:{}: {f}: {}", n + 1, line.trim()));
            }
        }
    }
    hits
}

/// Issue 10: the use cases return typed outcomes; only `cmd/` words them as a `Report`.
#[test]
fn use_cases_return_outcomes_not_reports() {
    let hits = offenders("src/exec", &["Report"]);
    assert!(hits.is_empty(), "src/exec must not build reports:\n{}", hits.join("\n"));
}

/// Issue 10: the CLOSE mechanics and the protection placement do not lean on each other; both
/// hand over to `exec::failsafe` / `exec::cancel` / `exec::position`.
#[test]
fn close_and_protect_do_not_import_each_other() {
    let mut hits = file_offenders("src/exec/close.rs", &["protect::", "exec::protect", "failsafe::"]);
    hits.extend(file_offenders("src/exec/protect.rs", &["close::", "exec::close", "exec::exit"]));
    assert!(hits.is_empty(), "close.rs and protect.rs must not import each other:\n{}", hits.join("\n"));
}

/// Issue 10 item 1: one rule for an order write's unknown outcome. Only `exec::ambiguity` asks the
/// port whether an answer is a known refusal; every other module asks `ambiguity`.
#[test]
fn one_place_decides_what_an_unknown_answer_means() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/exec");
    let mut hits = Vec::new();
    for file in rust_files(&root) {
        if file.ends_with("ambiguity.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("//").next().unwrap_or("");
            if code.contains("is_known_refusal") || code.contains("ErrorClass::Ambiguous") {
                hits.push(format!("{}:{}: {}", file.display(), n + 1, line.trim()));
            }
        }
    }
    assert!(hits.is_empty(), "only exec/ambiguity.rs decides unknown outcomes:\n{}", hits.join("\n"));
}

/// `alerts/` (outbox delivery, heartbeat, metrics textfile) runs after every command and reads
/// the store; a command module is above it, so it reads the figures it shares with `status`
/// through `store::pnl`, never through `cmd/`.
#[test]
fn alerts_do_not_reach_up_into_the_commands() {
    let hits = offenders("src/alerts", &["crate::cmd"]);
    assert!(hits.is_empty(), "src/alerts must not import src/cmd:\n{}", hits.join("\n"));
}

/// `sim` drives the use cases like `tick` does, beside `cmd/`, not through it: the whole-DB replay
/// it checks a run with is `store::replay`, which `mcbot replay` words.
#[test]
fn sim_does_not_reach_into_the_commands() {
    let hits = offenders("src/sim", &["crate::cmd"]);
    assert!(hits.is_empty(), "src/sim must not import src/cmd:\n{}", hits.join("\n"));
}

/// Issue 16 item 3: the exchange adapters are ports below the use cases. They know nothing of the
/// bot's store, use cases, commands, alerts or `sim` (the paper exchange keeps its own tables).
#[test]
fn exchange_adapters_know_nothing_of_the_bot_above_them() {
    let forbidden = ["crate::store", "crate::exec", "crate::cmd", "crate::alerts", "crate::sim"];
    let hits = offenders("src/exchange", &forbidden);
    assert!(hits.is_empty(), "src/exchange must stay below the bot:\n{}", hits.join("\n"));
}

/// Issue 16 item 3: the paper exchange's tables are its own schema (`exchange/paper/schema/`).
/// The bot's store neither creates nor reads them: a state DB for a real exchange has none.
#[test]
fn the_store_knows_no_paper_table() {
    let tables = ["paper_account", "paper_position", "paper_order", "paper_conditional", "paper_fill", "paper_clock"];
    // The emptied migration files keep their old names (`0003_paper_clock.sql`).
    let mut hits: Vec<String> = offenders("src/store", &tables).into_iter().filter(|h| !h.contains(".sql")).collect();
    let migrations = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/store/migrations");
    for entry in std::fs::read_dir(migrations).unwrap().flatten() {
        let text = std::fs::read_to_string(entry.path()).unwrap();
        for (n, line) in text.lines().enumerate() {
            let code = line.split("--").next().unwrap_or("");
            if tables.iter().any(|t| code.contains(t)) {
                hits.push(format!("{}:{}: {}", entry.path().display(), n + 1, line.trim()));
            }
        }
    }
    assert!(hits.is_empty(), "the store must not create or read paper tables:\n{}", hits.join("\n"));
}
