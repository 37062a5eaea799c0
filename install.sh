#!/bin/sh
# Installs docker-tlsctx: the binary as a Docker CLI plugin in
# $DOCKER_CONFIG/cli-plugins/docker-tlsctx, and a link to it named
# docker-credential-tlsctx in a PATH folder (the credential helper).
# Idempotent: running it again replaces the binary and keeps the link.
set -eu

usage() {
  cat <<'USAGE'
Usage: ./install.sh [--binary PATH] [--config DIR] [--bin-dir DIR] [--uninstall]

  --binary PATH  install this prebuilt binary instead of building one (scripts/build-release.sh)
  --config DIR   Docker's config folder [default: $DOCKER_CONFIG or ~/.docker]
  --bin-dir DIR  where docker-credential-tlsctx is linked [default: ~/.local/bin]
  --uninstall    remove both
USAGE
}

binary="" uninstall=0
config="${DOCKER_CONFIG:-$HOME/.docker}"
bin_dir="$HOME/.local/bin"
while [ $# -gt 0 ]; do
  case "$1" in
    --binary) binary="${2:?--binary needs a path}"; shift 2 ;;
    --binary=*) binary="${1#*=}"; shift ;;
    --config) config="${2:?--config needs a folder}"; shift 2 ;;
    --config=*) config="${1#*=}"; shift ;;
    --bin-dir) bin_dir="${2:?--bin-dir needs a folder}"; shift 2 ;;
    --bin-dir=*) bin_dir="${1#*=}"; shift ;;
    --uninstall) uninstall=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "install.sh: unknown option: $1" >&2; usage >&2; exit 2 ;;
  esac
done

plugins="$config/cli-plugins"
plugin="$plugins/docker-tlsctx"
helper="$bin_dir/docker-credential-tlsctx"

# Docker lists every docker-* file in cli-plugins as a plugin and reports
# docker-credential-tlsctx there as invalid ("credential-tlsctx" does not
# match ^[a-z][a-z0-9]*$, observed with Docker CLI 28.2.2).
case "$(cd "$bin_dir" 2>/dev/null && pwd -P || echo "$bin_dir")" in
  "$(cd "$plugins" 2>/dev/null && pwd -P || echo "$plugins")")
    echo "install.sh: --bin-dir must not be the cli-plugins folder: Docker would list the credential helper as an invalid plugin" >&2
    exit 2 ;;
esac

if [ "$uninstall" = 1 ]; then
  if [ -L "$helper" ]; then rm -f "$helper"; echo "removed $helper"; fi
  if [ -f "$plugin" ]; then rm -f "$plugin"; echo "removed $plugin"; fi
  echo "Keys and contexts are kept: see $config/tlsctx and docker context ls."
  exit 0
fi

if [ -z "$binary" ]; then
  here=$(cd "$(dirname "$0")" && pwd)
  echo "building docker-tlsctx (scripts/build-release.sh)…" >&2
  binary=$("$here/scripts/build-release.sh")
fi
[ -x "$binary" ] || { echo "install.sh: $binary is not an executable file" >&2; exit 1; }

mkdir -p "$plugins" "$bin_dir"
# Copy then rename: a docker command running meanwhile never sees half a binary.
tmp="$plugins/.docker-tlsctx.$$"
cp "$binary" "$tmp"
chmod 0755 "$tmp"
mv -f "$tmp" "$plugin"
ln -sfn "$plugin" "$helper"

echo "installed $plugin"
echo "linked    $helper -> $plugin"
case ":$PATH:" in
  *":$bin_dir:"*) ;;
  *) echo "note: $bin_dir is not on PATH; add it so Docker finds docker-credential-tlsctx" ;;
esac
