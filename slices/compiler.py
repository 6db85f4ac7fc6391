"""Compile placed slices into per-switch rules; diff plans into ordered changes.

Pipeline per switch (fail-secure: anything not matched is dropped):

* table 0 (classify): a frame from an endpoint port (with its VLAN, or untagged) is
  metered to the slice's reservation and marked with the slice id in ``metadata``; a
  frame from a link port carrying one of the slice's per-link tags is untagged and marked
  likewise (with :data:`BACKUP_BIT` for tags of the backup tree). Nothing else enters.
* table 1 (forward), per slice: IPv4 to an endpoint address and ARP for it go straight
  toward that endpoint (known unicast is never flooded; ARP needs no flood either);
  Ethernet broadcast is flooded along the slice's tree only. Frames leave links tagged
  with that link's slice tag and leave endpoints untagged (or with the endpoint's VLAN).

Rules per switch grow with the endpoints of the slices crossing it (two per endpoint,
plus one broadcast rule per tree port), never with endpoint pairs. Protected slices get
fast-failover groups wherever a switch has a backup next hop: the group sends on the
primary tree while its port is live, else onto the backup tree, where the frame stays
(backup-marked) until it leaves, so primary and backup never loop into each other.
"""
from __future__ import annotations

from collections import defaultdict, deque
from dataclasses import dataclass

from slices.engine import PLACED, Slice, SliceEngine
from slices.placement import Tree
from slices.rules import (BACKUP_BIT, OFPVID_NONE, OFPVID_PRESENT, TABLE_CLASSIFY, TABLE_FORWARD,
                          COOKIE_APP, Entry, Group, Meter, Rule, slice_cookie)
from slices.spec import Endpoint
from topologies.ports import PortMap

PRIO_INGRESS, PRIO_LINK, PRIO_UNICAST, PRIO_BROADCAST, PRIO_MISS = 300, 200, 200, 100, 0
ETH_IPV4, ETH_ARP = 0x0800, 0x0806
BROADCAST = "ff:ff:ff:ff:ff:ff"
METER_BURST_SECONDS = 0.1   # TCP through a policer needs room for a window's burst
BASE_OWNER = "(base)"

Plan = dict[str, tuple[Entry, ...]]   # owner (slice name or BASE_OWNER) -> its entries


def base_entries(switches) -> tuple[Entry, ...]:
    """Table-miss drop in both tables: fail-secure before any slice exists."""
    return tuple(Rule(sw, t, PRIO_MISS, (), (), COOKIE_APP) for sw in sorted(switches)
                 for t in (TABLE_CLASSIFY, TABLE_FORWARD))


def _next_hops(tree: Tree, dest: str) -> dict[str, str]:
    """For every site of the tree, the neighbour one step closer to ``dest``."""
    adj = defaultdict(list)
    for a, b in tree.edges:
        adj[a].append(b)
        adj[b].append(a)
    hop, todo = {}, deque([dest])
    seen = {dest}
    while todo:
        x = todo.popleft()
        for y in adj[x]:
            if y not in seen:
                seen.add(y)
                hop[y] = x
                todo.append(y)
    return hop


def _emit(targets: list[tuple[int, int | None]]) -> tuple:
    """Actions that output to each (port, vlan or None) in turn, tagging as needed."""
    actions, tagged = [], False
    for port, vlan in sorted(targets, key=lambda t: (t[1] is not None, t[1] or 0, t[0])):
        if vlan is None:
            if tagged:
                actions.append(("pop_vlan",))
                tagged = False
        else:
            if not tagged:
                actions.append(("push_vlan",))
                tagged = True
            actions.append(("set_vlan", vlan))
        actions.append(("output", port))
    return tuple(actions)


def compile_slice(s: Slice, ports: PortMap) -> tuple[Entry, ...]:
    if s.status != PLACED or s.tree is None:
        return ()
    cookie, meta = slice_cookie(s.number), s.number
    eps = sorted(s.spec.endpoints)
    at_site: dict[str, list[Endpoint]] = defaultdict(list)
    for e in eps:
        at_site[e.site].append(e)
    out: list[Entry] = []
    rate = int(round(s.spec.bandwidth_mbps * 1000))
    for site in sorted(at_site):
        out.append(Meter(site, s.number, rate, max(1000, int(rate * METER_BURST_SECONDS)), cookie))
        for e in at_site[site]:
            vid = (e.vlan | OFPVID_PRESENT) if e.vlan else OFPVID_NONE
            out.append(Rule(site, TABLE_CLASSIFY, PRIO_INGRESS, (("in_port", e.port), ("vlan_vid", vid)),
                            (("pop_vlan",),) * bool(e.vlan) + (("meter", s.number), ("write_metadata", meta),
                                                               ("goto", TABLE_FORWARD)), cookie))
    trees = [(s.tree, s.tags, meta)]
    if s.backup:
        trees.append((s.backup, s.backup_tags, meta | BACKUP_BIT))
    for tree, tags, md in trees:
        for a, b in tree.edges:
            tag = tags[frozenset((a, b))]
            for site, nb in ((a, b), (b, a)):
                out.append(Rule(site, TABLE_CLASSIFY, PRIO_LINK,
                                (("in_port", ports.toward(site, nb)), ("vlan_vid", tag | OFPVID_PRESENT)),
                                (("pop_vlan",), ("write_metadata", md), ("goto", TABLE_FORWARD)), cookie))
    for label, (tree, tags, md) in zip(("primary", "backup"), trees):
        hops = {e.site: _next_hops(tree, e.site) for e in eps}
        backup_hops = ({e.site: _next_hops(s.backup, e.site) for e in eps}
                       if label == "primary" and s.backup else {})
        for site in sorted(tree.sites):
            for index, e in enumerate(eps):
                if e.site == site:
                    actions = _emit([(e.port, e.vlan)])
                else:
                    nb = hops[e.site][site]
                    link = (ports.toward(site, nb), tags[frozenset((site, nb))])
                    actions = _emit([link])
                    bnb = backup_hops.get(e.site, {}).get(site)
                    if bnb is not None and bnb != nb:
                        alt = (ports.toward(site, bnb), s.backup_tags[frozenset((site, bnb))])
                        gid = ((s.number & 0xFFFFFF) << 8) | index
                        out.append(Group(site, gid, ((link[0], actions), (alt[0], _emit([alt]))), cookie))
                        actions = (("group", gid),)
                for eth_type, field in ((ETH_IPV4, "ipv4_dst"), (ETH_ARP, "arp_tpa")):
                    out.append(Rule(site, TABLE_FORWARD, PRIO_UNICAST,
                                    (("metadata", md), ("eth_type", eth_type), (field, s.addresses[e])),
                                    actions, cookie))
            members = [(ports.toward(site, nb), tags[frozenset((site, nb))]) for nb in tree.neighbours(site)]
            members += [(e.port, e.vlan) for e in at_site.get(site, ())]
            for in_port, _ in members:
                others = [m for m in members if m[0] != in_port]
                if others:
                    out.append(Rule(site, TABLE_FORWARD, PRIO_BROADCAST,
                                    (("metadata", md), ("in_port", in_port), ("eth_dst", BROADCAST)),
                                    _emit(others), cookie))
    return tuple(sorted(out, key=_order))


def _order(entry: Entry) -> tuple:
    return (entry.switch, {"meter": 0, "group": 1, "flow": 2}[entry.key[0]], entry.key[2:], str(entry))


def compile_plan(engine: SliceEngine, ports: PortMap | None = None) -> Plan:
    ports = ports or PortMap(engine.topology)
    plan: Plan = {BASE_OWNER: base_entries(s.name for s in engine.topology.sites)}
    for name in sorted(engine.slices):
        entries = compile_slice(engine.slices[name], ports)
        if entries:
            plan[name] = entries
    return plan


def recompile(plan: Plan, engine: SliceEngine, names, ports: PortMap | None = None) -> Plan:
    """``plan`` with only the named slices compiled again (gone ones dropped)."""
    ports = ports or PortMap(engine.topology)
    new = dict(plan)
    for name in names:
        s = engine.slices.get(name)
        entries = compile_slice(s, ports) if s else ()
        if entries:
            new[name] = entries
        else:
            new.pop(name, None)
    return new


@dataclass(frozen=True)
class Changes:
    """What to send, in order: deletes (flows, then groups and meters they used),
    modifies, adds (meters and groups before the flows that use them)."""

    deletes: tuple[Entry, ...]
    modifies: tuple[Entry, ...]
    adds: tuple[Entry, ...]

    @property
    def switches(self) -> tuple[str, ...]:
        return tuple(sorted({e.switch for e in self.deletes + self.modifies + self.adds}))

    def __len__(self) -> int:
        return len(self.deletes) + len(self.modifies) + len(self.adds)


_ADD_ORDER = {"meter": 0, "group": 1, "flow": 2}


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
    by = lambda order: (lambda e: (e.switch, order[e.key[0]], str(e)))
    return Changes(tuple(sorted(deletes, key=by({"flow": 0, "group": 1, "meter": 2}))),
                   tuple(sorted(modifies, key=by(_ADD_ORDER))),
                   tuple(sorted(adds, key=by(_ADD_ORDER))))


def render(plan: Plan) -> str:
    """The plan as ordered text, one entry a line: for golden files and reviews."""
    lines = []
    for owner in sorted(plan):
        lines.append(f"# {owner}")
        lines += [str(e) for e in plan[owner]]
    return "\n".join(lines) + "\n"
