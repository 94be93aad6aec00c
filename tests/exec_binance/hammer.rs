//! Issue 11 item 1, the race without a resting order: `halt` lands at a seeded random moment of
//! a running `enter`, round after round, on one state DB. The mode check and the ENTRY intent are
//! one IMMEDIATE transaction against `halt`'s write, so whichever commits first wins: the journal
//! may show a refused entry or an ENTRY followed by the HALT, never an ENTRY intent after a HALT
//! (`replay --all`: `entry_while_halted`), and `halt` itself never fails on a locked DB.
//!
//! The halt is started by the mock as it answers `enter`'s last pre-entry read, which it holds
//! back for a seeded delay, so the halt lands around the mode check and the intent rather than anywhere in the run: a
//! check outside the intent's transaction is caught within a few rounds.

use super::*;
use crate::support::fault::Hook;
use std::sync::{mpsc, Arc, Mutex};

/// A tiny seeded generator (xorshift): the same delays on every run of the test.
struct Seeded(u64);

impl Seeded {
    fn next_ms(&mut self, below: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % below
    }
}

const ROUNDS: u32 = 40;

#[test]
fn a_halt_at_any_moment_of_enter_never_lets_an_entry_intent_follow_it() {
    let s = Scenario::new();
    let mut rng = Seeded(0x5eed_1111);
    let (mut entered, mut refused) = (0, 0);
    for round in 0..ROUNDS {
        let plan_id = if round == 0 { PLAN.to_string() } else { format!("{:012x}", 0xb000_0000u64 + u64::from(round)) };
        if round > 0 {
            s.add_plan(&plan_id);
        }
        let (tx, rx) = mpsc::channel();
        let delay = rng.next_ms(16);
        let halt = halt_command(&s);
        let tx = Mutex::new(tx);
        s.mock.on(
            "GET",
            "/fapi/v1/premiumIndex",
            None,
            Fault::Hook(Hook(Arc::new(move || {
                let mut c = halt();
                let tx = lock_sender(&tx);
                std::thread::spawn(move || {
                    let _ = tx.send(c.output().map(|o| Outcome::of(&o)));
                });
                // The answer waits: the halt gets a seeded head start on the mode check.
                std::thread::sleep(std::time::Duration::from_millis(delay));
            }))),
            1,
        );
        let child = s.spawn(&["enter"]);
        let out = Outcome::of(&child.wait_with_output().unwrap());
        let halt = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("the halt ran").unwrap();
        assert_eq!(halt.code, 0, "round {round}: halt must never wait or fail: {}", halt.stdout);
        match out.code {
            0 => entered += 1,
            3 => refused += 1,
            c => panic!("round {round}: enter exited {c}: {}", out.stdout),
        }
        // Back to flat, reconciled and running for the next round (exits are never blocked).
        if s.mock.position() != Decimal::ZERO {
            s.run(&["exit"]).code(0);
        }
        s.env.db().execute("UPDATE system_state SET cooldown_until_ms = NULL", []).unwrap();
        s.run(&["reconcile"]);
        s.run(&["halt", "--resume"]).code(0);
    }
    eprintln!("{ROUNDS} rounds: {entered} entered before the halt, {refused} refused by it");
    assert_eq!(entered + refused, ROUNDS);
    s.finish();
}

/// A `mcbot halt --reason hammer` for this scenario, built fresh on every call (for the hook).
fn halt_command(s: &Scenario) -> impl Fn() -> std::process::Command + Send + Sync + 'static {
    let (dir, config) = (s.env.path().to_path_buf(), s.env.config_path());
    move || {
        let mut c = std::process::Command::new(assert_cmd::cargo::cargo_bin("mcbot"));
        c.current_dir(&dir).env_remove("MCBOT_CONFIG").arg("--config").arg(&config);
        c.args(["--json", "halt", "--reason", "hammer"]);
        c
    }
}

fn lock_sender<T>(tx: &Mutex<mpsc::Sender<T>>) -> mpsc::Sender<T> {
    tx.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clone()
}
