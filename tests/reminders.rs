//! Run-outcome alerts through the binary and the outbox (issue 13 §1): a bot refused while HALTED
//! keeps saying so, at most once per 12 h; a command that fails 3 runs in a row says so (warn).
//! Delivered to the 127.0.0.1 receiver of `tests/alerts.rs`.

use crate::alerts::Receiver;
use crate::support::fault::Fault;
use crate::support::mock_binance::{API_KEY, API_SECRET};
use crate::support::scenario::Scenario;
use crate::support::{TestEnv, BASE_CONFIG};
use serde_json::Value;

fn webhook_config(base: &str) -> String {
    format!("{base}\n[[alerts.sink]]\nkind = \"webhook\"\nurl_env = \"T_WEBHOOK\"\nmin_level = \"warn\"\n")
}

/// The webhook bodies of `kind`, in the order received.
fn bodies(rx: &Receiver, kind: &str) -> Vec<Value> {
    rx.seen().iter().filter_map(|s| serde_json::from_str::<Value>(&s.body).ok()).filter(|v| v["kind"] == kind).collect()
}

/// Paper ticks move the paper clock one 4h candle each: the halt at T, refused ticks at T+4h …
/// T+24h. The halt's own alert is the first word; reminders come at T+12h and T+24h only, each
/// naming the halt and the refused command.
#[test]
fn a_halted_bot_keeps_saying_so_at_most_every_12_hours() {
    let rx = Receiver::start(200);
    let env = TestEnv::new();
    env.write_config(&webhook_config(BASE_CONFIG));
    let url = rx.url("/hook");
    let vars = [("T_WEBHOOK", url.as_str())];
    env.run_env(&["halt", "--reason", "checking the exchange"], &vars).code(0);
    assert_eq!(bodies(&rx, "halt").len(), 1);
    let mut reminders_after = Vec::new();
    for _ in 0..6 {
        let out = env.run_env(&["--json", "tick"], &vars);
        out.code(3);
        reminders_after.push(bodies(&rx, "still_halted").len());
    }
    assert_eq!(reminders_after, vec![0, 0, 1, 1, 1, 2], "at +12 h and +24 h only");
    let r = &bodies(&rx, "still_halted")[0];
    assert_eq!(r["level"], "warn");
    let msg = r["message"].as_str().unwrap();
    assert!(msg.starts_with("still HALTED since "), "{msg}");
    assert!(msg.contains("(checking the exchange); `tick` refused to open exposure (exit 3)"), "{msg}");
    // Through the outbox: one row per reminder, each delivered once.
    assert_eq!(env.count("SELECT count(*) FROM alert_outbox WHERE kind = 'still_halted'"), 2);
    assert_eq!(env.count("SELECT count(*) FROM alert_outbox WHERE kind = 'still_halted' AND delivered_ms IS NULL"), 0);
    // The run is recorded for the metrics' last tick.
    assert_eq!(env.count("SELECT count(*) FROM command_run WHERE command = 'tick' AND last_exit = 3"), 1);
}

/// The exchange refusing a read (exit 1, state safe) three runs in a row: one warning on the
/// third run naming the command and its error, none on the first two or the fourth.
#[test]
fn the_same_command_failing_3_runs_in_a_row_warns_once() {
    let rx = Receiver::start(200);
    let s = Scenario::new();
    let text = std::fs::read_to_string(s.env.config_path()).unwrap();
    s.env.write_config(&webhook_config(&text));
    s.mock.on("GET", "/fapi/v3/positionRisk", None, Fault::api_error(400, -1000, "An unknown error occurred."), 100);
    let url = rx.url("/hook");
    let vars = [("T_WEBHOOK", url.as_str()), ("MCBOT_API_KEY", API_KEY), ("MCBOT_API_SECRET", API_SECRET)];
    let mut warnings_after = Vec::new();
    for _ in 0..4 {
        s.env.run_env(&["--json", "reconcile"], &vars).code(1);
        warnings_after.push(bodies(&rx, "repeated_failure").len());
    }
    assert_eq!(warnings_after, vec![0, 0, 1, 1]);
    let w = &bodies(&rx, "repeated_failure")[0];
    assert_eq!(w["level"], "warn");
    let msg = w["message"].as_str().unwrap();
    assert!(msg.starts_with("`reconcile` failed 3 runs in a row (last exit 1: "), "{msg}");
    assert!(!msg.contains(API_SECRET) && !msg.contains(API_KEY), "{msg}");
    assert_eq!(s.env.count("SELECT fail_streak FROM command_run WHERE command = 'reconcile'"), 4);
    assert_eq!(s.mock.writes(), Vec::<String>::new(), "nothing was sent");
}

/// Issue 13 §1 "sending never delays an order" (seed 000 AC1): a webhook that answers only after
/// 5 s, on a real `enter` against the stateful mock. The ENTRY, STOP and TP all reach the
/// exchange before the sink hears anything (delivery runs after the safety work, lock released);
/// the journal has the STOP acknowledged and the alert still undelivered (3 s send timeout), and a
/// later run with the sink healthy delivers it exactly once. The ENTRY→STOP figures of this run
/// and of a run without sinks are printed for docs/latency.md (no timing assertion).
#[test]
fn a_sink_answering_after_5_s_does_not_delay_the_stop() {
    let gap_ms = |s: &Scenario| -> (u128, Option<i64>) {
        let reqs = s.mock.requests();
        let at =
            |role: &str| reqs.iter().find(|r| r.method == "POST" && r.role() == Some(role)).map(|r| r.arrived).unwrap();
        let window: Option<i64> =
            s.env.db().query_row("SELECT unprotected_window_ms FROM position", [], |r| r.get(0)).unwrap();
        ((at("STOP") - at("ENTRY")).as_millis(), window)
    };
    let baseline = Scenario::new();
    baseline.run(&["enter"]).code(0);
    let (base_gap, base_window) = gap_ms(&baseline);

    let slow = Receiver::start_slow(200, std::time::Duration::from_secs(5));
    let s = Scenario::new();
    let text = std::fs::read_to_string(s.env.config_path()).unwrap();
    s.env.write_config(&webhook_config(&text).replace("min_level = \"warn\"", "min_level = \"info\""));
    let url = slow.url("/hook");
    let vars = [("T_WEBHOOK", url.as_str()), ("MCBOT_API_KEY", API_KEY), ("MCBOT_API_SECRET", API_SECRET)];
    s.env.run_env(&["--json", "enter"], &vars).code(0);
    let reqs = s.mock.requests();
    let writes: Vec<String> = reqs.iter().filter(|r| r.is_write()).map(|r| r.line()).collect();
    // ENTRY first, then STOP and TP (sent concurrently), nothing else.
    let mut rest = writes[1..].to_vec();
    rest.sort();
    assert_eq!(writes[0], "POST /fapi/v1/order mc_a1b2c3d4e5f6_ENTRY_1", "{writes:?}");
    assert_eq!(
        rest,
        ["POST /fapi/v1/algoOrder mc_a1b2c3d4e5f6_STOP_1", "POST /fapi/v1/algoOrder mc_a1b2c3d4e5f6_TP_1"],
        "{writes:?}"
    );
    let stop = reqs.iter().find(|r| r.method == "POST" && r.role() == Some("STOP")).unwrap();
    let stop_answered = s.mock.started() + stop.answered.expect("the STOP was answered");
    let first_alert = slow.seen().first().map(|x| x.arrived).expect("the sink was tried");
    assert!(stop_answered < first_alert, "the STOP was acknowledged before any alert was sent");
    // The journal: STOP ACKED, protection_placed audited, the alert rows waiting for a later run.
    assert_eq!(
        s.env.count("SELECT count(*) FROM order_event WHERE client_id = 'mc_a1b2c3d4e5f6_STOP_1' AND event = 'ACKED'"),
        1
    );
    assert!(s.env.count("SELECT count(*) FROM alert_outbox WHERE delivered_ms IS NULL") >= 1);
    let (gap, window) = gap_ms(&s);
    eprintln!(
        "FIGURE slow-sink: ENTRY->STOP request gap {gap} ms (no sink: {base_gap} ms); \
         unprotected window {window:?} ms (no sink: {base_window:?} ms); the sink was first called {} ms after the STOP's answer",
        (first_alert - stop_answered).as_millis()
    );
    // The sink healthy again: a later run (any command) delivers what waited, once.
    let fast = Receiver::start(200);
    let url = fast.url("/hook");
    let waiting = s.env.count("SELECT count(*) FROM alert_outbox WHERE delivered_ms IS NULL");
    let vars = [("T_WEBHOOK", url.as_str()), ("MCBOT_API_KEY", API_KEY), ("MCBOT_API_SECRET", API_SECRET)];
    // Past the first back-off (1 min): the outbox rows are made due now, as a later run would find them.
    s.env.db().execute("UPDATE alert_outbox SET next_attempt_ms = 0 WHERE delivered_ms IS NULL", []).unwrap();
    s.env.run_env(&["status"], &vars).code(0);
    assert_eq!(fast.seen().len() as i64, waiting, "each waiting alert delivered once");
    s.env.run_env(&["status"], &vars).code(0);
    assert_eq!(fast.seen().len() as i64, waiting, "and never again");
}
