"""The slice engine: admission, booking, priority preemption, restoration, failures.

Pure and single-threaded: it owns the residual capacity of every link and the state of
every slice, and each operation returns the events it caused. Nothing changes when an
operation raises: decisions are worked out first and applied at the end.

Priorities (0-7, see :data:`slices.spec.PRIORITY_CLASSES`): a slice that does not fit may
preempt *strictly lower* priority slices, the smallest set it can, lowest priority first.
Each preempted slice is then re-placed elsewhere if it fits, else it waits in state
``preempted`` and is restored, in priority order, when capacity returns.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from netaddr import IPNetwork

from slices.errors import Rejected, UnknownSlice
from slices.placement import LinkKey, PathCache, Tree, place
from slices.resources import IndexAllocator, PrefixPool, TagSpace
from slices.rules import MAX_SLICE_ID
from slices.spec import Endpoint, SliceSpec
from topologies.model import Topology

PLACED, PREEMPTED = "placed", "preempted"
# constraints that freeing lower-priority capacity can cure (a fast route may be full)
PREEMPTIBLE = ("bandwidth", "latency", "protection")


@dataclass(frozen=True)
class Event:
    kind: str        # admitted, re-placed, preempted, restored, released, switched-to-backup, backup-lost
    slice: str
    reason: str

    def __str__(self) -> str:
        return f"{self.slice}: {self.kind} ({self.reason})"


@dataclass
class Slice:
    spec: SliceSpec
    number: int            # stable numeric id: in every cookie, meter and group of the slice
    prefix: IPNetwork
    addresses: dict[Endpoint, str]
    status: str = PLACED
    tree: Tree | None = None
    backup: Tree | None = None
    tags: dict[LinkKey, int] = field(default_factory=dict)         # primary tree links
    backup_tags: dict[LinkKey, int] = field(default_factory=dict)
    # links the backup shares with the primary because no backup could avoid them then
    backup_shared: frozenset = frozenset()
    reason: str = ""
    # residual capacity when placing this (preempted) slice last failed: see restore_waiting
    failed_at: dict | None = None

    @property
    def name(self) -> str:
        return self.spec.name

    def copy(self) -> "Slice":
        """A copy that shares only frozen parts (spec, trees, prefix) with this one."""
        return replace(self, addresses=dict(self.addresses), tags=dict(self.tags),
                       backup_tags=dict(self.backup_tags),
                       failed_at=None if self.failed_at is None else dict(self.failed_at))

    def booked_links(self) -> set[LinkKey]:
        links = set(self.tree.links) if self.tree else set()
        return links | (set(self.backup.links) if self.backup else set())


@dataclass(frozen=True)
class Checkpoint:
    """The engine's state at one moment (see :meth:`SliceEngine.checkpoint`)."""

    residual: dict
    slices: dict
    down_links: set
    down_sites: set
    prefixes: PrefixPool
    tags: TagSpace
    numbers: IndexAllocator
    endpoint_owner: dict
    on_link: dict
    by_priority: dict


class SliceEngine:
    def __init__(self, topology: Topology, *, prefix_pool: str = "10.128.0.0/9",
                 prefix_len: int = 24):
        self.topology = topology
        self.graph = topology.graph()
        self.capacity: dict[LinkKey, float] = {l.key: l.bandwidth_mbps for l in topology.links}
        self.residual: dict[LinkKey, float] = dict(self.capacity)
        self.slices: dict[str, Slice] = {}
        self.paths = PathCache()
        self.down_links: set[LinkKey] = set()
        self.down_sites: set[str] = set()
        self.prefixes = PrefixPool(prefix_pool, prefix_len)
        self.tags = TagSpace()
        self._numbers = IndexAllocator(1, MAX_SLICE_ID)
        self._endpoint_owner: dict[tuple, str] = {}
        # per link: the slices booked on it (primary or backup), for preemption
        self._on_link: dict[LinkKey, dict[str, int]] = {k: {} for k in self.capacity}
        # per link: bandwidth booked by each priority, so "what if every lower priority
        # left" costs links x 8, not the number of slices
        self._by_priority: dict[LinkKey, list[float]] = {k: [0.0] * 8 for k in self.capacity}

    # -- all or nothing ----------------------------------------------------------------------

    def checkpoint(self) -> "Checkpoint":
        """Everything an operation may change, copied: hand it to :meth:`rollback` to undo
        whatever happened since, e.g. when a later step of the same request (compiling,
        sending to the switches, storing) fails. Costs a copy of the slices' small
        records and the per-link books, not of trees or specs (they are frozen)."""
        return Checkpoint(
            residual=dict(self.residual),
            slices={n: s.copy() for n, s in self.slices.items()},
            down_links=set(self.down_links), down_sites=set(self.down_sites),
            prefixes=self.prefixes.copy(), tags=self.tags.copy(), numbers=self._numbers.copy(),
            endpoint_owner=dict(self._endpoint_owner),
            on_link={k: dict(v) for k, v in self._on_link.items()},
            by_priority={k: list(v) for k, v in self._by_priority.items()})

    def rollback(self, cp: "Checkpoint") -> None:
        """Put the engine back exactly as it was at ``cp`` (which stays usable)."""
        again = {n: s.copy() for n, s in cp.slices.items()}
        self.residual, self.slices = dict(cp.residual), again
        self.down_links, self.down_sites = set(cp.down_links), set(cp.down_sites)
        self.prefixes, self.tags, self._numbers = cp.prefixes.copy(), cp.tags.copy(), cp.numbers.copy()
        self._endpoint_owner = dict(cp.endpoint_owner)
        self._on_link = {k: dict(v) for k, v in cp.on_link.items()}
        self._by_priority = {k: list(v) for k, v in cp.by_priority.items()}

    # -- queries ---------------------------------------------------------------------------

    def get(self, name: str) -> Slice:
        try:
            return self.slices[name]
        except KeyError:
            raise UnknownSlice(name) from None

    def slices_on(self, link: LinkKey) -> list[Slice]:
        return [self.slices[n] for n in sorted(self._on_link[link])]

    # -- placement primitives ----------------------------------------------------------------

    def _avoid(self) -> dict:
        return {"avoid_links": self.down_links, "avoid_sites": self.down_sites, "cache": self.paths}

    def _place_pair(self, spec: SliceSpec, residual: dict[LinkKey, float]) -> tuple[Tree, Tree | None]:
        """Primary tree and, if protected, a disjoint backup; both fit ``residual`` together."""
        down = [s for s in spec.sites if s in self.down_sites]
        if down:
            raise Rejected("site", f"endpoint site {down[0]} is down")
        tree = place(self.graph, spec, residual, **self._avoid())
        if spec.protection == "none":
            return tree, None
        try:
            return tree, self._backup_for(spec, tree, residual)
        except Rejected as e:
            raise Rejected("protection", f"no {spec.protection}-disjoint backup for {spec.name}: "
                           f"{e.reason}", structural=e.structural) from None

    def unavoidable(self) -> tuple[set[LinkKey], set[str]]:
        """Links and sites no backup can avoid: the bridges and cut sites of the working
        network (a data centre with a single uplink, say). Protection is disjoint
        everywhere else."""
        import networkx as nx

        up = self.graph.copy()
        up.remove_nodes_from(self.down_sites)
        up.remove_edges_from(tuple(k) for k in self.down_links)
        return {frozenset(e) for e in nx.bridges(up)}, set(nx.articulation_points(up))

    def _backup_for(self, spec: SliceSpec, tree: Tree, residual: dict[LinkKey, float]) -> Tree:
        """A tree disjoint from ``tree`` in the way ``spec.protection`` asks (sharing only
        what :meth:`unavoidable` names), fitting in ``residual`` once ``tree`` is booked."""
        bridges, cut_sites = self.unavoidable()
        after = dict(residual)
        for key in tree.links:
            after[key] -= spec.bandwidth_mbps
        transit = [x for x in tree.sites if x not in spec.sites]
        avoid_sites = set(self.down_sites)
        if spec.protection in ("site", "region"):
            avoid_sites |= set(transit) - cut_sites
        regions = set()
        if spec.protection == "region":
            home = {self.graph.nodes[x]["region"] for x in spec.sites}
            regions = {self.graph.nodes[x]["region"] for x in transit} - home
        return place(self.graph, spec, after,
                     avoid_links=self.down_links | (set(tree.links) - bridges),
                     avoid_sites=avoid_sites, avoid_regions=regions)

    def _book(self, s: Slice, tree: Tree, backup: Tree | None, prefer: dict | None = None,
              prefer_backup: dict | None = None, exact: bool = False) -> None:
        """Book ``s`` on its trees; tags from ``prefer`` where still free (an update keeps
        the tags of links it keeps, so their rules do not change). ``exact``: the
        preferred tags or ValueError (restoring saved state must not renumber)."""
        s.tree, s.backup, s.status, s.reason = tree, backup, PLACED, ""
        s.backup_shared = frozenset(tree.links & backup.links) if backup else frozenset()
        for tags, t, pref in ((s.tags, tree, prefer or {}), (s.backup_tags, backup, prefer_backup or {})):
            for key in t.links if t else ():
                self._charge(key, s, +1)
                tag = pref.get(key)
                if tag is not None and self.tags.take(key, tag):
                    tags[key] = tag
                elif exact:
                    raise ValueError(f"tag {tag} on {'—'.join(sorted(key))} of {s.name} is taken or out of range")
                else:
                    tags[key] = self.tags.allocate(key)

    def _charge(self, key: LinkKey, s: Slice, sign: int) -> None:
        """Book (+1) or free (-1) ``s``'s bandwidth on one link of one of its trees."""
        self.residual[key] -= sign * s.spec.bandwidth_mbps
        self._by_priority[key][s.spec.priority] += sign * s.spec.bandwidth_mbps
        on = self._on_link[key]
        count = on.get(s.name, 0) + sign
        if count:
            on[s.name] = count
        else:
            on.pop(s.name, None)

    def _unbook(self, s: Slice) -> None:
        for tags, tree in ((s.tags, s.tree), (s.backup_tags, s.backup)):
            for key in tree.links if tree else ():
                self._charge(key, s, -1)
                self.tags.release(key, tags.pop(key))
        s.tree = s.backup = None

    def _victims(self, spec: SliceSpec) -> tuple[list[Slice], Tree, Tree | None]:
        """Smallest set of strictly lower-priority slices whose release lets ``spec`` fit."""
        def lower(names) -> list[Slice]:
            return [x for x in map(self.slices.get, names)
                    if x.status == PLACED and x.spec.priority < spec.priority]

        # bookings of preempted slices are already gone, so every booking counts
        optimistic = {key: r + sum(self._by_priority[key][:spec.priority])
                      for key, r in self.residual.items()}
        tree, backup = self._place_pair(spec, optimistic)  # raises if even that fails
        need: dict[LinkKey, float] = {}
        for t in (tree, backup):
            for key in t.links if t else ():
                need[key] = need.get(key, 0.0) + spec.bandwidth_mbps
        deficit = {k: n - self.residual[k] for k, n in need.items() if n - self.residual[k] > 1e-9}
        chosen: list[Slice] = []
        candidates = sorted(lower({n for k in deficit for n in self._on_link[k]}),
                            key=lambda s: (s.spec.priority, -s.spec.bandwidth_mbps, s.name))
        for s in candidates:  # lowest priority first
            if not deficit:
                break
            helps = [k for k in s.booked_links() if k in deficit]
            if helps:
                chosen.append(s)
                for k in helps:
                    deficit[k] -= s.spec.bandwidth_mbps
                    if deficit[k] <= 1e-9:
                        del deficit[k]
        # prune: drop any victim (highest priority first) that is not needed after all
        for s in sorted(chosen, key=lambda s: (-s.spec.priority, s.spec.bandwidth_mbps)):
            rest = [v for v in chosen if v is not s]
            if self._covers(rest, need):
                chosen = rest
        return chosen, tree, backup

    def _covers(self, victims: list[Slice], need: dict[LinkKey, float]) -> bool:
        freed: dict[LinkKey, float] = {}
        for v in victims:
            for k in v.booked_links():
                freed[k] = freed.get(k, 0.0) + v.spec.bandwidth_mbps
        return all(self.residual[k] + freed.get(k, 0.0) + 1e-9 >= n for k, n in need.items())

    # -- operations ---------------------------------------------------------------------------

    def _place_or_preempt(self, spec: SliceSpec) -> tuple[list[Slice], Tree, Tree | None]:
        """Where ``spec`` fits as things are (no victims), or which lower priorities it
        would displace; raises the first Rejected when neither works. Changes nothing."""
        try:
            tree, backup = self._place_pair(spec, self.residual)
            return [], tree, backup
        except Rejected as first:
            if first.constraint not in PREEMPTIBLE or first.structural:
                raise
            try:
                victims, tree, backup = self._victims(spec)
            except Rejected:
                raise first from None
            if not victims:
                raise first
            return victims, tree, backup

    def admit(self, spec: SliceSpec) -> list[Event]:
        """Place and book ``spec``, preempting lower priorities if needed; or raise Rejected."""
        if spec.name in self.slices:
            raise Rejected("name", f"a slice named {spec.name} already exists")
        for e in spec.endpoints:
            owner = self._endpoint_owner.get(e.key)
            if owner:
                raise Rejected("endpoint", f"endpoint {e} already belongs to slice {owner}")
        victims, tree, backup = self._place_or_preempt(spec)
        prefix = self.prefixes.allocate()
        try:
            addresses = _addresses(spec, prefix)
        except Rejected:
            self.prefixes.release(prefix)
            raise
        s = Slice(spec=spec, number=self._numbers.allocate(), prefix=prefix, addresses=addresses)
        events = []
        self._preempt(victims, lambda v: f"preempted by {spec.name} (priority {spec.priority} > {v.spec.priority})")
        self._book(s, tree, backup)
        self.slices[spec.name] = s
        for e in spec.endpoints:
            self._endpoint_owner[e.key] = spec.name
        events.append(Event("admitted", spec.name,
                            f"tree of {len(tree.edges)} links, worst delay {tree.worst_delay_ms:.2f} ms"
                            + (f", {spec.protection}-disjoint backup of {len(backup.edges)} links"
                               + _shared(tree, backup) if backup else "")
                            + (f", preempting {', '.join(v.name for v in victims)}" if victims else "")))
        return events + self._replace_victims(victims)

    def _preempt(self, victims: list[Slice], reason) -> None:
        """Take ``victims`` off the network; ``reason(victim)`` says why."""
        for v in victims:
            self._unbook(v)
            v.status, v.reason = PREEMPTED, reason(v)

    def _replace_victims(self, victims: list[Slice]) -> list[Event]:
        """Try each preempted victim elsewhere, highest priority first."""
        return [self._try_restore(v, "re-placed", otherwise=("preempted", v.reason))
                for v in sorted(victims, key=lambda v: -v.spec.priority)]

    def update(self, spec: SliceSpec) -> list[Event]:
        """Replace the spec of slice ``spec.name`` (bandwidth, bound, priority, endpoints,
        ...). Keeps its id, prefix, the addresses of endpoints that stay, and the tags of
        links its new tree keeps, so only what changed gets new rules. All or nothing:
        if the new spec does not fit (even preempting lower priorities), the slice stays
        exactly as it was and Rejected is raised."""
        s = self.get(spec.name)
        for e in spec.endpoints:
            owner = self._endpoint_owner.get(e.key)
            if owner and owner != spec.name:
                raise Rejected("endpoint", f"endpoint {e} already belongs to slice {owner}")
        old_spec, old_status, old_reason = s.spec, s.status, s.reason
        old = (s.tree, s.backup, dict(s.tags), dict(s.backup_tags), dict(s.addresses))
        keep = {e.key: a for e, a in s.addresses.items()}
        taken = {e.ip for e in spec.endpoints if e.ip}
        addresses = {}
        for e in spec.endpoints:  # endpoints that stay keep their assigned address
            a = keep.get(e.key)
            if not e.ip and a and a not in taken:
                addresses[e] = a
                taken.add(a)
        pool = (str(ip) for ip in s.prefix.iter_hosts() if str(ip) not in taken)
        for e in spec.endpoints:
            if e not in addresses:
                addresses[e] = e.ip or next(pool, None)
                if addresses[e] is None:
                    raise Rejected("addresses", f"prefix {s.prefix} has too few addresses for "
                                   f"{len(spec.endpoints)} endpoints")
        if s.status == PLACED:
            self._unbook(s)
        s.spec = spec
        try:
            victims, tree, backup = self._place_or_preempt(spec)
        except Rejected:
            s.spec, s.status, s.reason = old_spec, old_status, old_reason
            if old[0] is not None:
                self._book(s, old[0], old[1], old[2], old[3])
                s.status, s.reason = old_status, old_reason
            raise
        self._preempt(victims, lambda v: f"preempted by {spec.name} (priority {spec.priority} > {v.spec.priority})")
        self._book(s, tree, backup, old[2], old[3])
        for e in old_spec.endpoints:
            self._endpoint_owner.pop(e.key, None)
        for e in spec.endpoints:
            self._endpoint_owner[e.key] = spec.name
        s.addresses = addresses
        events = [Event("updated", spec.name, f"tree of {len(tree.edges)} links, worst delay "
                        f"{tree.worst_delay_ms:.2f} ms"
                        + (f", preempting {', '.join(v.name for v in victims)}" if victims else ""))]
        return events + self._replace_victims(victims) + self.restore_waiting()

    def adopt(self, spec: SliceSpec, *, number: int, prefix: str, addresses: dict[str, str],
              status: str, reason: str = "", tree: Tree | None = None, backup: Tree | None = None,
              tags: dict | None = None, backup_tags: dict | None = None) -> Slice:
        """Take back a slice exactly as it was (after a controller restart): same id,
        prefix, addresses, trees and tags, so the switches' rules still match. Raises
        ValueError when the saved state does not fit this engine exactly (a changed
        topology, an endpoint, id, prefix or tag another slice holds, a link it would
        oversubscribe); the engine may then be half-changed: take a :meth:`checkpoint`
        first and roll back."""
        if spec.name in self.slices:
            raise ValueError(f"slice {spec.name} exists already")
        for e in spec.endpoints:
            owner = self._endpoint_owner.get(e.key)
            if owner:
                raise ValueError(f"endpoint {e} of {spec.name} belongs to slice {owner} already")
        net = IPNetwork(prefix)
        if not self._numbers.take(number):
            raise ValueError(f"slice id {number} of {spec.name} is taken or out of range")
        if not self.prefixes.take(net):
            raise ValueError(f"prefix {prefix} of {spec.name} is taken or outside the pool")
        by_key = {e.key: e for e in spec.endpoints}
        s = Slice(spec=spec, number=number, prefix=net,
                  addresses={by_key[k]: a for k, a in _keyed(addresses).items() if k in by_key})
        if set(s.addresses) != set(spec.endpoints):
            raise ValueError(f"{spec.name}: stored addresses do not match its endpoints")
        for t, t_tags in ((tree, tags), (backup, backup_tags)):
            for key in t.links if t else ():
                if key not in self.capacity:
                    raise ValueError(f"{spec.name} uses {sorted(key)}, not a link of {self.topology.name}")
                if key not in (t_tags or {}):
                    raise ValueError(f"{spec.name} has no tag on {'—'.join(sorted(key))}")
        self.slices[spec.name] = s
        for e in spec.endpoints:
            self._endpoint_owner[e.key] = spec.name
        if status == PLACED and tree is not None:
            self._book(s, tree, backup, tags, backup_tags, exact=True)
            full = sorted("—".join(sorted(k)) for k in s.booked_links() if self.residual[k] < -1e-6)
            if full:
                raise ValueError(f"{spec.name} would oversubscribe {', '.join(full)}")
        else:
            s.status, s.reason = PREEMPTED, reason
        return s

    def _try_restore(self, s: Slice, kind: str, otherwise: tuple[str, str] | None = None) -> Event | None:
        try:
            tree, backup = self._place_pair(s.spec, self.residual)
        except Rejected as e:
            s.failed_at = dict(self.residual)
            if otherwise:
                s.reason = f"{otherwise[1]}; no room elsewhere: {e.reason}"
                return Event(otherwise[0], s.name, s.reason)
            return None
        s.failed_at = None
        self._book(s, tree, backup)
        return Event(kind, s.name, f"tree of {len(tree.edges)} links, worst delay {tree.worst_delay_ms:.2f} ms")

    def restore_waiting(self) -> list[Event]:
        """Capacity came back: restore preempted slices, highest priority first.

        Placement depends only on which links have enough residual capacity (down links
        and sites aside, which reset the memo), so a slice is tried again only if some
        link crossed its threshold since it last failed: with hundreds waiting, a delete
        then costs a scan of residuals instead of hundreds of placements."""
        events = []
        waiting = sorted((s for s in self.slices.values() if s.status == PREEMPTED),
                         key=lambda s: (-s.spec.priority, s.name))
        for s in waiting:
            if s.failed_at is not None and not self._crossed(s):
                continue
            ev = self._try_restore(s, "restored")
            if ev:
                events.append(ev)
        return events

    def _crossed(self, s: Slice) -> bool:
        b = s.spec.bandwidth_mbps
        needs = (b, 2 * b) if s.spec.protection != "none" else (b,)
        return any(old + 1e-9 < n <= self.residual[k] + 1e-9
                   for k, old in s.failed_at.items() for n in needs)

    def _forget_failures(self) -> None:
        for s in self.slices.values():
            s.failed_at = None

    def release(self, name: str) -> list[Event]:
        s = self.get(name)
        self._unbook(s)
        self.prefixes.release(s.prefix)
        self._numbers.release(s.number)
        for e in s.spec.endpoints:
            self._endpoint_owner.pop(e.key, None)
        del self.slices[name]
        return [Event("released", name, "deleted")] + self.restore_waiting()

    def link_down(self, a: str, b: str) -> list[Event]:
        key = frozenset((a, b))
        if key not in self.capacity:
            raise KeyError(f"no link {a}—{b}")
        self.down_links.add(key)
        return self._repair(lambda t: key in t.links, f"link {a}—{b} down")

    def site_down(self, site: str) -> list[Event]:
        if not self.topology.has_site(site):
            raise KeyError(f"no site {site}")
        self.down_sites.add(site)
        return self._repair(lambda t: site in t.sites, f"site {site} down")

    def link_up(self, a: str, b: str) -> list[Event]:
        self.down_links.discard(frozenset((a, b)))
        self._forget_failures()
        return self.restore_waiting() + self._improve_backups()

    def site_up(self, site: str) -> list[Event]:
        self.down_sites.discard(site)
        self._forget_failures()
        return self.restore_waiting() + self._improve_backups()

    def _repair(self, hit, why: str) -> list[Event]:
        """Move every slice off what failed: to its backup if it has one, else re-place."""
        events = []
        affected = sorted((s for s in self.slices.values() if s.status == PLACED
                           and (hit(s.tree) or (s.backup and hit(s.backup)))),
                          key=lambda s: (-s.spec.priority, s.name))
        for s in affected:
            spec = s.spec
            if s.status != PLACED or not (hit(s.tree) or (s.backup and hit(s.backup))):
                continue  # preempted, or re-placed clear of the failure, earlier in this loop
            if hit(s.tree) and s.backup and not hit(s.backup):
                # fail over: the backup becomes the primary; look for a new backup
                old_tree, old_tags = s.tree, s.tags
                for key in old_tree.links:
                    self._charge(key, s, -1)
                    self.tags.release(key, old_tags[key])
                s.tree, s.tags, s.backup, s.backup_tags = s.backup, s.backup_tags, None, {}
                events.append(Event("switched-to-backup", s.name, why))
                events += self._new_backup(s, why)
                continue
            if not hit(s.tree):  # only the backup was hit
                for key in s.backup.links:
                    self._charge(key, s, -1)
                    self.tags.release(key, s.backup_tags.pop(key))
                s.backup = None
                events += self._new_backup(s, why)
                continue
            self._unbook(s)
            try:
                victims, tree, backup = self._place_or_preempt(spec)
            except Rejected as e:
                s.status, s.reason = PREEMPTED, f"{why}; no alternative: {e.reason}"
                events.append(Event("preempted", s.name, s.reason))
                continue
            self._preempt(victims, lambda v: f"preempted by {s.name} after {why}")
            self._book(s, tree, backup)
            events.append(Event("re-placed", s.name, why + (f"; preempting {', '.join(v.name for v in victims)}"
                                                            if victims else "")))
            events += self._replace_victims(victims)
        return events

    def _new_backup(self, s: Slice, why: str) -> list[Event]:
        residual = dict(self.residual)
        for key in s.tree.links:  # _backup_for books the primary itself: hand it back
            residual[key] += s.spec.bandwidth_mbps
        try:
            backup = self._backup_for(s.spec, s.tree, residual)
        except Rejected as e:
            return [Event("backup-lost", s.name, f"{why}; unprotected until capacity returns: {e.reason}")]
        for key in backup.links:
            self._charge(key, s, +1)
            s.backup_tags[key] = self.tags.allocate(key)
        s.backup = backup
        s.backup_shared = frozenset(s.tree.links & backup.links)
        return []

    def _improve_backups(self) -> list[Event]:
        """After a repair, backups that had to share links may now avoid them."""
        events = []
        for s in sorted(self.slices.values(), key=lambda s: (-s.spec.priority, s.name)):
            if s.status != PLACED or s.spec.protection == "none" or (s.backup and not s.backup_shared):
                continue
            old = (s.backup, dict(s.backup_tags), s.backup_shared)
            if s.backup:
                for key in s.backup.links:
                    self._charge(key, s, -1)
                    self.tags.release(key, s.backup_tags.pop(key))
                s.backup = None
            lost = self._new_backup(s, "improving protection")
            if lost and old[0]:  # no better backup: keep the old one
                for key in old[0].links:
                    self._charge(key, s, +1)
                    s.backup_tags[key] = self.tags.allocate(key)
                s.backup, s.backup_shared = old[0], old[2]
            elif not lost:
                events.append(Event("protected", s.name, f"backup of {len(s.backup.edges)} links"
                                    + _shared(s.tree, s.backup)))
        return events


def _shared(tree: Tree, backup: Tree) -> str:
    shared = sorted("—".join(sorted(k)) for k in set(tree.links) & set(backup.links))
    return f" (unprotectable single links shared: {', '.join(shared)})" if shared else ""


def endpoint_key_text(key: tuple) -> str:
    """An endpoint key as text (for storage): ``site:port`` or ``site:port.vlan``."""
    site, port, vlan = key
    return f"{site}:{port}" + (f".{vlan}" if vlan else "")


def _keyed(addresses: dict[str, str]) -> dict[tuple, str]:
    out = {}
    for text, addr in addresses.items():
        site, _, rest = text.rpartition(":")
        port, _, vlan = rest.partition(".")
        out[(site, int(port), int(vlan) if vlan else None)] = addr
    return out


def _addresses(spec: SliceSpec, prefix: IPNetwork) -> dict[Endpoint, str]:
    """Given addresses are kept; the others come from the slice's prefix in order."""
    given = {e.ip for e in spec.endpoints if e.ip}
    hosts = (str(ip) for ip in prefix.iter_hosts() if str(ip) not in given)
    out = {}
    for e in spec.endpoints:
        if e.ip:
            out[e] = e.ip
        else:
            try:
                out[e] = next(hosts)
            except StopIteration:
                raise Rejected("addresses", f"prefix {prefix} has too few addresses for "
                               f"{len(spec.endpoints)} endpoints") from None
    return out


def audit(engine: SliceEngine) -> list[str]:
    """Every broken invariant, as a sentence; empty when the engine's state is sound.

    Checked: bookings add up (residual = capacity - reservations >= 0), every placed tree
    is a loop-free tree joining its endpoint sites, avoids failed links and sites, keeps
    to the allowed regions and the latency bound, protected slices' backups are disjoint,
    tags are unique per link and match the trees, prefixes, ids and endpoints are not
    shared, and the endpoint owner index agrees with the slices.
    """
    import networkx as nx

    problems = []
    for key, on in engine._on_link.items():
        want = {x.name: (key in (x.tree.links if x.tree else ())) + (key in (x.backup.links if x.backup else ()))
                for x in engine.slices.values()}
        if on != {n: c for n, c in want.items() if c}:
            problems.append(f"link index of {sorted(key)} says {on}, trees say {want}")
    booked: dict[LinkKey, float] = {k: 0.0 for k in engine.capacity}
    tag_owner: dict[tuple, str] = {}
    prefixes: dict[str, str] = {}
    region = nx.get_node_attributes(engine.graph, "region")
    for s in engine.slices.values():
        spec = s.spec
        if str(s.prefix) in prefixes:
            problems.append(f"{s.name} shares prefix {s.prefix} with {prefixes[str(s.prefix)]}")
        prefixes[str(s.prefix)] = s.name
        if s.status != PLACED:
            if s.tree or s.backup or s.tags or s.backup_tags:
                problems.append(f"{s.name} is {s.status} but still holds resources")
            continue
        for label, tree, tags in (("primary", s.tree, s.tags), ("backup", s.backup, s.backup_tags)):
            if tree is None:
                continue
            t = nx.Graph(list(tree.edges))
            t.add_node(tree.root)
            if not nx.is_tree(t):
                problems.append(f"{s.name} {label} is not a tree")
            missing = set(spec.sites) - set(t)
            if missing:
                problems.append(f"{s.name} {label} misses endpoint sites {sorted(missing)}")
            for key in tree.links:
                booked[key] += spec.bandwidth_mbps
                if key in engine.down_links:
                    problems.append(f"{s.name} {label} uses down link {sorted(key)}")
                if key not in tags:
                    problems.append(f"{s.name} {label} has no tag on {sorted(key)}")
                elif (key, tags[key]) in tag_owner:
                    problems.append(f"tag {tags[key]} on {sorted(key)} used by {s.name} and {tag_owner[(key, tags[key])]}")
                else:
                    tag_owner[(key, tags[key])] = s.name
            if set(tags) != set(tree.links):
                problems.append(f"{s.name} {label} tags do not match its links")
            for site in t:
                if site in engine.down_sites:
                    problems.append(f"{s.name} {label} crosses down site {site}")
                if spec.allowed_regions and region[site] not in spec.allowed_regions:
                    problems.append(f"{s.name} {label} leaves its regions at {site}")
            if spec.max_latency_ms is not None and tree.worst_delay_ms > spec.max_latency_ms + 1e-6:
                problems.append(f"{s.name} {label} worst delay {tree.worst_delay_ms} > {spec.max_latency_ms}")
        if s.backup and (set(s.backup.links) & set(s.tree.links)) - s.backup_shared:
            problems.append(f"{s.name} backup shares links with its primary beyond the "
                            f"unavoidable ones recorded when it was computed")
    for key, cap in engine.capacity.items():
        if booked[key] > cap + 1e-6:
            problems.append(f"link {sorted(key)} oversubscribed: {booked[key]:g} > {cap:g}")
        if abs(engine.residual[key] - (cap - booked[key])) > 1e-6:
            problems.append(f"link {sorted(key)} residual {engine.residual[key]:g} != {cap - booked[key]:g}")
    owners: dict[tuple, str] = {}
    for s in engine.slices.values():
        for e in s.spec.endpoints:
            if e.key in owners:
                problems.append(f"endpoint {e} belongs to both {owners[e.key]} and {s.name}")
            owners[e.key] = s.name
    if owners != engine._endpoint_owner:
        wrong = sorted(set(owners.items()) ^ set(engine._endpoint_owner.items()), key=str)
        problems.append(f"endpoint owners disagree with the slices' endpoints: {wrong[:4]}")
    numbers = [s.number for s in engine.slices.values()]
    if len(set(numbers)) != len(numbers):
        problems.append("two slices share an id")
    if engine.tags.in_use != len(tag_owner):
        problems.append(f"{engine.tags.in_use} tags allocated, {len(tag_owner)} in use: leak")
    if engine.prefixes.in_use != len(engine.slices):
        problems.append(f"{engine.prefixes.in_use} prefixes allocated for {len(engine.slices)} slices: leak")
    return problems
