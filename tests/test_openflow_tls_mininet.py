"""OpenFlow over TLS on Mininet: the switches of two-clouds reach the controller with
certificates from the lab CA and the slice works; a plaintext connection, and a TLS one
with a certificate from another CA, never get past the handshake."""
from __future__ import annotations

import socket
import ssl
import struct

import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.certs import make_all
from slicectl.launcher import ControllerProcess
from tests.rawspec import raw_spec
from topologies import load

pytestmark = pytest.mark.mininet
TWO = load("two-clouds")


def refused(port: int, wrap=None) -> bool:
    """Whether a connection (plaintext, or wrapped by ``wrap``) is closed without the
    controller's OpenFlow HELLO ever arriving."""
    try:
        s = socket.create_connection(("127.0.0.1", port), timeout=5)
        if wrap is not None:
            s = wrap(s)
        s.sendall(struct.pack("!BBHI", 4, 0, 8, 1))
        data = s.recv(8)
        s.close()
        return not data.startswith(b"\x04\x00")
    except (OSError, ssl.SSLError):
        return True


def test_switches_with_the_labs_certificates_connect_over_tls_and_others_do_not(tmp_path):
    from topologies.emulation.wan import Wan

    certs, other = tmp_path / "certs", tmp_path / "other"
    make_all(certs, ["switches"])
    make_all(other, ["switches"])
    ctl = ControllerProcess("two-clouds", tmp_path / "store.db", tmp_path / "controller.log",
                            options=("--openflow-cert", str(certs / "server.pem"), "--openflow-key",
                                     str(certs / "server.key"), "--openflow-ca", str(certs / "ca.pem"))).start()
    wan = Wan(TWO, controller=("127.0.0.1", ctl.of),
              controller_tls=(str(certs / "switches.key"), str(certs / "switches.pem"), str(certs / "ca.pem")))
    try:
        wan.start()
        ctl.wait_switches()
        hosts = [h for h in wan.plan.hosts if h.port == 1]
        doc = {"name": "tls", "tenant": "lab", "bandwidth_mbps": 5,
               "endpoints": [{"site": h.site, "port": h.port, "ip": h.address} for h in hosts]}
        s = ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(doc)), timeout=30)
        assert s.state == pb.SLICE_STATE_ACTIVE, s.reason
        out = wan.host(hosts[0].name).cmd(f"ping -c 3 -i 0.2 -W 1 {hosts[1].address}")
        assert " 0% packet loss" in out, out

        assert refused(ctl.of)                                     # plaintext
        foreign = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        foreign.check_hostname, foreign.verify_mode = False, ssl.CERT_NONE
        foreign.load_cert_chain(str(other / "switches.pem"), str(other / "switches.key"))
        assert refused(ctl.of, lambda sock: foreign.wrap_socket(sock))   # another CA's certificate
        assert "second connection" not in ctl.log_path.read_text()
        assert ctl.slices.GetSlice(pb.GetSliceRequest(name="tls")).state == pb.SLICE_STATE_ACTIVE
    finally:
        ctl.stop()
        wan.stop()
