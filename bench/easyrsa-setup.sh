#!/bin/sh
# easy-rsa's way to the same three certificates (its defaults: RSA-2048).
# Usage: easyrsa-setup.sh DIR HOST
set -eu
export EASYRSA_PKI="$1/pki" EASYRSA_BATCH=1
E=/usr/share/easy-rsa/easyrsa
$E init-pki >/dev/null 2>&1
EASYRSA_REQ_CN="$2 CA" $E build-ca nopass >/dev/null 2>&1
$E --subject-alt-name="DNS:$2,IP:127.0.0.1" build-server-full server nopass >/dev/null 2>&1
$E build-client-full client nopass >/dev/null 2>&1
test -s "$EASYRSA_PKI/issued/server.crt" && test -s "$EASYRSA_PKI/issued/client.crt"
