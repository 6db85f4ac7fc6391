"""The slice engine: admission, booking, priority preemption, restoration, failures.

Pure and single-threaded: it owns the residual capacity of every link and the state of
every slice, and each operation returns the events it caused. Nothing changes when an
operation raises: decisions are worked out first and applied at the end.

Priorities (0-7, see :data:`slices.spec.PRIORITY_CLASSES`): a slice that does not fit may
preempt *strictly lower* priority slices (:mod:`slices.preemption` chooses which). Each
preempted slice is then re-placed elsewhere if it fits, else it waits in state
``preempted`` and is restored, in priority order, when capacity returns
(:mod:`slices.restoration`). Failures are handled by :mod:`slices.repair`; bandwidth and
tags are booked only through :class:`slices.ledger.Ledger`; :mod:`slices.audit` checks
the invariants. What the engine decided leaves it as frozen
:class:`slices.record.Placement` records.

The engine is this module's bookkeeping and operations, with one part per job mixed in:
where a primary and its backup go (:mod:`slices.pairs`), standby endpoints and failback
(:mod:`slices.standby`), drains (:mod:`slices.drain`) and SLA reroutes
(:mod:`slices.reroute`). Repair, preemption and restoration see only the ledger, the
slices and the narrow protocols of :mod:`slices.placer`.
"""
from __future__ import annotations

from dataclasses import dataclass

from netaddr import IPNetwork

from slices import repair as failures
from slices import restoration
from slices.booking import Booking, Bookings
from slices.calendar import Calendar
from slices.drain import Drains
from slices.errors import Rejected, UnknownSlice
from slices.ledger import Ledger
from slices.pairs import PairPlacement
from slices.placement import INF, LinkKey, PathCache, Tree
from slices.preemption import choose_victims, outranked_by, preempting
from slices.record import Event, EventKind, PLACED, PREEMPTED, Placement
from slices.repair import shared_text
from slices.reroute import REROUTE_GAIN_MS, SlaReroutes
from slices.resources import IndexAllocator, PrefixPool, TagSpace
from slices.restoration import NO_TAG, RESTORE_BATCH
from slices.rules import MAX_SLICE_ID, MPLS_MAX_ENDPOINTS
from slices.spec import Endpoint, SliceSpec
from slices.standby import StandbyMoves
from slices.state import Slice
from slices.windows import Window, Windows
from topologies.model import Topology

__all__ = ["NO_TAG", "PLACED", "PREEMPTED", "REROUTE_GAIN_MS", "RESTORE_BATCH", "Event", "Placement",
           "Slice", "SliceEngine"]
# constraints that freeing lower-priority capacity can cure (a fast route may be full)
PREEMPTIBLE = ("bandwidth", "latency", "protection", "tags")


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
    calendar: Calendar
    bookings: dict
    windows: dict
    drained_links: set


class SliceEngine(PairPlacement, StandbyMoves, Drains, SlaReroutes, Bookings, Windows):
    """Every slice and every link's books (see the module text): the one object the
    controller, the CLI and the tests drive."""

    def __init__(self, topology: Topology, *, prefix_pool: str = "10.128.0.0/9",
                 prefix_len: int = 24):
        self.topology = topology
        self.graph = topology.graph()
        self.ledger = Ledger({l.key: l.bandwidth_mbps for l in topology.links}, topology.transport)
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
        self.calendar = Calendar()                  # bookings ahead, over time (slices.booking)
        self.bookings: dict[str, Booking] = {}
        self.windows: dict[str, Window] = {}        # maintenance planned (slices.windows)
        self.drained_links: set[LinkKey] = set()
        self.over: tuple[float, float] | None = None

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
            endpoint_owner=dict(self.endpoint_owner), calendar=self.calendar.copy(),
            bookings={n: b.copy() for n, b in self.bookings.items()}, windows=dict(self.windows),
            drained_links=set(self.drained_links))

    def rollback(self, cp: "Checkpoint") -> None:
        """Put the engine back exactly as it was at ``cp`` (which stays usable)."""
        self.ledger, self.slices = cp.ledger.copy(), {n: s.copy() for n, s in cp.slices.items()}
        self.down_links, self.down_sites, self.drained = set(cp.down_links), set(cp.down_sites), set(cp.drained)
        self.prefixes, self._numbers = cp.prefixes.copy(), cp.numbers.copy()
        self.endpoint_owner = dict(cp.endpoint_owner)
        self.calendar, self.bookings = cp.calendar.copy(), {n: b.copy() for n, b in cp.bookings.items()}
        self.windows, self.drained_links = dict(cp.windows), set(cp.drained_links)

    # -- queries ---------------------------------------------------------------------------

    def get(self, name: str) -> Slice:
        try:
            return self.slices[name]
        except KeyError:
            raise UnknownSlice(name) from None

    def slices_on(self, link: LinkKey) -> list[Slice]:
        return [self.slices[n] for n in self.ledger.names_on(link)]

    def _taken(self, spec: SliceSpec, named: bool = False) -> str | None:
        """Why the first endpoint (or standby) port of ``spec`` that another slice owns
        cannot be had; None if every one is free. The owner is named only to its own tenant
        (or, ``named``, to the operator restoring the store): another tenant learns that the
        port is in use, not by whom or for what. On an MPLS topology also too many
        endpoints: a group id has room for half as many (one per payload)."""
        if self.topology.transport == "mpls" and len(spec.endpoints) > MPLS_MAX_ENDPOINTS:
            return f"at most {MPLS_MAX_ENDPOINTS} endpoints per slice with MPLS, got {len(spec.endpoints)}"
        for e in spec.endpoints:
            for key, what in ((e.key, str(e)), (e.standby_key, f"{e.standby} (standby of {e})")):
                owner = self.endpoint_owner.get(key) if key else None
                if owner and owner != spec.name:
                    theirs = self.slices[owner].spec
                    if theirs.tenant != spec.tenant and not named:
                        return f"endpoint {what} is in use by another tenant's slice"
                    standby = next((x for x in theirs.endpoints if x.standby_key == key), None)
                    return (f"endpoint {what}" + (f", the standby of {standby} there," if standby else "")
                            + f" already belongs to slice {owner}")
        return None

    def _booked_endpoint(self, spec: SliceSpec) -> str | None:
        """Why an endpoint of ``spec`` (a slice of today: until deleted, or until its
        schedule's end) cannot be had because a booking ahead uses it; None if none does."""
        if not self.calendar.endpoints:
            return None
        end = spec.schedule.end if spec.schedule is not None and spec.schedule.end is not None else INF
        for e in spec.endpoints:
            other = self.calendar.endpoint_user(e.key, -INF, end)
            if other and other != spec.name:
                mine = self.bookings[other].spec.tenant == spec.tenant
                return f"endpoint {e} is booked ahead by " + (f"slice {other}" if mine else "another tenant's slice")
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
        would displace; raises the first Rejected when neither works. Changes nothing.
        Bookings ahead count at their peak until ``spec``'s end (today's slices last
        until deleted, so they overlap every booking)."""
        ahead = None
        if self.calendar:
            end = spec.schedule.end if spec.schedule and spec.schedule.end is not None else INF
            ahead = {k: self.calendar.peak(k, -INF, end) for k in self.calendar.links}
        try:
            residual = self.residual if ahead is None else {k: r - ahead.get(k, 0.0) for k, r in self.residual.items()}
            tree, backup = self.place_pair(spec, residual)
            return [], tree, backup
        except Rejected as first:
            if first.constraint not in PREEMPTIBLE or first.structural:
                raise
            try:
                victims, tree, backup = choose_victims(self.ledger, self.slices, self, spec, ahead)
            except Rejected:
                raise first from None
            if not victims:
                raise first
            return victims, tree, backup

    def admit(self, spec: SliceSpec, dark: bool = False) -> list[Event]:
        """Place and book ``spec``, preempting lower priorities if needed; or raise Rejected.
        ``dark``: booked without rules (a federation part until Provision: :meth:`light`)."""
        if spec.name in self.slices or spec.name in self.bookings:
            raise Rejected("name", f"a slice named {spec.name} already exists")
        taken = self._taken(spec) or self._booked_endpoint(spec)
        if taken:
            raise Rejected("endpoint", taken)
        victims, tree, backup = self.place_or_preempt(spec)
        self.ledger.check_tags(tree, backup, freeing=victims)   # before anything changes
        standby = any(e.standby for e in spec.endpoints)
        # a standby that does not fit is found once the slice is booked: undone by hand
        # (a checkpoint copies every slice: admissions grew with the square of the slices),
        # by a checkpoint only when victims were preempted too
        cp = self.checkpoint() if standby and victims else None
        prefix = self.prefixes.allocate()
        try:
            addresses = _addresses(spec, prefix)
        except Rejected:
            self.prefixes.release(prefix)
            raise
        number = self._numbers.allocate()
        if number is None:   # every id of every cookie, meter and group in use
            self.prefixes.release(prefix)
            raise Rejected("ids", f"no slice id left: {self._numbers.high} slices exist already")
        s = Slice(spec=spec, number=number, prefix=prefix, addresses=addresses, dark=dark)
        events = []
        self.preempt(victims, outranked_by(spec))
        self.book(s, tree, backup)
        if standby:
            try:
                self.ledger.hold_standby(s, self.standby_trees_for(s))
            except Rejected:
                if cp is not None:
                    self.rollback(cp)
                else:
                    self.ledger.drop_all(s)
                    self.prefixes.release(prefix)
                    self._numbers.release(number)
                raise
        self.slices[spec.name] = s
        self._own(spec)
        events.append(Event(EventKind.ADMITTED, spec.name,
                            f"tree of {len(tree.edges)} links, worst delay {tree.worst_delay_ms:.2f} ms"
                            + (f", {spec.protection}-disjoint backup of {len(backup.edges)} links"
                               + shared_text(tree, backup) if backup else "")
                            + preempting(spec, victims)
                            + (f", standby reserved for {', '.join(sorted(s.standby_trees))}"
                               if s.standby_trees else "")))
        return events + self.replace_victims(victims)

    def preempt(self, victims: list[Slice], reason) -> None:
        """Take ``victims`` off the network; ``reason(victim)`` says why."""
        for v in victims:
            self.ledger.drop_all(v)
            v.status, v.reason = PREEMPTED, reason(v)

    def replace_victims(self, victims: list[Slice]) -> list[Event]:
        """Try each preempted victim elsewhere, highest priority first."""
        return [restoration.try_restore(self.ledger, self, v, EventKind.RE_PLACED, otherwise=(EventKind.PREEMPTED, v.reason))
                for v in sorted(victims, key=lambda v: -v.spec.priority)]

    def update(self, spec: SliceSpec) -> list[Event]:
        """Replace the spec of slice ``spec.name`` (bandwidth, bound, priority, endpoints,
        ...). Keeps its id, prefix, the addresses of endpoints that stay, and the tags of
        links its new tree keeps, so only what changed gets new rules. All or nothing:
        if the new spec does not fit (even preempting lower priorities), the slice stays
        exactly as it was and Rejected is raised."""
        s = self.get(spec.name)
        taken = self._taken(spec) or self._booked_endpoint(spec)
        if taken:
            raise Rejected("endpoint", taken)
        old_spec, old_tags, old_backup_tags = s.spec, dict(s.tags), dict(s.backup_tags)
        # endpoints that stay keep their assigned address
        addresses = _addresses(spec, s.prefix, keep={e.key: a for e, a in s.addresses.items()})
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
            self.preempt(victims, outranked_by(spec))
            self.book_with_standby(s, tree, backup, old_tags, old_backup_tags)
        except Rejected:
            self.rollback(cp)
            raise
        s = self.slices[spec.name]
        self._disown(old_spec)
        self._own(spec)
        s.addresses = addresses
        events = [Event(EventKind.UPDATED, spec.name, f"tree of {len(tree.edges)} links, worst delay "
                        f"{tree.worst_delay_ms:.2f} ms"
                        + preempting(spec, victims))]
        return events + self.replace_victims(victims) + self.restore_waiting()

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
        taken = self._taken(spec, named=True)
        if taken:
            raise ValueError(f"{spec.name}: {taken}")
        net = IPNetwork(p.prefix)
        if not self._numbers.take(p.number):
            raise ValueError(f"slice id {p.number} of {spec.name} is taken or out of range")
        if not self.prefixes.take(net):
            raise ValueError(f"prefix {p.prefix} of {spec.name} is taken or outside the pool")
        if set(p.address) != set(spec.endpoints):
            raise ValueError(f"{spec.name}: recorded addresses do not match its endpoints")
        s = Slice(spec=spec, number=p.number, prefix=net, addresses=dict(p.address), moved=dict(p.moved),
                  dark=p.dark)
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

    def restore_waiting(self, limit: int | None = None) -> list[Event]:
        """Capacity came back: restore preempted slices, highest priority first. With
        ``limit``, at most that many are tried; :attr:`restore_pending` then says whether
        others are left for the next call (the controller spreads a long restoration over
        several short tasks, so requests are not held up behind it). Only slices whose
        blocking links were freed enough are tried (see :mod:`slices.restoration`)."""
        events, self.restore_pending = restoration.restore_waiting(self.slices, self.ledger, self, limit)
        return events

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
        return [Event(EventKind.RELEASED, name, "deleted")] + (self.restore_waiting() if restore else [])

    def light(self, name: str, on: bool) -> list[Event]:
        """Give slice ``name`` its rules (``on``: a federation part provisioned) or take
        them away, keeping its booking (released). Only the compiled plan changes."""
        s = self.get(name)
        s.dark = not on
        return [Event(EventKind.UPDATED, name, "provisioned: rules installed" if on
                      else "released: rules removed, booking kept")]

    def waiting(self) -> bool:
        """Whether any slice is preempted (waiting for capacity)."""
        return any(s.status == PREEMPTED for s in self.slices.values())

    def link_down(self, a: str, b: str, why: str = "") -> list[Event]:
        key = frozenset((a, b))
        if key not in self.capacity:
            raise KeyError(f"no link {a}—{b}")
        self.down_links.add(key)
        return failures.repair(self.slices, self.ledger, self, lambda t: key in t.links, f"link {a}—{b} down" + (f" ({why})" if why else ""))

    def site_down(self, site: str, why: str = "") -> list[Event]:
        """``site`` is lost: slices stop crossing it; endpoints there with a standby move
        to it (same address and VLAN), the others wait with the slice."""
        if not self.topology.has_site(site):
            raise KeyError(f"no site {site}")
        self.down_sites.add(site)
        reason = f"site {site} down" + (f" ({why})" if why else "")
        moves = self.move_to_standby(site, reason)
        for name in {e.slice for e in moves if e.kind == EventKind.ENDPOINT_MOVED}:
            self.slices[name].failed_at = None   # waiting for that site: try again at the standby
        return moves + failures.repair(self.slices, self.ledger, self, lambda t: site in t.sites, reason) + self.restore_waiting()

    def link_up(self, a: str, b: str) -> list[Event]:
        self.down_links.discard(frozenset((a, b)))
        return self.after_recovery()

    def site_up(self, site: str) -> list[Event]:
        self.down_sites.discard(site)
        return self.after_recovery()

    def after_recovery(self) -> list[Event]:
        """A link or site came back or was undrained: every waiting slice is worth a try
        again, and backups that had to share links may now avoid them."""
        restoration.forget_failures(self.slices)
        return self.restore_waiting() + failures.improve_backups(self.slices, self.ledger, self)


def _addresses(spec: SliceSpec, prefix: IPNetwork, keep: dict[tuple, str] | None = None) -> dict[Endpoint, str]:
    """Given addresses are kept, then those of ``keep`` (by endpoint key) that no given
    one takes; the others come from the slice's prefix in order."""
    taken = {e.ip for e in spec.endpoints if e.ip}
    out = {}
    for e in spec.endpoints:
        a = (keep or {}).get(e.key)
        if not e.ip and a and a not in taken:
            out[e] = a
            taken.add(a)
    hosts = (str(ip) for ip in prefix.iter_hosts() if str(ip) not in taken)
    for e in spec.endpoints:
        if e not in out:
            out[e] = e.ip or next(hosts, None)
            if out[e] is None:
                raise Rejected("addresses", f"prefix {prefix} has too few addresses for "
                               f"{len(spec.endpoints)} endpoints")
    return out
