#!/usr/bin/env bash
# Builds what a user without Rust installs (issue 31), into target/dist/:
#   docker-tlsctx_<version>_<arch>.deb     the plugin in Docker's system plugin
#                                          folder /usr/libexec/docker/cli-plugins/,
#                                          docker-credential-tlsctx in /usr/bin,
#                                          docs and licence in /usr/share/doc/docker-tlsctx/
#   docker-tlsctx-<version>-<target>.tar.gz  the same binary, README, licences, install.sh
#   SHA256SUMS
# The binary is the release build (scripts/build-release.sh: static-pie, so
# the package depends on no library and keeps ASLR), or PACKAGE_BIN when
# set (the test suite packages the binary it built, rather than spend
# minutes on a release build). lintian runs when installed; each tag it
# still gives is explained in LINTIAN below.
set -euo pipefail
cd "$(dirname "$0")/.."
# What goes into the package must be readable by all (dpkg keeps modes);
# a user's umask 077 would make the control file 0600.
umask 022

version=$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || { echo "package.sh: no version in Cargo.toml" >&2; exit 1; }
if [ -n "${PACKAGE_BIN:-}" ]; then
  bin=$PACKAGE_BIN
else
  bin=$(scripts/build-release.sh) || { echo "package.sh: the release build failed (see above)" >&2; exit 1; }
fi
[ -x "$bin" ] || { echo "package.sh: $bin is not an executable" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "package.sh: dpkg-deb is missing (apt-get install dpkg)" >&2; exit 1; }
command -v readelf >/dev/null || { echo "package.sh: readelf is missing (apt-get install binutils): it tells a static binary from one that needs libc" >&2; exit 1; }

# Debian's name for the binary's architecture, from its ELF header.
machine=$(od -An -t u2 -j 18 -N 2 "$bin" | tr -d ' ')
case "$machine" in
  62) arch=amd64 target=x86_64-linux ;;
  183) arch=arm64 target=aarch64-linux ;;
  *) echo "package.sh: $bin is for ELF machine $machine, which this script does not package" >&2; exit 1 ;;
esac
# Static (no PT_INTERP) or dynamic against glibc: the Depends line says which.
if LC_ALL=C readelf -l "$bin" 2>/dev/null | grep -q 'Requesting program interpreter'; then
  depends="Depends: libc6 (>= 2.34)"
else
  depends=""
fi

dist=target/dist
root=$(mktemp -d "${TMPDIR:-/tmp}/tlsctx-pkg.XXXXXX")
trap 'rm -rf "$root"' EXIT
mkdir -p "$dist"
pkg=$root/deb
doc=$pkg/usr/share/doc/docker-tlsctx
install -d -m 0755 "$pkg/DEBIAN" "$pkg/usr/libexec/docker/cli-plugins" "$pkg/usr/bin" "$doc"
# Docker's CLI finds system plugins there (docker/cli cli-plugins/manager,
# defaultSystemPluginDirs); one binary, two names (src/main.rs).
install -m 0755 "$bin" "$pkg/usr/libexec/docker/cli-plugins/docker-tlsctx"
ln -s ../libexec/docker/cli-plugins/docker-tlsctx "$pkg/usr/bin/docker-credential-tlsctx"
install -m 0644 README.md SECURITY.md ARCHITECTURE.md "$doc/"
# The project's changelog as it is, and the Debian-format one a native
# package carries (lintian: debian-changelog-file-missing), pointing to it.
gzip -9n <CHANGELOG.md >"$doc/CHANGELOG.md.gz"
when=$(git log -1 --format=%cD 2>/dev/null || date -R)
printf 'docker-tlsctx (%s) unstable; urgency=medium\n\n  * Release %s: see /usr/share/doc/docker-tlsctx/CHANGELOG.md.gz.\n\n -- docker-tlsctx maintainers <maintainers@docker-tlsctx.invalid>  %s\n' \
  "$version" "$version" "$when" | gzip -9n >"$doc/changelog.gz"
chmod 0644 "$doc/CHANGELOG.md.gz" "$doc/changelog.gz"
cat >"$doc/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: docker-tlsctx
Source: https://github.com/docker-tlsctx/docker-tlsctx

Files: *
Copyright: 2025-2026 the docker-tlsctx authors
License: MIT or Apache-2.0

License: MIT
$(sed 's/^$/./; s/^/ /' LICENSE-MIT)

License: Apache-2.0
 On Debian systems, the full text of the Apache License 2.0 is in
 /usr/share/common-licenses/Apache-2.0.
EOF
chmod 0644 "$doc/copyright"
size=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
{
  echo "Package: docker-tlsctx"
  echo "Version: $version"
  echo "Architecture: $arch"
  echo "Maintainer: docker-tlsctx maintainers <maintainers@docker-tlsctx.invalid>"
  echo "Installed-Size: $size"
  [ -n "$depends" ] && echo "$depends"
  echo "Recommends: docker.io | docker-ce-cli, openssh-client"
  echo "Section: admin"
  echo "Priority: optional"
  echo "Homepage: https://github.com/docker-tlsctx/docker-tlsctx"
  echo "Description: mutual-TLS Docker contexts in one command"
  echo " A Docker CLI plugin (docker tlsctx) that makes a CA, a server certificate"
  echo " and client identities for a Docker Engine reached over TCP, installs the"
  echo " daemon's side over SSH, keeps keys in the OS keychain, renews them on a"
  echo " schedule and revokes them. Also the credential helper"
  echo " docker-credential-tlsctx."
} >"$pkg/DEBIAN/control"
(cd "$pkg" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$pkg/DEBIAN/md5sums"
chmod 0644 "$pkg/DEBIAN/md5sums"
deb=$dist/docker-tlsctx_${version}_${arch}.deb
# Files owned by root whatever user builds (dpkg-deb >= 1.19.0).
# PACKAGE_DEB_COMPRESSION=none: the test suite's 90 MB debug binary takes
# xz half a minute, which tests nothing.
dpkg-deb --root-owner-group -Z"${PACKAGE_DEB_COMPRESSION:-xz}" --build "$pkg" "$deb" >/dev/null \
  || { echo "package.sh: dpkg-deb could not build $deb" >&2; exit 1; }

tarname=docker-tlsctx-$version-$target
tar_root=$root/$tarname
mkdir -p "$tar_root"
install -m 0755 "$bin" "$tar_root/docker-tlsctx"
install -m 0644 README.md SECURITY.md CHANGELOG.md LICENSE-MIT LICENSE-APACHE "$tar_root/"
install -m 0755 install.sh "$tar_root/"
tar -C "$root" --owner=0 --group=0 --numeric-owner --sort=name --mtime='2026-01-01' \
  -czf "$dist/$tarname.tar.gz" "$tarname"

(cd "$dist" && sha256sum "$(basename "$deb")" "$tarname.tar.gz" >SHA256SUMS)

# Tags lintian still gives, and why they stay (see README, "Packages"):
#   no-manual-page: the commands document themselves (--help); a man page is its own issue.
#   initial-upload-closes-no-bugs: not built from a Debian source package (no bug to close).
#   statically-linked-binary: on purpose (scripts/build-release.sh: start-up time).
#   shared-library-lacks-prerequisites: a static-pie binary is an ELF of type DYN
#     with no DT_NEEDED, which lintian takes for a library; it is the executable.
LINTIAN="no-manual-page,initial-upload-closes-no-bugs,statically-linked-binary,shared-library-lacks-prerequisites"
# PACKAGE_LINT=0 skips it: the test suite packages its unoptimised debug
# binary, which lintian would rightly call unstripped.
if [ "${PACKAGE_LINT:-1}" != 0 ] && command -v lintian >/dev/null; then
  lintian --suppress-tags "$LINTIAN" --tag-display-limit 0 --fail-on error,warning "$deb" \
    || { echo "package.sh: lintian found problems in $deb (above)" >&2; exit 1; }
fi
echo "$deb"
echo "$dist/$tarname.tar.gz"
echo "$dist/SHA256SUMS"
