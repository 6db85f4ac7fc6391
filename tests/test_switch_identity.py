"""Issue 25, "Why" row 6, against the real controller process with fake switches over
TCP (tests/tcpswitch.py): a meter rate no switch can enforce is refused by the spec
validator; a link taken down by a forged port status comes back when its switch
reconnects and describes its ports again (probes off); and on plaintext OpenFlow a dpid
is bound to the address it first came from: a squatter connecting from elsewhere after
the switch dropped is refused (logged, counted in /metrics) until the grace passes or an
operator releases the binding (SIGHUP)."""
from __future__ import annotations

import signal
import time
import urllib.request

import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.launcher import ControllerProcess
from slices.errors import SpecError
from slices.spec import parse_spec
from tests.tcpswitch import TcpSwitch, port_status, wait_for
from tests.test_openflow_connections import wait_listening
from topologies import load

TWO_CLOUDS = load("two-clouds")
TOKYO_IX = 2                                  # dpid; its port 1 faces tokyo-dc, port 2 osaka-ix


def test_a_rate_below_what_a_meter_can_enforce_is_refused_naming_the_floor():
    doc = {"name": "tiny", "tenant": "t", "endpoints": [{"site": "tokyo-dc", "port": 1},
                                                        {"site": "osaka-dc", "port": 1}]}
    for rate in (1e-300, 0.0004, 0.063):
        with pytest.raises(SpecError) as e:
            parse_spec({**doc, "bandwidth_mbps": rate}, TWO_CLOUDS)
        assert e.value.violations == [("bandwidth_mbps", f"must be at least 0.064 Mbit/s (64 kbit/s, the least "
                                                         f"rate a switch's meter can enforce), got {rate:g}")]
    assert parse_spec({**doc, "bandwidth_mbps": 0.064}, TWO_CLOUDS).bandwidth_mbps == 0.064


def _link_up(ctl: ControllerProcess, a: str, b: str):
    t = ctl.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=5)
    return next(l.up for l in t.links if {l.a, l.b} == {a, b})


def _connected(ctl: ControllerProcess, site: str) -> bool:
    t = ctl.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=5)
    return next(s.connected for s in t.sites if s.name == site)


def test_a_link_downed_by_a_forged_port_status_comes_back_when_its_switch_reconnects(tmp_path):
    with ControllerProcess("two-clouds", tmp_path / "store.db", tmp_path / "controller.log", ("--no-probes",)) as ctl:
        wait_listening(ctl.of)
        switch = TcpSwitch(ctl.of, TOKYO_IX, {1: True, 2: True}).connect()
        assert wait_for(lambda: _connected(ctl, "tokyo-ix"), 10)
        switch.send(port_status(1, up=False))            # forged: the port is up
        assert wait_for(lambda: not _link_up(ctl, "tokyo-dc", "tokyo-ix"), 10)
        switch.close()
        assert wait_for(lambda: not _connected(ctl, "tokyo-ix"), 10)
        TcpSwitch(ctl.of, TOKYO_IX, {1: True, 2: True}).connect()   # back, its ports described up
        assert wait_for(lambda: _link_up(ctl, "tokyo-dc", "tokyo-ix"), 10), \
            "the link stayed down across the reconnect"


def _metric(ctl: ControllerProcess, name: str) -> str:
    text = urllib.request.urlopen(ctl.metrics_url, timeout=5).read().decode()
    return "\n".join(line for line in text.splitlines() if line.startswith(name))


def test_on_plaintext_a_dpid_stays_bound_to_its_first_address_until_released_or_the_grace_passes(tmp_path):
    log = tmp_path / "controller.log"
    with ControllerProcess("two-clouds", tmp_path / "store.db", log,
                           ("--no-probes", "--switch-address-grace", "3")) as ctl:
        wait_listening(ctl.of)
        real = TcpSwitch(ctl.of, TOKYO_IX, {1: True, 2: True}).connect()        # from 127.0.0.1
        assert wait_for(lambda: _connected(ctl, "tokyo-ix"), 10)
        real.close()
        assert wait_for(lambda: not _connected(ctl, "tokyo-ix"), 10)
        squatter = TcpSwitch(ctl.of, TOKYO_IX, {1: True, 2: True}, source="127.0.0.2").connect()
        assert squatter.closed.wait(5), "the squatter's connection was not closed"
        assert not _connected(ctl, "tokyo-ix")
        assert wait_for(lambda: "claims dpid 0x0000000000000002 from 127.0.0.2" in log.read_text(), 5)
        assert 'intercloud_switch_address_conflicts_total{site="tokyo-ix"} 1.0' in _metric(
            ctl, "intercloud_switch_address_conflicts_total")
        TcpSwitch(ctl.of, TOKYO_IX, {1: True, 2: True}).connect().close()    # the real one may come back
        assert wait_for(lambda: "tokyo-ix (dpid 0x0000000000000002) connected" in log.read_text(), 5)
        assert wait_for(lambda: not _connected(ctl, "tokyo-ix"), 10)
        time.sleep(3.5)                                                         # the grace passes
        moved = TcpSwitch(ctl.of, TOKYO_IX, {1: True, 2: True}, source="127.0.0.2").connect()
        assert wait_for(lambda: _connected(ctl, "tokyo-ix"), 5) and not moved.closed.is_set()
        moved.close()
        assert wait_for(lambda: not _connected(ctl, "tokyo-ix"), 10)
        # bound to 127.0.0.2 now; an operator releases it at once with SIGHUP
        ctl.proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: "SIGHUP: switch address bindings reloaded (released: tokyo-ix)" in log.read_text(), 5)
        TcpSwitch(ctl.of, TOKYO_IX, {1: True, 2: True}).connect()
        assert wait_for(lambda: _connected(ctl, "tokyo-ix"), 5)
        assert ctl.proc.poll() is None
