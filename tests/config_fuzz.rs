//! Seeded fuzz of the config (issue 14 item 3; seed 000: a configuration problem is exit 2 naming
//! its key). Each case takes `init`'s example file, mutates one value (a hostile literal, a value
//! of another type, a deleted or duplicated line, an unknown key) and loads it in-process. What
//! must hold, every time: no panic; the result is Ok or `ConfigError::Invalid` naming the mutated
//! dotted key (or one a cross-field rule ties to it); and loading created nothing in the folder.

use mcbot::config::{self, ConfigError, EXAMPLE_TOML};
use proptest::prelude::*;
use proptest::test_runner::{Config as PtConfig, RngAlgorithm, TestRng, TestRunner};
use std::path::Path;

/// A `key = value` line of the example: its index, dotted key and bare key.
fn example_keys() -> Vec<(usize, String, String)> {
    let mut section = String::new();
    let mut out = Vec::new();
    for (i, line) in EXAMPLE_TOML.lines().enumerate() {
        let t = line.split('#').next().unwrap_or_default().trim();
        if t.starts_with('[') {
            section = t.trim_matches(|c| c == '[' || c == ']').to_string();
        } else if let Some((k, _)) = t.split_once('=') {
            let k = k.trim().to_string();
            let dotted = if section.is_empty() { k.clone() } else { format!("{section}.{k}") };
            out.push((i, dotted, k));
        }
    }
    out
}

/// Keys a cross-field rule may name when `key` changes (the rule names its own left side).
fn related(key: &str) -> &'static [&'static str] {
    match key {
        "symbol" => &["paper.candles", "paper.funding"],
        "strategy.interval" => &["paper.candles"],
        "strategy.atr_max_pct" => &["strategy.atr_min_pct"],
        "strategy.ema_slow" => &["strategy.ema_fast", "strategy.warmup"],
        "strategy.ema_fast" => &["strategy.warmup"],
        "strategy.history" | "strategy.atr_period" | "strategy.atr_sma_period" | "strategy.breakout_lookback" => {
            &["strategy.warmup"]
        }
        // The posture thresholds are ordered (enter rising, each exit below its enter).
        "posture.yellow_enter" => &["posture.orange_enter", "posture.yellow_exit"],
        "posture.orange_enter" => &["posture.red_enter", "posture.orange_exit"],
        "posture.red_enter" => &["posture.red_exit"],
        _ => &[],
    }
}

/// A value written into the file: typed values serialised as TOML, or hostile raw text.
#[derive(Debug, Clone)]
enum Mutation {
    Value(String),
    Delete,
    Duplicate,
    Unknown(String),
}

fn hostile_raw() -> impl Strategy<Value = String> {
    prop_oneof![
        Just(String::new()),
        Just("1e400".to_string()),
        Just("-1e400".to_string()),
        Just("99999999999999999999".to_string()),
        Just("-9223372036854775809".to_string()),
        Just("\"ß\"".to_string()),
        Just("\"4é\"".to_string()),
        Just("\"ß".to_string()),
        Just("0x".to_string()),
        Just("1__0".to_string()),
        Just("nan".to_string()),
        Just("-inf".to_string()),
        Just("+1.".to_string()),
        Just("[1,".to_string()),
        Just("{".to_string()),
        Just("2024-13-01".to_string()),
        Just("1979-05-27T07:32:00Z".to_string()),
        Just("\"0.5\"".to_string()),
        Just("\"9223372036854775807m\"".to_string()),
        Just("\"http://127.0.0.1:99999\"".to_string()),
        Just("\"/dev/zero\"".to_string()),
        Just("\"/dev/null\"".to_string()),
        Just("\".\"".to_string()),
        Just("\"state\"".to_string()),
        Just("\"ETHUSDT\"".to_string()),
        Just("\"1h\"".to_string()),
        Just("\"10m\"".to_string()),
        Just("\"1M\"".to_string()),
    ]
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => hostile_raw().prop_map(Mutation::Value),
        2 => any::<i64>().prop_map(|i| Mutation::Value(i.to_string())),
        2 => any::<f64>().prop_map(|f| Mutation::Value(toml::Value::Float(f).to_string())),
        2 => any::<String>().prop_map(|s| Mutation::Value(toml::Value::String(s).to_string())),
        1 => any::<bool>().prop_map(|b| Mutation::Value(b.to_string())),
        1 => Just(Mutation::Value("[1, 2]".to_string())),
        1 => Just(Mutation::Value("{ a = 1 }".to_string())),
        1 => Just(Mutation::Delete),
        1 => Just(Mutation::Duplicate),
        1 => "[a-z_]{1,12}".prop_map(Mutation::Unknown),
    ]
}

/// The folder a case runs in: the example's data paths hold a short valid BTCUSDT 4h series.
fn fixture_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join("data")).unwrap();
    let mut candles = String::from("open_time_ms,open,high,low,close,volume,close_time_ms\n");
    let step = 14_400_000_i64;
    for i in 0..40 {
        let t = 1_577_836_800_000 + i * step;
        candles.push_str(&format!("{t},100,101,99,100.5,10,{}\n", t + step - 1));
    }
    std::fs::write(dir.path().join("data/BTCUSDT-4h.csv"), candles).unwrap();
    std::fs::write(dir.path().join("data/BTCUSDT-funding.csv"), "funding_time_ms,funding_rate\n1577836800000,0.0001\n")
        .unwrap();
    dir
}

fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        walk(dir).into_iter().map(|p| p.strip_prefix(dir).unwrap().display().to_string()).collect();
    v.sort();
    v
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

fn apply(keys: &[(usize, String, String)], pick: usize, m: &Mutation) -> (String, String) {
    let (line_no, dotted, bare) = &keys[pick % keys.len()];
    let mut lines: Vec<String> = EXAMPLE_TOML.lines().map(str::to_string).collect();
    let key = match m {
        Mutation::Value(v) => {
            lines[*line_no] = format!("{bare} = {v}");
            dotted.clone()
        }
        Mutation::Delete => {
            lines[*line_no] = String::new();
            dotted.clone()
        }
        Mutation::Duplicate => {
            let l = lines[*line_no].clone();
            lines.insert(line_no + 1, l);
            dotted.clone()
        }
        Mutation::Unknown(k) => {
            // An unknown key beside `dotted`, in the same section; a real key name is a duplicate.
            lines.insert(line_no + 1, format!("{k} = 1"));
            match dotted.rsplit_once('.') {
                Some((section, _)) => format!("{section}.{k}"),
                None => k.clone(),
            }
        }
    };
    (lines.join("\n") + "\n", key)
}

#[test]
fn config_mutations_are_ok_or_exit_2_naming_the_key_and_create_nothing() {
    let keys = example_keys();
    assert!(keys.len() > 40, "the example should show every key ({} found)", keys.len());
    let dir = fixture_dir();
    let cfg_path = dir.path().join("mcbot.toml");
    std::fs::write(&cfg_path, EXAMPLE_TOML).unwrap();
    config::load(&cfg_path).expect("the example itself loads");
    let before = listing(dir.path());

    let seed = [14u8; 32];
    let mut runner = TestRunner::new_with_rng(
        PtConfig { cases: 400, failure_persistence: None, ..PtConfig::default() },
        TestRng::from_seed(RngAlgorithm::ChaCha, &seed),
    );
    let result = runner.run(&(any::<usize>(), mutation()), |(pick, m)| {
        let (text, key) = apply(&keys, pick, &m);
        std::fs::write(&cfg_path, &text).unwrap();
        match config::load(&cfg_path) {
            Ok(_) => {}
            Err(ConfigError::Invalid { key: named, problem }) => {
                let ok = named == key || related(&key).contains(&named.as_str());
                prop_assert!(ok, "mutated `{key}` ({m:?}) but the error names `{named}`: {problem}");
                prop_assert!(!problem.is_empty());
            }
            Err(e @ ConfigError::File { .. }) => {
                prop_assert!(false, "mutated `{key}` ({m:?}): error names no key: {e}");
            }
        }
        prop_assert_eq!(listing(dir.path()), before.clone(), "loading created or removed files");
        Ok(())
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}
