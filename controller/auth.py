"""Who is calling the API, and what they may see and touch.

Two ways to say who you are, both checked before a handler runs
(:class:`Authenticator`, a ``grpc.ServerInterceptor``):

* a **client certificate** (mutual TLS, ``--client-ca``): the tenant is the
  certificate's SAN URI ``tenant:NAME`` if it has one, else its subject CN;
* a **bearer token** (``authorization: Bearer SECRET`` metadata, ``--tokens FILE``):
  the file names each token's holder, its tenant or the admin role, and the SHA-256 of
  its secret (secrets are random 256-bit strings from ``slicectl token new``, so a fast
  hash is enough; the file never holds a secret).

Operators are admins: a token with ``role: admin``, or a certificate name given with
``--admin NAME``. An admin sees and does everything; a tenant sees and touches only its
own slices (another tenant's are NOT_FOUND, as if they did not exist; creating under
another tenant's name is PERMISSION_DENIED; draining a site is for admins). With neither
client certificates nor tokens configured, every caller is an admin: the controller then
listens on loopback only, unless told ``--insecure`` (see :func:`check_exposure`).
"""
from __future__ import annotations

import contextvars
import hmac
import ipaddress
from dataclasses import dataclass
from pathlib import Path

import grpc
import yaml

from proto.tokens import token_digest

TENANT_URI = "tenant:"


@dataclass(frozen=True)
class Identity:
    """A caller: ``name`` (token holder or certificate name), its ``tenant`` (None for an
    admin without one) and whether it is an admin."""

    name: str
    tenant: str | None
    admin: bool

    def may_see(self, tenant: str) -> bool:
        return self.admin or tenant == self.tenant


ANYONE = Identity("anyone", None, True)    # no authentication configured
_current: contextvars.ContextVar[Identity] = contextvars.ContextVar("caller", default=ANYONE)


def caller() -> Identity:
    """The identity of the call being handled (on the handler's thread)."""
    return _current.get()


class AuthError(ValueError):
    """A tokens file or certificate setting that cannot be used: the message names it."""


@dataclass(frozen=True)
class Token:
    name: str
    tenant: str | None
    admin: bool
    sha256: str


def load_tokens(path: str | Path) -> list[Token]:
    """The tokens of a YAML file ``tokens: [{name, tenant | role: admin, sha256}]``;
    AuthError naming the file and the entry when one is malformed."""
    try:
        doc = yaml.safe_load(Path(path).read_text())
    except OSError as e:
        raise AuthError(f"{path}: cannot read the tokens file: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise AuthError(f"{path}: not YAML: {e}") from None
    items = doc.get("tokens") if isinstance(doc, dict) else None
    if not isinstance(items, list):
        raise AuthError(f"{path}: tokens: missing (expected a list of {{name, tenant | role: admin, sha256}})")
    out, names = [], set()
    for i, item in enumerate(items):
        where = f"{path}: tokens[{i}]"
        if not isinstance(item, dict):
            raise AuthError(f"{where}: not a mapping")
        unknown = set(item) - {"name", "tenant", "role", "sha256"}
        if unknown:
            raise AuthError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        name, tenant, role, digest = (item.get(k) for k in ("name", "tenant", "role", "sha256"))
        if not isinstance(name, str) or not name:
            raise AuthError(f"{where}.name: missing")
        if name in names:
            raise AuthError(f"{where}.name: {name!r} twice")
        if role not in (None, "admin", "tenant"):
            raise AuthError(f"{where}.role: {role!r} is not admin or tenant")
        if role != "admin" and (not isinstance(tenant, str) or not tenant):
            raise AuthError(f"{where}.tenant: missing (a token is a tenant's unless role: admin)")
        if not isinstance(digest, str) or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
            raise AuthError(f"{where}.sha256: not a SHA-256 in hex (64 characters; `slicectl token new` "
                            "prints one)")
        names.add(name)
        out.append(Token(name, tenant if isinstance(tenant, str) else None, role == "admin", digest))
    return out


class Authenticator(grpc.ServerInterceptor):
    """Resolves every call's identity (client certificate, else bearer token) before its
    handler runs, and refuses calls with none: UNAUTHENTICATED, health checks aside
    (a load balancer must be able to ask)."""

    OPEN = ("/grpc.health.v1.Health/", "/grpc.reflection.")

    def __init__(self, tokens: list[Token], certificates: bool, admins: set[str]):
        self._tokens = {t.sha256: t for t in tokens}
        self.certificates = certificates
        self.admins = set(admins)

    def set_tokens(self, tokens: list[Token]) -> None:
        """Swap in a reloaded tokens file (SIGHUP): a token no longer in it is refused from
        the next call on, calls under way finish as they started."""
        self._tokens = {t.sha256: t for t in tokens}

    def identify(self, metadata, context) -> Identity | None:
        """The caller of a call with ``metadata`` (and ``context``: its TLS peer)."""
        for key, value in metadata or ():
            if key == "authorization" and value.startswith("Bearer "):
                digest = token_digest(value[7:].strip())
                tokens = self._tokens      # one file's tokens, even while a reload swaps them
                token = next((t for d, t in tokens.items() if hmac.compare_digest(d, digest)), None)
                return Identity(token.name, token.tenant, token.admin) if token else None
        if self.certificates:
            name = certificate_name(context.auth_context())
            if name:
                return Identity(name, name, name in self.admins)
        return None

    def intercept_service(self, continuation, details):
        handler = continuation(details)
        if handler is None or details.method.startswith(self.OPEN):
            return handler
        metadata = details.invocation_metadata
        if handler.unary_unary is not None:
            inner = handler.unary_unary

            def unary(request, context):
                token = _current.set(self._who(metadata, context))
                try:
                    return inner(request, context)
                finally:
                    _current.reset(token)
            return grpc.unary_unary_rpc_method_handler(unary, handler.request_deserializer,
                                                       handler.response_serializer)
        if handler.unary_stream is not None:
            stream = handler.unary_stream

            def streaming(request, context):
                token = _current.set(self._who(metadata, context))
                try:
                    yield from stream(request, context)
                finally:
                    _current.reset(token)
            return grpc.unary_stream_rpc_method_handler(streaming, handler.request_deserializer,
                                                        handler.response_serializer)
        return handler

    def _who(self, metadata, context) -> Identity:
        who = self.identify(metadata, context)
        if who is None:
            context.abort(grpc.StatusCode.UNAUTHENTICATED,
                          "no valid client certificate or bearer token (slicectl: --cert/--key, or "
                          "--token-file or SLICECTL_TOKEN)")
        return who


def certificate_name(auth_context: dict) -> str | None:
    """The tenant a client certificate names: its SAN URI ``tenant:NAME``, else its CN."""
    for san in auth_context.get("x509_subject_alternative_name", ()):
        text = san.decode() if isinstance(san, bytes) else str(san)
        if text.startswith(TENANT_URI) and len(text) > len(TENANT_URI):
            return text[len(TENANT_URI):]
    for cn in auth_context.get("x509_common_name", ()):
        return cn.decode() if isinstance(cn, bytes) else str(cn)
    return None


def is_loopback(host: str) -> bool:
    if host in ("localhost", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(what: str, host: str, tls: bool, insecure: bool) -> str | None:
    """Refuse (AuthError) to serve ``what`` in plaintext on anything but loopback unless
    ``insecure``; the warning to log when it is allowed anyway, else None."""
    if tls or is_loopback(host):
        return None
    if not insecure:
        raise AuthError(f"{what} on {host} would be plaintext and reachable from other machines: give "
                        "TLS (--tls-cert/--tls-key) or, knowingly, --insecure")
    return f"{what} on {host} is plaintext and reachable from other machines (--insecure)"
