#!/usr/bin/env bash
# Benchmarks, measured with hyperfine on this machine in one run, written as a
# Markdown table to stdout and bench/results/latest.md.
#   1. docker-cli-plugin-metadata vs /bin/true (goal: median within 1.5x)
#   2. `new` with ECDSA P-256 and an existing CA, file keystore (goal: < 20 ms median)
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v hyperfine >/dev/null 2>&1; then
  [ "$(id -u)" -eq 0 ] || { echo "bench: install hyperfine (apt-get install hyperfine)" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq hyperfine >/dev/null
fi
# The binary install.sh installs.
bin=$(./scripts/build-release.sh)
work=$(mktemp -d /tmp/tlsctx-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DOCKER_CONFIG="$work/cfg"
"$bin" ca init >/dev/null

# hyperfine's JSON -> one table row per command: median and ratio to the first.
table() {
  python3 - "$1" "$2" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
base = res[0]["median"]
print(f"\n### {sys.argv[2]}\n")
print("| command | median | mean ± σ | ratio |")
print("|---|---|---|---|")
for r in res:
    print(f"| `{r['command']}` | {r['median']*1000:.2f} ms | {r['mean']*1000:.2f} ± {r['stddev']*1000:.2f} ms | {r['median']/base:.2f}× |")
PY
}

out=bench/results/latest.md
mkdir -p bench/results
{
  echo "# docker-tlsctx benchmarks"
  echo
  echo "$(date -u +%Y-%m-%d), $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), docker-tlsctx $("$bin" --version | cut -d' ' -f3)"

  hyperfine -N --warmup 50 --runs 1000 --export-json "$work/meta.json" \
    /bin/true "$bin docker-cli-plugin-metadata" >/dev/null 2>&1
  table "$work/meta.json" "Plugin metadata vs /bin/true (goal: within 1.5x)"

  hyperfine -N --warmup 5 --runs 200 --export-json "$work/new.json" \
    --prepare "rm -rf $DOCKER_CONFIG/contexts $DOCKER_CONFIG/tlsctx/identities $DOCKER_CONFIG/tlsctx/servers $DOCKER_CONFIG/tlsctx/keys/client $DOCKER_CONFIG/tlsctx/keys/server" \
    "$bin new bench --host tcp://127.0.0.1:2376" >/dev/null 2>&1
  table "$work/new.json" "new with ECDSA P-256, existing CA, file keystore (goal: under 20 ms)"
} | tee "$out"
