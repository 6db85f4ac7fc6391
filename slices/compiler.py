"""Compile placed slices into per-switch rules; diff plans into ordered changes.

Pipeline per switch (fail-secure: anything not matched is dropped):

* table 0 (classify): a frame from an endpoint port (with its VLAN, or untagged) is
  metered to the slice's reservation and marked with the slice id in ``metadata`` - ARP
  only from the endpoint's own address (ARP from any other goes to the controller, which
  reports the misconfigured host), and DHCP requests of an endpoint without a given
  address go to the controller, which answers them (controller.dhcp); a
  frame from a link port carrying one of the slice's per-link tags is untagged and marked
  likewise (with :data:`BACKUP_BIT` for tags of the backup tree). Nothing else enters.
* table 1 (forward), per slice: IPv4 to an endpoint address and ARP for it go straight
  toward that endpoint (known unicast is never flooded; ARP needs no flood either);
  Ethernet broadcast is flooded along the slice's tree only, and so is an endpoint's
  gratuitous ARP (an announcement of its own address, e.g. after it moved to its
  standby). Frames leave links tagged with that link's slice tag and leave endpoints
  untagged (or with the endpoint's VLAN).

A slice with endpoints at two sites or more also carries the controller's delay probes
(:mod:`slices.rules`, controller.sla): at each endpoint switch, one rule lets the
controller's probes in, one per endpoint port drops a host's imitation, and one per
endpoint address and tree hands a probe that arrived to the controller.

Rules per switch grow with the endpoints of the slices crossing it (eight per endpoint
at most, plus one broadcast rule per tree port), never with endpoint pairs; where a tree merely
passes through a switch (two tree links, no endpoint) the switch swaps the tag of one
link for the other's in table 0: two rules, whatever the slice's size. Protected slices get
fast-failover groups wherever a switch has a backup next hop: the group sends on the
primary tree while its port is live, else onto the backup tree, where the frame stays
(backup-marked) until it leaves, so primary and backup never loop into each other.

On a topology with ``transport: mpls`` frames cross links with an MPLS label (ethertype
0x8847) in place of the VLAN tag, one label per link tag and payload
(:mod:`slices.transport`): a link's ingress matches the label and pops it naming the
payload, egress pushes one, a pass-through swaps it. Rules and groups that push a label
without their payload in their match (broadcast floods onto links, failover groups) exist
once per payload, IPv4 and ARP: an MPLS slice carries IPv4 and ARP only. Endpoints keep their VLANs either way.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from slices.record import PLACED, Placement
from slices.placement import Tree
from slices.rules import (BACKUP_BIT, OFPP_CONTROLLER, OFPP_IN_PORT, OFPVID_NONE, OFPVID_PRESENT,
                          PROBE_BACK, PROBE_ETH_TYPE, PROBE_OUT, TABLE_CLASSIFY, TABLE_FORWARD,
                          COOKIE_APP, PRIO_ANNOUNCE, PRIO_BROADCAST, PRIO_INGRESS, PRIO_LINK, PRIO_MISS,
                          PRIO_PROBE, PRIO_SLA_CATCH, PRIO_SLA_GUARD, PRIO_SLA_INJECT,
                          PRIO_ARP_OTHER, PRIO_ARP_OWN, PRIO_DHCP, PRIO_UNICAST, Entry, Group, Meter, Rule,
                          group_id, meter_id, probe_mac, sla_mac, slice_cookie)
from slices.spec import Endpoint
from slices.transport import Target, actions as _actions, emit, item as _item, link_in, payloads, swap
from topologies.ports import PortMap

if TYPE_CHECKING:
    from slices.engine import SliceEngine
    from topologies.model import Topology

ETH_IPV4, ETH_ARP = 0x0800, 0x0806
BROADCAST = "ff:ff:ff:ff:ff:ff"
METER_BURST_SECONDS = 0.1   # TCP through a policer needs room for a window's burst
BASE_OWNER = "(base)"

Plan = dict[str, tuple[Entry, ...]]   # owner (slice name or BASE_OWNER) -> its entries


def base_entries(topology: "Topology", ports: PortMap) -> tuple[Entry, ...]:
    """What every switch holds before any slice exists: table-miss drop in both tables
    (fail-secure), and on each link port the two probe rules of :mod:`slices.rules`
    (return a probe from the far end, hand a returned one to the controller)."""
    out: list[Entry] = [Rule(s.name, t, PRIO_MISS, (), (), COOKIE_APP)
                        for s in topology.sites for t in (TABLE_CLASSIFY, TABLE_FORWARD)]
    index = {s.name: i for i, s in enumerate(topology.sites)}
    for l in topology.links:
        for site, other in ((l.a, l.b), (l.b, l.a)):
            port = ports.toward(site, other)
            probe = (("eth_type", PROBE_ETH_TYPE), ("in_port", port))
            out.append(Rule(site, TABLE_CLASSIFY, PRIO_PROBE, (("eth_dst", PROBE_OUT),) + probe,
                            (("set_eth_dst", PROBE_BACK), ("set_eth_src", probe_mac(index[site], port)),
                             ("output", OFPP_IN_PORT)), COOKIE_APP))
            out.append(Rule(site, TABLE_CLASSIFY, PRIO_PROBE, (("eth_dst", PROBE_BACK),) + probe,
                            (("output", OFPP_CONTROLLER),), COOKIE_APP))
    return tuple(sorted(out, key=_order))


def _toward_root(adj: dict[str, tuple[str, ...]], root: str) -> dict[str, str]:
    """Each site of the tree (``adj``: its adjacency) but ``root`` -> its neighbour one
    step closer to ``root``."""
    up, todo, seen = {}, [root], {root}
    while todo:
        x = todo.pop()
        for y in adj.get(x, ()):
            if y not in seen:
                seen.add(y)
                up[y] = x
                todo.append(y)
    return up


def _next_hops(up: dict[str, str], dest: str) -> dict[str, str]:
    """For every site of the tree but ``dest``, the neighbour one step closer to ``dest``:
    toward the tree's root (``up``: :func:`_toward_root`), except on the way from the
    root down to ``dest``. One tree search per tree, not one per endpoint."""
    hop = dict(up)
    x = dest
    while x in up:
        hop[up[x]] = x
        x = up[x]
    hop.pop(dest, None)
    return hop


def _routes(tree: Tree, eps: list[Endpoint]) -> tuple[dict[str, tuple[str, ...]], dict[str, dict[str, str]]]:
    """The tree's adjacency, and for each endpoint's site the next hop toward it from
    every other site of the tree."""
    adj = tree.adjacency()
    up = _toward_root(adj, tree.root)
    return adj, {e.site: _next_hops(up, e.site) for e in eps}


def _pass_through(adj: dict[str, tuple[str, ...]], other_sites: frozenset, site: str,
                  endpoint_sites) -> tuple[str, str] | None:
    """The two neighbours of ``site`` if the tree (``adj``) only passes through it: no
    endpoint there, exactly two tree links, and not on the slice's other tree (where a
    failover group may be needed). Such a site just swaps tags: two rules, whatever the
    slice's size."""
    if site in endpoint_sites or site in other_sites:
        return None
    nbs = adj[site]
    return (nbs[0], nbs[1]) if len(nbs) == 2 else None


@dataclass(frozen=True)
class _Compiling:
    """One placed slice as its entries see it: endpoints where they are now."""

    s: Placement
    ports: PortMap
    cookie: int
    address: dict[Endpoint, str]               # endpoints where they are now (some at standbys)
    eps: list[Endpoint]
    at_site: dict[str, list[Endpoint]]
    probe_src: tuple
    mpls: bool                                 # links carry MPLS labels, not VLAN tags


def compile_slice(s: Placement, ports: PortMap) -> tuple[Entry, ...]:
    """Every entry of one placed slice, on every switch it touches, in :func:`_order`."""
    if s.status != PLACED or s.tree is None or s.dark:
        return ()
    address = dict(s.live_addresses)
    eps = sorted(address, key=Endpoint.sort_key)
    at_site: dict[str, list[Endpoint]] = defaultdict(list)
    for e in eps:
        at_site[e.site].append(e)
    c = _Compiling(s, ports, slice_cookie(s.number), address, eps, at_site, _item("eth_src", sla_mac(s.number)),
                   ports.topology.transport == "mpls")
    out = _edge_entries(c)
    trees = [(s.tree, s.tag, s.number, s.backup)]
    if s.backup:
        trees.append((s.backup, s.backup_tag, s.number | BACKUP_BIT, s.tree))
    # each tree's adjacency and next hops toward every endpoint, worked out once: the
    # primary's rules need the backup's next hops too (failover groups)
    routes = {id(t): _routes(t, eps) for t, *_ in trees}
    for label, (tree, tags, md, other) in zip(("primary", "backup"), trees):
        backup_hops = routes[id(s.backup)][1] if label == "primary" and s.backup else {}
        out += _tree_entries(c, tree, tags, md, other, routes[id(tree)], backup_hops)
    return tuple(sorted(out, key=_order))


def _edge_entries(c: _Compiling) -> list[Entry]:
    """At every site with endpoints: the meter, and what enters the slice there."""
    s, cookie, out = c.s, c.cookie, []
    rate = int(round(s.spec.bandwidth_mbps * 1000))
    go = (("write_metadata", s.number), ("goto", TABLE_FORWARD))
    for site in sorted(c.at_site):
        out.append(Meter(site, meter_id(s.number), rate, max(1000, int(rate * METER_BURST_SECONDS)), cookie))
        for e in c.at_site[site]:
            vid = (e.vlan | OFPVID_PRESENT) if e.vlan else OFPVID_NONE
            ingress = (("pop_vlan",),) * bool(e.vlan) + (("meter", meter_id(s.number)),) + go
            at = (("in_port", e.port), _vid(vid))
            out.append(Rule(site, TABLE_CLASSIFY, PRIO_INGRESS, at, ingress, cookie))
            # its host's address: ARP from it enters; ARP from any other goes to the
            # controller (a host configured with a wrong address is reported); without a
            # given address, its DHCP requests go to the controller, which answers
            for address in (c.address[e], *e.via):   # a border port's: every address beyond it
                out.append(Rule(site, TABLE_CLASSIFY, PRIO_ARP_OWN, at + (_ARP, _item("arp_spa", address)),
                                ingress, cookie))
            out.append(Rule(site, TABLE_CLASSIFY, PRIO_ARP_OTHER, at + (_ARP,), _TO_CONTROLLER, cookie))
            if not e.ip:
                out.append(Rule(site, TABLE_CLASSIFY, PRIO_DHCP, at + (_IPV4, ("ip_proto", 17), ("udp_dst", 67)),
                                _TO_CONTROLLER, cookie))
        # delay probes (controller.sla): the controller's enter the slice here; a host's are dropped
        if len(c.at_site) > 1:
            out.append(Rule(site, TABLE_CLASSIFY, PRIO_SLA_INJECT, (c.probe_src, ("in_port", OFPP_CONTROLLER)), go,
                            cookie))
            for port in sorted({e.port for e in c.at_site[site]}):
                out.append(Rule(site, TABLE_CLASSIFY, PRIO_SLA_GUARD, (c.probe_src, ("in_port", port)), (), cookie))
    return out


@dataclass(frozen=True)
class _OnTree:
    """One of the slice's trees as its forwarding entries see it."""

    md_match: tuple                            # the slice's metadata on this tree
    port_tag: dict                             # (site, neighbour) -> (port toward it, tag of that link)
    hops: dict                                 # endpoint site -> site -> next hop toward it
    backup_hops: dict                          # the same on the backup (primary tree only)
    to_ip: dict                                # endpoint -> matches of what is addressed to it
    to_arp: dict


def _tree_entries(c: _Compiling, tree: Tree, tags: dict, md: int, other: Tree | None, route: tuple,
                  backup_hops: dict) -> list[Entry]:
    """The entries of one of the slice's trees (metadata ``md``; ``other``: the other
    tree, if protected), at every site it crosses."""
    cookie, out = c.cookie, []
    md_match = _item("metadata", md)
    into = (("write_metadata", md), ("goto", TABLE_FORWARD))
    port_tag = {}  # (site, neighbour) -> (port toward it, tag of that link)
    for a, b in tree.edges:
        tag = tags[frozenset((a, b))]
        port_tag[(a, b)] = (c.ports.toward(a, b), tag)
        port_tag[(b, a)] = (c.ports.toward(b, a), tag)
    adj, hops = route
    other_sites = other.sites if other is not None else frozenset()
    # the same at every site of the tree: one copy each
    on = _OnTree(md_match, port_tag, hops, backup_hops,
                 to_ip={e: tuple((md_match, _IPV4, _item("ipv4_dst", a)) for a in (c.address[e], *e.via))
                        for e in c.eps},
                 to_arp={e: tuple((md_match, _ARP, _item("arp_tpa", a)) for a in (c.address[e], *e.via))
                         for e in c.eps})
    for site in sorted(adj or (tree.root,)):   # (a tree of one site has no links)
        through = _pass_through(adj, other_sites, site, c.at_site)
        if through:
            for x, y in (through, through[::-1]):
                (pin, tin), (pout, tout) = port_tag[(site, x)], port_tag[(site, y)]
                out += [Rule(site, TABLE_CLASSIFY, PRIO_LINK, match, acts, cookie)
                        for match, acts in swap(c.mpls, pin, tin, pout, tout)]
            continue
        for nb in adj.get(site, ()):
            out += [Rule(site, TABLE_CLASSIFY, PRIO_LINK, match, _actions(pop + into), cookie)
                    for match, pop in link_in(c.mpls, *port_tag[(site, nb)])]
        members = [_link(port_tag[(site, nb)]) for nb in adj.get(site, ())]
        members += [(e.port, e.vlan, None) for e in c.at_site.get(site, ())]
        out += _forward_entries(c, on, site, members)
        for in_port, *_ in members:
            others = tuple(m for m in members if m[0] != in_port)
            # split per payload only where a label is pushed (a link among the targets)
            for eth in payloads(c.mpls and any(m[2] is not None for m in others)) if others else ():
                out.append(Rule(site, TABLE_FORWARD, PRIO_BROADCAST,
                                (md_match, _item("in_port", in_port), _BCAST) + _payload(eth),
                                emit(others, eth), cookie))
    return out


def _link(port_tag: tuple[int, int]) -> Target:
    """The output target of a link: (port, no endpoint VLAN, the slice's tag there)."""
    return (port_tag[0], None, port_tag[1])


def _payload(eth: int | None) -> tuple:
    """The match item naming the payload (none where it is left open)."""
    return () if eth is None else (_item("eth_type", eth),)


def _forward_entries(c: _Compiling, on: _OnTree, site: str, members: list) -> list[Entry]:
    """At ``site``, on one tree: toward every endpoint (by a failover group where the
    backup goes another way), its delay probes, and its announcements."""
    s, cookie, out = c.s, c.cookie, []
    md_match, port_tag, hops = on.md_match, on.port_tag, on.hops
    for index, e in enumerate(c.eps):
        # what goes toward e, per payload (with VLANs one list serves both)
        to = {}
        for eth in payloads(c.mpls):
            if e.site == site:
                to[eth] = emit(((e.port, e.vlan, None),), eth)
                continue
            nb = hops[e.site][site]
            link = _link(port_tag[(site, nb)])
            to[eth] = emit((link,), eth)
            bnb = on.backup_hops.get(e.site, {}).get(site)
            if bnb is not None and bnb != nb:
                alt = (c.ports.toward(site, bnb), None, s.backup_tag[frozenset((site, bnb))])
                gid = group_id(s.number, index, eth)
                out.append(Group(site, gid, ((link[0], to[eth]), (alt[0], emit((alt,), eth))), cookie))
                to[eth] = (("group", gid),)
        for match in on.to_ip[e]:
            out.append(Rule(site, TABLE_FORWARD, PRIO_UNICAST, match, to.get(ETH_IPV4, to.get(None)), cookie))
        for match in on.to_arp[e]:
            out.append(Rule(site, TABLE_FORWARD, PRIO_UNICAST, match, to.get(ETH_ARP, to.get(None)), cookie))
        if e.site == site and len(c.at_site) > 1:   # a delay probe for it ends here
            out.append(Rule(site, TABLE_FORWARD, PRIO_SLA_CATCH,
                            (md_match, _IPV4, c.probe_src, _item("ipv4_dst", c.address[e])),
                            _TO_CONTROLLER, cookie))
        # the endpoint announcing itself (gratuitous ARP: for its own address, to
        # everyone), e.g. restarted at its standby: flooded away from it, not back
        toward = e.port if e.site == site else port_tag[(site, hops[e.site][site])][0]
        flood = tuple(m for m in members if m[0] != toward)
        if flood:
            out.append(Rule(site, TABLE_FORWARD, PRIO_ANNOUNCE,
                            (md_match, _item("in_port", toward), _ARP, _item("arp_tpa", c.address[e]), _BCAST),
                            emit(flood, ETH_ARP if c.mpls else None), cookie))
    return out


_IPV4, _ARP, _BCAST = ("eth_type", ETH_IPV4), ("eth_type", ETH_ARP), ("eth_dst", BROADCAST)
_TO_CONTROLLER = (("output", OFPP_CONTROLLER),)


def _vid(v: int) -> tuple:
    return _item("vlan_vid", v)


_ADD_ORDER = {"meter": 0, "group": 1, "flow": 2}
_DELETE_ORDER = {"flow": 0, "group": 1, "meter": 2}


def _order(entry: Entry, kinds: dict = _ADD_ORDER) -> tuple:
    """Per switch: meters, groups, then flows (each by its key, unique on a switch)."""
    key = entry.key
    return (entry.switch, kinds[key[0]], key[2:])


def compile_plan(engine: "SliceEngine", ports: PortMap | None = None) -> Plan:
    ports = ports or PortMap(engine.topology)
    plan: Plan = {BASE_OWNER: base_entries(engine.topology, ports)}
    for record in engine.records():
        entries = compile_slice(record, ports)
        if entries:
            plan[record.name] = entries
    return plan


def recompile(plan: Plan, engine: "SliceEngine", names, ports: PortMap | None = None) -> Plan:
    """``plan`` with only the named slices compiled again (gone ones dropped)."""
    ports = ports or PortMap(engine.topology)
    new = dict(plan)
    for name in names:
        entries = compile_slice(engine.record(name), ports) if name in engine.slices else ()
        if entries:
            new[name] = entries
        else:
            new.pop(name, None)
    return new


@dataclass(frozen=True)
class Changes:
    """What differs: deletes (flows, then the groups and meters they used), modifies, adds
    (meters and groups before the flows that use them). :func:`change_phases` says in
    which order they go to the switches."""

    deletes: tuple[Entry, ...]
    modifies: tuple[Entry, ...]
    adds: tuple[Entry, ...]
    # seconds to wait after the switch-over before deleting: frames already on an old path
    # when ingress moved are still in flight for up to its one-way delay
    drain_s: float = 0.0

    @property
    def switches(self) -> tuple[str, ...]:
        return tuple(sorted({e.switch for e in self.deletes + self.modifies + self.adds}))

    def __len__(self) -> int:
        return len(self.deletes) + len(self.modifies) + len(self.adds)


def diff(installed: Plan, wanted: Plan) -> Changes:
    """Only what differs, for the owners whose entries changed; deterministic order."""
    old, new = {}, {}
    for owner in set(installed) | set(wanted):
        a, b = installed.get(owner, ()), wanted.get(owner, ())
        if a is b or a == b:
            continue
        old.update((e.key, e) for e in a)
        new.update((e.key, e) for e in b)
    deletes = [e for k, e in old.items() if k not in new]
    modifies = [e for k, e in new.items() if k in old and old[k] != e]
    adds = [e for k, e in new.items() if k not in old]
    return Changes(tuple(sorted(deletes, key=lambda e: _order(e, _DELETE_ORDER))),
                   tuple(sorted(modifies, key=_order)),
                   tuple(sorted(adds, key=_order)))


Phase = list[tuple[str, Entry]]   # (op, entry): op is "delete", "modify" or "add"


def change_phases(changes: Changes) -> list[dict[str, Phase]]:
    """The changes in the order they go out, make-before-break: meters and groups added;
    flows added; everything modified (where traffic switches over to the new state);
    flows deleted; meters and groups deleted. Each phase maps switches to their share;
    the sender closes every switch's share with a barrier and waits for all of them
    before the next phase. So a moved tree is complete, on every switch, before any
    ingress points at it, and the old one is removed only once nothing uses it; and,
    since OpenFlow 1.3 lets a switch reorder messages between barriers, no flow is
    installed before its meter or group, nor a meter or group removed while a flow still
    uses it. Empty phases are left out."""
    return [p for p in _phases(changes) if p]


def _phases(changes: Changes) -> list[dict[str, Phase]]:
    phases: list[dict[str, Phase]] = [{} for _ in range(5)]
    for op, entries in (("add", changes.adds), ("modify", changes.modifies), ("delete", changes.deletes)):
        for e in entries:
            flow = e.key[0] == "flow"
            index = {"add": 1 if flow else 0, "modify": 2, "delete": 3 if flow else 4}[op]
            phases[index].setdefault(e.switch, []).append((op, e))
    return phases


def change_rounds(changes: Changes) -> list[dict[str, list[Phase]]]:
    """The phases of :func:`change_phases` in rounds: the new entries (meters and groups,
    then flows), the modifications, the removals (flows, then meters and groups). Within
    a round the phases depend on each other on one switch only (a flow on its meter or
    group), so the sender sends a switch its phases back to back, each closed by a
    barrier (a switch finishes everything before a barrier before it starts on anything
    after it), and waits once, for every switch's last barrier, before the next round:
    the order between switches - the new tree complete before traffic moves to it, the
    old one removed only once traffic left it - is kept, with one round trip less per
    round. Each round maps switches to their non-empty phases, in order."""
    phases = _phases(changes)
    rounds = []
    for group in ((0, 1), (2,), (3, 4)):
        sites = sorted({x for i in group for x in phases[i]})
        if sites:
            rounds.append({x: [phases[i][x] for i in group if x in phases[i]] for x in sites})
    return rounds


def plan_problems(plan: Plan) -> list[str]:
    """Every entry key held by two owners, or twice by one, as sentences (empty: none).
    A key is one entry on a switch: two slices sharing one would overwrite each other."""
    owner: dict[tuple, str] = {}
    problems = []
    for name in sorted(plan):
        for e in plan[name]:
            if e.key in owner:
                problems.append(f"{e.key[0]} {e.key[1:]} belongs to {owner[e.key]} and {name}")
            else:
                owner[e.key] = name
    return problems


def render(plan: Plan) -> str:
    """The plan as ordered text, one entry a line: for golden files and reviews."""
    lines = []
    for owner in sorted(plan):
        lines.append(f"# {owner}")
        lines += [str(e) for e in plan[owner]]
    return "\n".join(lines) + "\n"
