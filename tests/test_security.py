"""TLS, mutual TLS and bearer tokens on the API, end to end: a real gRPC server (the
owner and store as in production, simulated switches), certificates made by `slicectl
certs` (openssl), tokens by `slicectl token new`, and the slicectl client."""
from __future__ import annotations

import subprocess
import sys

import grpc
import pytest

from controller.auth import AuthError, check_exposure, load_tokens
from proto.tokens import new_secret
from controller.main import api_security
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
from slicectl.certs import make_all
from slicectl.client import ClientError, Server, call
from slicectl.launcher import free_port
from tests.harness import Running
from tests.rawspec import raw_spec
from topologies import load

JAPAN = load("japan-intercloud")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    make_all(d, ["acme", "beta", "ops"])
    other = tmp_path_factory.mktemp("other-ca")
    make_all(other, ["acme"])      # same name, another CA
    return d, other


class Secured(Running):
    """A controller whose API wants mutual TLS (ops is an admin) or a token."""

    def __init__(self, tmp_path, certs, mutual: bool = True):
        self.certs, self.other = certs
        self.secret_acme, digest_acme = new_secret()
        self.secret_ops, digest_ops = new_secret()
        tokens = tmp_path / "tokens.yaml"
        tokens.write_text(f"tokens:\n  - {{name: acme-ci, tenant: acme, sha256: {digest_acme}}}\n"
                          f"  - {{name: night-shift, role: admin, sha256: {digest_ops}}}\n")
        d = self.certs
        creds, auth, _warnings = api_security("127.0.0.1", tls_cert=str(d / "server.pem"),
                                              tls_key=str(d / "server.key"),
                                              client_ca=str(d / "ca.pem") if mutual else None,
                                              tokens=str(tokens), admins=("ops",) if mutual else ())
        super().__init__(tmp_path / "store.db", credentials=creds, authenticator=auth)

    def as_client(self, name: str | None = None, token: str | None = None, ca=None) -> Server:
        d = self.certs
        ca = ca or d
        return Server(self.addr, str(d / "ca.pem"), str(ca / f"{name}.pem") if name else None,
                      str(ca / f"{name}.key") if name else None, token)



@pytest.fixture
def api(tmp_path, certs):
    s = Secured(tmp_path, certs)
    yield s
    s.close()


@pytest.fixture
def tls_tokens(tmp_path, certs):
    """TLS, and tokens instead of client certificates."""
    s = Secured(tmp_path, certs, mutual=False)
    yield s
    s.close()


def spec(name: str, tenant: str, port: int = 1) -> pb.SliceSpec:
    return raw_spec({"name": name, "tenant": tenant, "bandwidth_mbps": 5,
                     "endpoints": [{"site": "tokyo-dc", "port": port}, {"site": "osaka-dc", "port": port}]})


def code_of(server: Server, method: str, request, kind=pb_grpc.SliceServiceStub):
    with pytest.raises(ClientError) as e:
        call(server, method, request, kind)
    return str(e.value)


def stub(server: Server):
    return pb_grpc.SliceServiceStub(server.channel())


def test_a_plaintext_client_to_the_tls_port_gets_nothing(api):
    with pytest.raises(ClientError, match="serves TLS and this call was plaintext"):
        call(Server(api.addr), "ListSlices", pb.ListSlicesRequest())
    # TLS without a client certificate or token: the server checks client certificates
    with pytest.raises(ClientError):
        call(Server(api.addr, str(api.certs / "ca.pem")), "ListSlices", pb.ListSlicesRequest())


def test_a_certificate_from_another_ca_is_refused(api):
    with pytest.raises(ClientError):
        call(api.as_client("acme", ca=api.other), "ListSlices", pb.ListSlicesRequest())


def test_tenants_see_and_touch_only_their_own_slices(api):
    acme, beta, ops = api.as_client("acme"), api.as_client("beta"), api.as_client("ops")
    call(acme, "CreateSlice", pb.CreateSliceRequest(spec=spec("acme-erp", "acme")))
    call(beta, "CreateSlice", pb.CreateSliceRequest(spec=spec("beta-web", "beta", port=2)))
    # beta cannot list, get, update, delete, fail back or watch acme's slice
    assert [s.spec.name for s in call(beta, "ListSlices", pb.ListSlicesRequest()).slices] == ["beta-web"]
    assert [s.spec.name for s in call(beta, "ListSlices", pb.ListSlicesRequest(tenant="acme")).slices] == []
    for method, request in (("GetSlice", pb.GetSliceRequest(name="acme-erp")),
                            ("DeleteSlice", pb.DeleteSliceRequest(name="acme-erp")),
                            ("FailbackEndpoints", pb.FailbackEndpointsRequest(name="acme-erp")),
                            ("UpdateSlice", pb.UpdateSliceRequest(spec=spec("acme-erp", "beta")))):
        # exactly what a slice that does not exist gets: NOT_FOUND, nothing revealed
        assert code_of(beta, method, request) == "no slice named 'acme-erp'", method
    # re-assigning a slice to oneself, or creating under another tenant's name: refused
    assert "acts for tenant 'beta', not 'acme'" in code_of(
        beta, "CreateSlice", pb.CreateSliceRequest(spec=spec("sneaky", "acme", port=2)))
    assert call(acme, "GetSlice", pb.GetSliceRequest(name="acme-erp")).spec.bandwidth_mbps == 5
    # the admin sees both, by their full names (TENANT/NAME), and may drain a site; a tenant may not
    assert [s.spec.name for s in call(ops, "ListSlices", pb.ListSlicesRequest()).slices] == ["acme/acme-erp",
                                                                                              "beta/beta-web"]
    assert "for operators" in code_of(beta, "DrainSite", pb.DrainSiteRequest(site="osaka-ix"),
                                      pb_grpc.TopologyServiceStub)
    # GetTopology: a tenant counts only its own slices on a link
    link = lambda t: next(l for l in t.links if {l.a, l.b} == {"tokyo-dc", "tokyo-ix"})  # noqa: E731
    assert link(call(beta, "GetTopology", pb.GetTopologyRequest(), pb_grpc.TopologyServiceStub)).slices == 1
    assert link(call(ops, "GetTopology", pb.GetTopologyRequest(), pb_grpc.TopologyServiceStub)).slices == 2
    call(acme, "DeleteSlice", pb.DeleteSliceRequest(name="acme-erp"))
    assert [s.spec.name for s in call(ops, "ListSlices", pb.ListSlicesRequest()).slices] == ["beta/beta-web"]


def test_watch_shows_a_tenant_only_its_own_events(api):
    acme, beta = api.as_client("acme"), api.as_client("beta")
    stream = stub(beta).WatchSlices(pb.WatchSlicesRequest())
    call(acme, "CreateSlice", pb.CreateSliceRequest(spec=spec("acme-erp", "acme")))
    call(beta, "CreateSlice", pb.CreateSliceRequest(spec=spec("beta-web", "beta", port=2)))
    seen = []
    for event in stream:
        seen.append(event.slice)
        if event.slice == "beta-web":
            break
    stream.cancel()
    assert set(seen) == {"beta-web"}


def test_bearer_tokens_name_the_tenant_and_wrong_ones_are_refused(tls_tokens):
    api = tls_tokens
    token = api.as_client(token=api.secret_acme)
    s = call(token, "CreateSlice", pb.CreateSliceRequest(spec=spec("by-token", "")))   # tenant filled in
    assert s.spec.tenant == "acme"
    # UNAUTHENTICATED, which the client explains (tests/test_client_errors.py)
    assert "refused the bearer token" in code_of(
        api.as_client(token="not-a-token"), "ListSlices", pb.ListSlicesRequest())
    assert "wants to know who calls" in code_of(api.as_client(), "ListSlices", pb.ListSlicesRequest())
    admin = api.as_client(token=api.secret_ops)
    assert [x.spec.name for x in call(admin, "ListSlices", pb.ListSlicesRequest()).slices] == ["acme/by-token"]


def test_with_mutual_tls_a_token_on_top_names_the_caller(api):
    """A shared host certificate (acme's) with an operator's token: the token speaks."""
    call(api.as_client("beta"), "CreateSlice", pb.CreateSliceRequest(spec=spec("beta-web", "beta")))
    both = api.as_client("acme", token=api.secret_ops)
    assert [x.spec.name for x in call(both, "ListSlices", pb.ListSlicesRequest()).slices] == ["beta/beta-web"]


def test_health_checks_need_no_identity(api):
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    channel = grpc.secure_channel(api.addr, grpc.ssl_channel_credentials((api.certs / "ca.pem").read_bytes(),
                                  (api.certs / "ops.key").read_bytes(), (api.certs / "ops.pem").read_bytes()))
    got = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert got.status == health_pb2.HealthCheckResponse.SERVING


def test_plaintext_beyond_loopback_is_refused_unless_insecure():
    with pytest.raises(AuthError, match="plaintext and reachable from other machines"):
        check_exposure("the gRPC API", "0.0.0.0", tls=False, insecure=False)
    assert "--insecure" in check_exposure("the gRPC API", "0.0.0.0", tls=False, insecure=True)
    assert check_exposure("the gRPC API", "127.0.0.1", tls=False, insecure=False) is None
    assert check_exposure("the gRPC API", "::1", tls=False, insecure=False) is None
    r = subprocess.run([sys.executable, "-m", "slicectl.cli", "controller", "--topology", "two-clouds",
                        "--grpc", f"0.0.0.0:{free_port()}", "--openflow", f"127.0.0.1:{free_port()}",
                        "--metrics", "off"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "plaintext and reachable from other machines" in r.stderr, r.stderr
    r = subprocess.run([sys.executable, "-m", "slicectl.cli", "controller", "--topology", "two-clouds",
                        "--openflow", f"0.0.0.0:{free_port()}", "--grpc", f"127.0.0.1:{free_port()}",
                        "--metrics", "off"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "OpenFlow on 0.0.0.0 would be plaintext" in r.stderr, r.stderr


def test_a_tokens_file_with_a_problem_is_refused_naming_the_entry(tmp_path):
    bad = tmp_path / "tokens.yaml"
    bad.write_text("tokens:\n  - {name: a, tenant: t, sha256: abc}\n")
    with pytest.raises(AuthError, match=r"tokens\[0\].sha256: not a SHA-256"):
        load_tokens(bad)
    bad.write_text("tokens:\n  - {name: a, sha256: " + "0" * 64 + "}\n")
    with pytest.raises(AuthError, match=r"tokens\[0\].tenant: missing"):
        load_tokens(bad)
    with pytest.raises(AuthError, match="cannot read the tokens file"):
        load_tokens(tmp_path / "none.yaml")


def test_token_new_writes_the_secret_privately_and_prints_a_line_the_controller_loads(tmp_path):
    from proto.tokens import token_digest

    out = tmp_path / "ci.token"
    r = subprocess.run([sys.executable, "-m", "slicectl.cli", "token", "new", "--name", "ci", "--tenant", "acme",
                        "--out", str(out)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert out.stat().st_mode & 0o777 == 0o600
    secret = out.read_text().strip()
    entry = next(line for line in r.stdout.splitlines() if line.startswith("  - "))
    (tmp_path / "tokens.yaml").write_text("tokens:\n" + entry + "\n")
    [token] = load_tokens(tmp_path / "tokens.yaml")
    assert (token.name, token.tenant, token.admin, token.sha256) == ("ci", "acme", False, token_digest(secret))
    assert secret not in r.stdout
