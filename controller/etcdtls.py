"""TLS to etcd, as production etcd runs: ``--cluster etcds://H1:P1,...`` (or ``https://``)
with the CA that signed the members' certificates and this controller's client
certificate (``--cluster-ca``, ``--cluster-cert``, ``--cluster-key``).

The files are checked before anything starts, and a handshake that fails is told in one
line that says what to change — the HTTP library reports every TLS failure as a
connection error with OpenSSL's words deep inside it, the same way for a wrong CA, a
missing client certificate or a member that speaks plaintext (the API's own TLS errors
are worded the same way by slicectl.diagnose).
"""
from __future__ import annotations

import socket
import ssl
from dataclasses import dataclass

TLS_SCHEMES, PLAIN_SCHEMES = ("etcds", "https"), ("etcd", "http")


@dataclass(frozen=True)
class ClusterTLS:
    """The PEM files given for TLS to etcd (``ca`` None: the system's CAs; ``cert`` and
    ``key`` None: no client certificate)."""
    ca: str | None = None
    cert: str | None = None
    key: str | None = None

    @property
    def given(self) -> bool:
        return bool(self.ca or self.cert or self.key)


def check(url: str, tls: ClusterTLS) -> ClusterTLS | None:
    """The TLS to use for ``url`` (None: plaintext); ValueError of one line naming the
    option or file that cannot be used: TLS files with a plaintext URL, a certificate
    without its key, a file that cannot be read, is not PEM, or a key that is not the
    certificate's."""
    scheme = url.partition("://")[0]
    if scheme in PLAIN_SCHEMES:
        if tls.given:
            raise ValueError(f"--cluster-ca, --cluster-cert and --cluster-key are for TLS to etcd: give --cluster "
                             f"etcds://{url.partition('://')[2]} (or leave them out for plaintext)")
        return None
    if bool(tls.cert) != bool(tls.key):
        raise ValueError("--cluster-cert and --cluster-key go together")
    for option, path in (("--cluster-ca", tls.ca), ("--cluster-cert", tls.cert), ("--cluster-key", tls.key)):
        if path:
            _read_pem(option, path)
    ctx = ssl.create_default_context()
    if tls.ca:
        try:
            ctx.load_verify_locations(cafile=tls.ca)
        except ssl.SSLError as e:
            raise ValueError(f"--cluster-ca {tls.ca}: not a CA certificate in PEM ({e.reason or e})") from None
    if tls.cert:
        try:
            ctx.load_cert_chain(tls.cert, tls.key)
        except ssl.SSLError as e:
            raise ValueError(f"--cluster-cert {tls.cert} with --cluster-key {tls.key}: cannot be used "
                             f"({e.reason or e}: is the key this certificate's?)") from None
    return tls


def _read_pem(option: str, path: str) -> None:
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ValueError(f"{option} {path}: {e.strerror}") from None
    if b"-----BEGIN " not in data:
        raise ValueError(f"{option} {path}: not a PEM file")


def explain(text: str, member: str, tls: ClusterTLS | None) -> str | None:
    """What a failed request's error ``text`` means, when TLS (or its absence) is why
    ``member`` refused it; None when it is something else."""
    if tls is None:
        if "HTTP request to an HTTPS server" in text or (
                any(a in text for a in ("Connection reset", "RemoteDisconnected", "Connection aborted"))
                and probe(member) == "tls"):
            return (f"member {member} serves TLS and this controller spoke plaintext: give --cluster etcds://... "
                    "with --cluster-ca (the CA of etcd's --cert-file) and, as etcd asks for client certificates "
                    "(--client-cert-auth), --cluster-cert and --cluster-key")
        return None
    if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text or "record layer failure" in text:
        return _plaintext_member(member)
    if "CERTIFICATE_VERIFY_FAILED" in text:
        return _server_not_trusted(text, member, tls)
    refused = any(a in text for a in ("CERTIFICATE_REQUIRED", "certificate required", "BAD_CERTIFICATE",
                                      "bad certificate", "UNKNOWN_CA", "unknown ca"))
    closed = any(a in text for a in ("SSLEOFError", "SSLZeroReturnError", "EOF occurred", "has been closed"))
    found = probe(member) if closed else "tls"
    if found == "plaintext":   # etcd closes a TLS hello on a plaintext port without a word
        return _plaintext_member(member)
    if found == "down":        # it died during the request: not a matter of TLS
        return None
    if refused or closed:   # etcd refuses a client certificate with an alert, or by closing the connection
        if not tls.cert:
            return (f"member {member} wants a client certificate (etcd's --client-cert-auth): give --cluster-cert "
                    "FILE and --cluster-key FILE")
        return (f"member {member} does not accept the client certificate {tls.cert}: it was not signed by etcd's "
                "--trusted-ca-file (made with another CA?)")
    if "SSLError" in text or "SSL:" in text:
        return f"member {member}: TLS failed: {text[text.find('SSL'):][:200]}"
    return None


def unanswered(text: str, url: str, members: list[str], tls: ClusterTLS | None) -> str | None:
    """At the first contact, a TLS request that nobody answered in time (``text``, an
    EtcdError's) may be a plaintext etcd that has not yet closed the handshake it cannot
    read (on a busy machine): ask each member, plainly, which it is. None: it is not
    that. Only at the first contact: a member that holds its port without answering
    (frozen) costs this probe its timeout."""
    if tls is None or "ConnectionTimeoutError" not in text:
        return None
    plain = next((m for m in members if probe(m) == "plaintext"), None)
    return f"etcd at {url}: {_plaintext_member(plain)}" if plain else None


def _plaintext_member(member: str) -> str:
    return (f"member {member} serves plaintext, not TLS: give --cluster etcd://... and leave out --cluster-ca, "
            "--cluster-cert and --cluster-key (or start etcd with --cert-file and --key-file)")


def probe(member: str, timeout: float = 1.0) -> str:
    """What listens at ``member`` (HOST:PORT): "plaintext" if it answers a plaintext HTTP
    request, "down" if nothing takes the connection, else "tls" — the one way to tell a
    plaintext etcd, or a member that died, from one that closed a TLS connection because
    of the client's certificate (etcd says nothing either way)."""
    host, _, port = member.rpartition(":")
    try:
        with socket.create_connection((host.strip("[]"), int(port)), timeout) as sock:
            sock.sendall(b"GET /version HTTP/1.0\r\n\r\n")
            sock.settimeout(timeout)
            return "plaintext" if sock.recv(5) == b"HTTP/" else "tls"
    except ConnectionRefusedError:
        return "down"
    except (OSError, ValueError):
        return "tls"


def _server_not_trusted(text: str, member: str, tls: ClusterTLS) -> str:
    """Why the member's own certificate was not accepted."""
    host = member.rpartition(":")[0]
    if "mismatch" in text or "doesn't match" in text:
        return (f"member {member}'s certificate does not cover {host}: reach it by a name in its certificate, or "
                "remake the certificate with that name")
    if "expired" in text:
        return f"member {member}'s certificate has expired: make a new one and restart the member"
    ca = f"--cluster-ca {tls.ca}" if tls.ca else "no --cluster-ca (only the system's CAs)"
    return (f"member {member}'s certificate is not signed by {ca}: give the CA that signed etcd's --cert-file "
            "(`slicectl etcd up --tls` writes DIR/tls/ca.pem)")
