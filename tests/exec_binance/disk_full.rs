//! Issue 11 item 2, protection before bookkeeping: the state DB stops taking writes in the middle
//! of a command (the disk fills, or the file-size limit hits). The real binary runs with SIGXFSZ
//! ignored, and the mock sets its RLIMIT_FSIZE to 0 at the exact request named, so from then on
//! every write to a regular file fails the way a full disk does. AC1 (no position without a
//! STOP) and AC3 (every failure ends in a safe close or a HALT) must hold without the journal.

use super::*;
use crate::support::fault::Hook;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

/// A running `mcbot --json -v <args>` whose file writes the mock can cut off.
struct Unwritable {
    pid: Arc<AtomicI32>,
}

impl Unwritable {
    /// The hook that makes every later file write of the process fail (EFBIG, as for a full disk).
    fn cut_off(&self) -> Fault {
        let pid = Arc::clone(&self.pid);
        Fault::Hook(Hook(Arc::new(move || {
            if let Some(p) = rustix::process::Pid::from_raw(pid.load(Ordering::SeqCst)) {
                let none = rustix::process::Rlimit { current: Some(0), maximum: Some(0) };
                let _ = rustix::process::prlimit(Some(p), rustix::process::Resource::Fsize, none);
            }
        })))
    }

    /// Runs the command to its end; the hook armed by `cut_off` fires when its request arrives.
    fn run(&self, s: &Scenario, args: &[&str]) -> Outcome {
        let mut c = under_sh(s, "", args);
        c.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
        let child = c.spawn().unwrap();
        self.pid.store(i32::try_from(child.id()).unwrap(), Ordering::SeqCst);
        Outcome::of(&child.wait_with_output().unwrap())
    }
}

/// `mcbot --json -v <args>` through `sh`, with SIGXFSZ ignored (so a write past the file-size
/// limit fails with EFBIG instead of killing the process) and `prelude` run first.
fn under_sh(s: &Scenario, prelude: &str, args: &[&str]) -> std::process::Command {
    let mut c = std::process::Command::new("sh");
    c.arg("-c").arg(format!(r#"trap '' XFSZ; {prelude} exec "$0" "$@""#)).arg(assert_cmd::cargo::cargo_bin("mcbot"));
    c.current_dir(s.env.path()).env_remove("MCBOT_CONFIG").arg("--config").arg(s.env.config_path());
    c.args(["--json", "-v"]).args(args);
    c.env("MCBOT_API_KEY", API_KEY).env("MCBOT_API_SECRET", API_SECRET);
    c
}

fn unwritable() -> Unwritable {
    Unwritable { pid: Arc::new(AtomicI32::new(0)) }
}

/// The open protective orders on the exchange, as `ROLE@trigger qty`.
fn working(s: &Scenario) -> Vec<String> {
    let mut v: Vec<String> =
        s.mock.open_algos().iter().map(|a| format!("{}@{} {}", a.client_id, a.trigger, a.qty)).collect();
    v.sort();
    v
}

/// The disk fills while the ENTRY is on its way: the fill cannot be journaled, yet the STOP and
/// the TP go out under the ids whose intents were committed with the ENTRY's, and the command
/// ends with exit 10 saying the state cannot be written. Once space returns, `reconcile` adopts
/// the position with the same working orders and the journal replays clean.
#[test]
fn disk_full_after_the_entry_still_protects_the_fill_and_exits_10() {
    let s = Scenario::new();
    let u = unwritable();
    s.mock.on("POST", ORDER, Some("ENTRY"), u.cut_off(), 1);
    let out = u.run(&s, &["enter"]);
    out.code(10);
    let j = out.json();
    assert_eq!(j["outcome"], "state_unwritable", "{j}");
    let msg = j["error"].as_str().unwrap();
    assert!(msg.contains("cannot be written") && msg.contains("position protected"), "{msg}");
    assert_eq!(j["protected"], true, "{j}");
    // The exchange: one ENTRY, then STOP_1 and TP_1 for the whole fill; nothing closed.
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1);
    s.before(s.at("POST", ORDER, &cid("ENTRY", 1)), s.at("POST", ALGO, &cid("STOP", 1)));
    assert_eq!(s.mock.position(), dec!(0.010));
    assert_eq!(working(&s), [format!("{}@39000 0.01", cid("STOP", 1)), format!("{}@42000 0.01", cid("TP", 1))]);
    assert_eq!(s.count_role("POST", ORDER, "CLOSE"), 0);
    // The DB: only what was committed before the ENTRY went out (its intent and the STOP/TP's).
    assert_eq!(s.events(&cid("ENTRY", 1)), ["SUBMITTING"]);
    assert_eq!(s.events(&cid("STOP", 1)), ["SUBMITTING"]);
    assert_eq!(s.events(&cid("TP", 1)), ["SUBMITTING"]);

    // Space returns: reconcile finds the fill by client id and keeps the working orders.
    let mark = s.mock.request_count();
    let rec = s.run(&["reconcile"]);
    assert!(matches!(rec.code, 0 | 3), "{}", rec.stdout);
    assert!(
        s.mock.writes_since(mark).is_empty(),
        "reconcile replaced working protection: {:?}",
        s.mock.writes_since(mark)
    );
    assert_eq!(s.events(&cid("STOP", 1)).last().map(String::as_str), Some("ACKED"));
    let (state, qty, _) = s.position();
    assert_eq!((state.as_str(), qty.as_str()), ("OPEN", "0.010"));
    s.finish();
}

/// The same full disk, and the exchange refuses the STOP: the fill is closed at market without
/// the journal (CLOSE reduce-only for the whole fill), nothing is left working, exit 10.
#[test]
fn disk_full_and_a_refused_stop_close_the_fill_without_the_journal() {
    let s = Scenario::new();
    let u = unwritable();
    s.mock.on("POST", ORDER, Some("ENTRY"), u.cut_off(), 1);
    s.mock.on("POST", ALGO, Some("STOP"), Fault::api_error(400, -2021, "Order would immediately trigger."), 2);
    let out = u.run(&s, &["enter"]);
    out.code(10);
    let j = out.json();
    assert_eq!((j["outcome"].as_str(), j["closed"].as_bool()), (Some("state_unwritable"), Some(true)), "{j}");
    assert!(j["error"].as_str().unwrap().contains("position closed"), "{j}");
    let close = s.request("POST", ORDER, &cid("CLOSE", 1));
    assert_eq!(
        (close.param("side"), close.param("quantity"), close.param("reduceOnly")),
        (Some("SELL"), Some("0.01"), Some("true"))
    );
    assert_eq!(s.mock.position(), Decimal::ZERO);
    assert!(working(&s).is_empty(), "{:?}", working(&s));
    assert_eq!(s.count_role("POST", ALGO, "TP"), 0, "no TP for a position being closed");
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1);
}

/// Reconcile under the same conditions protects a naked position before anything is journaled:
/// the STOP/TP were cancelled by hand and the first write of the run fails. The failsafe reuses
/// the ids the journal holds (Binance refuses a client id only while it is open), so the
/// reconcile after space returns knows the new orders as its own, not another instance's.
#[test]
fn reconcile_on_a_full_disk_protects_a_naked_position_first() {
    let s = Scenario::new();
    s.run(&["enter"]).code(0);
    s.mock.cancel_all_algos();
    let u = unwritable();
    s.mock.on("GET", "/fapi/v1/openAlgoOrders", None, u.cut_off(), 1);
    let mark = s.mock.request_count();
    let out = u.run(&s, &["reconcile"]);
    out.code(10);
    assert_eq!(out.json()["outcome"], "state_unwritable", "{}", out.stdout);
    let writes = s.mock.writes_since(mark);
    assert_eq!(
        writes,
        [format!("POST {ALGO} {}", cid("STOP", 1)), format!("POST {ALGO} {}", cid("TP", 1))],
        "{writes:?}"
    );
    assert_eq!(working(&s), [format!("{}@39000 0.01", cid("STOP", 1)), format!("{}@42000 0.01", cid("TP", 1))]);
    // Space returns: reconcile learns the new orders and leaves them working.
    let mark = s.mock.request_count();
    let rec = s.run(&["reconcile"]);
    assert!(matches!(rec.code, 0 | 3), "{}", rec.stdout);
    assert!(s.mock.writes_since(mark).is_empty(), "{:?}", s.mock.writes_since(mark));
    s.finish();
}

/// No exposure and a DB that cannot be written: exit 2 saying so, no ENTRY sent, as when the DB
/// cannot be opened at all.
#[test]
fn a_full_disk_with_nothing_exposed_sends_no_entry_and_exits_2() {
    let s = Scenario::new();
    let u = unwritable();
    s.mock.on("GET", "/fapi/v1/time", None, u.cut_off(), 1);
    let mark = s.mock.request_count();
    let out = u.run(&s, &["enter"]);
    out.code(2);
    assert!(out.stdout.contains("cannot be written"), "{}", out.stdout);
    assert!(s.mock.writes_since(mark).is_empty(), "{:?}", s.mock.writes_since(mark));
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 0);
}

/// The class, not the example: the state stops taking writes at each request of `enter` after
/// the ENTRY (the ENTRY, the STOP, the TP; and for a partial fill, the fill window's look-up).
/// Whatever the position, the fill ends covered by exactly one STOP and one TP for its full size,
/// never a second ENTRY and never a duplicate protective order, and the command exits 10.
#[test]
fn a_write_failure_at_every_request_after_the_entry_ends_protected() {
    let partial = Fault::PartialFill { qty: dec!(0.004), complete_after_ms: Some(300), rest_price: None };
    let cases: Vec<(&str, &str, Option<&str>, Option<Fault>)> = vec![
        ("POST", ORDER, Some("ENTRY"), None),
        ("POST", ALGO, Some("STOP"), None),
        ("POST", ALGO, Some("TP"), None),
        ("GET", ORDER, Some("ENTRY"), Some(partial)),
    ];
    for (method, path, role, entry) in cases {
        let s = Scenario::new();
        if let Some(a) = entry {
            s.mock.on("POST", ORDER, Some("ENTRY"), a, 1);
        }
        let u = unwritable();
        s.mock.on(method, path, role, u.cut_off(), 1);
        let out = u.run(&s, &["enter"]);
        let case = format!("cut off at {method} {path} {role:?}");
        out.code(10);
        assert_eq!(out.json()["outcome"], "state_unwritable", "{case}: {}", out.stdout);
        assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 1, "{case}");
        let pos = s.mock.position();
        assert!(pos > Decimal::ZERO, "{case}");
        let algos = s.mock.open_algos();
        for role in ["STOP", "TP"] {
            let of_role: Vec<_> = algos.iter().filter(|a| a.client_id.contains(&format!("_{role}_"))).collect();
            assert_eq!(of_role.len(), 1, "{case}: one working {role}: {algos:?}");
            assert!(of_role[0].qty >= pos, "{case}: the {role} covers {pos}: {algos:?}");
        }
    }
}

/// Issue 16 item 6 meets issue 11 item 2: a -1021 on the ENTRY (the exchange's clock moved 2 s)
/// and the disk fills as the adapter resyncs. The resent ENTRY fills and is protected without the
/// journal, exit 10 as for any full disk; keeping the new offset at the command's end fails too,
/// is logged, and changes nothing else: the state DB still holds the offset reconcile measured.
#[test]
fn disk_full_at_the_resync_after_a_1021_keeps_the_protection_and_the_old_offset() {
    let s = Scenario::new();
    s.run(&["reconcile"]).code(0);
    let before = s.store().clock_sync().unwrap().expect("reconcile kept its offset");
    s.mock.state().server_offset_ms = 2_000;
    let msg = "Timestamp for this request is outside of the recvWindow.";
    s.mock.on("POST", ORDER, Some("ENTRY"), Fault::api_error(400, -1021, msg), 1);
    let u = unwritable();
    s.mock.on("GET", "/fapi/v1/time", None, u.cut_off(), 1);
    let out = u.run(&s, &["enter"]);
    out.code(10);
    let j = out.json();
    assert_eq!((j["outcome"].as_str(), j["protected"].as_bool()), (Some("state_unwritable"), Some(true)), "{j}");
    assert!(out.stderr.contains("clock_sync.unsaved"), "the lost offset is logged:\n{}", out.stderr);
    assert_eq!(s.count_role("POST", ORDER, "ENTRY"), 2, "the refused ENTRY and the same one once more");
    assert_eq!(s.mock.position(), dec!(0.010));
    assert_eq!(working(&s), [format!("{}@39000 0.01", cid("STOP", 1)), format!("{}@42000 0.01", cid("TP", 1))]);
    assert_eq!(s.store().clock_sync().unwrap(), Some(before), "nothing was written");
    // Space returns: the next process signs with the kept offset (2 s off, inside the recvWindow)
    // and adopts the fill with the working orders.
    let mark = s.mock.request_count();
    let rec = s.run(&["reconcile"]);
    assert!(matches!(rec.code, 0 | 3), "{}", rec.stdout);
    assert!(s.mock.writes_since(mark).is_empty(), "{:?}", s.mock.writes_since(mark));
    let (state, qty, _) = s.position();
    assert_eq!((state.as_str(), qty.as_str()), ("OPEN", "0.010"));
    s.finish();
}

/// Issue 11, bad input the same work must keep right: a state that is unusable before anything
/// was read — a full disk (file-size limit 0) from the start, a directory where the lock file
/// should be, a state DB cut in half — is a clear message, exit 2, no panic, and not a single
/// request to the exchange.
#[test]
fn an_unusable_state_at_start_is_exit_2_and_sends_nothing() {
    type Spoil = fn(&Scenario);
    let cases: [(&str, Spoil); 3] = [
        ("no space from the start", |_| {}),
        ("a directory at the lock path", |s| {
            std::fs::create_dir(s.env.path().join("state/mcbot.db.lock")).unwrap();
        }),
        ("the state DB cut in half", |s| {
            let db = s.env.db();
            db.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
            drop(db);
            let path = s.env.db_path();
            let bytes = std::fs::read(&path).unwrap();
            std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
        }),
    ];
    for (case, spoil) in cases {
        let s = Scenario::new();
        spoil(&s);
        let mark = s.mock.request_count();
        let out = if case == "no space from the start" {
            Outcome::of(&under_sh(&s, "ulimit -f 0;", &["enter"]).output().unwrap())
        } else {
            s.run(&["enter"])
        };
        assert_eq!(out.code, 2, "{case}: {}{}", out.stdout, out.stderr);
        let j = out.json();
        assert!(j["error"].as_str().is_some_and(|e| e.contains("state")), "{case}: {j}");
        assert_eq!(s.mock.request_count(), mark, "{case}: {:?}", s.mock.writes_since(mark));
    }
}
