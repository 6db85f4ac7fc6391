"""Mutual TLS between domains: a peer is known by its certificate (the API's TLS code and
Authenticator, reused), and cannot pass itself off as another peer."""
from __future__ import annotations

import grpc
import pytest

from controller.fedservice import serve_federation
from controller.main import api_security
from proto.intercloud.federation.v1 import federation_pb2 as fpb
from proto.intercloud.federation.v1 import federation_pb2_grpc as fpb_grpc
from slicectl.certs import make_all
from slicectl.processes import free_port
from tests.fedharness import RunningDomain


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("fed-certs")
    make_all(d, ["west", "korea"])
    other = tmp_path_factory.mktemp("other-ca")
    make_all(other, ["west"])      # the same name from another CA
    return d, other


@pytest.fixture
def secured(tmp_path, certs):
    d, _ = certs
    east = RunningDomain("east", tmp_path)
    creds, auth, _warnings = api_security("127.0.0.1", tls_cert=str(d / "server.pem"), tls_key=str(d / "server.key"),
                                          client_ca=str(d / "ca.pem"))
    addr = f"127.0.0.1:{free_port()}"
    server = serve_federation(east.provider, addr, creds, auth)
    yield addr
    server.stop(0)
    east.close()


def stub_as(addr, certs, name, ca_dir=None):
    d, _ = certs
    ca_dir = ca_dir or d
    creds = grpc.ssl_channel_credentials(root_certificates=(d / "ca.pem").read_bytes(),
                                         private_key=(ca_dir / f"{name}.key").read_bytes(),
                                         certificate_chain=(ca_dir / f"{name}.pem").read_bytes())
    return fpb_grpc.FederationServiceStub(grpc.secure_channel(addr, creds))


def test_a_peer_is_its_certificate(secured, certs):
    west = stub_as(secured, certs, "west")
    assert west.GetView(fpb.GetViewRequest()).domain == "east"          # no requester needed
    assert west.GetView(fpb.GetViewRequest(requester="west")).domain == "east"
    with pytest.raises(grpc.RpcError) as e:
        west.GetView(fpb.GetViewRequest(requester="korea"))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert e.value.details() == "requester 'korea' is not who the certificate says ('west')"


def test_a_certificate_of_another_ca_or_none_gets_nothing(secured, certs):
    _, other = certs
    with pytest.raises(grpc.RpcError) as e:
        stub_as(secured, certs, "west", ca_dir=other).GetView(fpb.GetViewRequest(), timeout=5)
    assert e.value.code() == grpc.StatusCode.UNAVAILABLE      # the TLS handshake fails
    d, _ = certs
    anonymous = fpb_grpc.FederationServiceStub(grpc.secure_channel(
        secured, grpc.ssl_channel_credentials(root_certificates=(d / "ca.pem").read_bytes())))
    with pytest.raises(grpc.RpcError) as e:
        anonymous.GetView(fpb.GetViewRequest(requester="west"), timeout=5)
    assert e.value.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAUTHENTICATED)


def test_a_home_reaches_its_peer_over_mutual_tls(tmp_path, certs):
    """West's home sets up a slice across east over mutual TLS (`--peer-ca/--peer-cert/
    --peer-key`): east knows it by its certificate, and a home holding another CA's
    certificate gets nothing reserved there."""
    from controller.fedhome import FederatedRefusal, FederationHome
    from controller.fedpeers import LocalDomain, PeerDomain
    d, other = certs
    east = RunningDomain("east", tmp_path)
    west = RunningDomain("west", tmp_path)
    creds, auth, _warnings = api_security("127.0.0.1", tls_cert=str(d / "server.pem"), tls_key=str(d / "server.key"),
                                          client_ca=str(d / "ca.pem"))
    addr = f"127.0.0.1:{free_port()}"
    server = serve_federation(east.provider, addr, creds, auth)

    def home_with(ca_dir):
        tls = grpc.ssl_channel_credentials((d / "ca.pem").read_bytes(), (ca_dir / "west.key").read_bytes(),
                                           (ca_dir / "west.pem").read_bytes())
        return FederationHome(west.provider.fed, LocalDomain(west.provider), {"east": PeerDomain("east", addr, "west",
                                                                                                   tls)})
    doc = {"name": "tls", "tenant": "t", "bandwidth_mbps": 5, "endpoints": [
        {"site": "osaka-dc", "port": 1, "ip": "10.7.0.1"}, {"site": "east/tokyo-dc", "port": 1, "ip": "10.7.0.2"}]}
    try:
        home = home_with(d)
        fs = home.create(dict(doc))
        assert set(fs.parts) == {"east", "west"} and all(p.state == "Provisioned" for p in fs.parts.values())
        assert {p.peer for p in east.provider.query_all()} == {"west"}
        home.delete("tls")
        home.close()
        stranger = home_with(other)
        with pytest.raises(FederatedRefusal) as e:
            stranger.create({**doc, "name": "tls2"})
        assert "domain east" in str(e.value)
        assert east.booked() == {} and west.booked() == {}
        stranger.close()
    finally:
        server.stop(0)
        east.close()
        west.close()
