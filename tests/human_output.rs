//! Output for people through the binary (issue 14 item 9): `status` text aligned with units and
//! UTC times, `-q`/`-v`/`RUST_LOG` change what stderr shows, every subcommand's `--help` has a
//! sentence and an example (and the order-sending ones say so), completions and the man page are
//! generated and parse. `--json` shapes are pinned elsewhere (cli_foundation, paper_modes).

use crate::support::TestEnv;

const SUBCOMMANDS: [&str; 16] = [
    "init",
    "evaluate",
    "enter",
    "protect",
    "reconcile",
    "exit",
    "halt",
    "replay",
    "status",
    "tick",
    "sim",
    "trades",
    "notify",
    "doctor",
    "completions",
    "man",
];

#[test]
fn status_text_is_aligned_with_utc_times_and_no_quoted_decimals() {
    let env = TestEnv::new();
    env.run(&["tick"]).code(0);
    let out = env.run(&["status"]);
    out.code(0);
    let lines: Vec<&str> = out.stdout.lines().collect();
    // Every row is `label:` then the value in one column.
    let col = |l: &str| l.find(':').map(|i| i + 1 + l[i + 1..].len() - l[i + 1..].trim_start().len());
    let first = col(lines[0]).unwrap();
    assert!(lines.iter().all(|l| col(l) == Some(first) || l.starts_with(' ')), "{}", out.stdout);
    for label in ["mode:", "paper:", "position:", "plan:", "last reconcile:", "posture:"] {
        assert!(lines.iter().any(|l| l.starts_with(label)), "{label} missing: {}", out.stdout);
    }
    // Times to the second in UTC (`…:05Z`), never milliseconds or quoted JSON strings.
    assert!(out.stdout.contains("Z ("), "{}", out.stdout);
    assert!(!out.stdout.contains(".000Z") && !out.stdout.contains('"'), "{}", out.stdout);
}

#[test]
fn quiet_silences_stderr_verbose_adds_and_rust_log_wins() {
    let run = |args: &[&str], env_vars: &[(&str, &str)]| {
        let env = TestEnv::new(); // a fresh DB: migrations log at info
        let mut c = env.command();
        c.env_remove("RUST_LOG");
        for (k, v) in env_vars {
            c.env(k, v);
        }
        let out = c.args(args).output().unwrap();
        assert!(out.status.success(), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8(out.stderr).unwrap()
    };
    let default = run(&["tick"], &[]);
    assert!(default.contains("schema migrated") && !default.contains("DEBUG"), "{default}");
    assert_eq!(run(&["-q", "tick"], &[]), "", "-q keeps only warnings (there are none)");
    let verbose = run(&["-v", "tick"], &[]);
    for event in ["config.loaded", "lock.acquired", "paper.clock", "command.done"] {
        assert!(verbose.contains(event), "-v lacks {event}: {verbose}");
    }
    assert!(!verbose.contains("TRACE"));
    assert!(run(&["tick"], &[("RUST_LOG", "mcbot=debug")]).contains("command.done"));
    assert_eq!(run(&["-v", "tick"], &[("RUST_LOG", "off")]), "", "RUST_LOG wins over -v");
    let bad = run(&["-q", "tick"], &[("RUST_LOG", "mcbot=[")]);
    assert!(bad.contains("RUST_LOG") && bad.contains("ignored"), "{bad}");
}

#[test]
fn every_subcommand_help_has_a_sentence_and_an_example() {
    let env = TestEnv::new();
    let top = env.run(&["--help"]);
    top.code(0);
    for c in SUBCOMMANDS {
        assert!(top.stdout.contains(c), "top-level help lacks {c}");
        let out = env.run(&[c, "--help"]);
        out.code(0);
        let text = &out.stdout;
        assert!(text.lines().next().is_some_and(|l| l.split_whitespace().count() >= 4), "{c}: {text}");
        assert!(text.contains("Example") && text.contains(&format!("mcbot {c}")), "{c} has no example: {text}");
    }
    for c in ["enter", "exit", "tick"] {
        let text = env.run(&[c, "--help"]).stdout;
        assert!(text.to_lowercase().contains("real orders"), "{c} must say it sends real orders: {text}");
    }
    // --json with --help is one JSON object carrying the text.
    let v = env.run(&["--json", "tick", "--help"]).json();
    assert!(v["help"].as_str().unwrap().contains("Example"));
}

#[test]
fn completions_and_man_page_are_generated_and_parse() {
    let env = TestEnv::empty(); // no config needed
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let out = env.run(&["completions", shell]);
        out.code(0);
        for c in ["tick", "status", "halt", "completions"] {
            assert!(out.stdout.contains(c), "{shell} completions lack {c}");
        }
        assert!(out.stdout.contains("config") && out.stdout.contains("paper-mode"), "{shell}");
        // Syntax-check where the shell is installed (bash always is on CI).
        let check = match shell {
            "bash" => Some(("bash", "-n")),
            "zsh" => Some(("zsh", "-n")),
            "fish" => Some(("fish", "--no-execute")),
            _ => None,
        };
        if let Some((bin, flag)) = check {
            let path = env.path().join(format!("mcbot.{shell}"));
            std::fs::write(&path, &out.stdout).unwrap();
            match std::process::Command::new(bin).arg(flag).arg(&path).output() {
                Ok(r) => assert!(r.status.success(), "{shell}: {}", String::from_utf8_lossy(&r.stderr)),
                Err(_) => eprintln!("skipped: {bin} is not installed"),
            }
        }
    }
    env.run(&["completions", "tcsh"]).code(2);

    let out = env.run(&["man"]);
    out.code(0);
    let pages: Vec<&str> = out.stdout.lines().filter(|l| l.starts_with(".TH ")).collect();
    assert_eq!(pages.len(), 1 + SUBCOMMANDS.len(), "{pages:?}");
    assert!(pages[0].starts_with(".TH mcbot 1"));
    assert!(pages.iter().any(|p| p.starts_with(".TH mcbot-tick 1")));
    assert!(out.stdout.contains(".SH OPTIONS") && out.stdout.contains("RUST_LOG"));
    // Render with groff where installed: no warnings at the strictest level.
    let path = env.path().join("mcbot.1");
    std::fs::write(&path, &out.stdout).unwrap();
    match std::process::Command::new("groff").args(["-man", "-Tutf8", "-ww", "-z"]).arg(&path).output() {
        Ok(r) => assert!(r.status.success() && r.stderr.is_empty(), "{}", String::from_utf8_lossy(&r.stderr)),
        Err(_) => eprintln!("skipped: groff is not installed"),
    }
    assert!(!env.path().join("state").exists() && !env.path().join("mcbot.toml").exists(), "no state created");
}

/// The cooldown is shown as candles and time left with its end in UTC, not raw milliseconds.
#[test]
fn status_shows_the_cooldown_as_candles_and_time_left() {
    let env = TestEnv::new();
    env.run(&["tick"]).code(0);
    let now = env.count("SELECT now_ms FROM paper_clock");
    let until = now + 2 * 14_400_000 - 60_000;
    env.db().execute("UPDATE system_state SET cooldown_until_ms = ?1 WHERE id = 1", [until]).unwrap();
    let out = env.run(&["status"]);
    let line = out.stdout.lines().find(|l| l.starts_with("cooldown:")).unwrap_or_else(|| panic!("{}", out.stdout));
    assert!(line.contains("2 candles (7h 59m) left, until 20"), "{line}");
    assert!(!line.contains(&until.to_string()), "{line}");
}
