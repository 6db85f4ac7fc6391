"""Errors that say what to fix (issue 29): every TLS or identity mistake against a real
API (owner, store and gRPC service as in production, simulated switches) gets its own
one-line message with the remedy from the slicectl client, and "is `slicectl controller`
running?" only when nothing listens. Before, all of them read "cannot reach the
controller … (is `slicectl controller` running?)"."""
from __future__ import annotations

import datetime
import ipaddress

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from controller.main import api_security
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.tokens import new_secret
from slicectl.certs import make_all, make_cert
from slicectl.cli import main
from slicectl.client import ClientError, Server, call
from slicectl.launcher import free_port
from tests.harness import Running

LIST = ("ListSlices", pb.ListSlicesRequest())


def failure(server: Server) -> str:
    """The one-line message of a ListSlices call that fails."""
    with pytest.raises(ClientError) as e:
        call(server, *LIST)
    message = str(e.value)
    assert "\n" not in message and "Traceback" not in message, message
    return message


def signed(d, name: str, server: bool, days: tuple[int, int]):
    """``name``.pem/.key signed by the CA in ``d``, valid from ``days[0]`` to ``days[1]``
    days from now (negative: in the past), made with cryptography (openssl cannot
    back-date)."""
    ca_key = serialization.load_pem_private_key((d / "ca.key").read_bytes(), None)
    ca = x509.load_pem_x509_certificate((d / "ca.pem").read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.timezone.utc)
    if server:
        san = [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
        usage = ExtendedKeyUsageOID.SERVER_AUTH
    else:
        san, usage = [x509.UniformResourceIdentifier(f"tenant:{name}")], ExtendedKeyUsageOID.CLIENT_AUTH
    cert = (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days[0]))
            .not_valid_after(now + datetime.timedelta(days=days[1]))
            .add_extension(x509.SubjectAlternativeName(san), critical=False)
            .add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
            .sign(ca_key, hashes.SHA256()))
    (d / f"{name}.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (d / f"{name}.key").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                      serialization.NoEncryption()))


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    make_all(d, ["acme", "ops"])
    other = tmp_path_factory.mktemp("other-ca")
    make_all(other, ["acme"])
    signed(d, "old-acme", server=False, days=(-60, -1))       # an expired client certificate
    signed(d, "old-server", server=True, days=(-60, -1))      # an expired server certificate
    # a server certificate for ctl.example only: dialled at 127.0.0.1, the name does not match
    make_cert(d, "ctl-only", ["subjectAltName=DNS:ctl.example", "extendedKeyUsage=serverAuth"],
              "/CN=intercloud-slicing controller")
    return d, other


class Api(Running):
    """A TLS API: mutual (``client_ca``) or tokens alone, with the server certificate
    ``server`` of the certs directory."""

    def __init__(self, tmp_path, d, mutual: bool, server: str = "server"):
        self.secret, digest = new_secret()
        tokens = tmp_path / "tokens.yaml"
        tokens.write_text(f"tokens:\n  - {{name: acme-ci, tenant: acme, sha256: {digest}}}\n")
        creds, auth, _ = api_security("127.0.0.1", tls_cert=str(d / f"{server}.pem"),
                                      tls_key=str(d / f"{server}.key"),
                                      client_ca=str(d / "ca.pem") if mutual else None, tokens=str(tokens))
        super().__init__(tmp_path / "store.db", credentials=creds, authenticator=auth)
        self.d = d

    def client(self, name: str | None = None, token: str | None = None, ca=None, certs=None) -> Server:
        """A client trusting ``ca``/ca.pem, with the certificate ``name`` from ``certs``
        (both default to this API's certificates directory) and/or a token."""
        ca, certs = ca or self.d, certs or self.d
        return Server(self.addr, str(ca / "ca.pem"), str(certs / f"{name}.pem") if name else None,
                      str(certs / f"{name}.key") if name else None, token, "--token-file t.token" if token else None)


@pytest.fixture
def mutual(tmp_path, certs):
    a = Api(tmp_path, certs[0], mutual=True)
    yield a
    a.close()


@pytest.fixture
def tokens_only(tmp_path, certs):
    a = Api(tmp_path, certs[0], mutual=False)
    yield a
    a.close()


def test_not_running_only_when_nothing_listens(capsys):
    address = f"127.0.0.1:{free_port()}"
    code = main(["list", "--server", address])
    err = capsys.readouterr().err.strip()
    assert code == 4 and err == (f"slicectl: error: cannot reach the controller at {address}: nothing listens "
                                 f"there (is `slicectl controller` running, with --grpc {address}?)")


def test_plaintext_against_tls_says_to_give_the_ca(mutual, capsys):
    message = failure(Server(mutual.addr))
    assert "serves TLS and this call was plaintext: give --ca FILE" in message and "running?" not in message
    assert main(["list", "--server", mutual.addr]) == 4 and "give --ca" in capsys.readouterr().err


def test_tls_against_plaintext_says_to_leave_the_tls_files_out(api, certs):
    message = failure(Server(api.addr, str(certs[0] / "ca.pem")))
    assert "serves plaintext, not TLS: leave out --ca, --cert and --key" in message


def with_server_certificate(tmp_path, d, server: str) -> str:
    """The message of a call with a good token to a TLS API serving certificate ``server``."""
    api = Api(tmp_path, d, mutual=False, server=server)
    try:
        return failure(api.client(token=api.secret))
    finally:
        api.close()


def test_a_name_the_certificate_does_not_cover_is_named_with_the_names_it_covers(tmp_path, certs):
    message = with_server_certificate(tmp_path, certs[0], "ctl-only")
    assert message.startswith("the controller's certificate covers ctl.example, not 127.0.0.1: ")
    assert "make certs HOSTS=127.0.0.1" in message and "slicectl certs DIR --host 127.0.0.1" in message


def test_a_certificate_from_another_ca_than_the_client_trusts(tokens_only, certs):
    message = failure(tokens_only.client(token=tokens_only.secret, ca=certs[1]))
    assert "is not signed by --ca " + str(certs[1] / "ca.pem") in message


def test_a_missing_client_certificate_says_a_token_alone_needs_a_controller_without_client_ca(mutual):
    message = failure(mutual.client(token=mutual.secret))
    assert "wants a client certificate (mutual TLS, its --client-ca): give --cert FILE and --key FILE" in message


def test_a_client_certificate_from_another_ca_is_named(mutual, certs):
    message = failure(mutual.client("acme", certs=certs[1]))
    assert f"does not accept the client certificate {certs[1] / 'acme.pem'}" in message
    assert "not signed by the controller's --client-ca" in message


def test_an_expired_client_certificate(mutual):
    message = failure(mutual.client("old-acme"))
    assert "old-acme.pem expired on " in message and "make a new one" in message


def test_an_expired_server_certificate(tmp_path, certs):
    message = with_server_certificate(tmp_path, certs[0], "old-server")
    assert "the controller's certificate at " in message and " expired: make a new one" in message


def test_a_bad_token_with_a_good_certificate_blames_the_token(mutual):
    message = failure(mutual.client("acme", token="not-a-token"))
    assert "took the client certificate" in message
    assert "refused the bearer token from --token-file t.token" in message
    assert [s.spec.name for s in call(mutual.client("acme"), *LIST).slices] == []     # the certificate alone works


def test_a_bad_token_alone_and_no_identity_at_all(tokens_only):
    assert "refused the bearer token from --token-file t.token: it is not in the controller's --tokens file" in (
        failure(tokens_only.client(token="not-a-token")))
    assert "wants to know who calls: a bearer token (--token-file FILE or SLICECTL_TOKEN)" in failure(
        tokens_only.client())


def test_a_spec_without_tenant_applied_with_a_token_is_the_callers(tokens_only, tmp_path, capsys):
    """The README's token-only setup: TLS and --tokens without --client-ca, a spec that
    leaves the tenant out (examples/tenants/web-shop.yaml), global options first."""
    token = tmp_path / "acme-ci.token"
    token.write_text(tokens_only.secret + "\n")
    code = main(["--server", tokens_only.addr, "--ca", str(tokens_only.d / "ca.pem"), "--token-file", str(token),
                 "apply", "-f", "examples/tenants/web-shop.yaml", "-o", "json"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert '"tenant": "acme"' in out and '"name": "web-shop"' in out
