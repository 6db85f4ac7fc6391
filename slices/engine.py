"""The slice engine: admission, booking, priority preemption, restoration, failures.

Pure and single-threaded: it owns the residual capacity of every link and the state of
every slice, and each operation returns the events it caused. Nothing changes when an
operation raises: decisions are worked out first and applied at the end.

Priorities (0-7, see :data:`slices.spec.PRIORITY_CLASSES`): a slice that does not fit may
preempt *strictly lower* priority slices (:mod:`slices.preemption` chooses which). Each
preempted slice is then re-placed elsewhere if it fits, else it waits in state
``preempted`` and is restored, in priority order, when capacity returns. Failures are
handled by :mod:`slices.repair`; bandwidth and tags are booked only through
:class:`slices.ledger.Ledger`; :mod:`slices.audit` checks the invariants. What the engine
decided leaves it as frozen :class:`slices.record.Placement` records.
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from netaddr import IPNetwork

from slices import repair as failures
from slices.repair import shared_text
from slices.errors import Rejected, UnknownSlice
from slices.ledger import Ledger
from slices.placement import LinkKey, PathCache, Tree, place
from slices.disjoint import disjoint_pair
from slices.preemption import choose_victims
from slices.record import PLACED, PREEMPTED, Event, Placement, live_spec
from slices.resources import IndexAllocator, PrefixPool, TagSpace
from slices.rules import MAX_SLICE_ID
from slices.spec import Endpoint, SliceSpec
from topologies.model import Topology

REROUTE_GAIN_MS = 1.0   # a slice moves for its SLA only to a tree at least this much faster

__all__ = ["PLACED", "PREEMPTED", "Event", "Placement", "Slice", "SliceEngine"]
# constraints that freeing lower-priority capacity can cure (a fast route may be full)
NO_TAG = float("-inf")   # in a waiting slice's failed_at: that link had no tag left
PREEMPTIBLE = ("bandwidth", "latency", "protection", "tags")


# waiting slices tried per restoration task after a delete (~3 ms each at 200 sites): the
# controller spreads a long restoration over several tasks, requests served in between
RESTORE_BATCH = 20


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
    # the links too full for this (preempted) slice when placing it last failed, with their
    # residual then: see restore_waiting
    failed_at: dict | None = None
    moved: dict[int, str] = field(default_factory=dict)           # endpoint index -> why at standby
    standby_trees: dict[str, Tree] = field(default_factory=dict)  # site -> tree were it lost
    standby_links: frozenset = frozenset()                         # booked for those trees

    @property
    def live_spec(self) -> SliceSpec:
        """The spec as the network serves it now: moved endpoints at their standbys."""
        return live_spec(self.spec, self.moved)

    @property
    def name(self) -> str:
        return self.spec.name

    def copy(self) -> "Slice":
        """A copy that shares only frozen parts (spec, trees, prefix) with this one."""
        return replace(self, addresses=dict(self.addresses), tags=dict(self.tags),
                       backup_tags=dict(self.backup_tags), moved=dict(self.moved),
                       standby_trees=dict(self.standby_trees),
                       failed_at=None if self.failed_at is None else dict(self.failed_at))

    def record(self) -> Placement:
        order = lambda kv: sorted(kv[0])  # noqa: E731 (links by their sites)
        return Placement(spec=self.spec, number=self.number, prefix=str(self.prefix),
                         addresses=tuple((e, self.addresses[e]) for e in self.spec.endpoints),
                         status=self.status, reason=self.reason, tree=self.tree, backup=self.backup,
                         tags=tuple(sorted(self.tags.items(), key=order)),
                         backup_tags=tuple(sorted(self.backup_tags.items(), key=order)),
                         moved=tuple(sorted(self.moved.items())),
                         standby_trees=tuple(sorted(self.standby_trees.items())))

    def booked_links(self) -> set[LinkKey]:
        links = set(self.tree.links) if self.tree else set()
        return links | (set(self.backup.links) if self.backup else set()) | set(self.standby_links)


@dataclass(frozen=True)
class Checkpoint:
    """The engine's state at one moment (see :meth:`SliceEngine.checkpoint`)."""

    ledger: Ledger
    slices: dict
    down_links: set
    down_sites: set
    drained: set
    prefixes: PrefixPool
    numbers: IndexAllocator
    endpoint_owner: dict


class SliceEngine:
    def __init__(self, topology: Topology, *, prefix_pool: str = "10.128.0.0/9",
                 prefix_len: int = 24):
        self.topology = topology
        self.graph = topology.graph()
        self.ledger = Ledger({l.key: l.bandwidth_mbps for l in topology.links})
        self.slices: dict[str, Slice] = {}
        self.paths, self.backup_paths = PathCache(), PathCache(1)   # backups: avoid-sets of their own
        self.down_links: set[LinkKey] = set()
        self.down_sites: set[str] = set()
        self.drained: set[str] = set()             # sites in maintenance: no transit
        self.prefixes = PrefixPool(prefix_pool, prefix_len)
        self._numbers = IndexAllocator(1, MAX_SLICE_ID)
        self.endpoint_owner: dict[tuple, str] = {}   # endpoint key -> the slice it belongs to
        self._unavoidable: tuple = (None, None)     # (down sites and links, what unavoidable() found)
        self.restore_pending = False                # restore_waiting(limit) stopped before the end

    @property
    def capacity(self) -> dict[LinkKey, float]:
        return self.ledger.capacity

    @property
    def residual(self) -> dict[LinkKey, float]:
        return self.ledger.residual

    @property
    def tags(self) -> TagSpace:
        return self.ledger.tags

    # -- all or nothing ----------------------------------------------------------------------

    def checkpoint(self) -> "Checkpoint":
        """Everything an operation may change, copied: hand it to :meth:`rollback` to undo
        whatever happened since, e.g. when a later step of the same request (compiling,
        sending to the switches, storing) fails. Costs a copy of the slices' small
        records and the per-link books, not of trees or specs (they are frozen)."""
        return Checkpoint(
            ledger=self.ledger.copy(), slices={n: s.copy() for n, s in self.slices.items()},
            down_links=set(self.down_links), down_sites=set(self.down_sites), drained=set(self.drained),
            prefixes=self.prefixes.copy(), numbers=self._numbers.copy(),
            endpoint_owner=dict(self.endpoint_owner))

    def rollback(self, cp: "Checkpoint") -> None:
        """Put the engine back exactly as it was at ``cp`` (which stays usable)."""
        self.ledger, self.slices = cp.ledger.copy(), {n: s.copy() for n, s in cp.slices.items()}
        self.down_links, self.down_sites, self.drained = set(cp.down_links), set(cp.down_sites), set(cp.drained)
        self.prefixes, self._numbers = cp.prefixes.copy(), cp.numbers.copy()
        self.endpoint_owner = dict(cp.endpoint_owner)

    # -- queries ---------------------------------------------------------------------------

    def get(self, name: str) -> Slice:
        try:
            return self.slices[name]
        except KeyError:
            raise UnknownSlice(name) from None

    def slices_on(self, link: LinkKey) -> list[Slice]:
        return [self.slices[n] for n in self.ledger.names_on(link)]

    def _taken(self, spec: SliceSpec) -> tuple[str, str] | None:
        """The first endpoint (or standby) port of ``spec`` that another slice owns, with
        that slice's name."""
        for e in spec.endpoints:
            for key, what in ((e.key, str(e)), (e.standby_key, f"{e.standby} (standby of {e})")):
                owner = self.endpoint_owner.get(key) if key else None
                if owner and owner != spec.name:
                    theirs = next((x for x in self.slices[owner].spec.endpoints if x.standby_key == key), None)
                    return (f"{what}, the standby of {theirs} there," if theirs else what), owner
        return None

    def _own(self, spec: SliceSpec) -> None:
        for e in spec.endpoints:
            self.endpoint_owner[e.key] = spec.name
            if e.standby:
                self.endpoint_owner[e.standby_key] = spec.name

    def _disown(self, spec: SliceSpec) -> None:
        for e in spec.endpoints:
            self.endpoint_owner.pop(e.key, None)
            if e.standby:
                self.endpoint_owner.pop(e.standby_key, None)

    def record(self, name: str) -> Placement:
        """What the engine decided for slice ``name``, frozen."""
        return self.get(name).record()

    def records(self) -> list[Placement]:
        return [self.slices[n].record() for n in sorted(self.slices)]

    # -- placement primitives ----------------------------------------------------------------

    def _avoided_sites(self, spec: SliceSpec) -> set[str]:
        """Sites ``spec`` may not cross: lost ones, and drained ones it has no endpoint at."""
        return self.down_sites | (self.drained - set(spec.sites))

    def place_pair(self, spec: SliceSpec, residual: dict[LinkKey, float],
                   no_tags: set[LinkKey] | None = None) -> tuple[Tree, Tree | None]:
        """Primary tree and, if protected, a disjoint backup; both fit ``residual`` together
        and avoid ``no_tags`` (by default the links with every tag in use)."""
        no_tags = self.ledger.tags.full if no_tags is None else no_tags
        down = [s for s in spec.sites if s in self.down_sites]
        if down:
            raise Rejected("site", f"endpoint site {down[0]} is down")
        tree = place(self.graph, spec, residual, avoid_links=self.down_links,
                     avoid_sites=self._avoided_sites(spec), no_tags=no_tags, cache=self.paths)
        if spec.protection == "none":
            return tree, None
        try:
            return tree, self.backup_for(spec, tree, residual, no_tags=no_tags)
        except Rejected as e:
            why = e
            # cut off by the primary itself, not by full links: a disjoint pair may exist
            if e.constraint in ("topology", "region"):
                try:
                    return self._disjoint_pair(spec, residual, no_tags)
                except Rejected as pair:
                    if pair.constraint == "latency":   # there is one, too slow: say so
                        why = pair
            raise Rejected("protection", f"no {spec.protection}-disjoint backup for {spec.name}: "
                           f"{why.reason}", structural=e.structural) from None

    def _disjoint_pair(self, spec: SliceSpec, residual: dict[LinkKey, float],
                       no_tags: set[LinkKey]) -> tuple[Tree, Tree]:
        """For a slice between two sites whose least-delay tree left no disjoint backup:
        the disjoint pair of paths of least total delay (:mod:`slices.disjoint`), if one
        exists and fits together; Rejected otherwise (and for more sites, or region
        protection)."""
        if len(spec.sites) != 2 or spec.protection not in ("link", "site"):
            raise Rejected("protection", "a disjoint pair joins two sites, link- or site-disjoint")
        bridges, cut_sites = self.unavoidable()
        tree, backup = disjoint_pair(self.graph, spec, residual, avoid_links=self.down_links,
                                     avoid_sites=self._avoided_sites(spec), no_tags=no_tags,
                                     shared_links=bridges, shared_sites=cut_sites,
                                     sites_too=spec.protection == "site")
        for k in tree.links & backup.links:
            if residual[k] + 1e-9 < 2 * spec.bandwidth_mbps or self.ledger.tags.free(k) < 2:
                raise Rejected("bandwidth", f"{'—'.join(sorted(k))} cannot carry both paths of {spec.name}")
        return tree, backup

    def unavoidable(self) -> tuple[set[LinkKey], set[str]]:
        """Links and sites no backup can avoid: the bridges and cut sites of the working
        network (a data centre with a single uplink, say). Protection is disjoint
        everywhere else."""
        import networkx as nx

        state = (frozenset(self.down_sites), frozenset(self.down_links))
        if self._unavoidable[0] != state:   # computed once per state of the network
            up = self.graph.copy()
            up.remove_nodes_from(self.down_sites)
            up.remove_edges_from(tuple(k) for k in self.down_links)
            self._unavoidable = (state, ({frozenset(e) for e in nx.bridges(up)}, set(nx.articulation_points(up))))
        return self._unavoidable[1]

    def backup_for(self, spec: SliceSpec, tree: Tree, residual: dict[LinkKey, float],
                   tree_tags_held: bool = False, no_tags: set[LinkKey] | None = None) -> Tree:
        """A tree disjoint from ``tree`` in the way ``spec.protection`` asks (sharing only
        what :meth:`unavoidable` names), fitting in ``residual`` once ``tree`` is booked,
        with a tag of its own on every link but ``no_tags`` (``tree_tags_held``: ``tree``
        has its tags)."""
        bridges, cut_sites = self.unavoidable()
        no_tags = self.ledger.tags.full if no_tags is None else no_tags
        if not tree_tags_held:   # a link shared with the primary needs a second tag
            no_tags = no_tags | {k for k in tree.links & bridges if self.ledger.tags.free(k) < 2}
        after = dict(residual)
        for key in tree.links:
            after[key] -= spec.bandwidth_mbps
        transit = [x for x in tree.sites if x not in spec.sites]
        avoid_sites = self._avoided_sites(spec)
        if spec.protection in ("site", "region"):
            avoid_sites |= set(transit) - cut_sites
        regions = set()
        if spec.protection == "region":
            home = {self.graph.nodes[x]["region"] for x in spec.sites}
            regions = {self.graph.nodes[x]["region"] for x in transit} - home
        return place(self.graph, spec, after,
                     avoid_links=self.down_links | (set(tree.links) - bridges),
                     avoid_sites=avoid_sites, avoid_regions=regions, no_tags=no_tags, cache=self.backup_paths)

    def book(self, s: Slice, tree: Tree, backup: Tree | None, prefer: dict | None = None,
             prefer_backup: dict | None = None, exact: bool = False) -> None:
        """Place ``s`` on ``tree`` (and ``backup``) through the ledger: see
        :meth:`Ledger.hold` for ``prefer`` and ``exact``. Changes nothing and raises
        Rejected if a link has too few tags left for both trees."""
        self.ledger.check_tags(tree, backup)
        s.status, s.reason = PLACED, ""
        self.ledger.hold(s, "tree", tree, prefer, exact)
        if backup is not None:
            self.ledger.hold(s, "backup", backup, prefer_backup, exact)
        s.backup_shared = frozenset(tree.links & backup.links) if backup else frozenset()

    # -- operations ---------------------------------------------------------------------------

    def place_or_preempt(self, spec: SliceSpec) -> tuple[list[Slice], Tree, Tree | None]:
        """Where ``spec`` fits as things are (no victims), or which lower priorities it
        would displace; raises the first Rejected when neither works. Changes nothing."""
        try:
            tree, backup = self.place_pair(spec, self.residual)
            return [], tree, backup
        except Rejected as first:
            if first.constraint not in PREEMPTIBLE or first.structural:
                raise
            try:
                victims, tree, backup = choose_victims(self, spec)
            except Rejected:
                raise first from None
            if not victims:
                raise first
            return victims, tree, backup

    def admit(self, spec: SliceSpec) -> list[Event]:
        """Place and book ``spec``, preempting lower priorities if needed; or raise Rejected."""
        if spec.name in self.slices:
            raise Rejected("name", f"a slice named {spec.name} already exists")
        taken = self._taken(spec)
        if taken:
            raise Rejected("endpoint", f"endpoint {taken[0]} already belongs to slice {taken[1]}")
        victims, tree, backup = self.place_or_preempt(spec)
        self.ledger.check_tags(tree, backup, freeing=victims)   # before anything changes
        cp = self.checkpoint() if any(e.standby for e in spec.endpoints) else None
        prefix = self.prefixes.allocate()
        try:
            addresses = _addresses(spec, prefix)
        except Rejected:
            self.prefixes.release(prefix)
            raise
        s = Slice(spec=spec, number=self._numbers.allocate(), prefix=prefix, addresses=addresses)
        events = []
        self.preempt(victims, lambda v: f"preempted by {spec.name} (priority {spec.priority} > {v.spec.priority})")
        self.book(s, tree, backup)
        if cp is not None:
            try:
                self.ledger.hold_standby(s, self.standby_trees_for(s))
            except Rejected:
                self.rollback(cp)
                raise
        self.slices[spec.name] = s
        self._own(spec)
        events.append(Event("admitted", spec.name,
                            f"tree of {len(tree.edges)} links, worst delay {tree.worst_delay_ms:.2f} ms"
                            + (f", {spec.protection}-disjoint backup of {len(backup.edges)} links"
                               + shared_text(tree, backup) if backup else "")
                            + (f", preempting {', '.join(v.name for v in victims)}" if victims else "")
                            + (f", standby reserved for {', '.join(sorted(s.standby_trees))}"
                               if s.standby_trees else "")))
        return events + self.replace_victims(victims)

    # -- standby endpoints (disaster recovery across clouds) -------------------------------

    def standby_trees_for(self, s: Slice) -> dict[str, Tree]:
        """For each site where ``s`` has endpoints with standbys (still at their primary),
        the tree ``s`` would need were that site lost: those endpoints at their standbys,
        the site avoided, within the bound and regions, fitting the capacity left once
        ``s``'s own trees are given back. Raises Rejected when one does not fit."""
        bw = s.spec.bandwidth_mbps
        given_back = dict(self.residual)
        for t in (s.tree, s.backup):
            for key in t.links if t else ():
                given_back[key] += bw
        for key in s.standby_links:
            given_back[key] += bw
        trees = {}
        with_standby = [(i, e) for i, e in enumerate(s.spec.endpoints) if e.standby and i not in s.moved]
        for site in sorted({e.site for _i, e in with_standby}):
            moved = dict(s.moved) | {i: "" for i, e in with_standby if e.site == site}
            scenario = live_spec(s.spec, moved)
            names = ", ".join(str(e) for _i, e in with_standby if e.site == site)
            down = [x for x in scenario.sites if x in self.down_sites]
            if down:
                raise Rejected("standby", f"the standby site {down[0]} (for {names}) is down")
            try:
                trees[site] = place(self.graph, scenario, given_back, avoid_links=self.down_links,
                                    avoid_sites=self._avoided_sites(scenario) | {site},
                                    no_tags=self.ledger.tags.full, cache=self.paths)
            except Rejected as e:
                raise Rejected("standby", f"no room to recover {names} at standby were {site} lost: "
                               f"{e.reason}", structural=e.structural) from None
        return trees

    def reserve_standby(self, s: Slice, why: str) -> list[Event]:
        """Reserve ``s``'s standby trees again after it moved (best effort: a failure
        leaves it unreserved and says so)."""
        if not any(e.standby for e in s.spec.endpoints) or s.status != PLACED:
            return []
        try:
            self.ledger.hold_standby(s, self.standby_trees_for(s))
        except Rejected as e:
            self.ledger.drop_standby(s)
            return [Event("standby-unreserved", s.name, f"{why}; {e.reason}")]
        return []

    def _move_to_standby(self, site: str, why: str) -> list[Event]:
        """Every endpoint at ``site`` that has a standby is served there from now on."""
        events = []
        for s in sorted(self.slices.values(), key=lambda s: (-s.spec.priority, s.name)):
            for i, e in enumerate(s.spec.endpoints):
                if e.site != site or not e.standby or i in s.moved:
                    continue
                if e.standby.site in self.down_sites:
                    events.append(Event("standby-unavailable", s.name, f"{e}: {why}, and its standby "
                                        f"{e.standby.site} is down too"))
                    continue
                s.moved[i] = why
                events.append(Event("endpoint-moved", s.name, f"{e} now at its standby {e.standby} "
                                    f"(same address): {why}"))
        return events

    def failback(self, name: str, site: str | None = None) -> list[Event]:
        """Move the endpoints of slice ``name`` that are at their standbys (those of
        ``site`` only, if given) back to their primaries. All or nothing: Rejected when
        a primary site is still down or drained, or the slice does not fit there."""
        s = self.get(name)
        back = sorted(i for i in s.moved if site is None or s.spec.endpoints[i].site == site)
        if not back:
            raise Rejected("failback", f"no endpoint of {name}{' at ' + site if site else ''} is on its standby")
        for i in back:
            e = s.spec.endpoints[i]
            if e.site in self.down_sites or e.site in self.drained:
                raise Rejected("site", f"{e.site} is {'down' if e.site in self.down_sites else 'drained'}: "
                               f"{e} cannot go back yet")
        cp = self.checkpoint()
        s = self.slices[name]
        try:
            old_tags, old_backup_tags = dict(s.tags), dict(s.backup_tags)
            self.ledger.drop_all(s)
            for i in back:
                del s.moved[i]
            victims, tree, backup = self.place_or_preempt(s.live_spec)
            self.preempt(victims, lambda v: f"preempted by {name} failing back (priority "
                         f"{s.spec.priority} > {v.spec.priority})")
            self.book(s, tree, backup, old_tags, old_backup_tags)
            self.ledger.hold_standby(s, self.standby_trees_for(s))
        except Rejected:
            self.rollback(cp)
            raise
        moved = ", ".join(str(s.spec.endpoints[i]) for i in back)
        return ([Event("failed-back", name, f"{moved} back at the primary; tree of {len(tree.edges)} links")]
                + self.replace_victims(victims) + self.restore_waiting())

    def drain(self, site: str) -> list[Event]:
        """Maintenance or an approaching disaster at ``site``: slices stop crossing it,
        endpoints there with a standby move to it; endpoints without one stay (said so)."""
        if not self.topology.has_site(site):
            raise KeyError(f"no site {site}")
        if site in self.drained:
            return []
        self.drained.add(site)
        why = f"site {site} drained"
        events = self._move_to_standby(site, why)
        stuck = sorted({s.name for s in self.slices.values() for i, e in enumerate(s.spec.endpoints)
                        if e.site == site and i not in s.moved})
        for name in stuck:
            events.append(Event("drain-blocked", name, f"an endpoint at {site} has no standby: still served there"))
        self._forget_failures()
        touched = sorted((s for s in self.slices.values() if s.status == PLACED and s.name not in stuck
                          and any(site in t.sites for t in (s.tree, s.backup) if t is not None)),
                         key=lambda s: (-s.spec.priority, s.name))
        for s in touched:
            # a drain moves what can go around the site and cuts nothing: a slice with no
            # way around (or that would preempt another to find one) stays, and is reported
            cp = self.checkpoint()
            moved = failures.repair(self, lambda t: site in t.sites, why, only={s.name})
            if any(e.kind == "preempted" for e in moved):
                self.rollback(cp)
                moved = [Event("drain-blocked", s.name, f"no way around {site}: still crossing it")]
            events += moved
        return events

    def undrain(self, site: str) -> list[Event]:
        """The site may be crossed again; endpoints moved off it stay at their standbys
        until failed back (data now lives there)."""
        if site not in self.drained:
            return []
        self.drained.discard(site)
        self._forget_failures()
        return self.restore_waiting() + failures.improve_backups(self)

    def preempt(self, victims: list[Slice], reason) -> None:
        """Take ``victims`` off the network; ``reason(victim)`` says why."""
        for v in victims:
            self.ledger.drop_all(v)
            v.status, v.reason = PREEMPTED, reason(v)

    def replace_victims(self, victims: list[Slice]) -> list[Event]:
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
        taken = self._taken(spec)
        if taken:
            raise Rejected("endpoint", f"endpoint {taken[0]} already belongs to slice {taken[1]}")
        old_spec, old_tags, old_backup_tags = s.spec, dict(s.tags), dict(s.backup_tags)
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
        cp = self.checkpoint()
        if s.status == PLACED:
            self.ledger.drop_all(s)
        # an endpoint stays at its standby while its primary site is still down or drained
        still_away = {e: why for i, why in s.moved.items() for e in (s.spec.endpoints[i],)
                      if e.site in self.down_sites or e.site in self.drained}
        s.spec = spec
        s.moved = {i: still_away[e] for i, e in enumerate(spec.endpoints) if e in still_away}
        try:
            victims, tree, backup = self.place_or_preempt(s.live_spec)
            self.preempt(victims, lambda v: f"preempted by {spec.name} (priority {spec.priority} > {v.spec.priority})")
            self.book(s, tree, backup, old_tags, old_backup_tags)
            if any(e.standby for e in spec.endpoints):
                self.ledger.hold_standby(s, self.standby_trees_for(s))
        except Rejected:
            self.rollback(cp)
            raise
        s = self.slices[spec.name]
        self._disown(old_spec)
        self._own(spec)
        s.addresses = addresses
        events = [Event("updated", spec.name, f"tree of {len(tree.edges)} links, worst delay "
                        f"{tree.worst_delay_ms:.2f} ms"
                        + (f", preempting {', '.join(v.name for v in victims)}" if victims else ""))]
        return events + self.replace_victims(victims) + self.restore_waiting()

    # -- measured delays (controller.sla) -----------------------------------------------------

    def set_link_delays(self, measured: dict[LinkKey, float]) -> list[str]:
        """Place from now on with these one-way delays (ms) where given, the model's
        elsewhere: a link measured slower than its distance says is no longer chosen for
        a bound it cannot keep. The links whose delay changed, as sentences."""
        changed = []
        for l in self.topology.links:
            delay = measured.get(l.key, l.delay_ms)
            edge = self.graph[l.a][l.b]
            if abs(edge["delay_ms"] - delay) > 1e-9:
                changed.append(f"{l.a}—{l.b} {edge['delay_ms']:.2f} → {delay:.2f} ms")
                edge["delay_ms"] = delay
        if changed:
            # their searches (and adjacency) were made with the old delays
            self.paths, self.backup_paths = PathCache(), PathCache(1)
        return changed

    def reroute(self, name: str, measured_ms: float, why: str) -> list[Event]:
        """Move slice ``name``, whose worst pair is measured at ``measured_ms``, onto the
        tree the current delays (:meth:`set_link_delays`) say is best, if that tree keeps
        its bound and beats the measurement; keeps the tags of links it keeps, so the
        switches get only the difference (make-before-break, like an update). No move, no
        event; never preempts."""
        s = self.get(name)
        if s.status != PLACED:
            return []
        cp = self.checkpoint()
        old_tags, old_backup_tags = dict(s.tags), dict(s.backup_tags)
        old_links = s.tree.links
        self.ledger.drop_all(s)
        try:
            tree, backup = self.place_pair(s.live_spec, self.residual)
            if tree.links == old_links or tree.worst_delay_ms >= measured_ms - REROUTE_GAIN_MS:
                raise Rejected("latency", "no better tree")
            self.book(s, tree, backup, old_tags, old_backup_tags)
            if any(e.standby for e in s.spec.endpoints):
                self.ledger.hold_standby(s, self.standby_trees_for(s))
        except Rejected:
            self.rollback(cp)
            return []
        return [Event("re-routed", name, f"{why}; now a tree of {len(tree.edges)} links, worst delay "
                      f"{tree.worst_delay_ms:.2f} ms with the links' measured delays")]

    def adopt(self, p: Placement) -> Slice:
        """Take back a slice exactly as it was (after a controller restart): same id,
        prefix, addresses, trees and tags, so the switches' rules still match. Raises
        ValueError when the record does not fit this engine exactly (a changed topology,
        an endpoint, id, prefix or tag another slice holds, a link it would
        oversubscribe); the engine may then be half-changed: take a :meth:`checkpoint`
        first and roll back."""
        spec = p.spec
        if spec.name in self.slices:
            raise ValueError(f"slice {spec.name} exists already")
        taken = self._taken(spec)
        if taken:
            raise ValueError(f"endpoint {taken[0]} of {spec.name} belongs to slice {taken[1]} already")
        net = IPNetwork(p.prefix)
        if not self._numbers.take(p.number):
            raise ValueError(f"slice id {p.number} of {spec.name} is taken or out of range")
        if not self.prefixes.take(net):
            raise ValueError(f"prefix {p.prefix} of {spec.name} is taken or outside the pool")
        if set(p.address) != set(spec.endpoints):
            raise ValueError(f"{spec.name}: recorded addresses do not match its endpoints")
        s = Slice(spec=spec, number=p.number, prefix=net, addresses=dict(p.address), moved=dict(p.moved))
        if any(not 0 <= i < len(spec.endpoints) or not spec.endpoints[i].standby for i in s.moved):
            raise ValueError(f"{spec.name}: a recorded move names an endpoint without a standby")
        for t, t_tags in ((p.tree, p.tag), (p.backup, p.backup_tag)):
            for key in t.links if t else ():
                if key not in self.capacity:
                    raise ValueError(f"{spec.name} uses {'—'.join(sorted(key))}, not a link of {self.topology.name}")
                if key not in t_tags:
                    raise ValueError(f"{spec.name} has no tag on {'—'.join(sorted(key))}")
        self.slices[spec.name] = s
        self._own(spec)
        if p.status == PLACED and p.tree is not None:
            self.book(s, p.tree, p.backup, p.tag, p.backup_tag, exact=True)
            self.ledger.hold_standby(s, dict(p.standby_trees))
            full = sorted("—".join(sorted(k)) for k in s.booked_links() if self.residual[k] < -1e-6)
            if full:
                raise ValueError(f"{spec.name} would oversubscribe {', '.join(full)}")
        else:
            s.status, s.reason = PREEMPTED, p.reason
        return s

    def _try_restore(self, s: Slice, kind: str, otherwise: tuple[str, str] | None = None) -> Event | None:
        try:
            tree, backup = self.place_pair(s.live_spec, self.residual)
            self.book(s, tree, backup)
        except Rejected as e:
            s.failed_at = self._blocked(s)
            if otherwise:
                s.reason = f"{otherwise[1]}; no room elsewhere: {e.reason}"
                return Event(otherwise[0], s.name, s.reason)
            return None
        s.failed_at = None
        unreserved = self.reserve_standby(s, kind)
        return Event(kind, s.name, f"tree of {len(tree.edges)} links, worst delay {tree.worst_delay_ms:.2f} ms"
                     + (f"; {unreserved[0].reason}" if unreserved else ""))

    def restore_waiting(self, limit: int | None = None) -> list[Event]:
        """Capacity came back: restore preempted slices, highest priority first. With
        ``limit``, at most that many are tried; :attr:`restore_pending` then says whether
        others are left for the next call (the controller spreads a long restoration over
        several short tasks, so requests are not held up behind it).

        Placement depends only on which links have enough residual capacity (down links
        and sites aside, which reset the memo), so a slice is tried again only if one of
        the links too full for it when it last failed has been freed since and crossed
        its threshold: with thousands waiting, a delete then costs a look at the links it
        freed per waiting slice instead of thousands of placements."""
        events, tried = [], 0
        freed = self.ledger.take_freed()
        self.restore_pending = False
        waiting = sorted((s for s in self.slices.values() if s.status == PREEMPTED),
                         key=lambda s: (-s.spec.priority, s.name))
        for s in waiting:
            if s.failed_at is not None and (freed.isdisjoint(s.failed_at) or not self._crossed(s)):
                continue
            if limit is not None and tried >= limit:
                self.ledger.freed |= freed        # the rest are looked at next time
                self.restore_pending = True
                break
            tried += 1
            ev = self._try_restore(s, "restored")
            if ev:
                events.append(ev)
        return events

    def _needs(self, s: Slice) -> tuple[float, ...]:
        b = s.spec.bandwidth_mbps
        return (b, 2 * b) if s.spec.protection != "none" else (b,)

    def _blocked(self, s: Slice) -> dict[LinkKey, float]:
        """The links too full for ``s`` now, with their residual: what it waits on. A link
        with every tag in use is there as :data:`NO_TAG`, whatever its residual."""
        most = max(self._needs(s))
        blocked = {k: r for k, r in self.residual.items() if r + 1e-9 < most}
        blocked.update(dict.fromkeys(self.ledger.tags.full, NO_TAG))
        return blocked

    def _crossed(self, s: Slice) -> bool:
        """Whether a link ``s`` waits on has changed enough to try it again: past one of
        its needs in bandwidth, or a tag free where none was."""
        needs, full = self._needs(s), self.ledger.tags.full
        return any(k not in full if old is NO_TAG else old + 1e-9 < n <= self.residual[k] + 1e-9
                   for k, old in s.failed_at.items() for n in needs)

    def _forget_failures(self) -> None:
        for s in self.slices.values():
            s.failed_at = None

    def release(self, name: str, restore: bool = True) -> list[Event]:
        """Delete slice ``name``; with ``restore``, then place again the preempted slices
        its capacity lets back in. The controller passes False and calls
        :meth:`restore_waiting` as a task of its own, after answering the delete: with
        thousands waiting, restoring is the costly part, and the caller need not wait."""
        s = self.get(name)
        self.ledger.drop_all(s)
        self.prefixes.release(s.prefix)
        self._numbers.release(s.number)
        self._disown(s.spec)
        del self.slices[name]
        return [Event("released", name, "deleted")] + (self.restore_waiting() if restore else [])

    def waiting(self) -> bool:
        """Whether any slice is preempted (waiting for capacity)."""
        return any(s.status == PREEMPTED for s in self.slices.values())

    def link_down(self, a: str, b: str, why: str = "") -> list[Event]:
        key = frozenset((a, b))
        if key not in self.capacity:
            raise KeyError(f"no link {a}—{b}")
        self.down_links.add(key)
        return failures.repair(self, lambda t: key in t.links, f"link {a}—{b} down" + (f" ({why})" if why else ""))

    def site_down(self, site: str, why: str = "") -> list[Event]:
        """``site`` is lost: slices stop crossing it; endpoints there with a standby move
        to it (same address and VLAN), the others wait with the slice."""
        if not self.topology.has_site(site):
            raise KeyError(f"no site {site}")
        self.down_sites.add(site)
        reason = f"site {site} down" + (f" ({why})" if why else "")
        moves = self._move_to_standby(site, reason)
        for name in {e.slice for e in moves if e.kind == "endpoint-moved"}:
            self.slices[name].failed_at = None   # waiting for that site: try again at the standby
        return moves + failures.repair(self, lambda t: site in t.sites, reason) + self.restore_waiting()

    def link_up(self, a: str, b: str) -> list[Event]:
        self.down_links.discard(frozenset((a, b)))
        self._forget_failures()
        return self.restore_waiting() + failures.improve_backups(self)

    def site_up(self, site: str) -> list[Event]:
        self.down_sites.discard(site)
        self._forget_failures()
        return self.restore_waiting() + failures.improve_backups(self)


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
