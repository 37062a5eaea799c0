#!/usr/bin/env bash
# The root filesystem of the systemd test host (tests/it/common/systemd_host.rs):
# Debian bookworm from Debian's own packages, made once by mmdebstrap and
# kept at $1 (under target/), which each test then boots on an overlay of
# its own. About 1-2 min and ~450 MB the first time; nothing after. Two
# test binaries may ask at once: flock makes the second wait for the first.
set -euo pipefail
root=${1:?usage: systemd-root.sh ROOT}
# Bump when the package list or the setup below changes: an older cache is
# then made again rather than booted with what it lacks.
version=1
packages=systemd,systemd-sysv,dbus,libpam-systemd,dbus-user-session,openssh-server,sudo,iproute2,procps,docker.io,curl
mkdir -p "$(dirname "$root")"
exec 8>"$root.lock"
flock 8
if [ "$(cat "$root/.tlsctx-root-version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
for t in mmdebstrap:mmdebstrap systemd-nspawn:systemd-container flock:util-linux; do
  if ! command -v "${t%%:*}" >/dev/null; then
    if [ "$(id -u)" -ne 0 ]; then
      echo "systemd-root.sh: ${t%%:*} is missing; install ${t##*:} (apt-get install ${t##*:})" >&2
      exit 1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${t##*:}" >/dev/null \
      || { echo "systemd-root.sh: apt-get could not install ${t##*:}" >&2; exit 1; }
  fi
done
rm -rf "$root.new" "$root"
log="$root.mmdebstrap.log"
echo "systemd-root.sh: making the systemd host's root filesystem with mmdebstrap (1-2 min; log $log)" >&2
if ! mmdebstrap --variant=minbase --include="$packages" bookworm "$root.new" \
  http://deb.debian.org/debian >"$log" 2>&1; then
  echo "systemd-root.sh: mmdebstrap failed (is deb.debian.org reachable?): $(tail -n 3 "$log")" >&2
  rm -rf "$root.new"
  exit 1
fi
# What every boot shares: no getty on a console nobody reads, and a
# journal kept in memory (the overlay is thrown away anyway).
chroot "$root.new" systemctl mask console-getty.service getty@tty1.service >/dev/null 2>&1 || true
mkdir -p "$root.new/etc/systemd/journald.conf.d"
printf '[Journal]\nStorage=volatile\n' >"$root.new/etc/systemd/journald.conf.d/tlsctx.conf"
echo "$version" >"$root.new/.tlsctx-root-version"
mv "$root.new" "$root"
