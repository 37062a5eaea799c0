#!/usr/bin/env bash
# What the tlsctx-authz plugin adds to a request: `docker version` against
# two dockerds with the same TLS bundle, one started with
# --authorization-plugin, one without (hyperfine, 200 runs each). Goal: a
# median under 0.5 ms added. Writes bench/results/authz.md.
# Usage: bench/authz.sh   (as root: it starts dockerds and the plugin)
set -euo pipefail
cd "$(dirname "$0")/.."
for cmd in hyperfine dockerd docker; do
  command -v "$cmd" >/dev/null || { echo "bench: needs $cmd (apt-get install hyperfine docker.io)" >&2; exit 1; }
done
. bench/lib.sh
bin=$(./scripts/build-release.sh)
work=$(mktemp -d /tmp/tlsctx-authz-bench.XXXXXX)
export DOCKER_CONFIG=$work/cfg DOCKER_TLSCTX_KEYSTORE=file
mkdir -p "$DOCKER_CONFIG" && echo '{}' > "$DOCKER_CONFIG/config.json"
p1=$(free_port)
p2=$(free_port)
"$bin" new direct --host "tcp://127.0.0.1:$p1" >/dev/null
"$bin" new viaplugin --host "tcp://127.0.0.1:$p2" --no-server >/dev/null
bundle=$DOCKER_CONFIG/tlsctx/servers/direct
name=tlsctx-authz-bench-$$
"$bin" authz serve --bundle "$bundle" --socket "/run/docker/plugins/$name.sock" --state-dir "$work/state" 2>"$work/plugin.log" &
plugin=$!
pids=("$plugin")
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; rm -f "/run/docker/plugins/$name.sock"; rm -rf "$work"; }
trap cleanup EXIT
dockerd_start "$work/d1" "$bundle" "$p1"
pids+=("$dockerd_pid")
dockerd_start "$work/d2" "$bundle" "$p2" ",\"authorization-plugins\":[\"$name\"]"
pids+=("$dockerd_pid")
docker --context viaplugin version >/dev/null
hyperfine -N --warmup 20 --runs 200 --export-json "$work/authz.json" \
  "docker --context direct version" "docker --context viaplugin version" >/dev/null 2>&1
# The plugin's own round trip, without the docker CLI's ~50 ms start that
# drowns it above: what dockerd adds per API request is one AuthZReq and one
# AuthZRes call over the unix socket, with a real client certificate.
python3 - "/run/docker/plugins/$name.sock" "$DOCKER_CONFIG/contexts/tls" > "$work/rtt.txt" <<'PY'
import base64, glob, json, socket, statistics, sys, time
cert = open(glob.glob(sys.argv[2] + "/*/docker/cert.pem")[0]).read()
req = json.dumps({"User": "x", "UserAuthNMethod": "TLS", "RequestMethod": "GET",
                  "RequestUri": "/v1.47/version",
                  "RequestPeerCertificates": [base64.b64encode(cert.encode()).decode()]}).encode()
s = socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]); f = s.makefile("rb")
def call(path, body):
    s.sendall(b"POST %s HTTP/1.1\r\nHost: plugin\r\nContent-Length: %d\r\n\r\n%s" % (path, len(body), body))
    length = 0
    while True:
        line = f.readline()
        if line in (b"\r\n", b""): break
        if line.lower().startswith(b"content-length:"): length = int(line.split(b":")[1])
    return f.read(length)
# AuthZRes carries the request again, with the response (moby
# pkg/authorization/authz.go): read strictly like AuthZReq.
res = json.dumps({**json.loads(req), "ResponseStatusCode": 200,
                  "ResponseHeaders": {"Content-Type": "application/json"}}).encode()
assert b'"Allow":true' in call(b"/AuthZPlugin.AuthZReq", req)
assert b'"Allow":true' in call(b"/AuthZPlugin.AuthZRes", res)
times = []
for _ in range(5000):
    t = time.perf_counter()
    call(b"/AuthZPlugin.AuthZReq", req); call(b"/AuthZPlugin.AuthZRes", res)
    times.append(time.perf_counter() - t)
times.sort()
print(f"{statistics.median(times)*1e3:.3f} {times[int(len(times)*0.99)]*1e3:.3f}")
PY
mkdir -p bench/results
python3 - "$work/authz.json" "$work/rtt.txt" <<'PY' | tee bench/results/authz.md
import json, sys
r = json.load(open(sys.argv[1]))["results"]
a, b = r[0], r[1]
print("### 7. Authorization plugin: added latency per `docker version` (goal: median under 0.5 ms)\n")
print("| command | median | mean ± σ |")
print("|---|---|---|")
for name, x in (("docker version, dockerd without the plugin", a), ("docker version, dockerd with tlsctx-authz", b)):
    print(f"| {name} | {x['median']*1000:.2f} ms | {x['mean']*1000:.2f} ± {x['stddev']*1000:.2f} ms |")
print(f"| difference of medians (within the noise of the CLI's start) | {(b['median']-a['median'])*1000:.2f} ms | |")
med, p99 = open(sys.argv[2]).read().split()
print(f"| **the plugin's own calls per request (AuthZReq + AuthZRes, 5,000 pairs): median, 99th percentile** | **{med} ms** | {p99} ms |")
PY
