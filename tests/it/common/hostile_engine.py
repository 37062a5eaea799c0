#!/usr/bin/python3
"""A Vault/OpenBao PKI engine that lies (issue 30): what no real OpenBao
will do, for the issuer tests. It serves the few calls docker-tlsctx makes
over HTTPS on 127.0.0.1 and answers `sign` by the role's name:

  good-client, good-server  what a well-set role issues
  other-cn                  another CN than the request's
  extra-san                 a name the request did not ask for
  ca-true                   basicConstraints CA:TRUE
  both-eku                  serverAuth and clientAuth, no role OU
  no-ou                     clientAuth alone, no role OU
  any-eku                   anyExtendedKeyUsage beside the right one
  backdated                 notBefore 30 days back
  other-ca                  signed by another CA of the same name
  other-key                 a certificate for another key
  redirect                  302 to another path of the engine
  huge                      a 100 MB body
  trickle                   one byte a second
  crit-ext                  an unknown critical extension
  leadzero-client           a good client certificate whose serial has its
                            top bit set (a 00 sign byte in DER)

Revocation is looked up as Vault and OpenBao do: the serial's bytes
without leading zeros, colon-separated; anything else is "not found".

The CRL (`crl/pem`) follows the file DIR/crl-mode: good (lists every
revoked serial), lazy (lists a serial only after `crl/rotate`, as OpenBao's
auto_rebuild does), stale (never lists new serials), junk, foreign (another
CA's), expired, forget (lists only the newest serial), prefix (a byte
before -----BEGIN, which only lenient PEM readers take), delta (a delta
CRL). Every revoke is appended to DIR/revoked, every path asked
for to DIR/requests. Usage: hostile_engine.py DIR; prints the port.
"""

import datetime
import json
import os
import ssl
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

DIR = sys.argv[1]
NOW = datetime.datetime.now(datetime.timezone.utc)


def name(cn, ou=None):
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, cn)]
    if ou:
        attrs.append(x509.NameAttribute(NameOID.ORGANIZATIONAL_UNIT_NAME, ou))
    return x509.Name(attrs)


def make_ca(cn):
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(name(cn))
        .issuer_name(name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - datetime.timedelta(days=1))
        .not_valid_after(NOW + datetime.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return key, cert


def pem(cert):
    return cert.public_bytes(serialization.Encoding.PEM).decode()


CA_KEY, CA = make_ca("hostile CA")
OTHER_KEY, OTHER = make_ca("hostile CA")
TLS_KEY, TLS_CA = make_ca("hostile engine TLS")
tls_leaf_key = ec.generate_private_key(ec.SECP256R1())
tls_leaf = (
    x509.CertificateBuilder()
    .subject_name(name("127.0.0.1"))
    .issuer_name(TLS_CA.subject)
    .public_key(tls_leaf_key.public_key())
    .serial_number(x509.random_serial_number())
    .not_valid_before(NOW - datetime.timedelta(days=1))
    .not_valid_after(NOW + datetime.timedelta(days=30))
    .add_extension(
        x509.SubjectAlternativeName(
            [x509.IPAddress(__import__("ipaddress").ip_address("127.0.0.1"))]
        ),
        critical=False,
    )
    .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
    .sign(TLS_KEY, hashes.SHA256())
)
with open(os.path.join(DIR, "tls-ca.pem"), "w") as f:
    f.write(pem(TLS_CA))
with open(os.path.join(DIR, "tls.pem"), "w") as f:
    f.write(pem(tls_leaf))
with open(os.path.join(DIR, "tls.key"), "wb") as f:
    f.write(
        tls_leaf_key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )

LOCK = threading.Lock()
ISSUED = set()  # serial ints
REVOKED = []  # serial ints, in order
LISTED = set()  # what the CRL lists in lazy mode (rebuilt on rotate)


def log(fname, line):
    with LOCK, open(os.path.join(DIR, fname), "a") as f:
        f.write(line + "\n")


def mode():
    try:
        with open(os.path.join(DIR, "crl-mode")) as f:
            return f.read().strip()
    except FileNotFoundError:
        return "good"


def vault_serial(n):
    """certutil.GetHexFormatted(big.Int.Bytes()): no leading zero bytes."""
    raw = n.to_bytes((n.bit_length() + 7) // 8 or 1, "big")
    return ":".join(f"{b:02x}" for b in raw)


def crl(serials, key=CA_KEY, issuer=CA, next_update=None, delta=False):
    b = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(issuer.subject)
        .last_update(NOW - datetime.timedelta(hours=1))
        .next_update(next_update or datetime.datetime.now(datetime.timezone.utc) + datetime.timedelta(days=3))
        .add_extension(x509.CRLNumber(len(serials) + 1), critical=False)
    )
    if delta:
        b = b.add_extension(x509.DeltaCRLIndicator(1), critical=True)
    for s in serials:
        b = b.add_revoked_certificate(
            x509.RevokedCertificateBuilder()
            .serial_number(s)
            .revocation_date(NOW)
            .build()
        )
    return b.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM).decode()


def sign(role, body):
    csr = x509.load_pem_x509_csr(body["csr"].encode())
    cn = csr.subject.get_attributes_for_oid(NameOID.COMMON_NAME)[0].value
    server = role.startswith("server-") or role == "good-server"
    kind = role.removeprefix("server-")
    subject = name(cn) if server else name(cn, "role:admin")
    public = csr.public_key()
    key, issuer = CA_KEY, CA
    not_before = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=30)
    ekus = [ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]
    sans = []
    if server:
        import ipaddress

        for d in filter(None, body.get("alt_names", "").split(",")):
            sans.append(x509.DNSName(d))
        for i in filter(None, body.get("ip_sans", "").split(",")):
            sans.append(x509.IPAddress(ipaddress.ip_address(i)))
    is_ca = False
    if kind == "other-cn":
        subject = name("mallory", None if server else "role:admin")
    elif kind == "extra-san":
        sans.append(x509.DNSName("evil.example"))
    elif kind == "ca-true":
        is_ca = True
    elif kind == "both-eku":
        ekus = [ExtendedKeyUsageOID.SERVER_AUTH, ExtendedKeyUsageOID.CLIENT_AUTH]
        subject = name(cn)
    elif kind == "no-ou":
        subject = name(cn)
    elif kind == "any-eku":
        ekus.append(ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE)
    elif kind == "backdated":
        not_before -= datetime.timedelta(days=30)
    elif kind == "other-ca":
        key, issuer = OTHER_KEY, OTHER
    elif kind == "other-key":
        public = ec.generate_private_key(ec.SECP256R1()).public_key()
    serial = x509.random_serial_number()
    if kind == "leadzero-client":
        serial |= 1 << 151  # 19 bytes, the top bit set
        serial &= (1 << 152) - 1
    b = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.subject)
        .public_key(public)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_before + datetime.timedelta(days=30))
        .add_extension(x509.BasicConstraints(ca=is_ca, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage(ekus), critical=False)
    )
    if sans:
        b = b.add_extension(x509.SubjectAlternativeName(sans), critical=False)
    if kind == "crit-ext":
        b = b.add_extension(
            x509.UnrecognizedExtension(x509.ObjectIdentifier("1.3.6.1.4.1.55555.1"), b"\x05\x00"),
            critical=True,
        )
    cert = b.sign(key, hashes.SHA256())
    with LOCK:
        ISSUED.add(serial)
    log("issued", f"{role} {serial:x}")
    return {
        "certificate": pem(cert),
        "issuing_ca": pem(CA),
        "serial_number": f"{serial:x}",
    }


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def reply(self, status, obj=None, text=None):
        data = (text if text is not None else json.dumps(obj)).encode()
        self.send_response(status)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        log("requests", f"GET {self.path}")
        p = self.path
        if p == "/v1/pki/ca/pem":
            return self.reply(200, text=pem(CA))
        if p == "/v1/auth/token/lookup-self":
            return self.reply(200, {"data": {"id": "x"}})
        if p == "/v1/pki/crl/rotate":
            with LOCK:
                LISTED.update(REVOKED)
            return self.reply(200, {"data": {"success": True}})
        if p == "/v1/pki/crl/pem":
            m = mode()
            with LOCK:
                everything = list(REVOKED)
                lazy = [s for s in REVOKED if s in LISTED]
            if m == "lazy":
                return self.reply(200, text=crl(lazy))
            if m == "stale":
                return self.reply(200, text=crl(everything[:-1]))
            if m == "junk":
                return self.reply(200, text="not a crl\n")
            if m == "foreign":
                return self.reply(200, text=crl(everything, OTHER_KEY, OTHER))
            if m == "forget":
                return self.reply(200, text=crl(everything[-1:]))
            if m == "prefix":
                return self.reply(200, text="x" + crl(everything))
            if m == "delta":
                return self.reply(200, text=crl(everything, delta=True))
            if m == "expired":
                past = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=1)
                return self.reply(200, text=crl(everything, next_update=past))
            return self.reply(200, text=crl(everything))
        return self.reply(404, {"errors": ["no handler for route"]})

    def do_POST(self):
        log("requests", f"POST {self.path}")
        n = int(self.headers.get("Content-Length", "0"))
        body = json.loads(self.rfile.read(n) or b"{}")
        p = self.path
        if p == "/v1/pki/revoke":
            asked = body["serial_number"].lower()
            with LOCK:
                found = [n for n in ISSUED if vault_serial(n) == asked]
            if not found:
                return self.reply(400, {"errors": [f"certificate with serial {asked} not found."]})
            s = found[0]
            with LOCK:
                REVOKED.append(s)
            log("revoked", f"{s:x}")
            return self.reply(200, {"data": {"revocation_time": int(time.time())}})
        if p.startswith("/v1/pki/sign/"):
            role = p.removeprefix("/v1/pki/sign/")
            if role == "redirect":
                self.send_response(302)
                self.send_header("Location", "/v1/pki/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            if role == "huge":
                size = 100 << 20
                self.send_response(200)
                self.send_header("Content-Length", str(size))
                self.end_headers()
                chunk = b" " * (1 << 20)
                try:
                    for _ in range(100):
                        self.wfile.write(chunk)
                except OSError:
                    pass
                return
            if role == "trickle":
                data = json.dumps({"data": sign("good-client", body)}).encode()
                self.send_response(200)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    for b in data:
                        self.wfile.write(bytes([b]))
                        self.wfile.flush()
                        time.sleep(1)
                except OSError:
                    pass
                return
            return self.reply(200, {"data": sign(role, body), "warnings": None})
        return self.reply(404, {"errors": ["no handler for route"]})


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(os.path.join(DIR, "tls.pem"), os.path.join(DIR, "tls.key"))
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
