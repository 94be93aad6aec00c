//! The shipped systemd units (issue 13 §4): `systemd-analyze verify` accepts them, OnFailure= is
//! wired to a template unit that exists, and HALTED (3) is not listed as success. Skips the
//! verify step where systemd-analyze is not installed.

use std::path::Path;

fn unit(name: &str) -> String {
    std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("cron").join(name)).unwrap()
}

#[test]
fn tick_unit_alerts_on_failure_and_does_not_hide_a_halt() {
    let tick = unit("mcbot-tick.service");
    assert!(tick.lines().any(|l| l == "OnFailure=mcbot-alert@%n.service"));
    let success: Vec<&str> =
        tick.lines().filter_map(|l| l.strip_prefix("SuccessExitStatus=")).flat_map(str::split_whitespace).collect();
    assert!(!success.contains(&"3") && !success.contains(&"10"), "exit 3/10 must fail the unit: {success:?}");
    let alert = unit("mcbot-alert@.service");
    assert!(alert.contains("ExecStart=/usr/local/bin/mcbot notify --message"));
}

#[test]
fn systemd_analyze_verify_accepts_the_units() {
    if std::process::Command::new("systemd-analyze").arg("--version").output().is_err() {
        eprintln!("skipped: systemd-analyze is not installed");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let bin = assert_cmd::cargo::cargo_bin("mcbot");
    for name in ["mcbot-tick.service", "mcbot-tick.timer", "mcbot-alert@.service"] {
        // The test host has neither /usr/local/bin/mcbot nor /etc/mcbot: point at the built binary.
        let text = unit(name)
            .replace("/usr/local/bin/mcbot", &bin.display().to_string())
            .replace("EnvironmentFile=/etc/", "EnvironmentFile=-/etc/");
        std::fs::write(dir.path().join(name), &text).unwrap();
        if name == "mcbot-alert@.service" {
            std::fs::write(dir.path().join("mcbot-alert@mcbot-tick.service.service"), &text).unwrap();
        }
    }
    let out = std::process::Command::new("systemd-analyze")
        .current_dir(dir.path())
        .args([
            "verify",
            "--man=no",
            "./mcbot-tick.service",
            "./mcbot-tick.timer",
            "./mcbot-alert@mcbot-tick.service.service",
        ])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && stderr.trim().is_empty(), "systemd-analyze verify: {stderr}");
}
