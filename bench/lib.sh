# Shared by the benchmarks that start a dockerd of their own (authz.sh,
# swarm.sh, agent.sh). Source it; it defines:
#   free_port          a free TCP port on 127.0.0.1
#   dockerd_start DIR BUNDLE PORT [EXTRA-JSON]
#                      dockerd with the server bundle in BUNDLE on
#                      127.0.0.1:PORT and DIR/docker.sock, its own data,
#                      exec root and pidfile in DIR (--bridge none: the test
#                      machines have no bridge networking); returns once it
#                      listens, its PID in $dockerd_pid
free_port() {
  python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'
}

dockerd_start() {
  local dir=$1 bundle=$2 port=$3 extra=${4:-}
  mkdir -p "$dir"
  cat > "$dir/daemon.json" <<JSON
{"tlsverify":true,"tlscacert":"$bundle/ca.pem","tlscert":"$bundle/server-cert.pem","tlskey":"$bundle/server-key.pem",
 "hosts":["unix://$dir/docker.sock","tcp://127.0.0.1:$port"]$extra}
JSON
  dockerd --config-file "$dir/daemon.json" --data-root "$dir/root" --exec-root "$dir/exec" --pidfile "$dir/pid" \
    --bridge none --iptables=false >"$dir/log" 2>&1 &
  dockerd_pid=$!
  for _ in $(seq 300); do grep -q "API listen on 127.0.0.1:$port" "$dir/log" && return; sleep 0.1; done
  echo "bench: dockerd did not start" >&2; cat "$dir/log" >&2; exit 1
}
