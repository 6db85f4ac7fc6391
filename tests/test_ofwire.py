"""The OpenFlow layer without Open vSwitch: the real os-ken messages the app builds are
serialised, parsed back and applied to simulated switches (tests/ofswitch.py), which
answer in bytes os-ken parses into what the app's handlers receive. Behaviour -
reachability, isolation, meters, failover - is then checked on what the switches hold,
not on the plan; and the app's send and receive paths (phases and barriers, errors,
reads, counters, switch and port events) run as they do against real switches."""
from __future__ import annotations

import json
import re
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from os_ken.controller.handler import DEAD_DISPATCHER, MAIN_DISPATCHER
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

import controller.switches
from controller import ofwire
from controller.app import SlicingApp
from controller.settings import Settings
from controller.wiring import build
from controller.core import SwitchRefused
from controller.store import Store
from slices import compiler
from slices.compiler import compile_plan, diff
from slices.audit import audit
from slices.fakenet import FakeNetwork, verify
from slices.spec import parse_spec
from tests.ofswitch import SimDatapath, SimSwitch, round_trip
from topologies import load
from topologies.ports import PortMap

JAPAN = load("japan-intercloud")
PORTS = PortMap(JAPAN)


def spec(name, sites, bw=10, **kw):
    return {"name": name, "tenant": "t", "bandwidth_mbps": bw,
            "endpoints": [{"site": s, "port": p} for s, p in sites], **kw}


MEDICAL = spec("medical", [("tokyo-dc", 1), ("osaka-dc", 1), ("sendai-dc", 1)], 20, priority=7)
RETAIL = spec("retail", [("tokyo-dc", 2), ("fukuoka-dc", 1), ("seoul-dc", 1)], 30, protection="link")


def site_ports(site: str) -> list[int]:
    s = JAPAN.site(site)
    return list(range(1, s.hosts + 1)) + [PORTS.toward(site, l.other(site)) for l in JAPAN.links_of(site)]


class Network:
    """The real app and owner thread, every switch of japan-intercloud simulated."""

    def __init__(self, tmp_path, seed: int = 0, metrics=None):
        self.store = Store(tmp_path / "store.db")
        self.wiring = build(JAPAN, self.store, Settings(audit_interval_s=None, probes=None, stats_interval_s=0), metrics=metrics)
        self.wiring.start()
        self.app = SlicingApp(wiring=self.wiring)
        self.ctl = self.app.controller
        self.switches = {s.name: SimSwitch(s.name, s.dpid, seed=seed + i) for i, s in enumerate(JAPAN.sites)}
        self.dps = {n: SimDatapath(sw, self.app, site_ports(n)) for n, sw in self.switches.items()}
        for dp in self.dps.values():
            self.event(dp, MAIN_DISPATCHER)

    def event(self, dp, state) -> None:
        self.app._state_change(SimpleNamespace(datapath=dp, state=state))
        self.settle()

    def settle(self) -> None:
        """Wait for the owner to handle what was posted, and for the switch reads that
        started (off the owner thread) and the repairs they queued."""
        for _ in range(3):
            self.ctl.call(lambda: None)
            self.ctl.network.reads_done()
        self.ctl.call(lambda: None)

    def create(self, doc):
        return self.ctl.call(lambda: self.ctl.create(doc))

    def held(self) -> dict:
        """Every switch's entries, as the switches hold them."""
        return {n: sorted(map(str, map(ofwire.canonical_entry, sw.entries()))) for n, sw in self.switches.items()}

    def planned(self) -> dict:
        out = {n: [] for n in self.switches}
        for entries in self.ctl.plan.values():
            for e in entries:
                out[e.switch].append(str(ofwire.canonical_entry(e)))
        return {n: sorted(v) for n, v in out.items()}

    def fake_network(self) -> FakeNetwork:
        """The simulated forwarding network, loaded from what the switches hold."""
        held = {"switches": tuple(e for sw in self.switches.values() for e in sw.entries())}
        return FakeNetwork(JAPAN, held)

    def close(self) -> None:
        self.app.close()
        self.wiring.close()
        self.store.close()


@pytest.fixture
def net(tmp_path):
    n = Network(tmp_path)
    yield n
    n.close()


def test_every_entry_survives_the_round_trip_through_bytes():
    """to_messages -> bytes -> os-ken's parser -> the controller's readers == the plan."""
    from slices.engine import SliceEngine
    engine = SliceEngine(JAPAN)
    for d in (MEDICAL, RETAIL, spec("tagged", [("nagoya-dc", 1), ("sapporo-dc", 1)], 5)):
        engine.admit(parse_spec(d, JAPAN))
    kinds = set()
    for entries in compile_plan(engine).values():
        for e in entries:
            assert round_trip(e) == ofwire.canonical_entry(e), e
            kinds.add(type(e).__name__)
    assert kinds == {"Rule", "Meter", "Group"}


def test_switches_hold_exactly_the_plan_and_forward_by_it(net):
    net.create(MEDICAL)
    net.create(RETAIL)
    assert net.held() == net.planned()
    assert {n: st.state for n, st in net.ctl.states.items()} == {"medical": "active", "retail": "active"}
    fake = net.fake_network()
    assert verify(net.ctl.engine, fake) == []          # reachability, isolation, meters
    # a primary link next to a site on both trees fails: the switch's group fails over
    # (unicast and ARP; broadcast waits for the controller to move the tree)
    retail = net.ctl.engine.slices["retail"]
    both = retail.tree.sites & retail.backup.sites
    a, b = next(tuple(sorted(k)) for k in sorted(retail.tree.links - retail.backup.links, key=sorted)
                if set(k) & both)
    fake.set_link(a, b, up=False)
    assert [p for p in verify(net.ctl.engine, fake) if p.startswith("retail") and "broadcast" not in p] == []


def test_reading_a_switch_returns_what_it_holds(net):
    net.create(MEDICAL)
    for site, sw in net.switches.items():
        read = net.wiring.channels.read(site)
        assert sorted(map(str, map(ofwire.canonical_entry, read))) == net.held()[site]


def test_phases_keep_meters_and_groups_ahead_of_their_flows_whatever_the_switch_reorders(tmp_path, monkeypatch):
    for seed in range(5):
        n = Network(tmp_path / f"ok{seed}", seed=seed * 100)
        try:
            n.create(MEDICAL)
            n.create(RETAIL)
            n.ctl.call(lambda: n.ctl.update({**RETAIL, "bandwidth_mbps": 40}))
            n.ctl.call(lambda: n.ctl.delete("medical"))
            assert n.held() == n.planned(), seed
        finally:
            n.close()
    # the same with everything in one batch, no barrier between: some switch takes a flow before its meter
    def one_batch(changes):
        merged: dict = {}
        for phase in compiler.change_phases(changes):
            for site, items in phase.items():
                merged.setdefault(site, []).extend(items)
        return [{site: [items] for site, items in merged.items()}]
    monkeypatch.setattr(controller.switches, "change_rounds", one_batch)
    refused = 0
    for seed in range(5):
        n = Network(tmp_path / f"one{seed}", seed=seed * 100)
        try:
            n.create(MEDICAL)
        except SwitchRefused:
            refused += 1
        finally:
            n.close()
    assert refused > 0


def test_barriers_close_each_phase_in_order(net):
    net.create(RETAIL)
    for sw in net.switches.values():
        sw.received.clear()
    net.ctl.call(lambda: net.ctl.delete("retail"))
    net.create(RETAIL)
    kinds = [t for t, _ in net.switches["tokyo-ix"].received]
    # delete: flows | groups, meters ; add: meters, groups | flows - each closed by a barrier
    assert kinds.count(ofp.OFPT_BARRIER_REQUEST) == 4 and kinds[-1] == ofp.OFPT_BARRIER_REQUEST


def test_a_refusing_switch_is_reported_and_the_request_undone(net):
    before = net.held()
    net.switches["osaka-dc"].meters[1] = parse_meter_placeholder(1)  # meter id 1 taken by a stranger
    with pytest.raises(SwitchRefused, match=r"osaka-dc refused the rules: OpenFlow error type 12 code 1"):
        net.create(MEDICAL)
    # taking the request back deleted meter 1 there too: a stranger's entry in our id space
    # is foreign, as the audit on connect would also find
    net.switches["osaka-dc"].meters.pop(1, None)
    assert net.held() == before and net.ctl.engine.slices == {} and audit(net.ctl.engine) == []


def parse_meter_placeholder(meter_id):
    from tests.ofswitch import _Meter
    return _Meter(meter_id, ofp.OFPMF_KBPS, [parser.OFPMeterBandDrop(rate=1, burst_size=1)])


def test_a_switch_that_never_answers_barriers_degrades_its_slices(net, monkeypatch):
    monkeypatch.setattr(controller.switches, "BARRIER_TIMEOUT_S", 0.2)
    net.switches["sendai-dc"].answers_barriers = False
    net.create(MEDICAL)
    st = net.ctl.states["medical"]
    assert st.state == "degraded" and "sendai-dc: no barrier reply" in st.reason
    problems = net.wiring.channels.push(diff({}, {}))
    assert problems == {}
    net.switches["sendai-dc"].answers_barriers = True
    net.event(net.dps["sendai-dc"], MAIN_DISPATCHER)     # it reconnects
    assert net.ctl.states["medical"].state == "active"


def test_counters_come_from_the_switches_meter_stats(net):
    net.create(MEDICAL)
    number = net.ctl.engine.slices["medical"].number
    net.switches["tokyo-dc"].meters[number].packet_in_count = 7
    net.switches["tokyo-dc"].meters[number].byte_in_count = 700
    c = net.wiring.channels.counters("tokyo-dc", number)
    assert c["meter_packets"] == 7 and c["meter_bytes"] == 700 and c["ingress_packets"] == 0


def test_switch_and_port_events_reach_the_owner(net):
    net.create(MEDICAL)
    net.event(net.dps["sendai-dc"], DEAD_DISPATCHER)
    assert net.ctl.states["medical"].state == "degraded"
    net.event(net.dps["sendai-dc"], MAIN_DISPATCHER)
    assert net.ctl.states["medical"].state == "active"
    s = net.ctl.engine.slices["medical"]
    a, b = next(tuple(sorted(k)) for k in sorted(s.tree.links, key=sorted)
                if all(JAPAN.site(x).kind == "core" for x in k))
    dp = net.dps[a]
    desc = parser.OFPPort(port_no=PORTS.toward(a, b), hw_addr="02:00:00:00:00:01", name=b"p", config=0,
                          state=ofp.OFPPS_LINK_DOWN, curr=0, advertised=0, supported=0, peer=0,
                          curr_speed=0, max_speed=0)
    net.app._port_status(SimpleNamespace(msg=SimpleNamespace(datapath=dp, reason=ofp.OFPPR_MODIFY, desc=desc)))
    net.ctl.call(lambda: None)
    assert frozenset((a, b)) in net.ctl.engine.down_links
    assert frozenset((a, b)) not in net.ctl.engine.slices["medical"].tree.links
    assert net.held() == net.planned() and verify(net.ctl.engine, net.fake_network()) == []


def test_a_switch_dying_mid_read_or_push_releases_the_caller_at_once(net, monkeypatch):
    import threading
    import time as clock
    monkeypatch.setattr(controller.switches, "READ_TIMEOUT_S", 30)
    monkeypatch.setattr(controller.switches, "BARRIER_TIMEOUT_S", 30)
    sw, dp = net.switches["tokyo-dc"], net.dps["tokyo-dc"]
    sw.answers_reads = sw.answers_barriers = False        # it hangs, then its connection dies
    got = {}
    reader = threading.Thread(target=lambda: got.setdefault("read", net.wiring.channels.read("tokyo-dc")))
    reader.start()
    clock.sleep(0.2)
    started = clock.monotonic()
    net.app._state_change(SimpleNamespace(datapath=dp, state=DEAD_DISPATCHER))
    reader.join(timeout=5)
    assert not reader.is_alive() and got["read"] is None and clock.monotonic() - started < 2
    # a request in hand when the switch goes: the slice is degraded, not held for 30 s
    net.wiring.channels.dps["tokyo-dc"] = dp                          # as if it had reconnected, still hanging
    creating = threading.Thread(target=lambda: got.setdefault("create", net.create(MEDICAL)))
    creating.start()
    clock.sleep(0.3)
    net.app._state_change(SimpleNamespace(datapath=dp, state=DEAD_DISPATCHER))
    creating.join(timeout=5)
    assert not creating.is_alive()
    st = net.ctl.states["medical"]
    assert st.state == "degraded" and "tokyo-dc" in st.reason


def _deliveries(net, name):
    """Problems of slice ``name`` on what the switches hold now (unicast/ARP between its
    current endpoints; broadcast is left out: it is what a scale-out changes)."""
    return [p for p in verify(net.ctl.engine, net.fake_network()) if p.startswith(name) and "broadcast" not in p]


def test_scale_out_is_make_before_break_on_every_switch(tmp_path):
    """Growing a live slice by a cloud: after every single message any switch applies - in
    whatever order it takes a batch - the existing endpoints still reach each other."""
    from slices.fakenet import Delivery, Frame

    for seed in range(4):
        net = Network(tmp_path / f"s{seed}", seed=seed * 7)
        try:
            net.create(spec("pair", [("tokyo-dc", 1), ("osaka-dc", 1)], 10))
            old = net.ctl.engine.record("pair")
            ends = [e for e, _a in old.addresses]
            lost = []

            def existing_pairs_ok():
                fake = net.fake_network()
                for src in ends:
                    for dst in ends:
                        if src != dst:
                            got = fake.send(src.site, src.port, Frame.ipv4(old.address[dst]))
                            if got != [Delivery(dst.site, dst.port, None)]:
                                lost.append((str(src), str(dst)))
            for sw in net.switches.values():
                sw.after_each = existing_pairs_ok
            grown = spec("pair", [("tokyo-dc", 1), ("osaka-dc", 1), ("sapporo-dc", 1)], 10)
            net.ctl.call(lambda: net.ctl.update(grown))
            assert lost == [], (seed, lost[:3])
            assert _deliveries(net, "pair") == []          # the new endpoint is reached too
            assert net.held() == net.planned()
        finally:
            net.close()


def test_a_hung_switch_holds_up_nothing_else_and_its_slices_recover_when_it_answers(net, monkeypatch):
    """Issue 8: a switch that stays connected but answers nothing (no barrier replies, no
    reads) costs one timeout, once: after that nobody waits for it - not the periodic
    audit, not requests that touch it, not those that avoid it - and the slices across
    it are degraded with the reason until it answers again."""
    import time as clock
    monkeypatch.setattr(controller.switches, "BARRIER_TIMEOUT_S", 3.0)
    monkeypatch.setattr(controller.switches, "READ_TIMEOUT_S", 3.0)
    sw = net.switches["sendai-dc"]
    sw.answers_barriers = sw.answers_reads = False
    net.create(MEDICAL)                                  # across sendai-dc: one timeout
    st = net.ctl.states["medical"]
    assert st.state == "degraded" and "sendai-dc: no barrier reply" in st.reason
    started = clock.monotonic()
    net.ctl.call(net.ctl.audit_switches)                 # reads every switch
    net.settle()
    # the other switches of the slice hold their share: it is still not active
    assert net.ctl.states["medical"].state == "degraded"
    net.create(RETAIL)                                   # avoids it
    net.ctl.call(lambda: net.ctl.update({**MEDICAL, "bandwidth_mbps": 15}))   # touches it
    assert clock.monotonic() - started < 3.0, "something waited for the hung switch again"
    assert net.ctl.states["retail"].state == "active"
    st = net.ctl.states["medical"]
    assert st.state == "degraded" and "sendai-dc: not answering the controller" in st.reason
    sw.answers_barriers = sw.answers_reads = True        # it answers again
    net.ctl.call(net.ctl.audit_switches)                 # the next audit nudges it
    net.settle()
    assert net.ctl.states["medical"].state == "active"
    assert net.held() == net.planned()


def test_an_audit_reading_a_hung_switch_holds_up_no_request(net, monkeypatch):
    """The periodic audit reads switches on its own thread: one that does not answer
    delays the audit, not the requests queued for the owner."""
    import threading
    import time as clock
    monkeypatch.setattr(controller.switches, "READ_TIMEOUT_S", 3.0)
    net.create(MEDICAL)
    net.switches["sendai-dc"].answers_reads = False
    auditor = threading.Thread(target=net.ctl.audit_switches)
    auditor.start()
    clock.sleep(0.3)                                     # the audit is waiting for sendai-dc
    started = clock.monotonic()
    net.create(RETAIL)
    assert clock.monotonic() - started < 2.0 and net.ctl.states["retail"].state == "active"
    auditor.join(timeout=10)
    assert not auditor.is_alive() and net.held() == net.planned()


def test_metrics_count_what_the_switches_were_sent_and_report_the_state(tmp_path):
    """Prometheus metrics, read back with Prometheus's own text parser."""
    from prometheus_client import generate_latest
    from prometheus_client.parser import text_string_to_metric_families
    from controller.metrics import Metrics

    from controller.sla import SlaStatus

    metrics = Metrics()
    n = Network(tmp_path, metrics=metrics)
    try:
        n.create({**MEDICAL, "max_latency_ms": 15})
        n.switches["tokyo-dc"].flows.clear()              # entries deleted by hand
        n.ctl.call(n.ctl.audit_switches)
        n.settle()
        measured = n.wiring.probers.measurements
        measured.sla_status = {"medical": SlaStatus("violated", 21.5, ("tokyo-dc", "osaka-dc"), 15.0, 0.0, "slow")}
        measured.link_delays_ms = {JAPAN.links[0].key: 0.5}
        samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
                   for f in text_string_to_metric_families(generate_latest(metrics.registry).decode())
                   for s in f.samples}
        number = n.ctl.call(lambda: n.ctl.engine.slices["medical"].number)
    finally:
        n.close()
    # labelled by its id, never its name (a scraper learns no tenant's names)
    medical = (("slice_id", str(number)),)
    assert not any(v == "medical" for _name, labels in samples for _k, v in labels)
    assert samples[("intercloud_slice_delay_seconds", medical)] == 0.0215
    assert samples[("intercloud_slice_delay_bound_seconds", medical)] == 0.015
    assert samples[("intercloud_slice_sla_violated", medical)] == 1
    for counter in ("ingress_packets", "ingress_bytes", "dropped_packets"):
        assert (f"intercloud_slice_{counter}_total", medical) in samples
    assert samples[("intercloud_time_to_connectivity_seconds_count", ())] == 1
    assert samples[("intercloud_engine_decision_seconds_count", ())] >= 1
    assert samples[("intercloud_link_measured_delay_seconds", (("link", "tokyo-dc—tokyo-ix"),))] == 0.0005
    # every metric the sample Grafana dashboard plots is one the controller exports
    exported = {name for name, _labels in samples} | {"intercloud_api_request_seconds_bucket",
                                                       "intercloud_api_request_seconds_count"}
    dashboard = json.loads((Path(__file__).parent.parent / "docs" / "grafana-dashboard.json").read_text())
    used = {m for p in dashboard["panels"] for t in p["targets"] for m in re.findall(r"intercloud_\w+", t["expr"])}
    assert used and used <= exported, used - exported
    assert samples[("intercloud_slices", (("state", "active"),))] == 1
    assert samples[("intercloud_openflow_entries_sent_total", (("op", "add"),))] > 20
    assert samples[("intercloud_barrier_wait_seconds_count", ())] > 0
    assert samples[("intercloud_audit_repairs_total", ())] > 0
    assert samples[("intercloud_switch_connected", (("site", "tokyo-dc"),))] == 1
    assert samples[("intercloud_link_up", (("link", "tokyo-dc—tokyo-ix"),))] == 1
    assert samples[("intercloud_link_free_bits_per_second", (("link", "tokyo-dc—tokyo-ix"),))] == 80e6


def test_a_second_connection_for_a_connected_dpid_is_refused_and_the_switch_keeps_its_slices(net):
    """An impostor claims tokyo-dc's dpid: refused and closed; the real switch keeps the
    site, answers the challenge and stays; the next slice's rules go to it alone; the
    impostor's end changes nothing."""
    net.create(MEDICAL)
    real = net.dps["tokyo-dc"]
    impostor = SimDatapath(SimSwitch("tokyo-dc", real.id), net.app, site_ports("tokyo-dc"))
    net.event(impostor, MAIN_DISPATCHER)
    assert impostor.closed and net.wiring.channels.dps["tokyo-dc"] is real
    net.create(RETAIL)
    assert impostor.switch.entries() == [] and net.held() == net.planned()
    assert {n: st.state for n, st in net.ctl.states.items()} == {"medical": "active", "retail": "active"}
    net.event(impostor, DEAD_DISPATCHER)
    assert net.wiring.channels.dps["tokyo-dc"] is real and not real.closed


def test_a_connected_switch_that_fails_the_challenge_is_closed_so_it_can_come_back(net, monkeypatch):
    """The switch restarted without its old connection being seen to die: the old one does
    not answer the challenge, so it is closed; the switch's next connection is accepted."""
    monkeypatch.setattr(controller.switches, "BARRIER_TIMEOUT_S", 0.3)
    net.create(MEDICAL)
    old = net.dps["tokyo-dc"]
    old.answers = False
    back = SimDatapath(net.switches["tokyo-dc"], net.app, site_ports("tokyo-dc"))
    net.event(back, MAIN_DISPATCHER)
    assert back.closed
    deadline = time.monotonic() + 5
    while not old.closed and time.monotonic() < deadline:
        time.sleep(0.05)
    assert old.closed
    net.event(old, DEAD_DISPATCHER)                   # os-ken reports the closed connection
    again = SimDatapath(net.switches["tokyo-dc"], net.app, site_ports("tokyo-dc"))
    net.event(again, MAIN_DISPATCHER)
    assert net.wiring.channels.dps["tokyo-dc"] is again and not again.closed
    net.ctl.call(lambda: None)
    assert net.ctl.states["medical"].state == "active" and net.held() == net.planned()


def _packet_in(dp, cookie: int, port: int, frame: bytes):
    return SimpleNamespace(msg=SimpleNamespace(datapath=dp, cookie=cookie, match={"in_port": port}, data=frame))


def test_dhcp_on_a_tagged_endpoint_is_answered_tagged_on_its_port_only(net):
    """An endpoint without an address and with VLAN 300: its host's DISCOVER (tagged, as
    the switch hands it up) gets an OFFER out of the same port, tagged 300, with the
    endpoint's address; a wrong-address ARP from it marks the slice degraded."""
    from os_ken.lib.packet import arp, dhcp, ethernet, packet, vlan

    from slices.rules import slice_cookie

    doc = spec("tagged", [("tokyo-dc", 1), ("osaka-dc", 1)])
    doc["endpoints"][0]["vlan"] = 300
    net.create(doc)
    record = net.ctl.engine.record("tagged")
    address = next(a for e, a in record.addresses if e.site == "tokyo-dc")
    p = packet.Packet()
    p.add_protocol(ethernet.ethernet(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:09", ethertype=0x8100))
    p.add_protocol(vlan.vlan(vid=300, ethertype=0x0800))
    from os_ken.lib.packet import ipv4, udp
    p.add_protocol(ipv4.ipv4(src="0.0.0.0", dst="255.255.255.255", proto=17))
    p.add_protocol(udp.udp(src_port=68, dst_port=67))
    p.add_protocol(dhcp.dhcp(op=dhcp.DHCP_BOOT_REQUEST, chaddr="02:00:00:00:00:09", xid=7, hlen=6,
                             options=dhcp.options([dhcp.option(dhcp.DHCP_MESSAGE_TYPE_OPT, bytes([dhcp.DHCP_DISCOVER]))])))
    p.serialize()
    dp = net.dps["tokyo-dc"]
    sent_before = len(dp.sent)
    net.app._packet_in(_packet_in(dp, slice_cookie(record.number), 1, bytes(p.data)))
    outs = [m for m in dp.sent[sent_before:] if type(m).__name__ == "OFPPacketOut"]
    assert len(outs) == 1
    acts = outs[0].actions
    assert [type(a).__name__ for a in acts] == ["OFPActionPushVlan", "OFPActionSetField", "OFPActionOutput"]
    assert acts[1].value & 0xFFF == 300 and acts[2].port == 1
    offer = packet.Packet(outs[0].data).get_protocol(dhcp.dhcp)
    assert offer.yiaddr == address and offer.xid == 7

    bad = packet.Packet()
    bad.add_protocol(ethernet.ethernet(dst="ff:ff:ff:ff:ff:ff", src="02:00:00:00:00:09", ethertype=0x8100))
    bad.add_protocol(vlan.vlan(vid=300, ethertype=0x0806))
    bad.add_protocol(arp.arp(src_mac="02:00:00:00:00:09", src_ip="192.0.2.9", dst_ip=address))
    bad.serialize()
    net.app._packet_in(_packet_in(dp, slice_cookie(record.number), 1, bytes(bad.data)))
    net.ctl.call(lambda: None)
    st = net.ctl.states["tagged"]
    assert st.state == "degraded" and "uses 192.0.2.9, not the endpoint's" in st.reason, st


def test_a_wrong_address_at_a_standby_is_forgotten_when_the_endpoint_fails_back(net):
    """The endpoint moved to its standby (a drain); the host there ARPs from its own
    address: the slice is degraded, naming the standby's port and the endpoint's
    address. Failed back home, that host is no longer the slice's: active at once (it
    used to stay degraded, naming an address '?', until the hold ran out)."""
    doc = spec("dr", [("tokyo-dc", 1), ("osaka-dc", 1)])
    doc["endpoints"][1]["standby"] = {"site": "nagoya-dc", "port": 2}
    net.create(doc)
    net.ctl.call(lambda: net.ctl.drain("osaka-dc"))
    address = next(a for e, a in net.ctl.engine.record("dr").live_addresses if e.site == "nagoya-dc")
    net.ctl.call(lambda: net.ctl.endpoint_misaddressed("dr", "nagoya-dc:2", "10.0.3.2"))
    st = net.ctl.states["dr"]
    assert st.state == "degraded" and f"nagoya-dc:2 uses 10.0.3.2, not the endpoint's {address}" in st.reason
    net.ctl.call(lambda: net.ctl.undrain("osaka-dc"))
    net.ctl.call(lambda: net.ctl.failback("dr"))
    st = net.ctl.states["dr"]
    assert st.state == "active" and "?" not in st.reason, st


def test_a_create_or_a_delete_is_one_round_trip_per_switch(net, monkeypatch):
    """Meters and groups, then flows (or flows, then meters and groups) go to a switch back
    to back with a barrier between: the controller waits once per switch, not once per phase."""
    waits = []
    real = controller.switches.SwitchChannels._confirmation
    monkeypatch.setattr(controller.switches.SwitchChannels, "_confirmation",
                        lambda self, site, *a: (waits.append(site), real(self, site, *a))[1])
    for sw in net.switches.values():
        sw.received.clear()
    net.create(MEDICAL)
    assert sorted(waits) == sorted(set(waits))           # each switch waited for once
    kinds = [t for t, _ in net.switches["osaka-dc"].received]
    assert kinds.count(ofp.OFPT_BARRIER_REQUEST) == 2 and kinds[-1] == ofp.OFPT_BARRIER_REQUEST
    assert kinds.index(ofp.OFPT_METER_MOD) < kinds.index(ofp.OFPT_BARRIER_REQUEST) < kinds.index(ofp.OFPT_FLOW_MOD)
    waits.clear()
    net.ctl.call(lambda: net.ctl.delete("medical"))
    assert waits and sorted(waits) == sorted(set(waits))
    assert net.held() == net.planned() and audit(net.ctl.engine) == []


def test_rounds_hold_the_phases_in_order_per_switch():
    a, b = parse_spec(MEDICAL, JAPAN), parse_spec(spec("x", [("tokyo-dc", 2), ("osaka-dc", 2)], 5), JAPAN)
    from slices.engine import SliceEngine
    e = SliceEngine(JAPAN)
    e.admit(a)
    before = compile_plan(e, PORTS)
    e.admit(b)
    e.release("medical", restore=False)
    changes = diff(before, compile_plan(e, PORTS))
    rounds = compiler.change_rounds(changes)
    assert [sorted({op for phases in r.values() for items in phases for op, _ in items}) for r in rounds] == \
        [["add"], ["delete"]]
    for site in {x for r in rounds for x in r}:
        flat = [items for r in rounds for items in r.get(site, [])]
        assert flat == [p[site] for p in compiler.change_phases(changes) if site in p]
