#!/usr/bin/env bash
# Builds the release binary and prints its path. Used by install.sh and
# bench/run.sh so that what is measured is what is installed.
#
# On Linux with glibc the binary is linked statically (crt-static): Docker runs
# `docker-tlsctx docker-cli-plugin-metadata` for every plugin on `docker --help`,
# `docker info` and before each plugin run, and dynamic loading alone made a
# Rust hello-world 1.5x slower to start than /bin/true (hyperfine: 0.9 vs
# 0.6 ms), while the static one starts as fast as /bin/true.
# It is also not position-independent (relocation-model=static): a static-pie
# binary relocates itself at every start, about 30,000 relative relocations
# (165,000 of the 276,000 instructions `docker-cli-plugin-metadata` ran, by
# callgrind) and the copy-on-write faults of .data.rel.ro; without them the
# metadata path runs 83,000 instructions and starts within 1.1x /bin/true
# (README, benchmark 1). The price is ASLR for the executable's own image
# (SECURITY.md). TLSCTX_PIE=1 builds static-pie with packed relocations
# (-z pack-relative-relocs) instead: ASLR kept, 1.17x measured.
# --target is explicit so the static flag reaches our binary only, not the
# build scripts and proc-macros cargo builds for the host.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
  *-linux-gnu)
    if [ "${TLSCTX_PIE:-0}" = 1 ]; then
      layout="-C link-arg=-Wl,-z,pack-relative-relocs"
    else
      layout="-C relocation-model=static"
    fi
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static $layout" \
      cargo build --release --locked --quiet --target "$host" >&2
    echo "$PWD/target/$host/release/docker-tlsctx" ;;
  *)
    cargo build --release --locked --quiet >&2
    echo "$PWD/target/release/docker-tlsctx" ;;
esac
