//! Issue 16 item 6: the round trips before the ENTRY. `mcbot enter` reads once — reconcile's
//! snapshot together with what pre-flight needs, the ENTRY's client-id look-up included — and
//! signs with the clock offset the last process measured while it is young; a reconcile that
//! repaired anything makes pre-flight read again. Asserted on the mock's request log.

use super::*;
use mcbot::clock::ClockSync;
use mcbot::store::Store;

const TIME: &str = "/fapi/v1/time";
const SNAPSHOT: [&str; 3] = ["/fapi/v3/positionRisk", "/fapi/v1/openOrders", "/fapi/v1/openAlgoOrders"];

/// The requests of the run that started at request `from`, up to (not with) its first ENTRY.
fn before_entry(s: &Scenario, from: usize) -> Vec<Request> {
    let reqs = s.mock.requests();
    let entry = reqs[from..]
        .iter()
        .position(|r| r.method == "POST" && r.role() == Some("ENTRY"))
        .map_or(reqs.len(), |i| from + i);
    reqs[from..entry].to_vec()
}

fn count(reqs: &[Request], method: &str, path: &str) -> usize {
    reqs.iter().filter(|r| r.method == method && r.path == path).count()
}

fn persist(s: &Scenario, sync: ClockSync) {
    Store::open(&s.env.db_path(), now_ms()).unwrap().set_clock_sync(sync).unwrap();
}

fn persisted(s: &Scenario) -> Option<ClockSync> {
    s.store().clock_sync().unwrap()
}

/// The steady state: an offset measured by the previous run, an ISOLATED 1x account. Every
/// request before the ENTRY leaves before the first of them is answered (one round), none is a
/// clock sync, the snapshot is read once, and the ENTRY's client id is still looked up.
#[test]
fn a_fresh_offset_and_a_clean_reconcile_leave_one_round_before_the_entry() {
    let s = Scenario::new();
    s.run(&["reconcile"]).code(0);
    let measured = persisted(&s).expect("the reconcile kept the offset it measured");
    assert!(measured.measured_ms <= now_ms() && now_ms() - measured.measured_ms < 60_000, "{measured:?}");
    s.mock.set_latency_ms(150);
    let from = s.mock.request_count();
    s.run(&["enter"]).code(0);
    let pre = before_entry(&s, from);
    assert_eq!(count(&pre, "GET", TIME), 0, "no clock sync:\n{}", lines(&pre));
    for path in SNAPSHOT {
        assert_eq!(count(&pre, "GET", path), 1, "{path} read once:\n{}", lines(&pre));
    }
    let lookups = pre.iter().filter(|r| r.path == ORDER && r.client_id() == Some(cid("ENTRY", 1).as_str())).count();
    assert_eq!(lookups, 1, "the ENTRY's client id is looked up before it is sent:\n{}", lines(&pre));
    assert!(pre.iter().all(|r| !r.is_write()), "{}", lines(&pre));
    let last_sent = pre.iter().map(|r| r.arrived).max().unwrap();
    let first_answer = pre.iter().filter_map(|r| r.answered).min().unwrap();
    assert!(last_sent < first_answer, "all sent before any answer (one round):\n{}", lines(&pre));
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1);
    s.assert_protected(&cid("STOP", 1), &cid("TP", 1));
    assert_eq!(persisted(&s), Some(measured), "an offset used, not measured, is not written again");
    s.finish();
}

/// An offset older than the bound is measured again before the first signed request, once,
/// and the new measurement is kept.
#[test]
fn a_stale_offset_is_measured_again_once_and_kept() {
    let s = Scenario::new();
    let old = ClockSync { offset_ms: 0, measured_ms: now_ms() - mcbot::exchange::binance::CLOCK_SYNC_MAX_AGE_MS - 1 };
    persist(&s, old);
    s.run(&["enter"]).code(0);
    let pre = before_entry(&s, 0);
    assert_eq!(count(&pre, "GET", TIME), 1, "{}", lines(&pre));
    assert!(pre.iter().position(|r| r.path == TIME) < pre.iter().position(|r| r.signed), "{}", lines(&pre));
    let kept = persisted(&s).unwrap();
    assert!(kept.measured_ms > old.measured_ms, "{kept:?}");
    s.assert_protected(&cid("STOP", 1), &cid("TP", 1));
    s.finish();
}

/// A young offset that is wrong (the exchange's clock moved) costs a -1021, which Binance
/// answers before acting: the adapter resyncs and sends the same request once more. One ENTRY,
/// and the corrected offset is kept.
#[test]
fn a_wrong_young_offset_is_resynced_after_a_1021() {
    let s = Scenario::new();
    persist(&s, ClockSync { offset_ms: -60_000, measured_ms: now_ms() - 1_000 });
    s.run(&["enter"]).code(0);
    let reqs = s.mock.requests();
    let first_signed = reqs.iter().find(|r| r.signed).unwrap();
    assert_eq!(first_signed.status, 400, "{}", lines(&reqs));
    assert!(first_signed.body.contains("-1021"), "{}", first_signed.body);
    let pre = before_entry(&s, 0);
    let sync = pre.iter().position(|r| r.path == TIME).expect("resynced before the ENTRY");
    assert!(first_signed.seq < pre[sync].seq, "{}", lines(&reqs));
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1);
    let entries: Vec<&Request> = reqs.iter().filter(|r| r.method == "POST" && r.role() == Some("ENTRY")).collect();
    assert_eq!(entries[0].status, 200, "signed with the resynced offset:\n{}", lines(&reqs));
    assert_eq!(count(&pre, "GET", TIME), 1, "the refused reads share one resync:\n{}", lines(&reqs));
    let kept = persisted(&s).unwrap();
    assert!(kept.offset_ms.abs() < 5_000, "the measured offset replaced the wrong one: {kept:?}");
    s.assert_protected(&cid("STOP", 1), &cid("TP", 1));
    s.finish();
}

/// A -1021 after reconcile (here on the ENTRY itself, once the exchange's clock moved 2 s
/// ahead, inside the recvWindow for the reads) resyncs in the middle of `enter`; that newer
/// measurement, not reconcile's, is what the next process starts from.
#[test]
fn a_resync_after_reconcile_is_kept_when_the_command_ends() {
    let s = Scenario::new();
    s.run(&["reconcile"]).code(0);
    let before = persisted(&s).expect("reconcile kept its offset");
    assert!(before.offset_ms.abs() < 1_000, "{before:?}");
    s.mock.state().server_offset_ms = 2_000;
    let msg = "Timestamp for this request is outside of the recvWindow.";
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::api_error(400, -1021, msg), 1);
    let from = s.mock.request_count();
    s.run(&["enter"]).code(0);
    let reqs = s.mock.requests()[from..].to_vec();
    let refused = reqs.iter().position(|r| r.role() == Some("ENTRY") && r.status == 400);
    let refused = refused.unwrap_or_else(|| panic!("the ENTRY refused with -1021:\n{}", lines(&reqs)));
    assert!(reqs[..refused].iter().all(|r| r.path != TIME), "reconcile used the young offset:\n{}", lines(&reqs));
    assert!(reqs[refused..].iter().any(|r| r.path == TIME), "resynced after the -1021:\n{}", lines(&reqs));
    let kept = persisted(&s).unwrap();
    assert!(kept.measured_ms > before.measured_ms, "{kept:?} after {before:?}");
    assert!((kept.offset_ms - 2_000).abs() < 1_000, "the resync's offset is kept: {kept:?}");
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 2, "the refused ENTRY and the same one once more");
    s.assert_protected(&cid("STOP", 1), &cid("TP", 1));
    s.finish();
}

/// A reconcile that changed something on the exchange (here: the TP left after the STOP fired is
/// cancelled) hands nothing to pre-flight: the snapshot and the ENTRY look-up are read again
/// after the repair, never taken from before it.
#[test]
fn a_repair_in_reconcile_makes_pre_flight_read_again() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.set_mark(dec!(38950));
    assert_eq!(s.mock.position(), Decimal::ZERO, "the STOP fired");
    let next = "b2c3d4e5f6a7";
    s.add_plan(next);
    let from = s.mock.request_count();
    s.run(&["enter"]);
    let reqs = s.mock.requests()[from..].to_vec();
    let cancel = reqs
        .iter()
        .find(|r| r.method == "DELETE" && r.client_id() == Some(cid("TP", 1).as_str()))
        .expect("reconcile cancelled the TP");
    for path in SNAPSHOT {
        assert!(
            reqs.iter().any(|r| r.path == path && r.seq > cancel.seq),
            "{path} read again after the repair:\n{}",
            lines(&reqs)
        );
    }
    let entry = format!("mc_{next}_ENTRY_1");
    assert!(
        reqs.iter()
            .any(|r| r.method == "GET" && r.path == ORDER && r.client_id() == Some(&entry) && r.seq > cancel.seq),
        "the ENTRY look-up is made after the repair:\n{}",
        lines(&reqs)
    );
    s.finish();
}

/// A fresh account (CROSSED 20x): `marginType` and `leverage` go out together, before the ENTRY,
/// the second sent before the first is answered.
#[test]
fn a_fresh_account_gets_margin_type_and_leverage_at_once() {
    let s = Scenario::new();
    {
        let mut st = s.mock.state();
        st.book.isolated = false;
        st.book.leverage = 20;
    }
    s.mock.set_latency_ms(150);
    s.run(&["enter"]).code(0);
    let reqs = s.mock.requests();
    let margin = reqs.iter().find(|r| r.method == "POST" && r.path == "/fapi/v1/marginType").expect("marginType");
    let lever = reqs.iter().find(|r| r.method == "POST" && r.path == "/fapi/v1/leverage").expect("leverage");
    assert_eq!((margin.param("marginType"), lever.param("leverage")), (Some("ISOLATED"), Some("1")));
    assert!(
        margin.arrived.max(lever.arrived) < margin.answered.unwrap().min(lever.answered.unwrap()),
        "{}",
        lines(&reqs)
    );
    let entry = s.request("POST", ORDER, &cid("ENTRY", 1));
    assert!(margin.seq.max(lever.seq) < entry.seq, "{}", lines(&reqs));
    let st = s.mock.state();
    assert!(st.book.isolated && st.book.leverage == 1);
    drop(st);
    s.finish();
}

/// Only what differs is sent: an ISOLATED account at 20x gets `leverage`, no `marginType`.
#[test]
fn only_the_setting_that_differs_is_sent() {
    let s = Scenario::new();
    s.mock.state().book.leverage = 20;
    s.run(&["enter"]).code(0);
    let writes = s.mock.writes();
    assert_eq!(writes[0], "POST /fapi/v1/leverage", "{writes:?}");
    assert_eq!(writes[1], format!("POST {ORDER} {}", cid("ENTRY", 1)), "{writes:?}");
    assert!(!writes.iter().any(|w| w.contains("marginType")), "{writes:?}");
    s.finish();
}
