//! `mcbot replay` through the real binary (CONTRACT §7.9): journals written with the store's own
//! append functions, then judged from the rows alone; plus a tampered journal.

use crate::support::{TestEnv, BASE_CONFIG};
use mcbot::core::order::{OrderEvent as E, OrderRole as R};
use mcbot::store::journal::{NewAuditEvent, NewOrderEvent, Severity};
use mcbot::store::Store;
use rust_decimal::Decimal;
use std::str::FromStr;

const PLAN: &str = "abc123def456";
const T0: i64 = 1_700_000_000_000;

/// Appends journal rows the way the live code does, 100 ms apart.
struct Journal {
    store: Store,
    ts: i64,
}

impl Journal {
    fn open(env: &TestEnv) -> Self {
        Journal { store: Store::open(&env.db_path(), T0).unwrap(), ts: T0 }
    }
    fn order(&mut self, plan: &str, role: R, attempt: u32, event: E, price: Option<&str>) -> i64 {
        self.ts += 100;
        self.store
            .append_order_event(&NewOrderEvent {
                ts_ms: self.ts,
                trade_plan_id: Some(plan.into()),
                role,
                attempt,
                client_id: format!("mc_{plan}_{role}_{attempt}"),
                correlation_id: None,
                event,
                exchange_order_id: None,
                status: None,
                price: price.map(|p| Decimal::from_str(p).unwrap()),
                qty: Some(Decimal::from_str("0.010").unwrap()),
                detail: None,
                raw: None,
            })
            .unwrap()
    }
    fn audit(&mut self, plan: Option<&str>, severity: Severity, kind: &str, data: Option<&str>) -> i64 {
        self.ts += 100;
        self.store
            .append_audit(&NewAuditEvent {
                ts_ms: self.ts,
                severity,
                kind: kind.into(),
                trade_plan_id: plan.map(str::to_string),
                message: format!("{kind} happened"),
                data: data.map(str::to_string),
            })
            .unwrap()
    }
    /// ENTRY filled; returns the fill's seq.
    fn entered(&mut self, plan: &str) -> i64 {
        self.audit(Some(plan), Severity::Info, "entry_submitted", Some("{}"));
        self.order(plan, R::Entry, 1, E::Submitting, Some("43000"));
        self.order(plan, R::Entry, 1, E::Filled, Some("43010.5"))
    }
    fn protected(&mut self, plan: &str) {
        self.order(plan, R::Stop, 1, E::Submitting, Some("42000"));
        self.order(plan, R::Stop, 1, E::Acked, None);
        self.order(plan, R::Tp, 1, E::Submitting, Some("45000"));
        self.order(plan, R::Tp, 1, E::Acked, None);
        self.audit(Some(plan), Severity::Info, "protection_placed", Some(r#"{"role":"STOP"}"#));
    }
    /// A whole trade that ends at the TP.
    fn clean_trade(&mut self, plan: &str) {
        self.entered(plan);
        self.protected(plan);
        self.order(plan, R::Tp, 1, E::Triggered, None);
        self.order(plan, R::Tp, 1, E::Filled, Some("45001"));
        self.order(plan, R::Stop, 1, E::Cancelled, None);
        self.audit(Some(plan), Severity::Info, "position_closed", Some(r#"{"exit_reason":"tp_hit"}"#));
    }
}

fn rules(v: &serde_json::Value) -> Vec<(String, i64)> {
    v["violations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["rule"].as_str().unwrap().to_string(), x["seq"].as_i64().unwrap()))
        .collect()
}

#[test]
fn clean_trade_replays_with_timeline_summary_and_exit_0() {
    let env = TestEnv::new();
    Journal::open(&env).clean_trade(PLAN);

    let out = env.run(&["replay", PLAN]);
    out.code(0)
        .stdout_contains("verdict: OK, no violations")
        .stdout_contains("journal chain: ok (12 rows)")
        .stdout_contains("mc_abc123def456_ENTRY_1")
        .stdout_contains("2023-11-14T22:13:20.200Z")
        .stdout_contains("audit INFO     position_closed")
        .stdout_contains("outcome closed:tp_hit; entry mc_abc123def456_ENTRY_1 filled 0.010 @ 43010.5");

    let v = env.run(&["--json", "replay", PLAN]).json();
    assert_eq!(v["command"], "replay");
    assert_eq!(v["outcome"], "ok");
    assert_eq!(v["plan_id"], PLAN);
    assert_eq!(v["violations"], serde_json::json!([]));
    assert_eq!(v["chain"], serde_json::json!({"ok": true, "rows": 12, "broken_at": null}));
    let tl = v["timeline"].as_array().unwrap();
    assert_eq!(tl.len(), 12);
    assert_eq!(tl[0]["source"], "audit");
    assert_eq!(tl[1]["time"], "2023-11-14T22:13:20.200Z");
    assert_eq!(tl[1]["role"], "ENTRY");
    assert_eq!(tl[1]["attempt"], 1);
    assert_eq!(tl[1]["event"], "SUBMITTING");
    assert_eq!(tl[2]["price"], "43010.5", "decimals are strings");
    assert_eq!(tl[2]["state"], "FILLED");
    let s = &v["summary"];
    assert_eq!(s["outcome"], "closed:tp_hit");
    assert_eq!(s["exit_reason"], "tp_hit");
    assert_eq!(s["entry_fill_qty"], "0.010");
    assert_eq!(s["unprotected_window_ms"], 200);
}

#[test]
fn naked_fill_exits_1_and_names_the_rule_and_row() {
    let env = TestEnv::new();
    let mut j = Journal::open(&env);
    let fill = j.entered(PLAN);
    j.order(PLAN, R::Stop, 1, E::Submitting, Some("42000"));
    j.order(PLAN, R::Stop, 1, E::Unknown, None);
    drop(j);

    env.run(&["replay", PLAN])
        .code(1)
        .stdout_contains("verdict: 1 VIOLATION")
        .stdout_contains(&format!("unprotected_fill at seq {fill}"));
    let v = env.run(&["--json", "replay", PLAN]).json();
    assert_eq!(v["outcome"], "violations");
    assert_eq!(v["exit_code"], 1);
    assert_eq!(rules(&v), vec![("unprotected_fill".to_string(), fill)]);
    assert_eq!(v["summary"]["outcome"], "open");
}

#[test]
fn entry_after_a_real_halt_is_entry_while_halted() {
    let env = TestEnv::new();
    env.run(&["halt", "--reason", "maintenance"]).code(0);
    let mut j = Journal::open(&env);
    let sent = j.order(PLAN, R::Entry, 1, E::Submitting, Some("43000"));
    j.order(PLAN, R::Entry, 1, E::Rejected, None);
    drop(j);
    let v = env.run(&["--json", "replay", PLAN]).json();
    assert_eq!(rules(&v), vec![("entry_while_halted".to_string(), sent)]);
    assert!(v["violations"][0]["detail"].as_str().unwrap().contains("halt at seq 1"));
    env.run(&["replay", PLAN]).code(1).stdout_contains("entry_while_halted at seq 2");
}

#[test]
fn forced_close_and_duplicate_entry_paths() {
    let env = TestEnv::new();
    let mut j = Journal::open(&env);
    // Duplicate: a second ENTRY while the first's outcome is unknown (before the halt below).
    let dup = "dup777";
    j.order(dup, R::Entry, 1, E::Submitting, Some("43000"));
    j.order(dup, R::Entry, 1, E::Unknown, None);
    let second = j.order(dup, R::Entry, 2, E::Submitting, Some("43000"));
    // Forced close: STOP rejected, CLOSE, HALT, finalised. Clean.
    j.entered(PLAN);
    j.order(PLAN, R::Stop, 1, E::Submitting, Some("42000"));
    j.order(PLAN, R::Stop, 1, E::Rejected, None);
    j.audit(Some(PLAN), Severity::Critical, "protection_failed", Some(r#"{"role":"STOP"}"#));
    j.audit(Some(PLAN), Severity::Critical, "forced_close", Some(r#"{"why":"stop_rejected"}"#));
    j.order(PLAN, R::Close, 1, E::Submitting, Some("43000"));
    j.order(PLAN, R::Close, 1, E::Filled, Some("42990"));
    j.audit(Some(PLAN), Severity::Critical, "halt", Some(r#"{"reason":"protection failed"}"#));
    j.audit(Some(PLAN), Severity::Info, "position_closed", Some(r#"{"exit_reason":"forced_close:stop_rejected"}"#));
    drop(j);

    let v = env.run(&["--json", "replay", PLAN]).json();
    assert_eq!(v["outcome"], "ok", "{v}");
    assert_eq!(v["summary"]["outcome"], "closed:forced_close:stop_rejected");
    assert_eq!(v["summary"]["forced_close"], true);
    let v = env.run(&["--json", "replay", dup]).json();
    assert_eq!(rules(&v), vec![("duplicate_entry".to_string(), second)]);
}

#[test]
fn unknown_plan_is_1_and_malformed_id_is_2() {
    let env = TestEnv::new();
    Journal::open(&env).clean_trade(PLAN);
    let v = env.run(&["--json", "replay", "zzz999"]).code(1).json();
    assert_eq!(v["outcome"], "error");
    assert!(v["error"].as_str().unwrap().contains("unknown plan zzz999"), "{v}");
    let v = env.run(&["--json", "replay", "Not-A-Plan"]).code(2).json();
    assert!(v["error"].as_str().unwrap().contains("not a trade plan id"), "{v}");
    env.run(&["replay"]).code(2);
}

#[test]
fn all_lists_every_plan_and_fails_if_any_is_broken() {
    let env = TestEnv::new();
    env.run(&["--json", "replay", "--all"]).code(0);
    env.run(&["replay", "--all"]).code(0).stdout_contains("(no plans)");

    let mut j = Journal::open(&env);
    j.clean_trade(PLAN);
    drop(j);
    let v = env.run(&["--json", "replay", "--all"]).code(0).json();
    assert_eq!(v["plans"].as_array().unwrap().len(), 1);
    assert_eq!(v["violation_count"], 0);

    let mut j = Journal::open(&env);
    let bad = "bad000";
    j.entered(bad);
    j.order(bad, R::Close, 1, E::Submitting, Some("43000"));
    let close = j.order(bad, R::Close, 1, E::Filled, Some("43000"));
    drop(j);
    let v = env.run(&["--json", "replay", "--all"]).code(1).json();
    assert_eq!(v["outcome"], "violations");
    let plans = v["plans"].as_array().unwrap();
    assert_eq!(plans[0]["plan_id"], PLAN);
    assert_eq!(plans[0]["outcome"], "closed:tp_hit");
    assert_eq!(plans[1]["plan_id"], bad);
    let got: Vec<&str> =
        plans[1]["violations"].as_array().unwrap().iter().map(|x| x["rule"].as_str().unwrap()).collect();
    assert_eq!(got, vec!["unprotected_fill", "exit_without_reason"]);
    assert_eq!(plans[1]["violations"][1]["seq"], close);
    env.run(&["replay", "--all"])
        .code(1)
        .stdout_contains("unprotected_fill,exit_without_reason")
        .stdout_contains(&format!("bad000 exit_without_reason at seq {close}"));
}

#[test]
fn tampered_journal_names_the_broken_link() {
    let env = TestEnv::new();
    Journal::open(&env).clean_trade(PLAN);
    env.run(&["replay", PLAN]).code(0);

    // Bypass the append-only trigger and rewrite the ENTRY fill's quantity.
    let db = env.db();
    db.execute_batch("DROP TRIGGER order_event_no_update").unwrap();
    assert_eq!(db.execute("UPDATE order_event SET qty = '1.000' WHERE seq = 3", []).unwrap(), 1);
    drop(db);

    let v = env.run(&["--json", "replay", PLAN]).code(1).json();
    assert_eq!(v["chain"]["ok"], false);
    assert_eq!(v["chain"]["broken_at"]["seq"], 3);
    assert_eq!(rules(&v), vec![("journal_chain".to_string(), 3)]);
    env.run(&["replay", PLAN]).code(1).stdout_contains("BROKEN at seq 3").stdout_contains("journal_chain at seq 3");
    env.run(&["replay", "--all"]).code(1).stdout_contains("journal journal_chain at seq 3");
}

#[test]
fn replay_never_talks_to_the_exchange() {
    // A binance config without credentials: any exchange access would fail with exit 2.
    let env = TestEnv::new();
    env.write_config(&BASE_CONFIG.replace("kind = \"paper\"", "kind = \"binance\"\nbase_url = \"http://127.0.0.1:9\""));
    Journal::open(&env).clean_trade(PLAN);
    env.run(&["replay", PLAN]).code(0);
    env.run(&["replay", "--all"]).code(0);
}

#[test]
fn lost_ack_lookup_is_clean_but_an_invalid_transition_is_named() {
    let env = TestEnv::new();
    let mut j = Journal::open(&env);
    j.order(PLAN, R::Entry, 1, E::Submitting, Some("43000"));
    j.order(PLAN, R::Entry, 1, E::Unknown, None);
    j.order(PLAN, R::Entry, 1, E::Filled, Some("43010.5")); // found by client-id look-up
    j.protected(PLAN);
    drop(j);
    let v = env.run(&["--json", "replay", PLAN]).code(0).json();
    assert_eq!(v["summary"]["outcome"], "open");

    let mut j = Journal::open(&env);
    j.order(PLAN, R::Stop, 1, E::Cancelled, None);
    let bad = j.order(PLAN, R::Stop, 1, E::Acked, None);
    drop(j);
    let v = env.run(&["--json", "replay", PLAN]).code(1).json();
    assert_eq!(rules(&v), vec![("invalid_transition".to_string(), bad)]);
    assert_eq!(v["timeline"].as_array().unwrap().last().unwrap()["state"], serde_json::Value::Null);
    env.run(&["replay", PLAN])
        .code(1)
        .stdout_contains("(refused)")
        .stdout_contains("ACKED is not allowed from state CANCELLED");
}

/// Issue 15 item 4: `replay` shows the posture each decision was taken under, from the
/// `posture_changed` audit rows alone (they carry no plan id), and the changes while the plan
/// was live.
#[test]
fn replay_shows_the_posture_at_each_decision() {
    let env = TestEnv::new();
    let mut j = Journal::open(&env);
    let change = |j: &mut Journal, from: &str, to: &str| {
        let data = format!(r#"{{"from":"{from}","to":"{to}","score":40,"growth":40,"reason":"score 40 >= 20"}}"#);
        j.audit(None, Severity::Warn, "posture_changed", Some(&data))
    };
    change(&mut j, "GREEN", "YELLOW");
    j.entered(PLAN);
    let up = change(&mut j, "YELLOW", "ORANGE");
    j.protected(PLAN);
    drop(j);

    let out = env.run(&["replay", PLAN]);
    out.code(0)
        .stdout_contains("entry_submitted happened  [posture YELLOW]")
        .stdout_contains("protection_placed happened  [posture ORANGE]")
        .stdout_contains(&format!("posture: YELLOW at the first row; 2023-11-14T22:13:20.500Z #{up} YELLOW -> ORANGE"));
    let v = env.run(&["--json", "replay", PLAN]).json();
    let tl = v["timeline"].as_array().unwrap();
    let modes: Vec<&str> = tl.iter().map(|r| r["posture"].as_str().unwrap()).collect();
    assert_eq!(modes, ["YELLOW", "YELLOW", "YELLOW", "ORANGE", "ORANGE", "ORANGE", "ORANGE", "ORANGE"], "{v}");
    assert_eq!(v["posture"]["at_first_row"], "YELLOW");
    assert_eq!(v["posture"]["changes"][0]["to"], "ORANGE");
    assert_eq!(v["posture"]["changes"][0]["seq"], up);
}
