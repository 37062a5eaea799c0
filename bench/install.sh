#!/usr/bin/env bash
# `server install` over SSH on loopback: three sandboxed Docker hosts (the
# set-up of tests/it/common/host.rs: a private mount namespace with its own
# /etc/docker, /etc/default, /var/lib/docker, /var/log, /etc/init.d and a
# tmpfs /run, a real sshd in it, dockerd restarted by Debian's init script).
# Measures (1) `new --ssh` from nothing to the first verified TLS call,
# (2) `server install` of an installed bundle, its restart separated out
# (the JSON's restart_ms), and (3) `server install --all` of three hosts,
# --parallel 1 vs 3. Writes bench/results/install.md.
# Usage: bench/install.sh   (as root: it starts sshd and dockerd)
set -euo pipefail
cd "$(dirname "$0")/.."
for cmd in hyperfine dockerd docker sshd ssh-keygen unshare python3; do
  command -v "$cmd" >/dev/null || { echo "bench: needs $cmd (apt-get install hyperfine docker.io openssh-server)" >&2; exit 1; }
done
. bench/lib.sh
bin=$(./scripts/build-release.sh)
work=$(mktemp -d /tmp/tlsctx-install-bench.XXXXXX)
export DOCKER_CONFIG=$work/cfg DOCKER_TLSCTX_KEYSTORE=file
mkdir -p "$DOCKER_CONFIG" "$work/bin" && echo '{}' > "$DOCKER_CONFIG/config.json"
ssh-keygen -q -t ed25519 -N '' -f "$work/userkey"
: > "$work/known_hosts"
cat > "$work/ssh_config" <<EOF
Host *
  IdentityFile $work/userkey
  IdentitiesOnly yes
  UserKnownHostsFile $work/known_hosts
  GlobalKnownHostsFile /dev/null
  StrictHostKeyChecking yes
EOF
printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$work/ssh_config" > "$work/bin/ssh"
chmod 755 "$work/bin/ssh"
export PATH=$work/bin:$PATH
mkdir -p /var/lib/docker /var/lib/docker-tlsctx /usr/local/libexec/docker-tlsctx
pids=()
cleanup() {
  for p in "${pids[@]}"; do
    nsenter -t "$p" -m sh -c '/etc/init.d/docker stop' >/dev/null 2>&1 || true
    kill "$p" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# host N: its ssh port in ssh_port[N], its TLS port in tls_port[N]
declare -a ssh_port tls_port
host_start() {
  local n=$1 r=$work/host$1
  mkdir -p "$r"/{etc-docker,etc-default,var-lib-docker,var-log,state,init.d,libexec}
  echo 'DOCKER_OPTS="--bridge none --iptables=false"' > "$r/etc-default/docker"
  sed 's/^\(\s*ulimit .*\)$/\1 || true/' /etc/init.d/docker > "$r/init.d/docker"
  chmod 755 "$r/init.d/docker"
  ssh-keygen -q -t ed25519 -N '' -f "$r/hostkey"
  cp "$work/userkey.pub" "$r/authorized_keys"
  ssh_port[$n]=$(free_port); tls_port[$n]=$(free_port)
  echo "[127.0.0.1]:${ssh_port[$n]} $(cat "$r/hostkey.pub")" >> "$work/known_hosts"
  unshare --mount --propagation private sh -c "set -e
    mount --bind $r/etc-docker /etc/docker; mount --bind $r/etc-default /etc/default
    mount --bind $r/var-lib-docker /var/lib/docker; mount --bind $r/var-log /var/log
    mount --bind $r/state /var/lib/docker-tlsctx; mount --bind $r/init.d /etc/init.d
    mount --bind $r/libexec /usr/local/libexec/docker-tlsctx
    mount -t tmpfs tmpfs /run; mkdir -p /run/sshd
    exec $(command -v sshd) -D -e -f /dev/null -p ${ssh_port[$n]} -o ListenAddress=127.0.0.1 -h $r/hostkey \
      -o AuthorizedKeysFile=$r/authorized_keys -o StrictModes=no -o UsePAM=no -o PidFile=none" 2>"$r/sshd.log" &
  pids+=($!)
  for _ in $(seq 100); do ssh -p "${ssh_port[$n]}" root@127.0.0.1 true 2>/dev/null && break; sleep 0.1; done
  ssh -p "${ssh_port[$n]}" root@127.0.0.1 '/etc/init.d/docker start >/dev/null; for i in $(seq 100); do docker version >/dev/null 2>&1 && exit 0; sleep 0.2; done; exit 1'
}
for n in 1 2 3; do host_start $n; done

hyperfine -N --warmup 0 --runs 5 --export-json "$work/new.json" \
  "$bin new b1 --host tcp://127.0.0.1:${tls_port[1]} --ssh root@127.0.0.1:${ssh_port[1]} --force" >/dev/null 2>&1
for n in 2 3; do "$bin" new b$n --host tcp://127.0.0.1:${tls_port[$n]} --ssh root@127.0.0.1:${ssh_port[$n]} >/dev/null; done
: > "$work/installs.jsonl"
for _ in 1 2 3 4 5; do "$bin" server install b1 --format json >> "$work/installs.jsonl"; done
hyperfine -N --warmup 0 --runs 3 --export-json "$work/fleet.json" \
  "$bin server install --all --parallel 1" "$bin server install --all --parallel 3" >/dev/null 2>&1

python3 - "$work/new.json" "$work/installs.jsonl" "$work/fleet.json" > bench/results/install.md <<'PY'
import json, statistics, sys
new = json.load(open(sys.argv[1]))["results"][0]
text, runs, dec = open(sys.argv[2]).read(), [], json.JSONDecoder()
while text.strip():
    obj, end = dec.raw_decode(text.lstrip()); runs.append(obj); text = text.lstrip()[end:]
fleet = json.load(open(sys.argv[3]))["results"]
med = lambda xs: statistics.median(xs)
total = med([r["total_ms"] for r in runs]); restart = med([r["restart_ms"] for r in runs])
print("# `server install` over SSH on loopback (bench/install.sh)\n")
print("Sandboxed Docker hosts behind a real sshd on 127.0.0.1 (dockerd 20.10 restarted by Debian's")
print("init script); release build.\n")
print("| measure | median |")
print("|---|---|")
print(f"| `new --ssh`: CA, bundle, identity, context, install, first verified TLS call (5 runs) | {new['median']:.2f} s |")
print(f"| `server install` of an installed bundle (5 runs) | {total / 1000:.2f} s |")
print(f"| of which the restart: launch to the host's `waiting` (stop, start, local socket) | {restart / 1000:.2f} s |")
print(f"| of which the rest: login, pre-flight, staging, TLS call, confirmation | {(total - restart) / 1000:.2f} s |")
print(f"| `server install --all`, 3 hosts, `--parallel 1` (3 runs) | {fleet[0]['median']:.2f} s |")
print(f"| `server install --all`, 3 hosts, `--parallel 3` (3 runs) | {fleet[1]['median']:.2f} s |")
PY
cat bench/results/install.md
