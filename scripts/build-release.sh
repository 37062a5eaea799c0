#!/usr/bin/env bash
# Builds the release binary and prints its path. Used by install.sh and
# bench/run.sh so that what is measured is what is installed.
#
# On Linux with glibc the binary is linked statically (crt-static): Docker runs
# `docker-tlsctx docker-cli-plugin-metadata` for every plugin on `docker --help`,
# `docker info` and before each plugin run, and dynamic loading alone made a
# Rust hello-world 1.5x slower to start than /bin/true (hyperfine: 0.9 vs
# 0.6 ms), while the static one starts as fast as /bin/true.
# --target is explicit so the static flag reaches our binary only, not the
# build scripts and proc-macros cargo builds for the host.
set -euo pipefail
cd "$(dirname "$0")/.."
host=$(rustc -vV | sed -n 's/^host: //p')
case "$host" in
  *-linux-gnu)
    RUSTFLAGS="${RUSTFLAGS:-} -C target-feature=+crt-static" \
      cargo build --release --locked --quiet --target "$host" >&2
    echo "$PWD/target/$host/release/docker-tlsctx" ;;
  *)
    cargo build --release --locked --quiet >&2
    echo "$PWD/target/release/docker-tlsctx" ;;
esac
