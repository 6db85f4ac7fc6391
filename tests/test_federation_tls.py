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
