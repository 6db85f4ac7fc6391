"""Issue 25, "Why" row 5: revoking access needed a restart, and SIGHUP ended the
controller. Now SIGHUP reloads the tokens file and the API's TLS files
(controller.reload): a removed token is refused within a second, rotated certificates
serve the next connection, a broken file keeps the old configuration with one line in the
log, and the controller keeps running."""
from __future__ import annotations

import shutil
import signal
import time

import grpc
import pytest

from controller.main import api_security
from controller.reload import Reloads
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.tokens import new_secret
from slicectl.certs import make_all
from slicectl.client import ClientError, Server, call
from slicectl.launcher import ControllerProcess
from tests.harness import Running
from tests.tcpswitch import wait_for


def _tokens(path, *entries) -> None:
    path.write_text("tokens:\n" + "".join(f"  - {{name: {n}, tenant: {t}, sha256: {d}}}\n" for n, t, d in entries))


def _answers(ctl: ControllerProcess, secret: str) -> grpc.StatusCode:
    try:
        ctl.slices.ListSlices(pb.ListSlicesRequest(), metadata=[("authorization", f"Bearer {secret}")], timeout=5)
        return grpc.StatusCode.OK
    except grpc.RpcError as e:
        return e.code()


def test_sighup_reloads_the_tokens_file_a_removed_token_is_refused_at_once_and_a_broken_one_changes_nothing(
        tmp_path):
    (alice, alice_digest), (bob, bob_digest) = new_secret(), new_secret()
    tokens = tmp_path / "tokens.yaml"
    _tokens(tokens, ("alice", "acme", alice_digest), ("bob", "beta", bob_digest))
    log = tmp_path / "controller.log"
    with ControllerProcess("two-clouds", tmp_path / "store.db", log,
                           ("--no-probes", "--tokens", str(tokens), "--metrics", "off")) as ctl:
        assert wait_for(lambda: _answers(ctl, alice) == grpc.StatusCode.OK, 30)
        assert _answers(ctl, bob) == grpc.StatusCode.OK
        _tokens(tokens, ("alice", "acme", alice_digest))            # bob's token revoked
        ctl.proc.send_signal(signal.SIGHUP)
        sent = time.monotonic()
        assert wait_for(lambda: _answers(ctl, bob) == grpc.StatusCode.UNAUTHENTICATED, 1.0, 0.02), \
            f"bob's token still works 1 s after SIGHUP (controller {'running' if ctl.proc.poll() is None else 'gone'})"
        refused_after = time.monotonic() - sent
        assert _answers(ctl, alice) == grpc.StatusCode.OK and ctl.proc.poll() is None
        tokens.write_text("tokens: [{name: alice, tenant: acme, sha256: not-a-digest}]\n")   # broken
        ctl.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "not reloaded" in log.read_text(), 5)
        assert _answers(ctl, alice) == grpc.StatusCode.OK and _answers(ctl, bob) == grpc.StatusCode.UNAUTHENTICATED
        assert ctl.proc.poll() is None, "SIGHUP ended the controller"
        text = log.read_text()
    print(f"a removed token refused {refused_after * 1000:.0f} ms after SIGHUP")
    lines = [line for line in text.splitlines() if "not reloaded" in line]
    assert len(lines) == 1 and "the tokens file" in lines[0] and "tokens[0].sha256" in lines[0], lines
    assert "SIGHUP: the tokens file reloaded (1 tokens" in text


@pytest.fixture(scope="module")
def two_cas(tmp_path_factory):
    old, new = tmp_path_factory.mktemp("old-ca"), tmp_path_factory.mktemp("new-ca")
    make_all(old, ["acme"])
    make_all(new, ["acme"])
    return old, new


def _install(src, dst) -> None:
    for name in ("server.pem", "server.key", "ca.pem"):
        shutil.copy(src / name, dst / name)


def test_reloaded_certificates_serve_the_next_connection_and_broken_ones_keep_the_old(tmp_path, two_cas):
    old, new = two_cas
    live = tmp_path / "live"
    live.mkdir()
    _install(old, live)
    reloads = Reloads()
    creds, auth, _w = api_security("127.0.0.1", tls_cert=str(live / "server.pem"), tls_key=str(live / "server.key"),
                                   client_ca=str(live / "ca.pem"), reloads=reloads)
    api = Running(tmp_path / "store.db", credentials=creds, authenticator=auth)
    try:
        client = lambda ca: Server(api.addr, str(ca / "ca.pem"), str(ca / "acme.pem"), str(ca / "acme.key"))  # noqa
        assert call(client(old), "ListSlices", pb.ListSlicesRequest()).slices == []
        with pytest.raises(ClientError):
            call(client(new), "ListSlices", pb.ListSlicesRequest())
        _install(new, live)                                         # the certificates rotated
        assert reloads.reload_all() == {"the API's TLS certificate, key and client CA": ""}
        assert call(client(new), "ListSlices", pb.ListSlicesRequest()).slices == []
        (live / "server.key").write_text("-----BEGIN PRIVATE KEY-----\nbroken\n")
        outcome = reloads.reload_all()
        assert "cannot be used together" in outcome["the API's TLS certificate, key and client CA"], outcome
        (live / "server.key").write_bytes((old / "server.key").read_bytes())   # not the certificate's key
        assert "cannot be used together" in reloads.reload_all()["the API's TLS certificate, key and client CA"]
        assert call(client(new), "ListSlices", pb.ListSlicesRequest()).slices == []   # still served
    finally:
        api.close()
