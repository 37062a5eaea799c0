#!/bin/sh
# The openssl recipe of Docker's documentation ("Protect the Docker daemon
# socket", docs.docker.com/engine/security/protect-access/), as written:
# RSA-4096 CA, server key and certificate with SANs and serverAuth, client
# key and certificate with clientAuth. The CA key passphrase (-aes256) is
# left out: it is typed by hand and would only add a prompt.
# Usage: openssl-recipe.sh DIR HOST
set -eu
cd "$1"
HOST=$2
openssl genrsa -out ca-key.pem 4096 2>/dev/null
openssl req -new -x509 -days 365 -key ca-key.pem -sha256 -out ca.pem -subj "/CN=$HOST CA" 2>/dev/null
openssl genrsa -out server-key.pem 4096 2>/dev/null
openssl req -subj "/CN=$HOST" -sha256 -new -key server-key.pem -out server.csr 2>/dev/null
echo "subjectAltName = DNS:$HOST,IP:127.0.0.1" > extfile.cnf
echo "extendedKeyUsage = serverAuth" >> extfile.cnf
openssl x509 -req -days 365 -sha256 -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -extfile extfile.cnf 2>/dev/null
openssl genrsa -out key.pem 4096 2>/dev/null
openssl req -subj '/CN=client' -new -key key.pem -out client.csr 2>/dev/null
echo "extendedKeyUsage = clientAuth" > extfile-client.cnf
openssl x509 -req -days 365 -sha256 -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -extfile extfile-client.cnf 2>/dev/null
rm -f client.csr server.csr extfile.cnf extfile-client.cnf
chmod 0400 ca-key.pem key.pem server-key.pem
chmod 0444 ca.pem server-cert.pem cert.pem
