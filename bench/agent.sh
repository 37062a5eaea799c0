#!/usr/bin/env bash
# What the agent adds: one dockerd with our bundle, reached by a context
# with key files (direct TLS) and by a keychain-only context (through the
# agent). Measures (1) `docker version` with hyperfine, (2) the per-request
# round trip of GET /_ping on one keep-alive connection, 5,000 requests,
# direct TLS vs through the agent (Python's ssl with the same client
# identity for the direct side), goal: median added < 0.2 ms, and (3)
# `docker cp` of a 100 MB file into a container, goal: >= 90 % of direct.
# Writes bench/results/agent.md.
# Usage: bench/agent.sh   (as root: it starts dockerd)
set -euo pipefail
cd "$(dirname "$0")/.."
for cmd in hyperfine dockerd docker busybox python3; do
  command -v "$cmd" >/dev/null || { echo "bench: needs $cmd (apt-get install hyperfine docker.io busybox-static)" >&2; exit 1; }
done
. bench/lib.sh
bin=$(./scripts/build-release.sh)
work=$(mktemp -d /tmp/tlsctx-agent-bench.XXXXXX)
export DOCKER_CONFIG=$work/cfg DOCKER_TLSCTX_KEYSTORE=file XDG_RUNTIME_DIR=$work/run
mkdir -p "$DOCKER_CONFIG" "$XDG_RUNTIME_DIR" && chmod 700 "$XDG_RUNTIME_DIR" && echo '{}' > "$DOCKER_CONFIG/config.json"
port=$(free_port)
"$bin" new direct --host "tcp://127.0.0.1:$port" >/dev/null
"$bin" new viaagent --host "tcp://127.0.0.1:$port" --no-server --keychain-only >/dev/null
"$bin" export direct --dir "$work/direct" >/dev/null
bundle=$DOCKER_CONFIG/tlsctx/servers/direct
apid=
cleanup() { kill ${apid:+"$apid"} ${dockerd_pid:+"$dockerd_pid"} 2>/dev/null || true; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT
dockerd_start "$work/d" "$bundle" "$port"
"$bin" agent --foreground viaagent 2>"$work/agent.log" &
apid=$!
sock=$XDG_RUNTIME_DIR/docker-tlsctx/viaagent.sock
for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.05; done
docker --context viaagent version >/dev/null

hyperfine -N --warmup 20 --runs 200 --export-json "$work/version.json" \
  "docker --context direct version" "docker --context viaagent version" >/dev/null 2>&1

python3 - "$sock" "$port" "$work/direct" > "$work/rtt.txt" <<'PY'
import socket, ssl, statistics, sys, time
sock, port, certs = sys.argv[1], int(sys.argv[2]), sys.argv[3]
REQ = b"GET /_ping HTTP/1.1\r\nHost: docker\r\n\r\n"
def rounds(s, n):
    f = s.makefile("rb")
    out = []
    for i in range(n):
        t = time.perf_counter_ns()
        s.sendall(REQ)
        length = 0
        while True:
            line = f.readline()
            if line in (b"\r\n", b""): break
            if line.lower().startswith(b"content-length:"): length = int(line.split(b":")[1])
        f.read(length)
        out.append((time.perf_counter_ns() - t) / 1e6)
    return out[200:]  # after warm-up
u = socket.socket(socket.AF_UNIX); u.connect(sock)
agent = rounds(u, 5200)
ctx = ssl.create_default_context(cafile=certs + "/ca.pem")
ctx.load_cert_chain(certs + "/cert.pem", certs + "/key.pem")
t = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
t.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
direct = rounds(t, 5200)
q = lambda xs, p: sorted(xs)[int(len(xs) * p)]
print(f"{statistics.median(direct):.3f} {q(direct,0.99):.3f} {statistics.median(agent):.3f} {q(agent,0.99):.3f}")
PY

head -c 100000000 /dev/urandom > "$work/blob"
mkdir -p "$work/rootfs/bin" && cp "$(command -v busybox)" "$work/rootfs/bin/"
tar -C "$work/rootfs" -cf "$work/rootfs.tar" . && docker --context direct import "$work/rootfs.tar" bench/busybox >/dev/null
docker --context direct create --name sink --network none bench/busybox /bin/busybox true >/dev/null
hyperfine -N --warmup 1 --runs 5 --export-json "$work/cp.json" \
  "docker --context direct cp $work/blob sink:/blob" "docker --context viaagent cp $work/blob sink:/blob" >/dev/null 2>&1

python3 - "$work/version.json" "$work/rtt.txt" "$work/cp.json" > bench/results/agent.md <<'PY'
import json, sys
v = json.load(open(sys.argv[1]))["results"]; c = json.load(open(sys.argv[3]))["results"]
d_med, d_p99, a_med, a_p99 = map(float, open(sys.argv[2]).read().split())
ms = lambda r: r["median"] * 1000
print("# The agent: added latency and throughput (bench/agent.sh)\n")
print("One dockerd (20.10) with our bundle on 127.0.0.1; a context with key files (direct TLS) and a")
print("keychain-only one (through the agent, release build).\n")
print("| measure | direct TLS | through the agent | added |")
print("|---|---|---|---|")
print(f"| `docker version`, median of 200 | {ms(v[0]):.2f} ms | {ms(v[1]):.2f} ms | {ms(v[1]) - ms(v[0]):+.2f} ms |")
print(f"| GET /_ping round trip on one connection, median of 5,000 | {d_med:.3f} ms | {a_med:.3f} ms | {a_med - d_med:+.3f} ms |")
print(f"| same, 99th percentile | {d_p99:.3f} ms | {a_p99:.3f} ms | {a_p99 - d_p99:+.3f} ms |")
mb = 100
print(f"| `docker cp` of 100 MB into a container, median of 5 | {ms(c[0]):.0f} ms ({mb / c[0]['median']:.0f} MB/s) | {ms(c[1]):.0f} ms ({mb / c[1]['median']:.0f} MB/s) | {100 * c[0]['median'] / c[1]['median']:.0f} % of direct |")
PY
cat bench/results/agent.md
