//! Test harness: one builder (`bot::Bot`) for every style of test, and under it `TestEnv` — a temp
//! dir with a config and state DB, the real binary, and read access to the DB.
#![allow(dead_code)]

pub mod bot;
pub mod fake_exchange;
pub mod fault;
pub mod mock_binance;
pub mod plan;
pub mod rig;
pub mod scenario;
pub mod steps;

use assert_cmd::Command;
use rusqlite::Connection;
use serde_json::Value;
use std::path::{Path, PathBuf};
use tempfile::TempDir;

/// A minimal valid config for the paper exchange; tests append or replace lines.
pub const BASE_CONFIG: &str = "bot_id = \"mc\"\nsymbol = \"BTCUSDT\"\nstate_db = \"state/mcbot.db\"\nlock_timeout_ms = 300\n\n[exchange]\nkind = \"paper\"\n";

/// One isolated mcbot installation in a temp dir.
#[must_use]
pub struct TestEnv {
    pub dir: TempDir,
}

/// The result of one run of the binary.
#[derive(Debug)]
pub struct Outcome {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    pub fn of(out: &std::process::Output) -> Outcome {
        Outcome {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
    #[track_caller]
    pub fn code(&self, want: i32) -> &Self {
        assert_eq!(self.code, want, "exit code\nstdout: {}\nstderr: {}", self.stdout, self.stderr);
        self
    }
    #[track_caller]
    pub fn json(&self) -> Value {
        let lines: Vec<&str> = self.stdout.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "expected exactly one JSON line on stdout, got: {}", self.stdout);
        let v: Value =
            serde_json::from_str(lines[0]).unwrap_or_else(|e| panic!("stdout is not JSON ({e}): {}", self.stdout));
        assert!(v["command"].is_string() && v["outcome"].is_string(), "missing command/outcome: {v}");
        v
    }
    #[track_caller]
    pub fn stdout_contains(&self, s: &str) -> &Self {
        assert!(self.stdout.contains(s), "stdout lacks {s:?}: {}", self.stdout);
        self
    }
}

impl TestEnv {
    /// A temp dir with `mcbot.toml` = BASE_CONFIG and the `state/` folder.
    pub fn new() -> Self {
        let env = TestEnv::empty();
        env.write_config(BASE_CONFIG);
        std::fs::create_dir_all(env.path().join("state")).unwrap();
        env
    }
    /// A temp dir with nothing in it.
    pub fn empty() -> Self {
        TestEnv { dir: tempfile::tempdir().unwrap() }
    }
    pub fn path(&self) -> &Path {
        self.dir.path()
    }
    pub fn config_path(&self) -> PathBuf {
        self.path().join("mcbot.toml")
    }
    pub fn db_path(&self) -> PathBuf {
        self.path().join("state/mcbot.db")
    }
    pub fn write_config(&self, text: &str) {
        std::fs::write(self.config_path(), text).unwrap();
    }
    pub fn command(&self) -> Command {
        let mut c = Command::cargo_bin("mcbot").unwrap();
        c.current_dir(self.path());
        c.env_remove("MCBOT_CONFIG").env_remove("MCBOT_API_KEY").env_remove("MCBOT_API_SECRET");
        c.arg("--config").arg(self.config_path());
        c
    }
    /// Runs mcbot with `args` and captures the outcome.
    pub fn run(&self, args: &[&str]) -> Outcome {
        self.run_env(args, &[])
    }
    /// Runs mcbot with `args` and extra environment variables (e.g. the API credentials, which
    /// `command` clears).
    pub fn run_env(&self, args: &[&str], env: &[(&str, &str)]) -> Outcome {
        let mut c = self.command();
        for (k, v) in env {
            c.env(k, v);
        }
        Outcome::of(&c.args(args).output().unwrap())
    }
    /// The same command as a plain `std::process::Command`, for runs that must be spawned (two
    /// processes at once).
    pub fn std_command(&self) -> std::process::Command {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("mcbot"));
        c.current_dir(self.path());
        c.env_remove("MCBOT_CONFIG").env_remove("MCBOT_API_KEY").env_remove("MCBOT_API_SECRET");
        c.arg("--config").arg(self.config_path());
        c
    }
    /// Opens the state DB for assertions.
    pub fn db(&self) -> Connection {
        Connection::open(self.db_path()).unwrap()
    }
    pub fn count(&self, sql: &str) -> i64 {
        self.db().query_row(sql, [], |r| r.get(0)).unwrap()
    }
}

/// The order_event rows of one client id, as event names, in journal order.
pub fn events_of(db: &Connection, client_id: &str) -> Vec<String> {
    let mut st = db.prepare("SELECT event FROM order_event WHERE client_id = ?1 ORDER BY seq").unwrap();
    st.query_map([client_id], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}

/// `SEVERITY:kind` of every audit_event row, in journal order.
pub fn audit_of(db: &Connection) -> Vec<String> {
    let mut st = db.prepare("SELECT severity || ':' || kind FROM audit_event ORDER BY seq").unwrap();
    st.query_map([], |r| r.get::<_, String>(0)).unwrap().map(Result::unwrap).collect()
}
