#!/bin/sh
# mkcert's way: one run for the CA and the server certificate, a second for
# the client certificate (-client). Usage: mkcert-setup.sh DIR HOST
set -eu
export CAROOT="$1/caroot"
cd "$1"
mkcert -cert-file server-cert.pem -key-file server-key.pem "$2" 127.0.0.1 >/dev/null 2>&1
mkcert -client -cert-file cert.pem -key-file key.pem client >/dev/null 2>&1
