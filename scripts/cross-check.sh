#!/usr/bin/env bash
# macOS and Windows on a Linux machine (README.md, "Other platforms"):
#   1. type-checks the whole crate, tests included, for aarch64-apple-darwin
#      (the Keychain backend among it);
#   2. builds the Windows docker-tlsctx.exe, the named pipe's test client
#      (examples/npipe_client.rs) and the library's unit tests for
#      x86_64-pc-windows-gnu, runs the unit tests under Wine, then
#      scripts/wine/e2e.sh against Wine's Credential Manager.
# Needs no rustup target: Debian's rustc-web/cargo-web/rust-web-src (1.96,
# bookworm-security) bring std's sources, built here with -Zbuild-std.
# Installs what is missing (as root). .ci/run runs it after the Linux suite.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

# command -> Debian package
declare -A needs=(
  [/usr/bin/cargo]=cargo-web
  [/usr/bin/rustc]=rustc-web
  [/usr/lib/rustlib/src/rust/library/Cargo.lock]=rust-web-src
  [/usr/bin/x86_64-w64-mingw32-gcc]=gcc-mingw-w64-x86-64
  [/usr/bin/nasm]=nasm
  [/usr/lib/wine/wine64]=wine64
  [/usr/bin/openssl]=openssl
)
missing=()
for path in "${!needs[@]}"; do
  [ -e "$path" ] || missing+=("${needs[$path]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "cross-check.sh: missing ${missing[*]}; install them (apt-get install ${missing[*]}) or run as root" >&2
    exit 1
  fi
  echo "cross-check.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Debian's toolchain, not rustup's (which comes first on PATH otherwise);
# RUSTC_BOOTSTRAP lets its stable cargo take -Zbuild-std.
export PATH=/usr/bin:$PATH RUSTC=/usr/bin/rustc RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR=${CROSS_TARGET_DIR:-target/cross}
build_std=(-Zbuild-std=std,panic_abort)

step() { echo "cross-check.sh: $* ($((SECONDS - started)) s)" >&2; }

# 1. macOS: check everything, warnings denied (an unused import there is a
#    bug here). One target: nothing in src/ or tests/ depends on the
#    architecture (no target_arch), so x86_64-apple-darwin checked the same
#    code again, with std built once more (issue 32: CI time).
for target in aarch64-apple-darwin; do
  step "checking $target"
  RUSTFLAGS="-D warnings" /usr/bin/cargo check --locked --all-targets "${build_std[@]}" \
    --target "$target" --config scripts/cross-macos.toml
done

# 2. Windows: the release .exe and the unit tests, linked by mingw.
win=x86_64-pc-windows-gnu
export CARGO_TARGET_X86_64_PC_WINDOWS_GNU_LINKER=x86_64-w64-mingw32-gcc
step "building $win"
RUSTFLAGS="-D warnings" /usr/bin/cargo build --locked --release "${build_std[@]}" --target "$win" \
  --bins --example npipe_client
# The unit tests in the release profile too: they reuse the std, the
# dependencies and aws-lc's C that the .exe was built with, where the dev
# profile built all three a second time (issue 32: CI time).
step "building the unit tests for $win"
tests_exe=$(RUSTFLAGS="-D warnings" /usr/bin/cargo test --locked --release --lib --no-run "${build_std[@]}" \
  --target "$win" --message-format=json 2>/dev/null \
  | python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["lib"]:
        print(m["executable"])')

out=$CARGO_TARGET_DIR/wine
mkdir -p "$out"
cp "$CARGO_TARGET_DIR/$win/release/docker-tlsctx.exe" "$CARGO_TARGET_DIR/$win/release/examples/npipe_client.exe" "$out/"
x86_64-w64-mingw32-gcc -shared -O2 -o "$out/bcryptprimitives.dll" \
  scripts/wine/bcryptprimitives.c scripts/wine/bcryptprimitives.def -ladvapi32
cp "$tests_exe" "$out/unit-tests.exe"

step "running the unit tests under Wine"
(
  export WINEPREFIX=$(mktemp -d /tmp/tlsctx-wine-unit.XXXXXX) WINEDEBUG=-all
  export WINEDLLOVERRIDES="bcryptprimitives=n,b;mscoree=;mshtml="
  trap 'wineserver -k >/dev/null 2>&1 || true; rm -rf "$WINEPREFIX"' EXIT
  /usr/lib/wine/wine64 wineboot --init >/dev/null 2>&1
  wineserver -w
  wineserver -p
  cd "$out"
  # One thread: the lock test sets an environment variable.
  /usr/lib/wine/wine64 ./unit-tests.exe --test-threads 1 | tr -d '\r' | tail -3
  exit "${PIPESTATUS[0]}"
)

step "running the end-to-end test under Wine"
WINE=/usr/lib/wine/wine64 scripts/wine/e2e.sh "$out"
step "done"
