#!/usr/bin/env bash
# Benchmarks docker-tlsctx side by side with the tools people use today, in
# one run on this machine, with hyperfine. Writes a Markdown table (median,
# ratio to the peer) to stdout and to bench/results/latest.md.
#
#   1. docker-cli-plugin-metadata vs /bin/true and a Go binary's start (goal: <= 1.5x /bin/true)
#   2. a full TLS setup (CA + server cert with SANs + client cert): tlsctx P-256 and RSA-4096
#      vs Docker's openssl recipe (RSA-4096), mkcert, easy-rsa
#      (goals: P-256 faster than mkcert, >= 100x faster than the openssl recipe)
#   3. 1,000 client identities with an existing CA, file keystore (goal: < 10 s in total)
#   4. `ls` over 1,000 contexts vs `docker context ls` (goal: no slower)
#   5. credential helper `get` vs docker-credential-secretservice on one Secret Service,
#      and with the file store (goals: no slower; < 5 ms)
#   6. peak memory of `new` and of `ls` over 1,000 contexts
#
# Usage: bench/run.sh   (as root on Debian/Ubuntu, or with the peers installed)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
for pair in hyperfine:hyperfine openssl:openssl docker-credential-secretservice:golang-docker-credential-helpers \
            mkcert:mkcert /usr/share/easy-rsa/easyrsa:easy-rsa gnome-keyring-daemon:gnome-keyring \
            dbus-run-session:dbus /usr/bin/time:time docker:docker.io; do
  cmd=${pair%%:*} pkg=${pair#*:}
  command -v "$cmd" >/dev/null 2>&1 || [ -x "$cmd" ] || need+=("$pkg")
done
if [ ${#need[@]} -gt 0 ]; then
  [ "$(id -u)" -eq 0 ] || { echo "bench: install ${need[*]}" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# The binary install.sh installs.
bin=$(./scripts/build-release.sh)
work=$(mktemp -d /tmp/tlsctx-bench.XXXXXX)
trap 'rm -rf "$work"' EXIT
export DOCKER_TLSCTX_KEYSTORE=file
unset DOCKER_HOST DOCKER_CONTEXT

# hyperfine's JSON -> rows: median, mean ± sigma, ratio to the first command.
table() {
  python3 - "$1" "$2" "${3:-}" <<'PY'
import json, sys
res = json.load(open(sys.argv[1]))["results"]
names = sys.argv[3].split("|") if sys.argv[3] else []
base = res[0]["median"]
print(f"\n### {sys.argv[2]}\n")
print("| command | median | mean ± σ | ratio to first |")
print("|---|---|---|---|")
for i, r in enumerate(res):
    name = names[i] if i < len(names) else r["command"]
    print(f"| {name} | {r['median']*1000:.2f} ms | {r['mean']*1000:.2f} ± {r['stddev']*1000:.2f} ms | {r['median']/base:.2f}× |")
PY
}

mkdir -p bench/results
out=bench/results/latest.md
{
  echo "# docker-tlsctx benchmarks"
  echo
  echo "Run on $(date -u +%Y-%m-%d): $(nproc) cores, $(uname -m), $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), Linux $(uname -r | cut -d- -f1); docker-tlsctx $("$bin" --version | cut -d' ' -f3), hyperfine $(hyperfine --version | cut -d' ' -f2), OpenSSL $(openssl version | cut -d' ' -f2)."

  # 1. Start-up: what Docker pays on `docker --help`, `docker info` and before each plugin run.
  hyperfine -N --warmup 50 --runs 1000 --export-json "$work/1.json" \
    /bin/true "$bin docker-cli-plugin-metadata" "docker-credential-secretservice version" >/dev/null 2>&1
  table "$work/1.json" "1. Plugin metadata (goal: within 1.5× /bin/true)" \
    "/bin/true|docker-tlsctx docker-cli-plugin-metadata|docker-credential-secretservice version (a Go binary)"

  # 2. A full setup from nothing: CA, server certificate with SANs, client certificate, files written.
  export DOCKER_CONFIG="$work/setup"
  hyperfine --warmup 1 --runs 30 --export-json "$work/2a.json" \
    --prepare "rm -rf $work/setup $work/mk $work/ez; mkdir -p $work/mk $work/ez" \
    "$bin new bench --host tcp://127.0.0.1:2376 --san docker.example.com" \
    "$PWD/bench/mkcert-setup.sh $work/mk docker.example.com" \
    "$PWD/bench/easyrsa-setup.sh $work/ez docker.example.com" >/dev/null 2>&1
  table "$work/2a.json" "2a. Full setup, fast keys (goal: tlsctx P-256 faster than mkcert)" \
    "docker tlsctx new (ECDSA P-256)|mkcert (2 runs: CA + server, then client; RSA-3072 CA, RSA-2048 leaves)|easy-rsa (4 runs, RSA-2048)"
  hyperfine --warmup 1 --runs 10 --export-json "$work/2b.json" \
    --prepare "rm -rf $work/setup $work/os; mkdir -p $work/os" \
    "$bin new bench --host tcp://127.0.0.1:2376 --san docker.example.com" \
    "$bin new bench --host tcp://127.0.0.1:2376 --san docker.example.com --key-type rsa-4096" \
    "$PWD/bench/openssl-recipe.sh $work/os docker.example.com" >/dev/null 2>&1
  table "$work/2b.json" "2b. Full setup vs Docker's openssl recipe (goal: P-256 ≥ 100× faster)" \
    "docker tlsctx new (ECDSA P-256)|docker tlsctx new (RSA-4096, like for like)|openssl recipe from Docker's docs (RSA-4096, 10 commands)"

  # 3. 1,000 client identities from an existing CA (a team, a CI fleet).
  export DOCKER_CONFIG="$work/fleet"
  "$bin" ca init >/dev/null
  hyperfine --runs 3 --export-json "$work/3a.json" \
    --prepare "rm -rf $work/fleet/tlsctx/identities $work/fleet/tlsctx/keys/client $work/ids" \
    "for i in \$(seq 1000); do $bin client ci-\$i --out $work/ids/ci-\$i >/dev/null; done" >/dev/null 2>&1
  hyperfine -N --warmup 5 --runs 300 --export-json "$work/3b.json" \
    "$bin client one --out $work/one --force" >/dev/null 2>&1
  python3 - "$work/3a.json" "$work/3b.json" <<'PY'
import json, sys
total = json.load(open(sys.argv[1]))["results"][0]
one = json.load(open(sys.argv[2]))["results"][0]
print("\n### 3. 1,000 client identities, existing CA, file keystore (goal: under 10 s)\n")
print("| measure | value |")
print("|---|---|")
print(f"| total for 1,000 (median of 3) | {total['median']:.2f} s |")
print(f"| per identity (median of 300 runs) | {one['median']*1000:.2f} ms |")
PY

  # 4. Listing 1,000 contexts: ours (with expiry and a health check of each) vs Docker's.
  export DOCKER_CONFIG="$work/many"
  "$bin" ca init >/dev/null
  for i in $(seq 1000); do
    "$bin" new "ctx-$i" --host "tcp://10.$((i / 250)).$((i % 250)).1:2376" --no-server >/dev/null
  done
  hyperfine -N --warmup 3 --runs 30 --export-json "$work/4.json" \
    "docker --config $work/many context ls" "$bin ls" >/dev/null 2>&1
  table "$work/4.json" "4. Listing 1,000 contexts (goal: tlsctx ls no slower than docker context ls)" \
    "docker context ls|docker tlsctx ls"

  # 5. Credential helper get: one Secret Service for both helpers, then the file store.
  cat > "$work/cred.sh" <<EOF
set -e
export HOME=$work/home DOCKER_CONFIG=$work/credcfg
mkdir -p \$HOME
(echo -n bench | gnome-keyring-daemon --foreground --unlock --components=secrets >/dev/null 2>&1 &)
for i in \$(seq 100); do dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true && break; sleep 0.1; done
ln -sf $bin $work/docker-credential-tlsctx
C='{"ServerURL":"https://registry.example.com","Username":"u","Secret":"p"}'
echo "\$C" | docker-credential-secretservice store
echo "\$C" | DOCKER_TLSCTX_KEYSTORE=os $work/docker-credential-tlsctx store
echo "\$C" | DOCKER_TLSCTX_KEYSTORE=file $work/docker-credential-tlsctx store
echo https://registry.example.com > $work/url
hyperfine --warmup 10 --runs 200 --export-json $work/5.json \
  "docker-credential-secretservice get < $work/url" \
  "DOCKER_TLSCTX_KEYSTORE=os $work/docker-credential-tlsctx get < $work/url" \
  "DOCKER_TLSCTX_KEYSTORE=file $work/docker-credential-tlsctx get < $work/url" >/dev/null 2>&1
EOF
  dbus-run-session -- bash "$work/cred.sh" >/dev/null 2>&1
  table "$work/5.json" "5. Credential helper get (goals: no slower than the reference; under 5 ms with the file store)" \
    "docker-credential-secretservice get (Secret Service)|docker-credential-tlsctx get (Secret Service)|docker-credential-tlsctx get (file store)"

  # 6. Peak memory.
  export DOCKER_CONFIG="$work/mem"
  new_kb=$(/usr/bin/time -f %M "$bin" new mem --host tcp://127.0.0.1:2376 2>&1 >/dev/null | tail -1)
  export DOCKER_CONFIG="$work/many"
  ls_kb=$(/usr/bin/time -f %M "$bin" ls 2>&1 >/dev/null | tail -1)
  dls_kb=$(/usr/bin/time -f %M docker --config "$work/many" context ls 2>&1 >/dev/null | tail -1)
  echo
  echo "### 6. Peak memory (maximum resident set size, /usr/bin/time)"
  echo
  echo "| command | peak RSS |"
  echo "|---|---|"
  echo "| docker tlsctx new (CA created, P-256) | $((new_kb / 1024)).$(((new_kb % 1024) * 10 / 1024)) MiB |"
  echo "| docker tlsctx ls (1,000 contexts) | $((ls_kb / 1024)).$(((ls_kb % 1024) * 10 / 1024)) MiB |"
  echo "| docker context ls (1,000 contexts) | $((dls_kb / 1024)).$(((dls_kb % 1024) * 10 / 1024)) MiB |"
} | tee "$out"
