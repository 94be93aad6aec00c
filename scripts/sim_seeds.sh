#!/usr/bin/env bash
# Runs `mcbot sim` over the whole shipped 4h file: once without faults, then with --faults RATE for
# SEEDS seeds (default 0.05 and 20). Prints one line per run and exits non-zero if any run broke an
# invariant. Usage: scripts/sim_seeds.sh [SEEDS] [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
seeds=${1:-20}
rate=${2:-0.05}
cargo build --release --quiet
bin=target/release/mcbot
fail=0
run() {
  local out
  out=$("$bin" --json -q sim "$@") || fail=1
  python3 - "$out" "$*" <<'PY' || fail=1
import json, sys
r = json.loads(sys.argv[1]); inv = r["invariants"]
ok = r["outcome"] == "ok"
print(f'{sys.argv[2]:<28} {r["outcome"]:<10} trades {r["trades"]:>4}  pnl {r["pnl"]:>9}  dd {r["max_drawdown_pct"]:>5}%  '
      f'crashes {r["crashes_recovered"]:>5}  forced {r["forced_closes"]:>3}  halts {r["halts"]:>3}  '
      f'unprotected {inv["unprotected_at_candle_close"]} dup {inv["duplicate_entries"]} replay {inv["replay_violations"]}')
sys.exit(0 if ok else 1)
PY
}
run --faults 0
for s in $(seq 1 "$seeds"); do run --faults "$rate" --seed "$s"; done
if [ "$fail" -ne 0 ]; then echo "SOME RUN BROKE AN INVARIANT"; exit 1; fi
echo "all runs: every invariant held"
