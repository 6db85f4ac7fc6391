"""End to end on Mininet: the controller (a real `slicectl controller` process, os-ken +
gRPC) drives japan-intercloud's switches; hosts check connectivity, isolation and
bandwidth themselves. Tests run in order and share one WAN (building it takes ~20 s)."""
from __future__ import annotations

import json
import re
import socket
import sqlite3
import struct
import subprocess
import sys
import threading
import time
from collections import Counter

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from proto.defaults import DEFAULT_AUDIT_INTERVAL_S
from slices.rules import group_slice, meter_id
from tests.rawspec import raw_spec
from tests.watching import Events
from controller.core import SliceController
from slicectl.failover import host_at, set_bfd
from controller.store import Store
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from tests.fakewire import FakeWire
from tests.live import controller_and_wan
from tests.test_api import INVALID
from tests.test_spec_typos import create_raw, field_bytes, violations_of
from topologies import load

pytestmark = pytest.mark.mininet
JAPAN = load("japan-intercloud")


@pytest.fixture(scope="module")
def net(tmp_path_factory):
    with controller_and_wan("japan-intercloud", tmp_path_factory.mktemp("ctl")) as both:
        yield both


host_of = host_at   # (host, address) of an access port


def spec(name, endpoints, bw, **kw):
    return {"name": name, "tenant": kw.pop("tenant", "lab"), "bandwidth_mbps": bw,
            "endpoints": [{"site": s, "port": p, "ip": ip} for s, p, ip in endpoints], **kw}


def endpoints(wan, *where):
    return [(s, p, host_of(wan, s, p)[1]) for s, p in where]


def create(ctl, doc):
    return ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(doc)), timeout=30)


def pings(src, dst_ip, count=3) -> int:
    out = src.cmd(f"ping -c {count} -i 0.2 -W 1 {dst_ip}")
    m = re.search(r"(\d+) received", out)
    return int(m.group(1)) if m else 0


MEDICAL = (("tokyo-dc", 1), ("osaka-dc", 1), ("sendai-dc", 1))
BUSINESS = (("tokyo-dc", 2), ("fukuoka-dc", 1), ("seoul-dc", 1))
OUTSIDERS = (("osaka-dc", 2), ("nagoya-dc", 1), ("sapporo-dc", 1))


def test_the_demos_slices_pass_slicectl_verify(net, tmp_path):
    """The example slices of `make demo`, checked the way a CI job would: the CLI, the
    WAN's inventory file, JSON out."""
    from slicectl.demo import load_examples

    ctl, wan = net
    docs = load_examples()
    for doc in docs:
        assert create(ctl, doc).state == pb.SLICE_STATE_ACTIVE, doc["name"]
    wan.write_inventory(tmp_path / "wan.json")
    try:
        r = subprocess.run([sys.executable, "-m", "slicectl.cli", "verify", "--server", ctl.grpc,
                            "--inventory", str(tmp_path / "wan.json"), "-o", "json"],
                           capture_output=True, text=True, timeout=600)
        report = json.loads(r.stdout)
        assert r.returncode == 0 and report["ok"], [(c["subject"], c["measured"], c["expected"]) for c in report["results"] if not c["ok"]]
        assert report["slices"] == sorted(d["name"] for d in docs)
        kinds = Counter(c["check"] for c in report["results"])
        pairs = sum(len(d["endpoints"]) * (len(d["endpoints"]) - 1) for d in docs)
        assert kinds["icmp"] == kinds["tcp"] == pairs and kinds["isolation-arp"] > 3 * len(docs)
    finally:
        for doc in docs:
            ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name=doc["name"]), timeout=30)


def test_a_slice_across_three_clouds_connects_its_endpoints(net):
    ctl, wan = net
    s = create(ctl, spec("medical", endpoints(wan, *MEDICAL), 20, priority=7, max_latency_ms=15))
    assert s.state == pb.SLICE_STATE_ACTIVE, s.reason
    create(ctl, spec("business", endpoints(wan, *BUSINESS), 10, priority=4))
    for group in (MEDICAL, BUSINESS):
        for a in group:
            for b in group:
                if a != b:
                    src, _ = host_of(wan, *a)
                    _, ip = host_of(wan, *b)
                    assert pings(src, ip, 2) == 2, (a, b)
    # TCP both ways between two clouds of the slice
    (h1, ip1), (h2, ip2) = host_of(wan, *MEDICAL[0]), host_of(wan, *MEDICAL[2])
    for srv, cli, ip in ((h2, h1, ip2), (h1, h2, ip1)):
        srv.cmd("iperf3 -s -1 -D -p 5301")
        time.sleep(0.3)
        out = cli.cmd(f"iperf3 -c {ip} -p 5301 -t 1 -J")
        assert json.loads(out[out.index("{"):])["end"]["sum_received"]["bytes"] > 0


CAPTURE = """
import socket, struct, sys, time
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.bind((sys.argv[1], 0))
s.settimeout(0.2)
end = time.time() + float(sys.argv[2])
print("ready", flush=True)
while time.time() < end:
    try:
        f = s.recv(2048)
    except socket.timeout:
        continue
    kind = f[12:14]
    if kind == b"\\x08\\x00":
        print(socket.inet_ntoa(f[26:30]), flush=True)
    elif kind == b"\\x08\\x06":
        print(socket.inet_ntoa(f[28:32]), flush=True)
"""


def capture(host, seconds: float):
    """Source IPv4 addresses (IP or ARP sender) of frames the host receives."""
    proc = host.popen([sys.executable, "-c", CAPTURE, host.defaultIntf().name, str(seconds)],
                      stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "ready"
    return proc


def test_nobody_outside_a_slice_reaches_it(net):
    ctl, wan = net
    inside = [host_of(wan, *e) for e in MEDICAL]
    outside = [host_of(wan, *w) for w in (*BUSINESS, *OUTSIDERS)]
    captures = [capture(h, 8) for h, _ip in inside]
    # all at once: unicast pings (and the ARP requests before them) and broadcast pings
    unicast = [(h.name, ip, h.popen(["ping", "-c", "2", "-W", "1", ip], stdout=subprocess.DEVNULL))
               for h, _ in outside for _t, ip in inside]
    broadcast = [h.popen(["ping", "-b", "-c", "3", "-i", "0.3", "-W", "1", "10.255.255.255"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for h, _ in outside]
    answered = [(name, ip) for name, ip, proc in unicast if proc.wait() == 0]
    for proc in broadcast:
        proc.wait()
    assert pings(inside[1][0], inside[0][1], 1) == 1  # the capture does see the slice's own traffic
    seen = set()
    for proc in captures:
        seen |= set(proc.communicate(timeout=30)[0].split())
    assert answered == []
    assert inside[1][1] in seen
    assert not seen & {ip for _h, ip in outside}, seen


def iperf(src, dst, dst_ip, args: str, seconds=4) -> float:
    dst.cmd("iperf3 -s -1 -D -p 5302")
    time.sleep(0.3)
    out = src.cmd(f"iperf3 -c {dst_ip} -p 5302 -t {seconds} -O 1 -J {args}")
    r = json.loads(out[out.index("{"):])["end"]
    return (r["sum_received"] if "sum_received" in r else r["sum"])["bits_per_second"] / 1e6


def test_prometheus_scrapes_the_running_controller(net):
    """/metrics of the real controller parses with Prometheus's text parser and shows the
    slice, every switch connected, the entries sent and the API calls by method and code."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    ctl, _wan = net
    text = urllib.request.urlopen(ctl.metrics_url, timeout=10).read().decode()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for f in text_string_to_metric_families(text) for s in f.samples}
    assert samples[("intercloud_slices", (("state", "active"),))] >= 1
    connected = [v for (name, _labels), v in samples.items() if name == "intercloud_switch_connected"]
    assert len(connected) == len(JAPAN.sites) and all(v == 1 for v in connected)
    assert samples[("intercloud_openflow_entries_sent_total", (("op", "add"),))] > 0
    assert samples[("intercloud_api_request_seconds_count", (("code", "OK"), ("method", "CreateSlice")))] >= 1


def impostor_handshake(port: int, dpid: int) -> tuple[socket.socket, bool]:
    """Connect to the controller claiming ``dpid`` and answer its handshake as a switch
    with no ports would; (the socket, whether the controller closed it within 10 s)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(struct.pack("!BBHI", 4, 0, 8, 1))                       # HELLO
    buf, deadline = b"", time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            data = s.recv(4096)
        except socket.timeout:
            break
        if not data:
            return s, True
        buf += data
        while len(buf) >= 8:
            _v, kind, length, xid = struct.unpack("!BBHI", buf[:8])
            if len(buf) < length:
                break
            body, buf = buf[8:length], buf[length:]
            if kind == 5:      # FEATURES_REQUEST -> FEATURES_REPLY
                s.sendall(struct.pack("!BBHIQIBB2xII", 4, 6, 32, xid, dpid, 0, 2, 0, 0, 0))
            elif kind == 18:   # MULTIPART_REQUEST (port description) -> an empty reply
                s.sendall(struct.pack("!BBHIHH4x", 4, 19, 16, xid, struct.unpack("!H", body[:2])[0], 0))
            elif kind == 2:    # ECHO_REQUEST -> ECHO_REPLY
                s.sendall(struct.pack("!BBHI", 4, 3, length, xid) + body)
            elif kind == 20:   # BARRIER_REQUEST -> BARRIER_REPLY
                s.sendall(struct.pack("!BBHI", 4, 21, 8, xid))
    return s, False


def test_a_second_connection_claiming_a_connected_switch_is_refused(net):
    """An impostor completes the OpenFlow handshake with tokyo-dc's dpid: the controller
    closes it, logs it, and the real switch keeps its rules, its slices stay ACTIVE, and
    the next change still reaches it."""
    ctl, wan = net
    tokyo = JAPAN.site("tokyo-dc")
    switch = f"s{[s.name for s in JAPAN.sites].index('tokyo-dc') + 1}"
    before = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", switch, "--no-stats"],
                            capture_output=True, text=True).stdout.count("cookie=")
    sock, closed = impostor_handshake(ctl.of, tokyo.dpid)
    sock.close()
    assert closed, "the impostor's connection was not closed"
    assert "a second connection" in ctl.log_path.read_text()
    after = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", switch, "--no-stats"],
                           capture_output=True, text=True).stdout.count("cookie=")
    assert after == before > 0
    medical = ctl.slices.GetSlice(pb.GetSliceRequest(name="medical"))
    assert medical.state == pb.SLICE_STATE_ACTIVE, medical.reason
    d = spec("medical", endpoints(wan, *MEDICAL), 21, priority=7, max_latency_ms=15)
    updated = ctl.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(d)), timeout=30)
    assert updated.state == pb.SLICE_STATE_ACTIVE, updated.reason
    d["bandwidth_mbps"] = 20
    ctl.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(d)), timeout=30)


def test_udp_above_the_reservation_is_policed(net):
    ctl, wan = net
    (src, _), (dst, ip) = host_of(wan, *MEDICAL[0]), host_of(wan, *MEDICAL[1])
    readings: list = []

    def watch():   # GetSlice while the flood runs: the controller's rates cover 5 s
        end = time.monotonic() + 9
        while time.monotonic() < end:
            readings.append(ctl.slices.GetSlice(pb.GetSliceRequest(name="medical"), timeout=10).stats)
            time.sleep(1)
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    # 3 x the 20 Mbit/s reservation, in 8000-byte datagrams as lab 03: 60 Mbit/s of 1400-byte
    # ones starved the emulation and a link far from the flood was taken down (probes lost)
    got = iperf(src, dst, ip, "-u -b 60M -l 8000", seconds=10)
    watcher.join(timeout=15)
    print(f"UDP at 60 Mbit/s into a 20 Mbit/s slice: {got:.1f} Mbit/s delivered")
    assert 0.5 * 20 <= got <= 1.1 * 20, got
    stats = ctl.slices.GetSlice(pb.GetSliceRequest(name="medical")).stats
    assert stats.ingress_packets > 0 and stats.meter_dropped_packets > 0, stats
    busy = max(readings, key=lambda st: st.ingress_bits_per_second)
    print(f"GetSlice during the flood: {busy.ingress_bits_per_second / 1e6:.1f} Mbit/s in, "
          f"{busy.dropped_packets_per_second:.0f} packets/s dropped over {busy.rate_interval_s:.1f} s")
    assert busy.rate_interval_s > 0 and busy.ingress_bits_per_second > 25e6, busy
    assert busy.dropped_packets_per_second > 100, busy


def test_two_slices_sharing_a_link_each_get_their_reservation(net):
    ctl, wan = net
    (a_src, _), (a_dst, a_ip) = host_of(wan, *MEDICAL[0]), host_of(wan, *MEDICAL[1])
    (b_src, _), (b_dst, b_ip) = host_of(wan, *BUSINESS[0]), host_of(wan, *BUSINESS[1])
    results = {}

    def run(name, *args):
        results[name] = iperf(*args, "-P 2 -C cubic", seconds=6)

    trees = [{frozenset((l.a, l.b)) for l in ctl.slices.GetSlice(pb.GetSliceRequest(name=n)).tree}
             for n in ("medical", "business")]
    assert trees[0] & trees[1], "the two slices should share a link"
    t = threading.Thread(target=run, args=("b", b_src, b_dst, b_ip))
    t.start()
    run("a", a_src, a_dst, a_ip)
    t.join()
    print(f"TCP, both saturating: medical {results['a']:.1f} of 20, business {results['b']:.1f} of 10 Mbit/s")
    assert results["a"] >= 0.8 * 20 and results["b"] >= 0.8 * 10, results


class PingStream:
    """Pings from a host in the background (20 a second unless told), then how many came back."""

    def __init__(self, src, ip, count, record, interval: float = 0.05):
        self.src, self.record = src, record
        src.cmd(f"ping -i {interval:g} -c {count} {ip} > {record} 2>&1 &")

    def result(self) -> tuple[int, int]:
        self.src.cmd("wait")
        m = re.search(r"(\d+) packets transmitted, (\d+) received", self.record.read_text())
        assert m, self.record.read_text()[-300:]
        return int(m.group(1)), int(m.group(2))


def test_update_changes_the_reservation_without_interrupting_traffic(net):
    ctl, wan = net
    (src, _), (_dst, ip) = host_of(wan, *MEDICAL[0]), host_of(wan, *MEDICAL[1])
    stream = PingStream(src, ip, 60, ctl.store.parent / "update-ping.txt")
    time.sleep(0.5)
    d = spec("medical", endpoints(wan, *MEDICAL), 25, priority=7, max_latency_ms=15)
    s = ctl.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(d)), timeout=30)
    assert s.spec.bandwidth_mbps == 25 and s.state == pb.SLICE_STATE_ACTIVE
    assert stream.result() == (60, 60)
    dump = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-meters", "s1"],  # s1: tokyo-dc
                          capture_output=True, text=True).stdout
    assert re.search(rf"meter={s.id}\b.*\n?.*rate=25000\b", dump), dump


def test_scale_out_adds_a_cloud_without_losing_traffic(net):
    """Issue 8: adding a cloud to a live slice loses at most one probe of a 10 ms stream
    between the endpoints it had, and the new one answers as soon as the call returns."""
    ctl, wan = net
    create(ctl, spec("grow", endpoints(wan, ("fukuoka-dc", 2), ("seoul-dc", 2)), 5))
    (src, _), (_dst, ip) = host_of(wan, "fukuoka-dc", 2), host_of(wan, "seoul-dc", 2)
    quiet = PingStream(src, ip, 300, ctl.store.parent / "quiet-ping.txt", interval=0.01).result()
    stream = PingStream(src, ip, 300, ctl.store.parent / "scale-out-ping.txt", interval=0.01)
    time.sleep(1)
    grown = spec("grow", endpoints(wan, ("fukuoka-dc", 2), ("seoul-dc", 2), ("sapporo-dc", 2)), 5)
    s = ctl.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(grown)), timeout=30)
    new_host, _ = host_of(wan, "sapporo-dc", 2)
    assert s.state == pb.SLICE_STATE_ACTIVE and pings(new_host, ip, 1) == 1
    sent, got = stream.result()
    print(f"scale-out under a 10 ms ping stream: {sent - got} of {sent} lost "
          f"(the same stream with no change: {quiet[0] - quiet[1]} of {quiet[0]} lost)")
    assert sent - got <= 1, (sent, got)
    ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name="grow"), timeout=30)


def test_a_cut_link_is_routed_around(net):
    from slicectl.demo import all_pairs_pass, set_link

    ctl, wan = net
    medical = ctl.slices.GetSlice(pb.GetSliceRequest(name="medical"))
    a, b = next((l.a, l.b) for l in medical.tree if "-ix" in l.a and "-ix" in l.b)
    doc = spec("medical", endpoints(wan, *MEDICAL), 25)
    set_link(wan, a, b, up=False)
    try:
        seconds, ok, total = all_pairs_pass(wan, [doc], timeout_s=30)
        assert seconds is not None, f"{ok}/{total} pairs reconnected"
        moved = ctl.slices.GetSlice(pb.GetSliceRequest(name="medical"))
        assert {a, b} not in [{l.a, l.b} for l in moved.tree] and moved.state == pb.SLICE_STATE_ACTIVE
        t = ctl.topology_api.GetTopology(pb.GetTopologyRequest())
        assert not next(l for l in t.links if {l.a, l.b} == {a, b}).up
    finally:
        set_link(wan, a, b, up=True)
    wait_link_up(ctl, a, b)     # after BFD is back and the controller's hold-down


def test_a_slice_over_its_bound_on_a_slower_link_moves_to_a_faster_tree(net):
    """Sapporo—Nagoya (bound 30 ms) goes by Sendai (7.7 ms); the Sendai—Sapporo link turns
    40 ms slow with its ports up - nothing a switch reports. The controller's in-band
    probes flag the slice, its link probes show which link is slow, and the slice moves
    make-before-break to the direct Tokyo—Sapporo link (13.8 ms), within its bound again.
    (The bound leaves room for the emulation's own cost: its relays and userspace
    switches add 3 ms to that tree on a quiet host, 6 ms with both cores kept busy.)"""
    ctl, wan = net
    where = (("sapporo-dc", 1), ("nagoya-dc", 1))
    slow = {"sendai-ix", "sapporo-ix"}
    s = create(ctl, spec("sla-move", endpoints(wan, *where), 5, max_latency_ms=30))
    assert slow in [{l.a, l.b} for l in s.tree], s.tree
    with Events(ctl.slices, "sla-move") as events:
        wan.fault_link("sendai-ix", "sapporo-ix", "delay=40")
        try:
            deadline = time.monotonic() + 60
            while slow in [{l.a, l.b} for l in ctl.slices.GetSlice(pb.GetSliceRequest(name="sla-move")).tree]:
                assert time.monotonic() < deadline, f"never moved; events: {events}"
                time.sleep(0.5)
            (src, _), (_dst, ip) = host_of(wan, *where[0]), host_of(wan, *where[1])
            assert pings(src, ip) >= 2
            deadline = time.monotonic() + 30
            while (sla := ctl.slices.GetSlice(pb.GetSliceRequest(name="sla-move")).sla).state != pb.SLA_STATE_WITHIN_BOUND:
                assert time.monotonic() < deadline, f"never within bound again ({sla.reason}): {events}"
                time.sleep(0.5)
        finally:
            wan.fault_link("sendai-ix", "sapporo-ix", "restore")
            ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name="sla-move"), timeout=30)
    assert events.kinds("sla-", "re-routed") == ["sla-violated", "re-routed", "sla-restored"], str(events)
    moved = next(e for e in events.seen if e.kind == "re-routed")
    print(f"re-routed: {moved.reason}")
    assert "SLA violated" in moved.reason


def wait_link_up(ctl, a: str, b: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not next(l for l in ctl.topology_api.GetTopology(pb.GetTopologyRequest()).links if {l.a, l.b} == {a, b}).up:
        assert time.monotonic() < deadline, f"{a}—{b} was never used again"
        time.sleep(0.2)


def switch_state():
    """What every OVS bridge holds: flow (cookie, table, priority) multiset, groups, meters."""
    out = {}
    for i, site in enumerate(JAPAN.sites, start=1):
        flows = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", f"s{i}"],
                               capture_output=True, text=True).stdout
        keys = Counter((int(c, 16), int(t), int(p)) for c, t, p in re.findall(
            r"cookie=(0x[0-9a-f]+).*?table=(\d+).*?priority=(\d+)", flows))
        groups = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-groups", f"s{i}"],
                                capture_output=True, text=True).stdout
        meters = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-meters", f"s{i}"],
                                capture_output=True, text=True).stdout
        out[site.name] = (keys, sorted(map(int, re.findall(r"group_id=(\d+)", groups))),
                          sorted(map(int, re.findall(r"meter=(\d+)", meters))))
    return out


def planned_state(store_path):
    ctl = SliceController(JAPAN, Store(store_path), FakeWire([]))
    out = {}
    for site in JAPAN.sites:
        entries = [e for es in ctl.plan.values() for e in es if e.switch == site.name]
        out[site.name] = (Counter((e.cookie, e.table, e.priority) for e in entries if hasattr(e, "table")),
                          sorted(e.group_id for e in entries if hasattr(e, "buckets")),
                          sorted(e.meter_id for e in entries if hasattr(e, "rate_kbps")))
    return out, ctl


def test_invalid_specs_are_refused_with_field_paths_and_change_nothing(net):
    ctl, wan = net
    before, stored = switch_state(), Store(ctl.store).dump()
    for kind, change, field in INVALID:
        d = spec("fresh", endpoints(wan, ("nagoya-dc", 1), ("osaka-dc", 2)), 5)
        d.update(change)
        with pytest.raises(grpc.RpcError) as e:
            create(ctl, d)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT, kind
        br = error_details_pb2.BadRequest()
        assert rpc_status.from_call(e.value).details[0].Unpack(br)
        assert field in [v.field for v in br.field_violations], (kind, br)
    # a raw client's field this API does not define (a typo such as max_latncy_ms, as field 15)
    base = raw_spec(spec("fresh", endpoints(wan, ("nagoya-dc", 1), ("osaka-dc", 2)), 5))
    err = create_raw(ctl, base.SerializeToString() + field_bytes(15, 1, struct.pack("<d", 3.0)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "unknown field number 15" in violations_of(err)["spec"]
    assert switch_state() == before and Store(ctl.store).dump() == stored


def test_a_locked_store_fails_requests_cleanly_and_one_port_keeps_one_owner(net):
    """The double-owner sequence, on the real process: create; an update that would free
    a port fails after validation (another process holds the store's write lock); a
    create on that port; a restart. Once this left two ACTIVE slices on one port."""
    ctl, wan = net
    d = spec("owner", endpoints(wan, ("sapporo-dc", 1), ("nagoya-dc", 2)), 5)
    create(ctl, d)
    try:
        src, _ = host_of(wan, "sapporo-dc", 1)
        _dst, ip = host_of(wan, "nagoya-dc", 2)
        before, stored = switch_state(), Store(ctl.store).dump()
        lock = sqlite3.connect(ctl.store, isolation_level=None)
        lock.execute("BEGIN IMMEDIATE")
        try:
            moved = spec("owner", endpoints(wan, ("sapporo-dc", 2), ("nagoya-dc", 2)), 5)
            with pytest.raises(grpc.RpcError) as e:
                ctl.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(moved)), timeout=30)
            assert e.value.code() == grpc.StatusCode.UNAVAILABLE and "locked" in e.value.details()
        finally:
            lock.close()
        after = switch_state()
        changed = {sw: (before.get(sw), after.get(sw)) for sw in before.keys() | after.keys()
                   if before.get(sw) != after.get(sw)}
        assert not changed, f"switches changed by a failed update (before, after): {changed}"
        assert Store(ctl.store).dump() == stored
        with pytest.raises(grpc.RpcError) as e:    # sapporo-dc:1 is still owner's
            create(ctl, spec("intruder", endpoints(wan, ("sapporo-dc", 1), ("osaka-dc", 2)), 5))
        assert e.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "belongs to slice owner" in e.value.details()
        ctl.kill9()
        ctl.start()
        ctl.wait_switches()
        listed = {s.spec.name: s for s in ctl.slices.ListSlices(pb.ListSlicesRequest()).slices}
        assert "intruder" not in listed and listed["owner"].state == pb.SLICE_STATE_ACTIVE
        assert [(e.site, e.port) for e in listed["owner"].spec.endpoints] == [("sapporo-dc", 1), ("nagoya-dc", 2)]
        assert pings(src, ip) > 0
    finally:   # whatever failed above, the module's later tests get the network without it
        try:
            ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name="owner"), timeout=30)
        except grpc.RpcError:
            pass


def test_flows_deleted_by_hand_come_back_within_one_audit_period(net):
    """Without the probe rules, osaka-dc's uplink falls silent: the controller audits both
    ends at once (else the periodic audit would find it); connectivity comes back with no
    API call, and every switch ends up holding exactly the plan."""
    ctl, wan = net
    (src, _), (_dst, ip) = host_of(wan, *MEDICAL[0]), host_of(wan, *MEDICAL[1])
    assert pings(src, ip, 1) == 1
    subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "del-flows", wan.plan.switch_of("osaka-dc").name], check=True)
    gone = time.monotonic()
    assert pings(src, ip, 1) == 0                       # really cut: osaka-dc forwards nothing
    while pings(src, ip, 1) == 0:
        assert time.monotonic() - gone < DEFAULT_AUDIT_INTERVAL_S + 5, "the audit did not repair osaka-dc"
    print(f"flows deleted by hand on osaka-dc: traffic back after {time.monotonic() - gone:.1f} s "
          f"(audit every {DEFAULT_AUDIT_INTERVAL_S:g} s)")
    deadline = time.monotonic() + 10
    while switch_state() != (want := planned_state(ctl.store)[0]):
        assert time.monotonic() < deadline, "switches and plan still differ"
        time.sleep(0.5)


def test_delete_cuts_connectivity_and_leaves_nothing_on_any_switch(net):
    ctl, wan = net
    number = ctl.slices.GetSlice(pb.GetSliceRequest(name="business")).id
    ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name="business"), timeout=30)
    (src, _), (_dst, ip) = host_of(wan, *BUSINESS[0]), host_of(wan, *BUSINESS[1])
    assert pings(src, ip, 2) == 0
    for site, (flows, groups, meters) in switch_state().items():
        assert not [k for k in flows if k[0] & 0xFFFFFFFF == number and k[0] >> 56 == 0x51], site
        assert not [g for g in groups if group_slice(g) == number] and meter_id(number) not in meters, site


def test_controller_kill9_loses_no_ping_and_restores_everything(net):
    ctl, wan = net
    (src, _), (_dst, ip) = host_of(wan, *MEDICAL[0]), host_of(wan, *MEDICAL[2])
    stream = PingStream(src, ip, 200, ctl.store.parent / "kill9-ping.txt")
    time.sleep(1)
    acknowledged = []

    def during():
        try:
            create(ctl, spec("during", endpoints(wan, ("nagoya-dc", 1), ("fukuoka-dc", 2)), 5))
        except grpc.RpcError as e:  # the controller died under the call: not acknowledged
            assert e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.CANCELLED), e
        else:
            acknowledged.append(True)
    creating = threading.Thread(target=during)
    creating.start()
    time.sleep(0.05)
    ctl.kill9()                         # mid-operation, most likely
    creating.join()
    time.sleep(2)                       # the WAN runs on alone (fail-secure switches keep their rules)
    ctl.start()
    ctl.wait_switches()
    assert stream.result() == (200, 200)
    listed = {s.spec.name: s for s in ctl.slices.ListSlices(pb.ListSlicesRequest()).slices}
    assert "medical" in listed and "business" not in listed
    # acknowledged => present after the restart; not acknowledged => absent, or complete
    if acknowledged:
        assert "during" in listed
    if "during" in listed:
        assert listed["during"].state == pb.SLICE_STATE_ACTIVE and len(listed["during"].tree) > 0
    time.sleep(1)                       # reconciliation of the last switch
    want, _ = planned_state(ctl.store)
    assert switch_state() == want


def test_a_silently_failed_link_is_noticed_and_routed_around(net):
    """The link's ports stay up and frames vanish; BFD (Open vSwitch, on by default in the
    emulation) stops the ports being live, the controller takes the link out of use."""
    ctl, wan = net
    (src, _), (_dst, ip) = host_of(wan, *MEDICAL[0]), host_of(wan, *MEDICAL[1])
    tree = {frozenset((l.a, l.b)) for l in ctl.slices.GetSlice(pb.GetSliceRequest(name="medical")).tree}
    a, b = next(tuple(sorted(k)) for k in sorted(tree, key=sorted) if all(JAPAN.site(x).kind == "core" for x in k))
    assert pings(src, ip, 1) == 1
    wan.fault_link(a, b, "silent")
    failed = time.monotonic()
    while pings(src, ip, 1) == 0:
        assert time.monotonic() - failed < 5, f"traffic not restored around the silent {a}—{b}"
    restored = time.monotonic() - failed
    link = next(l for l in ctl.topology_api.GetTopology(pb.GetTopologyRequest()).links if {l.a, l.b} == {a, b})
    print(f"silent {a}—{b}: link reported down, traffic back after {restored:.2f} s")
    assert not link.up and restored < 1.5     # 1 s for the pings' own wait, at most one probe
    moved = {frozenset((l.a, l.b)) for l in ctl.slices.GetSlice(pb.GetSliceRequest(name="medical")).tree}
    assert frozenset((a, b)) not in moved
    wan.fault_link(a, b, "restore")
    wait_link_up(ctl, a, b)


def link_state(ctl, a: str, b: str):
    return next(l for l in ctl.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=5).links
                if {l.a, l.b} == {a, b})


def test_a_silent_link_without_bfd_is_found_by_the_controllers_probes(net):
    """With nothing but the controller's own probes to notice it (BFD off on the link),
    a silent tree link is reported down, with the reason, and traffic flows again within
    a second (measured from a 10 ms ping stream)."""
    ctl, wan = net
    (src, _), (_dst, ip) = host_of(wan, *MEDICAL[0]), host_of(wan, *MEDICAL[1])
    tree = {frozenset((l.a, l.b)) for l in ctl.slices.GetSlice(pb.GetSliceRequest(name="medical")).tree}
    a, b = next(tuple(sorted(k)) for k in sorted(tree, key=sorted) if all(JAPAN.site(x).kind == "core" for x in k))
    set_bfd(wan, a, b, False)
    try:
        time.sleep(0.5)
        assert link_state(ctl, a, b).up
        stream = PingStream(src, ip, 300, ctl.store.parent / "probe-silent-ping.txt", interval=0.01)
        time.sleep(0.5)
        wan.fault_link(a, b, "silent")
        failed = time.monotonic()
        while (st := link_state(ctl, a, b)).up:
            assert time.monotonic() - failed < 5, f"the silent {a}—{b} was never reported down"
            time.sleep(0.02)
        noticed = time.monotonic() - failed
        sent, got = stream.result()
        print(f"silent {a}—{b}, probes only: reported down after {noticed * 1000:.0f} ms "
              f"({st.reason}); {sent - got} of {sent} pings (10 ms apart) lost")
        assert "unanswered" in st.reason
        assert noticed < 1.0 and (sent - got) * 0.01 < 1.0
        assert frozenset((a, b)) not in {frozenset((l.a, l.b)) for l in
                                         ctl.slices.GetSlice(pb.GetSliceRequest(name="medical")).tree}
    finally:
        wan.fault_link(a, b, "restore")
        set_bfd(wan, a, b, True)
    wait_link_up(ctl, a, b)


def test_a_miswired_link_is_reported_and_not_used(net):
    """Two of a core switch's cables in each other's ports: the probes come back from the
    wrong neighbours; both links are reported miswired (API and `slicectl topology`) and
    kept out of use; the slices keep working around them; put back, they are used again."""
    ctl, wan = net
    site, n1, n2 = "tokyo-ix", "sapporo-ix", "seoul-ix"
    (src, _), (_dst, ip) = host_of(wan, *MEDICAL[0]), host_of(wan, *MEDICAL[1])
    said = wan.fault_site(site, f"swap={n1},{n2}")
    assert "swapped" in said
    try:
        deadline = time.monotonic() + 10
        while not all(link_state(ctl, site, n).reason.startswith("miswired") for n in (n1, n2)):
            assert time.monotonic() < deadline, [link_state(ctl, site, n) for n in (n1, n2)]
            time.sleep(0.1)
        for n in (n1, n2):
            st = link_state(ctl, site, n)
            assert not st.up and "expected" in st.reason, st
        shown = subprocess.run([sys.executable, "-m", "slicectl.cli", "topology", "--server", ctl.grpc],
                               capture_output=True, text=True, timeout=30)
        assert shown.returncode == 0 and shown.stdout.count("miswired") >= 2, shown.stdout[-2000:]
        s = ctl.slices.GetSlice(pb.GetSliceRequest(name="medical"))
        used = {frozenset((l.a, l.b)) for l in list(s.tree) + list(s.backup)}
        # active, or degraded when its backup has nowhere disjoint left to go
        assert s.state in (pb.SLICE_STATE_ACTIVE, pb.SLICE_STATE_DEGRADED), s.reason
        assert not used & {frozenset((site, n1)), frozenset((site, n2))}
        assert pings(src, ip, 3) >= 2
    finally:
        wan.fault_site(site, f"swap={n1},{n2}")
    for n in (n1, n2):
        wait_link_up(ctl, site, n)


def switch_connected(ctl, site: str) -> bool:
    return next(s for s in ctl.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=5).sites
                if s.name == site).connected


def test_a_hung_switch_degrades_only_the_slices_across_it(net):
    """sendai-dc's switch stays connected but stops answering barriers and reads (its
    OpenFlow connection runs through a proxy that swallows them): a slice across it comes
    back DEGRADED with the reason after one barrier timeout; a slice avoiding it is ACTIVE
    in normal time; when the switch answers again, the next audit makes the first ACTIVE."""
    from tests.ofproxy import OpenFlowProxy

    ctl, wan = net
    bridge = wan.plan.switch_of("sendai-dc").name
    proxy = OpenFlowProxy(("127.0.0.1", ctl.of))
    subprocess.run(["ovs-vsctl", "set-controller", bridge, f"tcp:127.0.0.1:{proxy.port}"], check=True)
    try:
        deadline = time.monotonic() + 20
        time.sleep(1)
        while not switch_connected(ctl, "sendai-dc"):
            assert time.monotonic() < deadline, "sendai-dc did not reconnect through the proxy"
            time.sleep(0.2)
        proxy.hung = True
        started = time.monotonic()
        across = create(ctl, spec("across", endpoints(wan, ("sendai-dc", 2), ("sapporo-dc", 2)), 5))
        took_across = time.monotonic() - started
        assert across.state == pb.SLICE_STATE_DEGRADED and "sendai-dc" in across.reason, across.reason
        started = time.monotonic()
        avoiding = create(ctl, spec("avoiding", endpoints(wan, ("nagoya-dc", 2), ("fukuoka-dc", 1)), 5))
        took_avoiding = time.monotonic() - started
        print(f"hung sendai-dc: slice across it {pb.SliceState.Name(across.state)} after {took_across:.2f} s "
              f"({across.reason}); slice avoiding it {pb.SliceState.Name(avoiding.state)} after {took_avoiding:.2f} s")
        assert avoiding.state == pb.SLICE_STATE_ACTIVE and took_avoiding < 2.0
        proxy.hung = False
        deadline = time.monotonic() + DEFAULT_AUDIT_INTERVAL_S + 10
        while ctl.slices.GetSlice(pb.GetSliceRequest(name="across"), timeout=5).state != pb.SLICE_STATE_ACTIVE:
            assert time.monotonic() < deadline, "the slice across sendai-dc stayed degraded"
            time.sleep(0.2)
        src, _ = host_of(wan, "sendai-dc", 2)
        assert pings(src, host_of(wan, "sapporo-dc", 2)[1], 2) > 0
    finally:
        subprocess.run(["ovs-vsctl", "set-controller", bridge, f"tcp:127.0.0.1:{ctl.of}"], check=True)
        proxy.close()
    for name in ("across", "avoiding"):
        ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name=name), timeout=30)
    ctl.wait_switches(timeout=30)


def test_a_lost_site_goes_dark_and_comes_back_when_restored(net):
    """`site S --mode lost`: its links silent, its switch cut off from the controller (a
    destroyed data centre); the slice with an endpoint there waits, preempted, saying why;
    restore brings the site back, and the slice with it."""
    ctl, wan = net
    (src, _), (_dst, ip) = host_of(wan, *MEDICAL[0]), host_of(wan, *MEDICAL[2])   # tokyo -> sendai
    assert pings(src, ip, 2) > 0
    said = wan.fault_site("sendai-dc", "lost")
    assert "lost" in said
    deadline = time.monotonic() + 10
    while next(s for s in ctl.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=5).sites
               if s.name == "sendai-dc").connected:
        assert time.monotonic() < deadline, "the controller still sees sendai-dc's switch"
        time.sleep(0.2)
    assert pings(src, ip, 2) == 0
    # its only uplink went silent too (BFD): no path to the endpoint there, and the reason says so
    deadline = time.monotonic() + 5
    while (got := ctl.slices.GetSlice(pb.GetSliceRequest(name="medical"), timeout=10)).state != pb.SLICE_STATE_PREEMPTED:
        assert time.monotonic() < deadline, (got.state, got.reason)
        time.sleep(0.2)
    assert "sendai" in got.reason
    wan.fault_site("sendai-dc", "restore")
    ctl.wait_switches(timeout=30)               # connected again, every link back in use
    deadline = time.monotonic() + 10
    while pings(src, ip, 1) == 0:
        assert time.monotonic() < deadline, "sendai-dc did not come back"
    assert ctl.slices.GetSlice(pb.GetSliceRequest(name="medical"), timeout=10).state == pb.SLICE_STATE_ACTIVE


def test_a_lost_cloud_is_served_at_its_standby_with_the_same_address(net):
    """Disaster recovery across clouds: osaka-dc is destroyed (links silent, switch cut
    off); the endpoint there comes back at its standby in nagoya-dc with the same address
    (the restarted VM announces itself), reached by the other endpoint within 2 s of the
    loss, as measured by a 10 ms ping stream; GetSlice says where and why. The site's
    return changes nothing until an operator fails the endpoint back."""
    ctl, wan = net
    (src, src_ip), (primary, ip) = host_of(wan, "seoul-dc", 2), host_of(wan, "osaka-dc", 2)
    standby, standby_ip = host_of(wan, "nagoya-dc", 2)
    intf = standby.defaultIntf().name
    dr = {"name": "dr", "tenant": "lab", "bandwidth_mbps": 5, "priority": 7,
          "endpoints": [{"site": "seoul-dc", "port": 2, "ip": src_ip},
                        {"site": "osaka-dc", "port": 2, "ip": ip, "standby": {"site": "nagoya-dc", "port": 2}}]}
    assert create(ctl, dr).state == pb.SLICE_STATE_ACTIVE
    assert pings(src, ip, 2) > 0
    stream = PingStream(src, ip, 600, ctl.store.parent / "dr-ping.txt", interval=0.01)
    time.sleep(1)
    try:
        wan.fault_site("osaka-dc", "lost")
        lost = time.monotonic()
        # the service restarts at the standby with its address and announces it: gratuitous
        # ARP once a second, as keepalived or a restarted VM does
        standby.cmd(f"ip addr flush dev {intf}; ip addr add {ip}/8 dev {intf}")
        standby.cmd(f"arping -q -U -I {intf} -c 4 {ip} > {ctl.store.parent / 'garp.txt'} 2>&1 &")
        while (ep := ctl.slices.GetSlice(pb.GetSliceRequest(name="dr"), timeout=5).endpoints[1]).location != "standby":
            assert time.monotonic() - lost < 10, "the endpoint never moved to its standby"
            time.sleep(0.05)
        moved = time.monotonic() - lost
        sent, got = stream.result()
        outage = (sent - got) * 0.01
        print(f"osaka-dc lost: endpoint at its standby after {moved:.2f} s ({ep.location_reason}); "
              f"{sent - got} of {sent} pings (10 ms apart) lost = {outage:.2f} s of outage")
        assert (ep.site, ep.port, ep.ip) == ("nagoya-dc", 2, ip) and "osaka-dc down" in ep.location_reason
        assert outage <= 2.0 and got > 0
        assert pings(src, ip, 2) == 2
    finally:
        wan.fault_site("osaka-dc", "restore")
    ctl.wait_switches(timeout=30)
    assert ctl.slices.GetSlice(pb.GetSliceRequest(name="dr")).endpoints[1].location == "standby"
    assert pings(src, ip, 2) == 2                      # still served at the standby
    # an operator moves it home: the VM there again, the standby host its old self
    standby.cmd(f"ip addr flush dev {intf}; ip addr add {standby_ip}/8 dev {intf}")
    shown = subprocess.run([sys.executable, "-m", "slicectl.cli", "endpoint", "failback", "dr", "--server", ctl.grpc],
                           capture_output=True, text=True, timeout=30)
    assert shown.returncode == 0 and re.search(r"osaka-dc +2 .* primary +nagoya-dc:2", shown.stdout), \
        shown.stdout + shown.stderr
    home = ctl.slices.GetSlice(pb.GetSliceRequest(name="dr")).endpoints[1]
    assert (home.site, home.location, home.location_reason) == ("osaka-dc", "primary", "")
    primary.cmd(f"arping -q -U -I {primary.defaultIntf().name} -c 2 {ip}")
    assert pings(src, ip, 3) >= 2
    ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name="dr"), timeout=30)
