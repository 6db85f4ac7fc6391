"""``slicectl certs``: a local CA and certificates for labs and tests, made with openssl.

One directory: ``ca.pem``/``ca.key`` (the CA), ``server.pem``/``server.key`` (the
controller: SAN ``DNS:localhost``, ``IP:127.0.0.1``, ``IP:::1`` and any ``--host``), and
per client NAME ``NAME.pem``/``NAME.key`` (subject CN=NAME, SAN URI ``tenant:NAME``: the
controller reads the tenant from it). EC P-256 keys, 825 days. For production, use your
own PKI: the controller needs only PEM files.
"""
from __future__ import annotations

import ipaddress
import subprocess
import tempfile
from pathlib import Path

DAYS = 825
_KEY = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]


class CertError(Exception):
    """openssl failed, or the directory cannot be written: the message says which."""


def _openssl(*args: str) -> None:
    try:
        r = subprocess.run(["openssl", *args], capture_output=True, text=True, timeout=60)
    except FileNotFoundError:
        raise CertError("openssl is not installed (Debian: apt install openssl; `make setup` does)") from None
    if r.returncode:
        raise CertError(f"openssl {args[0]} failed: {r.stderr.strip()[-400:]}")


def make_ca(d: Path) -> None:
    _openssl("req", "-x509", *_KEY, "-keyout", str(d / "ca.key"), "-out", str(d / "ca.pem"), "-days", str(DAYS),
             "-subj", "/CN=intercloud-slicing local CA",
             "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign")


def make_cert(d: Path, name: str, extensions: list[str], subject: str) -> None:
    """``name``.pem/.key signed by the CA in ``d``."""
    with tempfile.TemporaryDirectory() as tmp:
        csr, ext = Path(tmp) / "req.csr", Path(tmp) / "ext.cnf"
        ext.write_text("\n".join(extensions) + "\n")
        _openssl("req", "-new", *_KEY, "-keyout", str(d / f"{name}.key"), "-out", str(csr), "-subj", subject)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(d / "ca.pem"), "-CAkey", str(d / "ca.key"),
                 "-CAcreateserial", "-out", str(d / f"{name}.pem"), "-days", str(DAYS), "-extfile", str(ext))


def make_all(directory: str | Path, clients: list[str], hosts: list[str] = ()) -> list[Path]:
    """CA, server and client certificates in ``directory`` (created; an existing CA is
    reused so certificates made later still match). The files written."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CertError(f"{d}: {e.strerror}") from None
    for name in clients:
        if not name or not all(c.isalnum() or c in "-_." for c in name) or name in ("ca", "server"):
            raise CertError(f"client name {name!r}: letters, digits, '-', '_' and '.' only, not ca or server")
    if not (d / "ca.pem").exists():
        make_ca(d)
    alt = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"]
    alt += [_san(h) for h in hosts]
    make_cert(d, "server", [f"subjectAltName={','.join(alt)}", "extendedKeyUsage=serverAuth"],
              "/CN=intercloud-slicing controller")
    for name in clients:
        make_cert(d, name, [f"subjectAltName=URI:tenant:{name}", "extendedKeyUsage=clientAuth"], f"/CN={name}")
    for key in d.glob("*.key"):
        key.chmod(0o600)
    return sorted(p for p in d.iterdir() if p.suffix in (".pem", ".key"))


def make_etcd(directory: str | Path, hosts: list[str] = ()) -> dict[str, Path]:
    """Certificates for an etcd that runs TLS as production etcd does (client certificates
    required, peers over TLS too), signed by the CA in ``directory`` (made if absent):
    ``etcd.pem``/``.key`` for every member — serverAuth *and* clientAuth, because etcd's
    own JSON gateway dials its gRPC port with the member's certificate, and with
    serverAuth alone every gateway request fails ("connection closed") — and
    ``etcd-client.pem``/``.key`` for the controllers. The paths, by role."""
    d = Path(directory)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise CertError(f"{d}: {e.strerror}") from None
    if not (d / "ca.pem").exists():
        make_ca(d)
    alt = ["DNS:localhost", "IP:127.0.0.1", "IP:::1"] + [_san(h) for h in hosts]
    if not (d / "etcd.pem").exists():
        make_cert(d, "etcd", [f"subjectAltName={','.join(alt)}", "extendedKeyUsage=serverAuth,clientAuth"],
                  "/CN=intercloud-slicing etcd")
    if not (d / "etcd-client.pem").exists():
        make_cert(d, "etcd-client", ["extendedKeyUsage=clientAuth"], "/CN=intercloud-slicing controller")
    for key in d.glob("*.key"):
        key.chmod(0o600)
    return {"ca": d / "ca.pem", "server_cert": d / "etcd.pem", "server_key": d / "etcd.key",
            "client_cert": d / "etcd-client.pem", "client_key": d / "etcd-client.key"}


def _san(host: str) -> str:
    try:
        return f"IP:{ipaddress.ip_address(host)}"
    except ValueError:
        return f"DNS:{host}"
