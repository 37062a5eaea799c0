#!/usr/bin/env bash
# `renew --due` at scale: 1,000 contexts with nothing due, against `ls` of
# the same 1,000 and /bin/true (goal: about as much as `ls`: it reads the
# expiry index and the server records and opens no keystore), and a run
# with 100 due (each renewed through its own transaction).
# Writes bench/results/renew.md.
# Usage: bench/renew.sh
set -euo pipefail
cd "$(dirname "$0")/.."
command -v hyperfine >/dev/null || { echo "bench: needs hyperfine (apt-get install hyperfine)" >&2; exit 1; }
bin=$(./scripts/build-release.sh)
work=$(mktemp -d /tmp/tlsctx-renew-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DOCKER_TLSCTX_KEYSTORE=file
make_cfg() { mkdir -p "$1" && echo '{}' > "$1/config.json"; }
make_cfg "$work/many"
for i in $(seq 1000); do
  DOCKER_CONFIG=$work/many "$bin" new "c$i" --host "tcp://10.0.$((i / 250)).$((i % 250 + 1)):2376" --no-server >/dev/null 2>&1
done
make_cfg "$work/due"
for i in $(seq 100); do
  DOCKER_CONFIG=$work/due "$bin" new "d$i" --host "tcp://10.1.0.$i:2376" --no-server --days 90 >/dev/null 2>&1
done
# 61 days on: every one of the 100 is due (2/3 of 90 days).
later=$(date -u -d '+61 days' +%Y-%m-%dT%H:%M:%SZ)
DOCKER_CONFIG=$work/many "$bin" ls >/dev/null  # the expiry index, as after any command
hyperfine -N --warmup 5 --runs 50 --export-json "$work/idle.json" \
  "/bin/true" \
  "env DOCKER_CONFIG=$work/many $bin ls" \
  "env DOCKER_CONFIG=$work/many $bin renew --due" >/dev/null 2>&1
# Once a run is recorded, `ls` adds a line on automatic renewal and asks
# the scheduler for it (issue 31: one `systemctl --user show`). Without a
# session (cron, su: no $XDG_RUNTIME_DIR) it is not asked; in one whose
# runtime folder has a bus socket path, systemctl is started (here it
# finds no manager behind it: the cost of the process and its refusal).
mkdir -p "$work/runtime" && : > "$work/runtime/bus"
hyperfine -N --warmup 5 --runs 50 --export-json "$work/asked.json" \
  "env -u XDG_RUNTIME_DIR -u DBUS_SESSION_BUS_ADDRESS DOCKER_CONFIG=$work/many $bin ls" \
  "env -u DBUS_SESSION_BUS_ADDRESS XDG_RUNTIME_DIR=$work/runtime DOCKER_CONFIG=$work/many $bin ls" >/dev/null 2>&1
hyperfine --warmup 0 --runs 5 --export-json "$work/due.json" \
  --prepare "rm -rf $work/run && cp -a $work/due $work/run" \
  "DOCKER_CONFIG=$work/run DOCKER_TLSCTX_NOW=$later $bin renew --due 2>/dev/null" >/dev/null 2>&1
python3 - "$work/idle.json" "$work/due.json" "$work/asked.json" > bench/results/renew.md <<'PY'
import json, sys
idle = json.load(open(sys.argv[1]))["results"]; due = json.load(open(sys.argv[2]))["results"][0]
asked = json.load(open(sys.argv[3]))["results"]
ms = lambda r: r["median"] * 1000
print("# `renew --due` at scale (bench/renew.sh)\n")
print("Release build, file keystore.\n")
print("| command | median | ratio to `ls` |")
print("|---|---|---|")
names = ["/bin/true", "`ls` of 1,000 contexts", "`renew --due`, 1,000 contexts, nothing due"]
for n, r in zip(names, idle):
    print(f"| {n} | {ms(r):.2f} ms | {r['median'] / idle[1]['median']:.2f}x |")
for n, r in zip(["`ls` of 1,000 contexts once a run is recorded, no session (not asked)", "the same in a session (starts `systemctl --user show`)"], asked):
    print(f"| {n} | {ms(r):.2f} ms | {r['median'] / idle[1]['median']:.2f}x |")
print(f"| `renew --due`, 100 contexts all due (5 runs) | {ms(due):.0f} ms ({ms(due) / 100:.1f} ms per renewal) | |")
PY
cat bench/results/renew.md
