#!/usr/bin/env bash
# `server install` over SSH on loopback into a host as most people run one:
# Debian bookworm with systemd as PID 1 (systemd-nspawn -b), the packaged
# docker.service started from docker.socket, a real sshd (the set-up of
# tests/it/common/systemd_host.rs, root filesystem from
# tests/it/common/systemd-root.sh). Measures (1) `new --ssh` from nothing to the
# first verified TLS call and (2) `server install` of an installed bundle,
# its restart separated out (the JSON's restart_ms). Writes
# bench/results/install-systemd.md.
# Usage: bench/install-systemd.sh   (as root: it boots the host)
set -euo pipefail
cd "$(dirname "$0")/.."
for cmd in hyperfine systemd-nspawn nsenter ssh ssh-keygen python3; do
  command -v "$cmd" >/dev/null || { echo "bench: needs $cmd (apt-get install hyperfine systemd-container openssh-client)" >&2; exit 1; }
done
. bench/lib.sh
bin=${TLSCTX_BENCH_BIN:-$(./scripts/build-release.sh)}
root=$PWD/target/systemd-host/root
bash tests/it/common/systemd-root.sh "$root"
work=$(mktemp -d /tmp/tlsctx-sysd-bench.XXXXXX)
export DOCKER_CONFIG=$work/cfg DOCKER_TLSCTX_KEYSTORE=file
mkdir -p "$DOCKER_CONFIG" "$work"/{bin,upper,work,root,lib-docker} && echo '{}' > "$DOCKER_CONFIG/config.json"
cgroup_rw=$(awk '$2 == "/sys/fs/cgroup" {print $4}' /proc/self/mounts | tail -1 | cut -d, -f1)
nspawn_pid=
cleanup() {
  if [ -n "$nspawn_pid" ]; then
    kill "$nspawn_pid" 2>/dev/null || true
    for _ in $(seq 40); do kill -0 "$nspawn_pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$nspawn_pid" 2>/dev/null || true
  fi
  umount -R "$work/root" 2>/dev/null || umount -l "$work/root" 2>/dev/null || true
  # Booting systemd this way remounts the shared cgroup tmpfs read-only.
  if [ "$cgroup_rw" = rw ]; then mount -o remount,rw /sys/fs/cgroup 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

mount -t overlay overlay -o "lowerdir=$root,upperdir=$work/upper,workdir=$work/work" "$work/root"
r=$work/root
ssh_port=$(free_port) tls_port=$(free_port)
ssh-keygen -q -t ed25519 -N '' -f "$work/hostkey"
ssh-keygen -q -t ed25519 -N '' -f "$work/userkey"
install -m 600 "$work/hostkey" "$r/etc/ssh/ssh_host_ed25519_key"
cp "$work/hostkey.pub" "$r/etc/ssh/ssh_host_ed25519_key.pub"
rm -f "$r"/etc/ssh/ssh_host_{rsa,ecdsa}_key*
printf 'Port %s\nListenAddress 127.0.0.1\nPermitRootLogin prohibit-password\nPasswordAuthentication no\n' "$ssh_port" \
  > "$r/etc/ssh/sshd_config.d/bench.conf"
mkdir -p "$r/root/.ssh" && install -m 600 "$work/userkey.pub" "$r/root/.ssh/authorized_keys"
mkdir -p "$r/etc/docker" && echo '{"bridge": "none", "iptables": false}' > "$r/etc/docker/daemon.json"
echo "[127.0.0.1]:$ssh_port $(cut -d' ' -f1,2 "$work/hostkey.pub")" > "$work/known_hosts"
printf 'Host *\n  IdentityFile %s\n  IdentitiesOnly yes\n  UserKnownHostsFile %s\n  GlobalKnownHostsFile /dev/null\n' \
  "$work/userkey" "$work/known_hosts" > "$work/ssh_config"
printf '#!/bin/sh\nexec /usr/bin/ssh -F %s "$@"\n' "$work/ssh_config" > "$work/bin/ssh"
chmod 755 "$work/bin/ssh"
export PATH=$work/bin:$PATH
mountpoint -q /run/systemd/nspawn || { mkdir -p /run/systemd/nspawn && mount -t tmpfs tmpfs /run/systemd/nspawn; }
systemd-nspawn -D "$r" -M "tlsctx-bench-$ssh_port" -b --register=no --keep-unit --capability=all \
  --system-call-filter='@mount @privileged keyctl bpf' --console=pipe --bind="$work/lib-docker:/var/lib/docker" \
  >"$work/console.log" 2>&1 </dev/null &
nspawn_pid=$!
up=
for _ in $(seq 180); do
  if ssh -p "$ssh_port" root@127.0.0.1 'systemctl is-system-running --quiet && docker version' >/dev/null 2>&1; then up=1; break; fi
  kill -0 "$nspawn_pid" 2>/dev/null || break
  sleep 0.5
done
[ -n "$up" ] || { echo "bench: the systemd host did not come up: $(tail -5 "$work/console.log")" >&2; exit 1; }
if [ "$cgroup_rw" = rw ]; then mount -o remount,rw /sys/fs/cgroup; fi

hyperfine -N --warmup 0 --runs 5 --export-json "$work/new.json" \
  "$bin new s1 --host tcp://127.0.0.1:$tls_port --ssh root@127.0.0.1:$ssh_port --force" >/dev/null 2>&1
: > "$work/installs.jsonl"
for _ in 1 2 3 4 5; do "$bin" server install s1 --format json >> "$work/installs.jsonl"; done

python3 - "$work/new.json" "$work/installs.jsonl" > bench/results/install-systemd.md <<'PY'
import json, statistics, sys
new = json.load(open(sys.argv[1]))["results"][0]
text, runs, dec = open(sys.argv[2]).read(), [], json.JSONDecoder()
while text.strip():
    obj, end = dec.raw_decode(text.lstrip()); runs.append(obj); text = text.lstrip()[end:]
med = lambda xs: statistics.median(xs)
total = med([r["total_ms"] for r in runs]); restart = med([r["restart_ms"] for r in runs])
print("# `server install` over SSH on loopback, systemd host (bench/install-systemd.sh)\n")
print("Debian bookworm booted with systemd as PID 1 (systemd-nspawn), its packaged docker.service")
print("(dockerd 20.10, `-H fd://` from docker.socket) behind a real sshd on 127.0.0.1.\n")
print("| measure | median |")
print("|---|---|")
print(f"| `new --ssh`: CA, bundle, identity, context, install, first verified TLS call (5 runs) | {new['median']:.2f} s |")
print(f"| `server install` of an installed bundle (5 runs) | {total / 1000:.2f} s |")
print(f"| of which the restart: launch to the host's `waiting` (systemctl restart, local socket) | {restart / 1000:.2f} s |")
print(f"| of which the rest: login, pre-flight, staging, TLS call, confirmation | {(total - restart) / 1000:.2f} s |")
PY
cat bench/results/install-systemd.md
