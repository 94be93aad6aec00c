//! Posture persistence (issue 15, CONTRACT §13): the mode survives between cron runs (a new
//! process reopens the DB), every transition is an audit row carrying the evidence that caused it,
//! and the store's own evidence (streak, foreign exposure, ambiguous orders) feeds the controller.

use mcbot::core::order::{OrderEvent, OrderRole};
use mcbot::core::posture::{Evidence, PostureMode, Thresholds};
use mcbot::store::journal::NewOrderEvent;
use mcbot::store::Store;

const T0: i64 = 1_700_000_000_000;
const CANDLE: i64 = 4 * 3_600_000;

fn reads(n: u32) -> Evidence {
    Evidence { failed_reads: n, ..Evidence::default() }
}

#[test]
fn posture_survives_reopen_and_audits_each_transition() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("state.db");
    let t = Thresholds::default();
    {
        let mut store = Store::open(&path, T0).unwrap();
        assert_eq!(store.posture(T0).unwrap().mode, PostureMode::Green);
        // Failing evidence reads: 2 × 15 points = YELLOW.
        let s = store.evaluate_posture(&reads(2), T0, &t).unwrap();
        assert_eq!(s.state.mode, PostureMode::Yellow);
        assert!(s.knobs.allow_entries);
    }
    // The next cron run: a new process, same DB.
    let mut store = Store::open(&path, T0 + CANDLE).unwrap();
    assert_eq!(store.posture(T0 + CANDLE).unwrap().mode, PostureMode::Yellow);
    assert_eq!(store.posture(T0 + CANDLE).unwrap().since_ms, T0);
    // Clean runs: YELLOW holds until the score has stayed low for the recovery window.
    let mut modes = Vec::new();
    for i in 1..=3 {
        modes.push(store.evaluate_posture(&Evidence::default(), T0 + i * CANDLE, &t).unwrap().state.mode);
    }
    assert_eq!(modes, vec![PostureMode::Yellow, PostureMode::Yellow, PostureMode::Green]);
    let trs = store.posture_transitions().unwrap();
    assert_eq!(trs.len(), 2, "{trs:?}");
    assert_eq!((trs[0].from, trs[0].to, trs[0].score, trs[0].at_ms), (PostureMode::Green, PostureMode::Yellow, 30, T0));
    let inputs: serde_json::Value = serde_json::from_str(&trs[0].evidence).unwrap();
    assert_eq!(inputs["failed_reads"], 2, "the audit row names its inputs: {inputs}");
    assert_eq!((trs[1].from, trs[1].to, trs[1].at_ms), (PostureMode::Yellow, PostureMode::Green, T0 + 3 * CANDLE));
}

#[test]
fn store_evidence_counts_streak_foreign_exposure_and_ambiguous_orders() {
    let dir = tempfile::tempdir().unwrap();
    let mut store = Store::open(&dir.path().join("state.db"), T0).unwrap();
    assert_eq!(store.posture_evidence().unwrap(), Evidence::default());
    let ev = |client: &str, event: OrderEvent| NewOrderEvent {
        ts_ms: T0,
        trade_plan_id: None,
        role: OrderRole::Entry,
        attempt: 1,
        client_id: client.to_string(),
        correlation_id: None,
        event,
        exchange_order_id: None,
        status: None,
        price: None,
        qty: None,
        detail: None,
        raw: None,
    };
    store.append_order_event(&ev("a", OrderEvent::Unknown)).unwrap();
    store.append_order_event(&ev("b", OrderEvent::Unknown)).unwrap();
    // Resolved later: no longer ambiguous.
    store.append_order_event(&ev("b", OrderEvent::Acked)).unwrap();
    let e = store.posture_evidence().unwrap();
    assert_eq!(e.ambiguous_orders, 1);
    let s = store.evaluate_posture(&e, T0, &Thresholds::default()).unwrap();
    assert_eq!((s.state.score, s.state.mode), (15, PostureMode::Green));
}

/// Issue 15 item 6: a bad `[posture]` value is exit 2 naming the dotted key, before anything is
/// created; a valid table is taken (status still answers).
#[test]
fn bad_posture_config_is_exit_2_naming_the_key() {
    use crate::support::{TestEnv, BASE_CONFIG};
    for (table, key) in [
        ("[posture]\nburst = 0\n", "posture.burst"),
        ("[posture]\nyellow_exit = 20\n", "posture.yellow_exit"),
        ("[posture]\norange_enter = 10\n", "posture.orange_enter"),
        ("[posture]\nrecovery_ms = \"8h\"\n", "posture.recovery_ms"),
        ("[posture]\nred_enterr = 100\n", "posture.red_enterr"),
    ] {
        let env = TestEnv::new();
        env.write_config(&format!("{BASE_CONFIG}\n{table}"));
        let out = env.run(&["--json", "status"]);
        out.code(2);
        let msg = out.json()["error"].as_str().unwrap().to_string();
        assert!(msg.contains(key), "{table}: {msg}");
        assert!(!env.db_path().exists(), "nothing created on bad config");
    }
    let env = TestEnv::new();
    env.write_config(&format!("{BASE_CONFIG}\n[posture]\nyellow_enter = 30\nrecovery_ms = 3600000\n"));
    env.run(&["--json", "status"]).code(0);
}
