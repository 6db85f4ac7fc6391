"""The emulation plan and its controller-less forwarding, walked hop by hop (no root)."""
from collections import deque

import pytest

from topologies import load
from topologies.emulation.links import relay_name
from topologies.emulation.plan import BROADCAST, make_plan, static_flows


def parse(flows: dict[str, list[str]]):
    """{switch: [(priority, match dict, [out ports])]} from ovs-ofctl text."""
    table = {}
    for sw, lines in flows.items():
        rules = []
        for line in lines:
            fields, actions = line.split(",actions=")
            match = dict(f.split("=") for f in fields.split(","))
            prio = int(match.pop("priority"))
            rules.append((prio, match, [int(a.split(":")[1]) for a in actions.split(",")]))
        table[sw] = sorted(rules, key=lambda r: -r[0])
    return table


def forward(table, sw, in_port, src, dst):
    for _prio, match, outs in table[sw]:
        if all({"in_port": str(in_port), "dl_src": src, "dl_dst": dst}.get(k) == v
               for k, v in match.items()):
            return outs
    return []


def deliver(plan, src_host, dst_mac):
    """Follow a frame from src_host; return {host name: copies received}, links used."""
    table = parse(static_flows(plan))
    wire = {}
    for l in plan.links:
        wire[(l.switch_a, l.port_a)] = (l.switch_b, l.port_b)
        wire[(l.switch_b, l.port_b)] = (l.switch_a, l.port_a)
    host_at = {(h.switch, h.port): h.name for h in plan.hosts}
    got, hops = {}, []
    todo = deque([(src_host.switch, src_host.port)])
    while todo:
        sw, port = todo.popleft()
        assert len(hops) < 10_000, "forwarding loop"
        for out in forward(table, sw, port, src_host.mac, dst_mac):
            if (sw, out) in host_at:
                got[host_at[(sw, out)]] = got.get(host_at[(sw, out)], 0) + 1
            else:
                hops.append((sw, out))
                todo.append(wire[(sw, out)])
    return got, hops


@pytest.fixture(scope="module")
def japan():
    return make_plan(load("japan-intercloud"), probes=True)


def test_layout_is_unique_and_fits_linux_names(japan):
    ports = [(h.switch, h.port) for h in japan.hosts]
    links = japan.links
    ports += [(l.switch_a, l.port_a) for l in links] + [(l.switch_b, l.port_b) for l in links]
    assert len(ports) == len(set(ports))
    assert len({h.ip for h in japan.hosts}) == len(japan.hosts)
    assert len({h.mac for h in japan.hosts}) == len(japan.hosts)
    names = [f"{sw}-eth{p}" for sw, p in ports]
    assert max(len(relay_name(n)) for n in names) <= 15
    tokyo = [h for h in japan.hosts if h.site == "tokyo-dc" and not h.probe]
    assert [(h.name, h.port, h.ip) for h in tokyo] == [("h1_1", 1, "10.0.1.1/8"), ("h1_2", 2, "10.0.1.2/8")]


def test_every_host_reaches_every_other_exactly_once(japan):
    for src in japan.hosts:
        for dst in japan.hosts:
            if src is dst:
                continue
            got, _ = deliver(japan, src, dst.mac)
            assert got == {dst.name: 1}, (src.name, dst.name, got)


def test_broadcast_reaches_every_other_host_once_without_loops(japan):
    src = japan.hosts[0]
    got, _ = deliver(japan, src, BROADCAST)
    assert got == {h.name: 1 for h in japan.hosts if h is not src}


def test_probes_are_pinned_to_the_link_between_them(japan):
    for l in japan.links:
        pa, pb = japan.probe_of(l.a), japan.probe_of(l.b)
        got, hops = deliver(japan, pa, pb.mac)
        assert got == {pb.name: 1} and hops == [(l.switch_a, l.port_a)]
        got, hops = deliver(japan, pb, pa.mac)
        assert got == {pa.name: 1} and hops == [(l.switch_b, l.port_b)]
