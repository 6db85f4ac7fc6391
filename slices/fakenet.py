"""A simulated network of OpenFlow 1.3 switches that runs a rule plan, for tests.

Faucet's ``fakeoftable`` idea: instead of asserting on rules, ask the question the rules
exist to answer - *where does this frame, entering at site:port, come out?* - and assert
on that. The simulation covers exactly what the compiler emits: tables 0 and 1, highest
priority match first, VLAN push/pop/set, MPLS push/pop/set (one label: the payload's
fields are out of sight under it, and a pop names the ethertype the frame takes on),
metadata, goto, meters (counted, not enforced)
and fast-failover groups (first bucket whose watch port is up); as on a real switch,
output to the port a frame came in by is not done. A frame that matches
nothing is dropped, as on a fail-secure switch.

Links are wired by :class:`topologies.ports.PortMap`; any other port is an edge port and
a frame sent there is *delivered*. Links can be set down to exercise failover.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass, replace
from typing import Iterable

from slices.compiler import BROADCAST, ETH_ARP, ETH_IPV4, Plan
from slices.rules import (MPLS_ETH_TYPE, OFPP_CONTROLLER, OFPVID_NONE, OFPVID_PRESENT, TABLE_CLASSIFY, Group,
                          Meter, Rule)
from topologies.model import Topology
from topologies.ports import PortMap

MAX_HOPS = 256


class ForwardingLoop(RuntimeError):
    """A frame kept circulating: the rule plan has a loop."""


@dataclass(frozen=True)
class Frame:
    eth_dst: str = BROADCAST
    eth_type: int = ETH_ARP
    ip_dst: str | None = None      # IPv4 destination, or ARP target address
    vlan: int | None = None        # 802.1Q VID on the wire, None when untagged
    ip_src: str | None = None      # IPv4 source, or ARP sender address
    mpls: int | None = None        # MPLS label on the wire (over eth_type), None when none

    @classmethod
    def ipv4(cls, dst: str, *, vlan: int | None = None, eth_dst: str = "02:00:00:00:00:01",
             src: str | None = None) -> "Frame":
        return cls(eth_dst=eth_dst, eth_type=ETH_IPV4, ip_dst=dst, vlan=vlan, ip_src=src)

    @classmethod
    def arp_request(cls, target: str, *, vlan: int | None = None, sender: str | None = None) -> "Frame":
        return cls(eth_dst=BROADCAST, eth_type=ETH_ARP, ip_dst=target, vlan=vlan, ip_src=sender)

    def fields(self, in_port: int, metadata: int) -> dict:
        f = {"in_port": in_port, "metadata": metadata, "eth_dst": self.eth_dst,
             "eth_type": self.eth_type,
             "vlan_vid": OFPVID_NONE if self.vlan is None else self.vlan | OFPVID_PRESENT}
        if self.mpls is not None:
            f.update(eth_type=MPLS_ETH_TYPE, mpls_label=self.mpls)
            return f
        if self.ip_dst is not None:
            f["ipv4_dst" if self.eth_type == ETH_IPV4 else "arp_tpa"] = self.ip_dst
        if self.ip_src is not None:
            f["ipv4_src" if self.eth_type == ETH_IPV4 else "arp_spa"] = self.ip_src
        return f


@dataclass(frozen=True, order=True)
class Delivery:
    site: str
    port: int
    vlan: int | None
    mpls: int | None = None   # a label left on a frame delivered to an edge port


class FakeNetwork:
    def __init__(self, topology: Topology, plan: Plan, ports: PortMap | None = None):
        self.ports = ports or PortMap(topology)
        self.links: dict[tuple[str, int], tuple[str, int]] = {}
        for l in topology.links:
            pa, pb = self.ports.toward(l.a, l.b), self.ports.toward(l.b, l.a)
            self.links[(l.a, pa)] = (l.b, pb)
            self.links[(l.b, pb)] = (l.a, pa)
        self.down: set[tuple[str, int]] = set()
        self.flows: dict[tuple[str, int], list[Rule]] = defaultdict(list)
        self.groups: dict[tuple[str, int], Group] = {}
        self.meters: dict[tuple[str, int], Meter] = {}
        self.meter_hits: dict[tuple[str, int], int] = defaultdict(int)
        self.load(plan)

    def load(self, plan: Plan) -> None:
        """Replace every switch's tables with ``plan``; duplicate keys are a plan error."""
        self.flows.clear()
        self.groups.clear()
        self.meters.clear()
        seen = set()
        for entries in plan.values():
            for e in entries:
                if e.key in seen:
                    raise ValueError(f"two entries with the same key: {e}")
                seen.add(e.key)
                if isinstance(e, Rule):
                    self.flows[(e.switch, e.table)].append(e)
                elif isinstance(e, Group):
                    self.groups[(e.switch, e.group_id)] = e
                else:
                    self.meters[(e.switch, e.meter_id)] = e
        for rules in self.flows.values():
            rules.sort(key=lambda r: -r.priority)

    def set_link(self, a: str, b: str, up: bool) -> None:
        """Take the link between sites ``a`` and ``b`` down (both ends) or up again."""
        ends = [(a, self.ports.toward(a, b)), (b, self.ports.toward(b, a))]
        (self.down.difference_update if up else self.down.update)(ends)

    def send(self, site: str, port: int, frame: Frame) -> list[Delivery]:
        """Inject ``frame`` at ``site``:``port``; return every edge port it leaves by."""
        out: list[Delivery] = []
        todo = deque([(site, port, frame)])
        hops = 0
        while todo:
            hops += 1
            if hops > MAX_HOPS:
                raise ForwardingLoop(f"frame {frame} entering {site}:{port} loops")
            sw, in_port, f = todo.popleft()
            for out_port, sent in self._switch(sw, in_port, f):
                if out_port == in_port:
                    continue  # OpenFlow: output to the ingress port needs OFPP_IN_PORT
                peer = self.links.get((sw, out_port))
                if peer is None:
                    out.append(Delivery(sw, out_port, sent.vlan, sent.mpls))
                elif (sw, out_port) not in self.down:
                    todo.append((peer[0], peer[1], sent))
        return sorted(out)

    def _switch(self, sw: str, in_port: int, frame: Frame) -> Iterable[tuple[int, Frame]]:
        table, metadata = TABLE_CLASSIFY, 0
        while table is not None:
            rule = self._lookup(sw, table, frame.fields(in_port, metadata))
            if rule is None:
                return  # table miss: drop
            table = None
            for act in rule.actions:
                kind = act[0]
                if kind in _TAGGING:
                    frame = _tagged(frame, act)
                elif kind == "meter":
                    if (sw, act[1]) not in self.meters:
                        raise ValueError(f"{rule} uses missing meter {act[1]}")
                    self.meter_hits[(sw, act[1])] += 1
                elif kind == "write_metadata":
                    metadata = act[1]
                elif kind == "goto":
                    table = act[1]
                elif kind == "output":
                    yield act[1], frame
                elif kind == "group":
                    yield from self._group(sw, act[1], frame)
                else:
                    raise ValueError(f"unknown action {act} in {rule}")

    def _group(self, sw: str, gid: int, frame: Frame) -> Iterable[tuple[int, Frame]]:
        group = self.groups.get((sw, gid))
        if group is None:
            raise ValueError(f"switch {sw} has no group {gid}")
        for watch, actions in group.buckets:
            if (sw, watch) in self.down:
                continue
            f = frame
            for act in actions:
                if act[0] in _TAGGING:
                    f = _tagged(f, act)
                elif act[0] == "output":
                    yield act[1], f
            return  # fast failover: first live bucket only

    def _lookup(self, sw: str, table: int, fields: dict) -> Rule | None:
        found = None
        for rule in self.flows.get((sw, table), ()):
            if found is not None and rule.priority < found.priority:
                break
            if all(fields.get(k) == v for k, v in rule.match):
                if found is not None:  # OpenFlow leaves the winner undefined
                    raise ValueError(f"ambiguous: {found} and {rule} both match")
                found = rule
        return found

    def rules_on(self, switch: str) -> int:
        return sum(len(r) for (sw, _t), r in self.flows.items() if sw == switch)


_TAGGING = {"push_vlan", "pop_vlan", "set_vlan", "push_mpls", "pop_mpls", "set_mpls_label"}


def _tagged(frame: Frame, act: tuple) -> Frame:
    """``frame`` after a VLAN or MPLS action. A VLAN action on a labelled frame, a second
    label or a pop without one would be a compiler bug the simulation does not model."""
    kind = act[0]
    if kind.endswith("_vlan") and frame.mpls is not None:
        raise ValueError(f"{act} on a frame with MPLS label {frame.mpls}")
    if kind == "push_mpls" and (frame.mpls is not None or frame.vlan is not None):
        raise ValueError(f"{act} on a frame with a label or VLAN already: {frame}")
    if kind in ("pop_mpls", "set_mpls_label") and frame.mpls is None:
        raise ValueError(f"{act} on a frame without an MPLS label")
    if kind == "pop_vlan":
        return replace(frame, vlan=None)
    if kind == "push_vlan":
        return replace(frame, vlan=0)
    if kind == "set_vlan":
        return replace(frame, vlan=act[1])
    if kind == "push_mpls":
        return replace(frame, mpls=0)
    if kind == "set_mpls_label":
        return replace(frame, mpls=act[1])
    if act[1] != frame.eth_type:   # pop_mpls naming another payload: its fields read as garbage
        return replace(frame, mpls=None, eth_type=act[1], ip_dst=None, ip_src=None)
    return replace(frame, mpls=None)


def verify(engine, net: FakeNetwork) -> list[str]:
    """What is wrong with the forwarding of every placed slice, as sentences (empty: all
    good). Checks, from every endpoint: unicast IPv4 and ARP to every other endpoint of the
    slice arrive exactly once, at that endpoint, with its VLAN (untagged if none), through
    the slice's meter at the reserved rate;
    broadcast reaches every other endpoint once; nothing ever leaves by a port that is not
    an endpoint of the same slice; frames from ports outside every slice go nowhere."""
    from slices.record import PLACED

    problems: list[str] = []
    records = engine.records()
    placed = [s for s in records if s.status == PLACED]
    all_addresses = sorted({a for s in records for _e, a in s.addresses})
    for s in placed:
        mine = {Delivery(e.site, e.port, e.vlan) for e in s.spec.endpoints}
        rate = int(round(s.spec.bandwidth_mbps * 1000))
        for src in s.spec.endpoints:
            here = Delivery(src.site, src.port, src.vlan)
            meter = net.meters.get((src.site, s.number))
            if meter is None or meter.rate_kbps != rate:
                problems.append(f"{s.name}: meter at {src.site} is {meter}, want {rate} kbit/s")
            for dst in s.spec.endpoints:
                if dst == src:
                    continue
                want = [Delivery(dst.site, dst.port, dst.vlan)]
                for frame in (Frame.ipv4(s.address[dst], vlan=src.vlan, src=s.address[src]),
                              Frame.arp_request(s.address[dst], vlan=src.vlan, sender=s.address[src])):
                    hits = net.meter_hits[(src.site, s.number)]
                    got = net.send(src.site, src.port, frame)
                    if got != want:
                        problems.append(f"{s.name}: {frame} from {src} reached {got}, want {want}")
                    if net.meter_hits[(src.site, s.number)] != hits + 1:
                        problems.append(f"{s.name}: {frame} from {src} bypassed the slice's meter")
            got = net.send(src.site, src.port, Frame(vlan=src.vlan, ip_dst="0.0.0.0", ip_src=s.address[src]))
            if sorted(got) != sorted(mine - {here}):
                problems.append(f"{s.name}: broadcast from {src} reached {got}")
            # an ARP from an address that is not the endpoint's: to the controller, nowhere else
            got = net.send(src.site, src.port, Frame.arp_request("192.0.2.2", vlan=src.vlan, sender="192.0.2.1"))
            if got != [Delivery(src.site, OFPP_CONTROLLER, src.vlan)]:
                problems.append(f"{s.name}: ARP from a wrong address at {src} reached {got}")
            for addr in all_addresses:  # other slices' addresses (prefixes may overlap)
                got = net.send(src.site, src.port, Frame.ipv4(addr, vlan=src.vlan))
                if not set(got) <= mine - {here}:
                    problems.append(f"{s.name}: frame to {addr} from {src} leaked to {got}")
    used = {(e.site, e.port, e.vlan) for s in placed for e in s.spec.endpoints}
    for site in engine.topology.sites:
        for port in range(1, site.hosts + 1):
            for vlan in (None, 7):
                if (site.name, port, vlan) in used:
                    continue
                for frame in (Frame(vlan=vlan), *(Frame.ipv4(a, vlan=vlan) for a in all_addresses[:8])):
                    got = net.send(site.name, port, frame)
                    if got:
                        problems.append(f"a frame from {site.name}:{port} (vlan {vlan}), in no slice, "
                                        f"reached {got}")
    return problems
