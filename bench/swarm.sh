#!/usr/bin/env bash
# How long `docker tlsctx swarm rotate` takes to converge on live services:
# a dockerd of its own with our server bundle, a single-node swarm, busybox
# services (imported, nothing pulled) with 1 and 2 replicas, each rotated
# RUNS times (default 5), once with Docker's default update settings
# (stop-first, 5 s monitor) and once with start-first and a 1 s monitor.
# Writes bench/results/swarm.md.
# Usage: bench/swarm.sh [RUNS]   (as root: it starts dockerd and a swarm)
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:-5}
for cmd in dockerd docker busybox python3; do
  command -v "$cmd" >/dev/null || { echo "bench: needs $cmd (apt-get install docker.io busybox-static)" >&2; exit 1; }
done
. bench/lib.sh
bin=$(./scripts/build-release.sh)
work=$(mktemp -d /tmp/tlsctx-swarm-bench.XXXXXX)
export DOCKER_CONFIG=$work/cfg DOCKER_TLSCTX_KEYSTORE=file
mkdir -p "$DOCKER_CONFIG" && echo '{}' > "$DOCKER_CONFIG/config.json"
port=$(free_port)
sport=$(free_port)
"$bin" new bench --host "tcp://127.0.0.1:$port" >/dev/null
bundle=$DOCKER_CONFIG/tlsctx/servers/bench
d=$work/d
dk() { docker --context bench "$@"; }
cleanup() {
  dk swarm leave --force >/dev/null 2>&1 || true
  if [ -n "${dockerd_pid:-}" ]; then kill "$dockerd_pid" 2>/dev/null || true; wait "$dockerd_pid" 2>/dev/null || true; fi
  umount -l "$d/exec/netns/default" 2>/dev/null || true
  ip link del docker_gwbridge 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
dockerd_start "$d" "$bundle" "$port"
dk swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$sport" >/dev/null
mkdir -p "$work/rootfs/bin" && cp "$(command -v busybox)" "$work/rootfs/bin/"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" . && dk import "$work/rootfs.tar" bench/busybox >/dev/null
image=$(dk image inspect -f '{{.Id}}' bench/busybox)
"$bin" cert site --san site.local >/dev/null
"$bin" swarm publish site --context bench >/dev/null
secrets=(--secret source=site-cert.pem-v1,target=cert.pem --secret source=site-key.pem-v1,target=key.pem,mode=0400
         --secret source=site-ca.pem-v1,target=ca.pem)
svc() { # NAME REPLICAS UPDATE-FLAGS...
  local name=$1 n=$2; shift 2
  dk service create --quiet --detach=false --name "$name" --replicas "$n" --network host --init "$@" \
    "${secrets[@]}" "$image" /bin/busybox sleep 1000000 >/dev/null 2>&1
}
svc def1 1
svc def2 2
svc fast1 1 --update-order start-first --update-monitor 1s
svc fast2 2 --update-order start-first --update-monitor 1s
out=$work/times.txt
: > "$out"
for set in def fast; do
  for n in 1 2; do
    for _ in $(seq "$runs"); do
      "$bin" swarm rotate site --context bench --service "$set$n" --format json 2>/dev/null |
        python3 -c 'import json,sys; v=json.load(sys.stdin); print(sys.argv[1], v["services"][0]["seconds"], v["seconds"])' "$set$n" >> "$out"
    done
  done
done
python3 - "$out" "$runs" > bench/results/swarm.md <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    name, conv, total = line.split()
    rows.setdefault(name, []).append((float(conv), float(total)))
label = {"def1": ("1", "Docker's defaults (stop-first, 5 s monitor)"),
         "def2": ("2", "Docker's defaults (stop-first, 5 s monitor)"),
         "fast1": ("1", "start-first, 1 s monitor"),
         "fast2": ("2", "start-first, 1 s monitor")}
print("# swarm rotate: time to converge (bench/swarm.sh)\n")
print(f"{sys.argv[2]} rotations per row, one service each, on a single-node swarm (dockerd 20.10, busybox")
print("tasks). *Converge* is from `docker service update` to UpdateStatus `completed`; *total* adds the")
print("renewal, the publish of three secrets and the removal of the old version.\n")
print("| replicas | update settings | converge median (s) | min–max (s) | total median (s) |")
print("|---|---|---|---|---|")
for k in ["def1", "def2", "fast1", "fast2"]:
    c = [x[0] for x in rows[k]]; t = [x[1] for x in rows[k]]
    n, what = label[k]
    print(f"| {n} | {what} | {statistics.median(c):.2f} | {min(c):.2f}–{max(c):.2f} | {statistics.median(t):.2f} |")
PY
cat bench/results/swarm.md
