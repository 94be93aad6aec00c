//! Exit codes (CONTRACT §2) and the command report, rendered as human text or exactly one JSON
//! object (CONTRACT §3).

use serde_json::{Map, Value};

/// The process exit codes of the contract.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ExitCode {
    /// done, or nothing to do
    Ok = 0,
    /// failed; state is safe and consistent
    Failed = 1,
    /// usage or configuration error; nothing was read from or sent to the exchange
    Usage = 2,
    /// refused: the system is HALTED
    Halted = 3,
    /// the state lock is held by another mcbot past lock_timeout_ms
    LockBusy = 4,
    /// pre-flight failed; no order was sent; an audit event says why
    Preflight = 5,
    /// CRITICAL: protection failed, the position was force-closed (or closing failed), HALTED
    Critical = 10,
}

impl ExitCode {
    pub const ALL: [ExitCode; 7] = [
        ExitCode::Ok,
        ExitCode::Failed,
        ExitCode::Usage,
        ExitCode::Halted,
        ExitCode::LockBusy,
        ExitCode::Preflight,
        ExitCode::Critical,
    ];
    pub fn code(self) -> u8 {
        self as u8
    }
}

/// What a command reports: an outcome word, text lines for people, fields for `--json`.
#[derive(Debug, Clone)]
pub struct Report {
    pub command: String,
    pub outcome: String,
    pub exit: ExitCode,
    pub lines: Vec<String>,
    pub fields: Map<String, Value>,
}

impl Report {
    pub fn new(command: &str, outcome: &str, exit: ExitCode) -> Self {
        Report {
            command: command.to_string(),
            outcome: outcome.to_string(),
            exit,
            lines: Vec::new(),
            fields: Map::new(),
        }
    }
    pub fn ok(command: &str) -> Self {
        Report::new(command, "ok", ExitCode::Ok)
    }
    pub fn line(mut self, l: impl Into<String>) -> Self {
        self.lines.push(l.into());
        self
    }
    pub fn push_line(&mut self, l: impl Into<String>) {
        self.lines.push(l.into());
    }
    pub fn field(mut self, k: &str, v: impl Into<Value>) -> Self {
        self.fields.insert(k.to_string(), v.into());
        self
    }
    pub fn set(&mut self, k: &str, v: impl Into<Value>) {
        self.fields.insert(k.to_string(), v.into());
    }
    /// A failed command: the error text goes in `"error"`.
    pub fn error(command: &str, exit: ExitCode, message: &str) -> Self {
        Report::new(command, "error", exit).field("error", message.to_string()).line(format!("error: {message}"))
    }

    /// The single JSON object for `--json`: always `command` and `outcome` first.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        m.insert("command".into(), Value::String(self.command.clone()));
        m.insert("outcome".into(), Value::String(self.outcome.clone()));
        m.insert("exit_code".into(), Value::from(self.exit.code()));
        for (k, v) in &self.fields {
            if k != "command" && k != "outcome" {
                m.insert(k.clone(), v.clone());
            }
        }
        Value::Object(m)
    }

    pub fn to_text(&self) -> String {
        if self.lines.is_empty() {
            format!("{}: {}", self.command, self.outcome)
        } else {
            self.lines.join("\n")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_always_has_command_and_outcome() {
        let r = Report::error("enter", ExitCode::Halted, "system is HALTED").field("outcome", "sneaky");
        let v = r.to_json();
        assert_eq!(v["command"], "enter");
        assert_eq!(v["outcome"], "error");
        assert_eq!(v["error"], "system is HALTED");
        assert_eq!(v["exit_code"], 3);
    }
}
