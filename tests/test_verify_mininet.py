"""`slicectl verify` against a live controller and two-clouds in Mininet: it passes on a
healthy slice, and fails naming the right pairs when a switch's flows are deleted by hand,
when a link becomes slower than the slice's bound allows, and when an outsider is
bridged in by a rule injected by hand. The controller runs without periodic audits, so
nothing repairs the damage before verify looks. And the controller's own view of the
same: live SLA monitoring flags the slower link, and its metrics show the slice's
traffic and the violation."""
from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest
from junitparser import JUnitXml

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.rules import slice_cookie
from tests.live import controller_and_wan
from tests.rawspec import raw_spec
from tests.watching import Events

pytestmark = pytest.mark.mininet
SLICE = "pair"
A, B, OUTSIDER = ("tokyo-dc", 1), ("osaka-dc", 1), ("tokyo-dc", 2)
BOUND_MS = 15.0   # one way; the route is ~10.3 ms


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    d = tmp_path_factory.mktemp("verify")
    with controller_and_wan("two-clouds", d, options=("--audit-interval", "0", "--sla-interval", "0.2",
                                                     "--sla-window", "3", "--sla-hold", "1")) as (ctl, wan):
        wan.write_inventory(d / "wan.json")
        create_pair(ctl, wan)
        yield ctl, wan, d


def host(wan, where):
    return next(h for h in wan.plan.hosts if (h.site, h.port) == where)


def create_pair(ctl, wan) -> pb.Slice:
    doc = {"name": SLICE, "tenant": "lab", "bandwidth_mbps": 5, "max_latency_ms": BOUND_MS,
           "endpoints": [{"site": h.site, "port": h.port, "ip": h.address} for h in (host(wan, A), host(wan, B))]}
    s = ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(doc)), timeout=30)
    assert s.state == pb.SLICE_STATE_ACTIVE, s.reason
    return s


def recreate_pair(ctl, wan) -> None:
    ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name=SLICE), timeout=30)
    create_pair(ctl, wan)


def verify(ctl, d, *args) -> tuple[int, dict]:
    r = subprocess.run([sys.executable, "-m", "slicectl.cli", "verify", "--server", ctl.grpc,
                        "--inventory", str(d / "wan.json"), "-o", "json", *args],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode in (0, 1), r.stderr
    return r.returncode, json.loads(r.stdout)


def failed(report: dict) -> set[tuple[str, str]]:
    return {(c["check"], c["subject"]) for c in report["results"] if not c["ok"]}


def pair(src, dst, wan) -> str:
    return f"{src[0]}:{src[1]} -> {dst[0]}:{dst[1]} ({host(wan, dst).address})"


def test_verify_passes_on_a_healthy_slice_with_json_and_junit(lab):
    ctl, wan, d = lab
    rc, report = verify(ctl, d, "--junit", str(d / "verify.xml"), "--ttc", "--throughput")
    assert rc == 0 and report["ok"], failed(report)
    kinds = [c["check"] for c in report["results"]]
    # both directions of the pair, 2 outsiders x 2 endpoints x (unicast, ARP), one probe slice
    assert {k: kinds.count(k) for k in set(kinds)} == {
        "state": 1, "icmp": 2, "tcp": 2, "rtt": 2, "throughput": 2, "isolation-unicast": 4,
        "isolation-arp": 4, "ttc": 1}
    ttc = next(c for c in report["results"] if c["check"] == "ttc")
    assert 0 < ttc["seconds"] < 600
    xml = JUnitXml.fromfile(str(d / "verify.xml"))
    assert xml.tests == len(report["results"]) and xml.failures == 0
    assert {suite.name for suite in xml} == {SLICE, "controller"}
    # the probe slice is gone again
    names = [s.spec.name for s in ctl.slices.ListSlices(pb.ListSlicesRequest()).slices]
    assert names == [SLICE]


def test_verify_names_the_pairs_when_a_switchs_flows_are_deleted(lab):
    ctl, wan, d = lab
    s = ctl.slices.GetSlice(pb.GetSliceRequest(name=SLICE))
    switch = host(wan, A).switch
    subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "del-flows", switch,
                    f"cookie={slice_cookie(s.id):#x}/-1"], check=True)
    try:
        rc, report = verify(ctl, d, "--junit", str(d / "broken.xml"))
        assert rc == 1 and not report["ok"]
        assert {(k, sub) for k, sub in failed(report) if k in ("icmp", "tcp")} == {
            (k, pair(x, y, wan)) for k in ("icmp", "tcp") for x, y in ((A, B), (B, A))}
        assert not {k for k, _ in failed(report)} & {"isolation-unicast", "isolation-arp", "state"}
        xml = JUnitXml.fromfile(str(d / "broken.xml"))
        assert xml.failures == len(failed(report))
        messages = [r.message for suite in xml for case in suite for r in case.result]
        assert any("measured 0/5 replies" in m for m in messages), messages
    finally:
        recreate_pair(ctl, wan)
    assert verify(ctl, d, SLICE, "--no-isolation")[0] == 0


def test_verify_flags_the_round_trip_when_a_link_gets_slower_than_the_bound(lab):
    ctl, wan, d = lab
    wan.fault_link("tokyo-ix", "osaka-ix", "delay=40")   # 40 ms each way: RTT > 2 x 15 + 25 (tolerance)
    try:
        rc, report = verify(ctl, d, SLICE, "--no-isolation")
    finally:
        wan.fault_link("tokyo-ix", "osaka-ix", "restore")
    assert rc == 1
    assert failed(report) == {("rtt", pair(A, B, wan)), ("rtt", pair(B, A, wan))}
    rtts = [float(c["measured"].split()[0]) for c in report["results"] if c["check"] == "rtt"]
    assert all(80 <= r <= 90 for r in rtts), rtts
    assert verify(ctl, d, SLICE, "--no-isolation")[0] == 0


def test_verify_names_an_outsider_bridged_in_by_hand(lab):
    ctl, wan, d = lab
    inside, outsider = host(wan, A), host(wan, OUTSIDER)
    switch = inside.switch
    rules = [f"table=0,priority=1000,in_port={outsider.port},actions=output:{inside.port}",
             f"table=0,priority=1000,in_port={inside.port},dl_dst={outsider.mac},actions=output:{outsider.port}"]
    for rule in rules:
        subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "add-flow", switch, rule], check=True)
    try:
        rc, report = verify(ctl, d, SLICE)
    finally:
        for rule in rules:
            subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "--strict", "del-flows", switch,
                            rule.partition(",actions=")[0]], check=True)
    assert rc == 1
    leak = f"outsider {outsider.name} ({OUTSIDER[0]}:{OUTSIDER[1]}) -> {A[0]}:{A[1]} ({inside.address})"
    assert failed(report) == {("isolation-unicast", leak), ("isolation-arp", leak)}


def test_verify_of_named_slices_still_knows_the_ports_other_slices_hold(lab):
    """`--ttc` picks its probe slice's hosts among those no slice uses, named or not."""
    ctl, wan, d = lab
    others = [host(wan, OUTSIDER), host(wan, ("osaka-dc", 2))]
    doc = {"name": "other", "tenant": "lab", "bandwidth_mbps": 1,
           "endpoints": [{"site": h.site, "port": h.port, "ip": h.address} for h in others]}
    ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(doc)), timeout=30)
    try:
        rc, report = verify(ctl, d, SLICE, "--ttc", "--no-isolation")
    finally:
        ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name="other"), timeout=30)
    ttc = next(c for c in report["results"] if c["check"] == "ttc")
    assert rc == 1 and ttc["measured"] == "no two free hosts in different sites", ttc
    assert failed(report) == {("ttc", "probe slice")}


def scrape(ctl) -> dict:
    from prometheus_client.parser import text_string_to_metric_families

    text = urllib.request.urlopen(ctl.metrics_url, timeout=10).read().decode()
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for f in text_string_to_metric_families(text) for s in f.samples}


def sla_of(ctl) -> pb.SlaStatus:
    return ctl.slices.GetSlice(pb.GetSliceRequest(name=SLICE), timeout=10).sla


def wait_sla(ctl, state, timeout=30.0) -> pb.SlaStatus:
    end = time.monotonic() + timeout
    while True:
        sla = sla_of(ctl)
        if sla.state == state or time.monotonic() > end:
            return sla
        time.sleep(0.2)


def test_the_controller_measures_the_slice_live_and_flags_a_slower_link(lab):
    """In-band probes measure the pair's one-way delay (the 10.3 ms route, plus the
    emulation's own forwarding); traffic grows the slice's counters in /metrics; raising
    the trunk to 40 ms (bound 15) turns the slice violated - on GetSlice, on WatchSlices,
    in /metrics - and restoring it clears the verdict. Two-clouds has no other path, so
    nothing is moved."""
    ctl, wan, d = lab
    key = (("slice_id", str(ctl.slices.GetSlice(pb.GetSliceRequest(name=SLICE), timeout=10).id)),)
    sla = wait_sla(ctl, pb.SLA_STATE_WITHIN_BOUND)
    assert sla.state == pb.SLA_STATE_WITHIN_BOUND, sla
    print(f"healthy: {sla.measured_delay_ms:.1f} ms ({sla.reason})")
    assert 10 <= sla.measured_delay_ms <= BOUND_MS, sla
    before = scrape(ctl)
    assert before[("intercloud_slice_sla_violated", key)] == 0
    assert before[("intercloud_slice_delay_bound_seconds", key)] == BOUND_MS / 1000
    assert 0.010 <= before[("intercloud_slice_delay_seconds", key)] <= BOUND_MS / 1000
    src = wan.host(host(wan, A).name)
    out = src.cmd(f"ping -c 20 -i 0.05 -q {host(wan, B).address}")
    assert " 0% packet loss" in out, out
    grown = ("intercloud_slice_ingress_packets_total", "intercloud_slice_ingress_bytes_total")
    end = time.monotonic() + 10   # Open vSwitch folds its datapath's counts into flow stats about once a second
    while True:
        after = scrape(ctl)
        if all(after[(n, key)] >= before[(n, key)] + 40 for n in grown) or time.monotonic() > end:
            break
        time.sleep(0.5)
    for name in grown:
        assert after[(name, key)] >= before[(name, key)] + 40, name   # 20 requests + 20 replies
    assert ("intercloud_slice_dropped_packets_total", key) in after
    assert after[("intercloud_time_to_connectivity_seconds_count", ())] >= 1
    assert after[("intercloud_engine_decision_seconds_count", ())] >= 1

    with Events(ctl.slices, SLICE) as events:
        wan.fault_link("tokyo-ix", "osaka-ix", "delay=40")
        try:
            sla = wait_sla(ctl, pb.SLA_STATE_VIOLATED)
            assert sla.state == pb.SLA_STATE_VIOLATED, sla
            assert sla.measured_delay_ms >= 40 and "over the bound of 15 ms" in sla.reason, sla
            assert scrape(ctl)[("intercloud_slice_sla_violated", key)] == 1
        finally:
            wan.fault_link("tokyo-ix", "osaka-ix", "restore")
        sla = wait_sla(ctl, pb.SLA_STATE_WITHIN_BOUND)
    assert sla.state == pb.SLA_STATE_WITHIN_BOUND, sla
    assert events.kinds() == ["sla-violated", "sla-restored"], str(events)
    assert ctl.slices.GetSlice(pb.GetSliceRequest(name=SLICE)).state == pb.SLICE_STATE_ACTIVE


DHCP_SCRIPT = Path(__file__).parent / "hosts" / "dhclient-script"


def test_endpoints_without_addresses_get_them_by_dhcp_and_a_wrong_one_is_reported(lab):
    """A slice whose endpoints give no address: the hosts run Debian's DHCP client
    (dhclient), get the slice's addresses from the controller, and reach each other. Then
    one host is configured by hand with another address of the subnet: the slice turns
    degraded naming it, and active again once the host has its address back."""
    ctl, wan, d = lab
    where = [host(wan, OUTSIDER), host(wan, ("osaka-dc", 2))]
    doc = {"name": "dhcp", "tenant": "lab", "bandwidth_mbps": 1,
           "endpoints": [{"site": h.site, "port": h.port} for h in where]}
    s = ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(doc)), timeout=30)
    assigned = {(e.site, e.port): e.ip for e in s.endpoints}
    nodes = [wan.host(h.name) for h in where]
    try:
        for h, node in zip(where, nodes):
            intf = node.defaultIntf().name
            node.cmd(f"ip -4 addr flush dev {intf}")
            out = node.cmd(f"timeout 30 dhclient -1 -v -sf {DHCP_SCRIPT} -pf {d}/dh-{h.name}.pid "
                           f"-lf {d}/dh-{h.name}.leases {intf} 2>&1")
            got = node.cmd(f"ip -4 -o addr show dev {intf}")
            assert f"inet {assigned[(h.site, h.port)]}/24" in got, out + got
        assert " 0% packet loss" in nodes[0].cmd(f"ping -c 3 -i 0.2 -W 1 {assigned[(where[1].site, where[1].port)]}")
        assert ctl.slices.GetSlice(pb.GetSliceRequest(name="dhcp")).state == pb.SLICE_STATE_ACTIVE

        right = assigned[(where[0].site, where[0].port)]
        wrong = right.rsplit(".", 1)[0] + ".77"
        intf = nodes[0].defaultIntf().name
        nodes[0].cmd(f"dhclient -x -pf {d}/dh-{where[0].name}.pid")
        nodes[0].cmd(f"ip -4 addr flush dev {intf}; ip -4 addr add {wrong}/24 dev {intf}")
        nodes[0].cmd(f"ping -c 3 -i 0.2 -W 1 {assigned[(where[1].site, where[1].port)]}")
        got = ctl.slices.GetSlice(pb.GetSliceRequest(name="dhcp"))
        assert got.state == pb.SLICE_STATE_DEGRADED, got
        assert f"the host at {where[0].site}:{where[0].port} uses {wrong}, not the endpoint's {right}" in got.reason
        nodes[0].cmd(f"ip -4 addr flush dev {intf}; ip -4 addr add {right}/24 dev {intf}")
        end = time.monotonic() + 30
        while ctl.slices.GetSlice(pb.GetSliceRequest(name="dhcp")).state != pb.SLICE_STATE_ACTIVE:
            assert time.monotonic() < end, "still reported after the host got its address back"
            time.sleep(0.5)
        assert " 0% packet loss" in nodes[0].cmd(f"ping -c 3 -i 0.2 -W 1 {assigned[(where[1].site, where[1].port)]}")
    finally:
        for h, node in zip(where, nodes):   # stop the clients, give the hosts their own addresses back
            node.cmd(f"dhclient -x -pf {d}/dh-{h.name}.pid 2>/dev/null")
            intf = node.defaultIntf().name
            node.cmd(f"ip -4 addr flush dev {intf}; ip -4 addr add {h.ip} dev {intf}")
        ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name="dhcp"), timeout=30)
