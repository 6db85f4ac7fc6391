"""Why a call never reached the controller, in one line that says what to change.

gRPC reports every failure below the API the same way (``UNAVAILABLE``): nothing
listening, plaintext against TLS, a certificate that does not cover the name dialled, a
missing or expired client certificate. Only the controller's log told them apart. So
when a call fails that way, :func:`diagnose` does what gRPC did by hand — a TCP connect,
then the TLS handshake with the client's own files through Python's ``ssl`` — and names
the step that failed. It returns None when the connection and the handshake are fine:
the ``UNAVAILABLE`` was the controller's own answer (a store or switch problem, a
take-over under way), and its message stands.
"""
from __future__ import annotations

import datetime
import socket
import ssl
from pathlib import Path
from typing import Protocol


class Server(Protocol):
    """What is diagnosed: slicectl.client.Server (a protocol here, so that this module,
    which the client imports, imports nothing of the client's back)."""

    address: str
    ca: str | None
    cert: str | None
    key: str | None
    token: str | None
    token_source: str | None

TIMEOUT_S = 3.0
CERTS_HINT = "`make certs HOSTS={host}` or `slicectl certs DIR --host {host}`"
# OpenSSL verify codes (X509_V_ERR_*) of the server's certificate
_EXPIRED, _NOT_YET_VALID, _HOSTNAME, _IP = 10, 9, 62, 64
_UNTRUSTED = (2, 18, 19, 20, 21)
CLOSED = "ALERT_CLOSED_AFTER_HANDSHAKE"      # no alert, the connection closed: BoringSSL's refusal


def split_address(address: str) -> tuple[str, int]:
    """HOST and PORT of ``HOST:PORT`` (``[::1]:50051`` too); ValueError if it is not one."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ValueError(f"--server {address}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def diagnose(server: Server, address: str) -> str | None:
    """The sentence that explains why ``address`` could not be reached with ``server``'s
    TLS files, or None if the connection and handshake are fine."""
    try:
        host, port = split_address(address.removeprefix("dns:///"))
    except ValueError as e:
        return str(e)
    try:
        sock = socket.create_connection((host, port), TIMEOUT_S)
    except socket.gaierror:
        return f"cannot resolve {host!r} (--server {address}): check the name, or give an address"
    except ConnectionRefusedError:
        return (f"cannot reach the controller at {address}: nothing listens there (is `slicectl "
                f"controller` running, with --grpc {address}?)")
    except TimeoutError:
        return (f"cannot reach the controller at {address}: no answer in {TIMEOUT_S:g} s (a firewall, a wrong "
                "address?)")
    except OSError as e:
        return f"cannot reach the controller at {address}: {e.strerror or e}"
    with sock:
        if not (server.ca or server.cert):
            return _plaintext(sock, host, address)
        return _tls(sock, server, host, address)


def _plaintext(sock: socket.socket, host: str, address: str) -> str | None:
    """A plaintext call failed: is the controller serving TLS?"""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    ctx.set_alpn_protocols(["h2"])
    try:
        ctx.wrap_socket(sock, server_hostname=host).close()
    except ssl.SSLError as e:
        if "ALERT" not in (e.reason or ""):
            return None      # not TLS: the controller speaks plaintext, and refused for its own reasons
    except OSError:
        return None
    return (f"the controller at {address} serves TLS and this call was plaintext: give --ca FILE (the CA "
            "that signed its certificate, e.g. certs/ca.pem) and, if it asks for one, a client certificate "
            "(--cert/--key) or a token (--token-file)")


def _tls(sock: socket.socket, server: Server, host: str, address: str) -> str | None:
    """A TLS call failed: the handshake with the client's own files, step by step."""
    mine = _own_certificate_problem(server)
    if mine:
        return mine
    try:
        ctx = ssl.create_default_context(cafile=server.ca)
    except (OSError, ssl.SSLError) as e:
        return f"--ca {server.ca}: not a CA certificate in PEM ({e.reason or e.strerror or e})"
    try:
        if server.cert:
            ctx.load_cert_chain(server.cert, server.key)
    except (OSError, ssl.SSLError) as e:
        return f"--cert {server.cert} with --key {server.key}: cannot be used ({e.reason or e.strerror or e})"
    ctx.set_alpn_protocols(["h2"])
    try:
        tls = ctx.wrap_socket(sock, server_hostname=host)
    except ssl.SSLCertVerificationError as e:
        return _server_certificate_problem(e, server, host, address)
    except ssl.SSLError as e:
        return _refused_by_server(e.reason or str(e), server, address)
    except OSError:
        return _not_tls(address)
    with tls:
        # TLS 1.3: the server judges the client's certificate after the client's side of the
        # handshake is done, so its verdict arrives on the first read: an alert, or (gRPC's
        # BoringSSL) the connection closed at once, where a server that took it says hello
        tls.settimeout(1.0)
        try:
            if tls.recv(1):
                return None
        except TimeoutError:
            return None
        except ssl.SSLError as e:
            return _refused_by_server(e.reason or str(e), server, address)
        except OSError:
            pass
    return _refused_by_server(CLOSED, server, address)


def _not_tls(address: str) -> str:
    return (f"the controller at {address} serves plaintext, not TLS: leave out --ca, --cert and --key (or "
            "start it with --tls-cert and --tls-key)")


def _refused_by_server(reason: str, server: Server, address: str) -> str:
    """What the server's TLS alert means for this client; anything but an alert (a wrong
    version number, a record too long, the connection closed) is a server without TLS."""
    if "ALERT" not in reason:
        return _not_tls(address)
    if "CERTIFICATE_EXPIRED" in reason:
        return (f"the controller at {address} refused the client certificate {server.cert}: expired; make a "
                "new one (`slicectl certs DIR --client NAME`)")
    if not server.cert:
        return (f"the controller at {address} wants a client certificate (mutual TLS, its --client-ca): give "
                "--cert FILE and --key FILE (a token alone is enough only for a controller started "
                "without --client-ca)")
    if any(r in reason for r in ("UNKNOWN_CA", "BAD_CERTIFICATE", "CERTIFICATE_UNKNOWN", "DECRYPT_ERROR",
                                 "UNSUPPORTED_CERTIFICATE", "ACCESS_DENIED", CLOSED)):
        return (f"the controller at {address} does not accept the client certificate {server.cert}: it was "
                "not signed by the controller's --client-ca (made with another CA?)")
    return f"TLS with the controller at {address} failed: {reason}"


def _own_certificate_problem(server: Server) -> str | None:
    """The client certificate's dates, read before the handshake: an expired one is
    refused by the server with a bare alert, so say it plainly."""
    if not server.cert:
        return None
    cert = _load_pem(server.cert)
    if cert is None:
        return None
    now = datetime.datetime.now(datetime.timezone.utc)
    if cert.not_valid_after_utc < now:
        return (f"the client certificate {server.cert} expired on {cert.not_valid_after_utc:%Y-%m-%d}: make a "
                "new one (`slicectl certs DIR --client NAME`)")
    if cert.not_valid_before_utc > now:
        return (f"the client certificate {server.cert} is valid only from "
                f"{cert.not_valid_before_utc:%Y-%m-%d %H:%M} UTC: check this machine's clock")
    return None


def _server_certificate_problem(e: ssl.SSLCertVerificationError, server: Server, host: str,
                                address: str) -> str:
    """Why the controller's certificate was not accepted, naming the names it covers."""
    code = e.verify_code
    if code in (_HOSTNAME, _IP):
        names = certificate_names(host, split_address(address)[1])
        return (f"the controller's certificate covers {', '.join(names) or 'no name'}, not {host}: reach it "
                f"by one of those, or remake its certificate with {CERTS_HINT.format(host=host)} "
                "and restart it")
    if code in (_EXPIRED, _NOT_YET_VALID):
        when = "expired" if code == _EXPIRED else "is not valid yet"
        return (f"the controller's certificate at {address} {when}: make a new one ({CERTS_HINT.format(host=host)}) "
                "and restart the controller")
    if code in _UNTRUSTED:
        ca = f"--ca {server.ca}" if server.ca else "no --ca (only the system's CAs)"
        return (f"the controller's certificate at {address} is not signed by {ca}: give the CA that "
                "signed it (`slicectl certs DIR` writes DIR/ca.pem)")
    return f"the controller's certificate at {address} was not accepted: {e.verify_message}"


def certificate_names(host: str, port: int) -> list[str]:
    """The DNS names and addresses the certificate served at host:port covers (its SAN,
    else its CN), read from a handshake that checks nothing."""
    ctx = ssl.create_default_context()
    ctx.check_hostname, ctx.verify_mode = False, ssl.CERT_NONE
    try:
        with socket.create_connection((host, port), TIMEOUT_S) as sock, \
                ctx.wrap_socket(sock, server_hostname=host) as tls:
            der = tls.getpeercert(binary_form=True)
    except OSError:
        return []
    from cryptography import x509
    cert = x509.load_der_x509_certificate(der)
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        return [*san.get_values_for_type(x509.DNSName), *map(str, san.get_values_for_type(x509.IPAddress))]
    except x509.ExtensionNotFound:
        return [a.value for a in cert.subject.get_attributes_for_oid(x509.oid.NameOID.COMMON_NAME)]


def _load_pem(path: str):
    from cryptography import x509
    try:
        return x509.load_pem_x509_certificate(Path(path).read_bytes())
    except (OSError, ValueError):
        return None


def unauthenticated(server: Server) -> str:
    """The controller took the connection but not the caller (UNAUTHENTICATED): what it
    was given, and what it wants instead."""
    if server.token and server.cert:
        return (f"the controller at {server} took the client certificate {server.cert} but refused the bearer "
                f"token from {server.token_source or 'the token given'} (not in its --tokens file): fix the token, "
                "or leave it out to act as the certificate's name")
    if server.token:
        return (f"the controller at {server} refused the bearer token from {server.token_source or 'the token given'}: "
                "it is not in the controller's --tokens file (`slicectl token new` makes a token and prints "
                "the line for that file)")
    if server.cert:
        return (f"the controller at {server} does not take client certificates as identities (it runs without "
                "--client-ca): give a bearer token (--token-file FILE or SLICECTL_TOKEN)")
    return (f"the controller at {server} wants to know who calls: a bearer token (--token-file FILE or "
            "SLICECTL_TOKEN), or a client certificate (--cert FILE --key FILE) if it runs with --client-ca")
