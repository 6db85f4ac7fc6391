"""A federation file on one Mininet (issue 26): every domain's switches with the port
numbers that domain's controller uses, borders between border ports, each switch talking
only to its own domain's controller; the merged one-controller baseline; and the CLI."""
from __future__ import annotations

import json
import re
import socket
import subprocess
import sys
from pathlib import Path

import networkx as nx
import pytest

from slicectl.cli import build_parser
from slicectl.commands.wan import _host_arg, make_wan
from tests.test_plan import deliver
from topologies import TopologyError
from topologies.emulation.faults import find_link, site_name
from topologies.emulation.fedplan import controllers_by_switch, make_federation_plan
from topologies.emulation.plan import make_plan
from topologies.emulation.platform import EmulationError
from topologies.federation import (FEDERATIONS_DIR, border_ports, domain_topology, load_federation, merged_topology,
                                   parse_federation)
from topologies.ports import PortMap

FED = FEDERATIONS_DIR / "japan-korea.yaml"
SLICECTL = [sys.executable, "-m", "slicectl"]


@pytest.fixture(scope="module")
def fed():
    return load_federation(FED)


@pytest.fixture(scope="module")
def plan(fed):
    return make_federation_plan(fed, probes=True, prefix="f")


# -- the plan (pure) -------------------------------------------------------------------------


def test_every_port_is_the_one_its_domains_controller_numbers(fed, plan):
    """Links inside a domain: PortMap over domain_topology; a border's two ends: the border
    ports each side's controller sees (border_ports); nothing else on a border port."""
    checked_borders = 0
    for d in fed.domains:
        ports, borders = PortMap(domain_topology(fed, d.name)), border_ports(fed, d.name)
        for l in plan.links:
            ends = [(l.a, l.b, l.port_a, l.switch_a), (l.b, l.a, l.port_b, l.switch_b)]
            for site, other, port, switch in ends:
                if plan.domain_of[switch] != d.name:
                    continue
                border = plan.border_of(l)
                if border is None:
                    assert port == ports.toward(site, other), (d.name, l)
                else:
                    assert borders[site][port] == border, (d.name, l)
                    checked_borders += 1
    assert checked_borders == 2 * len(fed.borders)


def test_each_switch_uses_exactly_its_domain_topologys_ports(fed, plan):
    """Per switch: hosts on 1..(the file's hosts), border ports after them, internal links
    after those; no port twice, no gap the controller would not know of."""
    for sw in plan.switches:
        d = plan.domain_of[sw.name]
        own = fed.domain(d).topology.site(sw.site).hosts
        extended = domain_topology(fed, d).site(sw.site).hosts
        hosts = sorted(h.port for h in plan.hosts if h.switch == sw.name and not h.probe)
        assert hosts == list(range(1, own + 1))
        border = sorted(p for l in plan.links if plan.border_of(l)
                        for p, s in ((l.port_a, l.switch_a), (l.port_b, l.switch_b)) if s == sw.name)
        assert border == list(range(own + 1, extended + 1))
        inner = sorted(p for l in plan.links if not plan.border_of(l)
                       for p, s in ((l.port_a, l.switch_a), (l.port_b, l.switch_b)) if s == sw.name)
        probe = [h.port for h in plan.hosts if h.switch == sw.name and h.probe]
        assert hosts + border + inner + probe == list(range(1, len(hosts + border + inner) + 2))


def test_names_addresses_and_dpids_are_unique_and_numbered_in_file_order(fed, plan):
    sites = [s.name for d in fed.domains for s in d.topology.sites]
    assert [s.site for s in plan.switches] == sites
    assert [s.name for s in plan.switches] == [f"fs{i}" for i in range(1, len(sites) + 1)]
    assert [s.dpid for s in plan.switches] == [s.dpid for d in fed.domains for s in d.topology.sites]
    for attr in ("name", "ip", "mac"):
        values = [getattr(h, attr) for h in plan.hosts]
        assert len(values) == len(set(values)), attr
    assert len({s.dpid for s in plan.switches}) == len(plan.switches)
    assert {plan.domain_of[s.name] for s in plan.switches} == {"east", "west", "korea"}
    busan = plan.switch_of("busan-dc")
    assert (busan.name, plan.domain_of[busan.name]) == ("fs15", "korea")
    assert next(h for h in plan.hosts if h.site == "busan-dc").ip == "10.0.15.1/8"
    border = next(l for l in plan.links if {l.a, l.b} == {"tokyo-ix", "osaka-ix"})
    assert (border.bandwidth_mbps, border.delay_ms) == (50, 6)


@pytest.mark.parametrize("which", ["federated", "merged"])
def test_static_flows_join_every_host_of_every_domain(fed, plan, which):
    """Without controllers every host reaches every other exactly once, and a broadcast
    reaches each host once (no loop over the borders), on the federated plan and on the
    merged one-controller baseline."""
    p = plan if which == "federated" else make_plan(merged_topology(fed), prefix="f")
    hosts = [h for h in p.hosts if not h.probe]
    for src in hosts:
        for dst in hosts:
            if dst is not src:
                got, _ = deliver(p, src, dst.mac)
                assert got == {dst.name: 1}, (src.name, dst.name, got)
        got, _ = deliver(p, src, "ff:ff:ff:ff:ff:ff")
        assert got == {h.name: 1 for h in p.hosts if h is not src}


def test_merged_topology_has_every_site_link_and_border(fed):
    merged = merged_topology(fed)
    assert merged.name == "japan-korea"
    assert [s.name for s in merged.sites] == [s.name for d in fed.domains for s in d.topology.sites]
    assert len(merged.links) == sum(len(d.topology.links) for d in fed.domains) + len(fed.borders)
    for b in fed.borders:
        link = merged.link(b.a.site, b.b.site)
        assert (link.bandwidth_mbps, link.delay_ms, link.label) == (b.bandwidth_mbps, b.delay_ms, b.label)
    assert nx.is_connected(merged.graph())


def _two_domains_sharing_a_site(tmp_path) -> Path:
    (tmp_path / "a.yaml").write_text("name: a\ndefaults: {bandwidth_mbps: 10, region: JP}\nsites:\n"
                                     "  x: {kind: cloud, dpid: 1}\n  y: {kind: core, dpid: 2}\n"
                                     "links:\n  - {a: x, b: y, delay_ms: 1}\n")
    (tmp_path / "b.yaml").write_text("name: b\ndefaults: {bandwidth_mbps: 10, region: KR}\nsites:\n"
                                     "  x: {kind: cloud, dpid: 3}\n  z: {kind: core, dpid: 4}\n"
                                     "links:\n  - {a: x, b: z, delay_ms: 1}\n")
    return tmp_path


def test_a_site_name_in_two_domains_cannot_be_emulated(tmp_path):
    base = _two_domains_sharing_a_site(tmp_path)
    fed = parse_federation("domains:\n  a: {topology: a.yaml}\n  b: {topology: b.yaml}\nborders:\n"
                           "  - {a: a/y, b: b/z, bandwidth_mbps: 5, delay_ms: 2}\n", "fed.yaml", base)
    for build in (make_federation_plan, merged_topology):
        with pytest.raises(ValueError, match="site 'x' is in domain 'a' and in domain 'b'"):
            build(fed)


# -- controllers, inventory and the CLI (pure: nothing is built) --------------------------------


def _args(*argv: str):
    return build_parser().parse_args(["wan", "up", *argv])


@pytest.mark.parametrize("controllers, message", [
    (["east=127.0.0.1:6653"], "--controller: no controller for domains west, korea of japan-korea"),
    (["east=127.0.0.1:6653", "west=127.0.0.1:6654", "mars=127.0.0.1:6655"],
     "unknown domain mars in japan-korea \\(domains: east, west, korea\\)"),
    (["127.0.0.1:6653"], "127.0.0.1:6653: japan-korea is a federation: give each domain's controller as "
                         "DOMAIN=HOST:PORT"),
])
def test_wan_up_refuses_controllers_that_do_not_fit_the_federation(controllers, message):
    args = _args(str(FED), *(x for c in controllers for x in ("--controller", c)))
    with pytest.raises(TopologyError, match=message):
        make_wan(args, False, args.controller)


def test_wan_up_controller_forms():
    with pytest.raises(TopologyError, match="two-clouds is a topology, not a federation"):
        args = _args("two-clouds", "--controller", "east=127.0.0.1:6653")
        make_wan(args, False, args.controller)
    args = _args("two-clouds", "--controller", "127.0.0.1:6653")
    assert make_wan(args, False, args.controller).controllers == [("127.0.0.1", 6653)]
    with pytest.raises(SystemExit):
        _args("japan-korea", "--controller", "=127.0.0.1:6653")
    args = _args("japan-korea", "--prefix", "f", *(x for i, d in enumerate(("korea", "east", "west", "east"))
                                                   for x in ("--controller", f"{d}=127.0.0.1:{7000 + i}")))
    wan = make_wan(args, False, args.controller)          # by name: topologies/federations/japan-korea.yaml
    assert wan.domain_controllers == {"east": [("127.0.0.1", 7001), ("127.0.0.1", 7003)],
                                      "west": [("127.0.0.1", 7002)], "korea": [("127.0.0.1", 7000)]}
    assert wan.bfd and wan.plan.prefix == "f"
    names = controllers_by_switch(wan.plan, wan.domain_controllers)
    assert names["fs1"] == ("c0", "c1") and names["fs7"] == ("c2",) and names["fs17"] == ("c3",)


def test_the_inventory_marks_domains_and_borders_and_faults_name_border_sites(fed, tmp_path):
    from topologies.emulation.wan import Wan

    wan = Wan.for_federation(fed, controllers={"east": ("127.0.0.1", 1), "west": ("127.0.0.1", 2),
                                               "korea": ("127.0.0.1", 3)}, prefix="f")
    inv = wan.inventory()
    assert inv["federation"] == "japan-korea"
    assert inv["domains"] == {"east": ["127.0.0.1:1"], "west": ["127.0.0.1:2"], "korea": ["127.0.0.1:3"]}
    switch = {s["site"]: s for s in inv["switches"]}
    assert (switch["seoul-ix"]["domain"], switch["seoul-ix"]["controllers"]) == ("korea", ["127.0.0.1:3"])
    assert {h["domain"] for h in inv["hosts"] if h["site"] == "osaka-dc"} == {"west"}
    borders = [l for l in inv["links"] if l["border"]]
    assert len(borders) == 4 and not any(l["border"] for l in inv["links"] if l["domain_a"] == l["domain_b"])
    for text_a, text_b in (("tokyo-ix", "osaka-ix"), ("west/osaka-ix", "east/tokyo-ix")):
        link = find_link(inv, text_a, text_b)
        assert (link["border_name"], link["label"]) == ("east/tokyo-ix—west/osaka-ix", "second trunk")
        assert link["interfaces"] == ["fs4-eth2", "fs10-eth1"]
    with pytest.raises(EmulationError, match="no site west/tokyo-ix in japan-korea \\(it is in domain east\\)"):
        find_link(inv, "west/tokyo-ix", "osaka-ix")
    assert site_name(inv, "korea/busan-dc") == "busan-dc"
    path = tmp_path / "inventory.json"
    path.write_text(json.dumps(inv))
    assert _host_arg(str(path), "east/tokyo-dc:1") == "tokyo-dc:1"
    assert _host_arg(str(path), "tokyo-dc:1") == "tokyo-dc:1"
    with pytest.raises(ValueError, match="no host 'korea/tokyo-dc:1'"):
        _host_arg(str(path), "korea/tokyo-dc:1")


# -- on Mininet (root) ----------------------------------------------------------------------------


@pytest.fixture
def fed_wan(fed, plan):
    """The federation, with nothing of a previous "f" run of it on the machine, and nothing
    of this one left after the test."""
    from topologies.emulation.wan import leftovers, sweep

    sweep(plan)
    yield fed
    left = leftovers(plan)
    sweep(plan)
    assert not left, f"left behind: {left}"


def ping_rtt(node_cmd, ip: str, count: int = 5) -> float | None:
    m = re.search(r"= ([\d.]+)/", node_cmd(f"ping -c {count} -i 0.2 -W 2 -q {ip}"))
    return float(m.group(1)) if m else None


def port_down(switch: str, port: int) -> bool:
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "show", switch], capture_output=True, text=True).stdout
    block = out.split(f" {port}({switch}-eth{port})")[1].split("\n ")[0:4]
    return "PORT_DOWN" in " ".join(block)


@pytest.mark.mininet
def test_static_federation_pings_across_borders_and_a_border_can_be_cut(fed_wan):
    from topologies.emulation.wan import RTT_TOLERANCE_MS, Wan

    g = merged_topology(fed_wan).graph()
    path = nx.dijkstra_path(g, "tokyo-dc", "busan-dc", weight="delay_ms")
    one_way = nx.path_weight(g, path, "delay_ms")
    assert "nagoya-ix" in path and "fukuoka-ix" in path   # two borders: east-west, west-korea
    with Wan.for_federation(fed_wan, prefix="f") as wan:
        assert not wan.bfd and wan.plan.switches[-1].name == "fs17"
        tokyo, busan = wan.host("fh1_1"), next(h for h in wan.plan.hosts if h.site == "busan-dc")
        assert ping_rtt(tokyo.cmd, busan.address, count=2) is not None       # ARP settled
        rtt = ping_rtt(tokyo.cmd, busan.address)
        assert rtt is not None and 2 * one_way <= rtt <= 2 * one_way + RTT_TOLERANCE_MS["user"] + 20, (rtt, one_way)
        said = wan.fault_link("east/tokyo-ix", "nagoya-ix", "cut")
        assert "cut" in said
        link = find_link(wan.inventory(), "tokyo-ix", "nagoya-ix")
        assert (link["switch_a"], link["port_a"], link["switch_b"], link["port_b"]) == ("fs4", 1, "fs11", 1)
        assert port_down("fs4", 1) and port_down("fs11", 1)
        assert ping_rtt(tokyo.cmd, busan.address, count=3) is None           # static routes cross that border
        wan.fault_link("nagoya-ix", "tokyo-ix", "restore")
        assert not port_down("fs4", 1) and not port_down("fs11", 1)
        assert ping_rtt(tokyo.cmd, busan.address, count=3) is not None


def _listener() -> socket.socket:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(64)
    return s


@pytest.mark.mininet
def test_each_switch_connects_only_to_its_own_domains_controller(fed_wan):
    """Three listening sockets stand in for the domains' controllers: each bridge is given
    its own domain's only, and BFD comes up on every link, borders included."""
    from topologies.emulation.wan import Wan

    listeners = {d: _listener() for d in ("east", "west", "korea")}
    port = {d: s.getsockname()[1] for d, s in listeners.items()}
    try:
        with Wan.for_federation(fed_wan, controllers={d: ("127.0.0.1", p) for d, p in port.items()},
                                prefix="f") as wan:
            assert wan.bfd
            for sw in wan.plan.switches:
                target = subprocess.run(["ovs-vsctl", "get-controller", sw.name], capture_output=True,
                                        text=True).stdout.split()
                assert target == [f"tcp:127.0.0.1:{port[wan.plan.domain_of[sw.name]]}"], sw
            border = next(l for l in wan.plan.links if wan.plan.border_of(l))
            status = subprocess.run(["ovs-vsctl", "get", "Interface", border.ends[1], "bfd_status"],
                                    capture_output=True, text=True).stdout
            assert "forwarding=true" in status.replace('"', ""), status
    finally:
        for s in listeners.values():
            s.close()


@pytest.mark.mininet
def test_wan_clean_removes_a_federated_wans_leftovers(fed_wan, plan):
    """A bridge and an interface of a killed federated run: `wan clean japan-korea` removes them."""
    from topologies.emulation.wan import leftovers

    subprocess.run(["ovs-vsctl", "add-br", "fs17", "--", "set", "Bridge", "fs17", "datapath_type=netdev"],
                   check=True, capture_output=True)
    subprocess.run(["ip", "link", "add", "fs4-eth1", "type", "veth", "peer", "name", "fs11-eth1"], check=True)
    assert {"bridge fs17", "interface fs4-eth1", "interface fs11-eth1"} <= set(leftovers(plan))
    r = subprocess.run([*SLICECTL, "wan", "clean", "japan-korea", "--prefix", "f"], capture_output=True, text=True)
    assert r.returncode == 0 and "cleaned japan-korea (" in r.stderr, r.stderr
    assert not leftovers(plan)


def test_wan_clean_without_a_name_looks_at_the_shipped_federations_too(monkeypatch, capsys):
    from slicectl.commands import wan
    from topologies.emulation import wan as emulation
    from topologies.emulation.fedplan import FederationPlan

    present = {"japan-korea": ["bridge fs17"]}
    monkeypatch.setattr(emulation, "running_owner", lambda p: "")
    monkeypatch.setattr(emulation, "leftovers", lambda p: list(present.get(p.topology.name, []))
                        if isinstance(p, FederationPlan) else [])
    monkeypatch.setattr(emulation, "sweep", lambda p: present.pop(p.topology.name, None))
    assert wan.cmd_wan_clean(build_parser().parse_args(["wan", "clean", "--prefix", "f"])) == 0
    assert "cleaned japan-korea (1 item)" in capsys.readouterr().err
