#!/usr/bin/env bash
# Builds the release binary and prints its path. Used by install.sh and
# bench/run.sh so that what is measured is what is installed.
#
# On Linux with glibc the binary is linked statically (crt-static): Docker runs
# `docker-tlsctx docker-cli-plugin-metadata` for every plugin on `docker --help`,
# `docker info` and before each plugin run, and dynamic loading alone made a
# Rust hello-world 1.5x slower to start than /bin/true (hyperfine: 0.9 vs
# 0.6 ms), while the static one starts as fast as /bin/true.
# It is position-independent (static-pie), so its own image is placed at a
# random address like every other mapping (ASLR): the same binary runs as
# root as the authorization plugin and holds client keys in the agent, and
# Debian's hardening expects PIE (issue 30). The relocations a static-pie
# binary applies to itself at every start (about 30,000, by callgrind) are
# packed (-z pack-relative-relocs, DT_RELR), which is what keeps it near
# /bin/true (README, benchmark 1). TLSCTX_NO_PIE=1 builds a non-PIE static
# binary (relocation-model=static) for those who measure the difference
# only: it gives up ASLR for the executable's image (SECURITY.md).
# --target is explicit so the static flag reaches our binary only, not the
# build scripts and proc-macros cargo builds for the host.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
  *-linux-gnu)
    if [ "${TLSCTX_NO_PIE:-0}" = 1 ]; then
      layout="-C relocation-model=static"
    else
      layout="-C link-arg=-Wl,-z,pack-relative-relocs"
    fi
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static $layout" \
      cargo build --release --locked --quiet --target "$host" >&2
    bin="$PWD/target/$host/release/docker-tlsctx"
    # What users install must keep ASLR: an ELF of type DYN (ET_DYN, byte 16
    # of the header is 3; ET_EXEC is 2), unless the switch above was set.
    type=$(od -An -t u1 -j 16 -N 1 "$bin" | tr -d ' ')
    if [ "${TLSCTX_NO_PIE:-0}" != 1 ] && [ "$type" != 3 ]; then
      echo "build-release.sh: $bin is not position-independent (ELF type $type, want 3 = DYN); check RUSTFLAGS" >&2
      exit 1
    fi
    echo "$bin" ;;
  *)
    cargo build --release --locked --quiet >&2
    echo "$PWD/target/release/docker-tlsctx" ;;
esac
