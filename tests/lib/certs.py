"""Test certificates made with the openssl CLI, for TLS tests against real peers.

    from certs import make_certs, server_context
    c = make_certs(tmpdir)            # writes PEM files into tmpdir, returns their paths
    c.ca                              # CA certificate to trust (ca_file)
    c.server, c.server_key            # CN=localhost, SAN DNS:localhost, IP:127.0.0.1, IP:::1
    c.expired, c.expired_key          # same names, notAfter already past ("certificate has expired")
    c.other, c.other_key              # SAN DNS:other.example only ("Hostname mismatch")
    c.unknown, c.unknown_key          # localhost names, issued by a CA nobody trusts
                                      # ("unable to get local issuer certificate")
    c.client, c.client_key            # client certificate (clientAuth) issued by c.ca
    c.untrusted_client, c.untrusted_client_key   # client certificate from the untrusted CA
    ctx = server_context(c, "server", client_ca=c.ca)   # ssl.SSLContext for a Python TLS server

Keys are EC P-256: quick to make and small. Every file lands in the given directory; the caller owns
and removes it.
"""

import os
import ssl
import subprocess

SERVER_SAN = "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1\nextendedKeyUsage=serverAuth\n"


class Certs:
    def __init__(self, directory):
        self.dir = directory

    def path(self, name):
        return os.path.join(self.dir, name)

    def __getattr__(self, name):
        # c.server -> server.pem, c.server_key -> server.key
        if name.startswith("_") or name == "dir":
            raise AttributeError(name)
        if name.endswith("_key"):
            return self.path(name[:-4] + ".key")
        return self.path(name + ".pem")


def _openssl(directory, *args):
    r = subprocess.run(("openssl",) + args, cwd=directory, stdin=subprocess.DEVNULL, capture_output=True,
                       timeout=60)
    if r.returncode != 0:
        raise RuntimeError("openssl %s failed:\n%s" % (" ".join(args), r.stderr.decode("utf-8", "replace")))


def _key(directory, name):
    _openssl(directory, "genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256", "-out", name + ".key")


def _ca(directory, name, cn):
    _key(directory, name)
    _openssl(directory, "req", "-x509", "-new", "-key", name + ".key", "-subj", "/CN=" + cn, "-days", "3650",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
             "-out", name + ".pem")


def _issue(directory, name, cn, extensions, ca, days):
    """days=-1 makes notAfter yesterday: an expired certificate."""
    _key(directory, name)
    with open(os.path.join(directory, name + ".ext"), "w") as f:
        f.write(extensions)
    _openssl(directory, "req", "-new", "-key", name + ".key", "-subj", "/CN=" + cn, "-out", name + ".csr")
    _openssl(directory, "x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
             "-CAcreateserial", "-days", str(days), "-sha256", "-extfile", name + ".ext", "-out", name + ".pem")


def make_certs(directory):
    os.makedirs(directory, exist_ok=True)
    _ca(directory, "ca", "wsfleet test CA")
    _ca(directory, "untrusted_ca", "wsfleet untrusted CA")
    _issue(directory, "server", "localhost", SERVER_SAN, "ca", 30)
    _issue(directory, "expired", "localhost", SERVER_SAN, "ca", -1)
    _issue(directory, "other", "other.example", "subjectAltName=DNS:other.example\nextendedKeyUsage=serverAuth\n",
           "ca", 30)
    _issue(directory, "unknown", "localhost", SERVER_SAN, "untrusted_ca", 30)
    _issue(directory, "client", "wsfleet client", "extendedKeyUsage=clientAuth\n", "ca", 30)
    _issue(directory, "untrusted_client", "wsfleet client", "extendedKeyUsage=clientAuth\n", "untrusted_ca", 30)
    return Certs(directory)


def server_context(certs, name="server", client_ca=None):
    """A server-side ssl.SSLContext presenting certificate `name`; with client_ca, client
    certificates issued by it are required."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(certs.path(name + ".pem"), certs.path(name + ".key"))
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(client_ca)
    return ctx
