"""Slices booked ahead (issue 27): admission over time, preemption over time, the start.

A slice whose schedule starts later is *booked*: placed now on the network as it will be
over its interval ``[t0, t1)`` - the ledger's residual (today's slices, which last until
deleted, so overlap every booking) less the calendar's peak over the interval
(:mod:`slices.calendar`) - and its bandwidth and one tag per link held in the calendar
over that interval only. The placement itself is the engine's own (:meth:`place_pair`):
the calendar only changes the residual it is given, so a booking is placed by the same
rules (latency, regions, protection) as a slice of today.

Priorities work over time: a booking that does not fit may displace lower-priority
bookings *that overlap it* (today's slices are never touched by a booking), chosen
greedily, lowest priority first, then pruned of any not needed. A displaced booking is
placed again over its own interval if it can be, else it waits (``preempted``, holding
nothing) and is tried again at its start.

At its start the controller calls :meth:`Bookings.activate`: the booking leaves the
calendar and the slice is admitted as any slice is - the capacity it held is there for
it, because every admission of today was checked against the calendar's peak.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field, replace

from slices.calendar import Calendar
from slices.errors import Rejected
from slices.ledger import tag_links
from slices.placement import EPSILON, LinkKey, Tree
from slices.preemption import may_displace, outranked_by, preempting
from slices.record import BOOKED, Event, EventKind, Placement
from slices.schedule import interval_text
from slices.spec import SliceSpec

SCHEDULED, WAITING = "scheduled", "preempted"


@dataclass
class Booking:
    """A slice booked ahead: where it will go and what it holds over ``[t0, t1)``."""

    spec: SliceSpec
    t0: float
    t1: float
    status: str = SCHEDULED
    reason: str = ""
    tree: Tree | None = None
    backup: Tree | None = None
    tags: dict[LinkKey, int] = field(default_factory=dict)
    backup_tags: dict[LinkKey, int] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    def copy(self) -> "Booking":
        return replace(self, tags=dict(self.tags), backup_tags=dict(self.backup_tags))

    def need(self) -> dict[LinkKey, float]:
        """Mbit/s it needs on each link (twice where its primary and backup share one)."""
        out: dict[LinkKey, float] = {}
        for t in (self.tree, self.backup):
            for k in t.links if t else ():
                out[k] = out.get(k, 0.0) + self.spec.bandwidth_mbps
        return out


class Bookings:
    """The engine's bookings ahead (mixed into :class:`slices.engine.SliceEngine`, which
    gives it ``calendar``, ``bookings``, ``ledger``, ``slices``, ``endpoint_owner``,
    ``place_pair``, ``checkpoint``, ``rollback``, ``admit``, and from
    :class:`slices.windows.Windows` ``windows``, ``placing_over`` and ``window_endpoint``)."""

    calendar: Calendar
    bookings: dict[str, Booking]
    windows: dict

    def book_ahead(self, spec: SliceSpec, now: float) -> list[Event]:
        """Book ``spec`` over its schedule's interval, displacing overlapping lower
        bookings if needed; or raise Rejected naming the link and interval that is full.
        Changes nothing when it raises."""
        if spec.schedule is None:
            raise Rejected("schedule", f"{spec.name} has no schedule to book")
        t0, t1 = spec.schedule.window(now)
        if spec.name in self.slices or spec.name in self.bookings:
            raise Rejected("name", f"a slice named {spec.name} already exists")
        self._endpoints_free(spec, t0, t1)
        b = Booking(spec=spec, t0=t0, t1=t1)
        with self.placing_over(t0, t1):     # around the maintenance windows overlapping it
            try:
                b.tree, b.backup = self.place_pair(spec, self._residual_over(t0, t1, need=spec.bandwidth_mbps),
                                                   self._no_tags(t0, t1))
            except Rejected as first:
                if first.structural:
                    raise
                return self._book_displacing(b, first)
        self._hold(b)
        self.bookings[spec.name] = b
        return [self._booked_event(b, [])]

    def _booked_event(self, b: Booking, victims: list[Booking]) -> Event:
        return Event(EventKind.BOOKED, b.name, f"{interval_text(b.t0, b.t1)}: tree of {len(b.tree.edges)} "
                     f"links, worst delay {b.tree.worst_delay_ms:.2f} ms"
                     + preempting(b.spec, victims))    # type: ignore[arg-type]

    def _book_displacing(self, b: Booking, first: Rejected) -> list[Event]:
        """Displace lower-priority bookings overlapping ``b`` until it fits (see the
        module text). Raises (changing nothing) when even all of them would not do: the
        refusal names the full link and when."""
        spec = b.spec
        lower = sorted((v for v in self.bookings.values()
                        if v.status == SCHEDULED and v.spec.priority < spec.priority
                        and v.t0 < b.t1 and b.t0 < v.t1 and may_displace(spec, v)),   # type: ignore[arg-type]
                       key=lambda v: (v.spec.priority, -v.spec.bandwidth_mbps, v.name))
        if not lower:
            raise self._full_over(b, first)
        saved = {v.name: (v.tree, v.backup, {**{("tags", k): t for k, t in v.tags.items()},
                                             **{("backup_tags", k): t for k, t in v.backup_tags.items()}})
                 for v in lower}
        # what the touched links' calendars were, to put back exactly on a refusal (a copy
        # of a few links, not a checkpoint of the engine: ~100 ms at 10,000 bookings)
        before: dict = {}
        dropped: list[Booking] = []
        try:
            b.tree, b.backup = self._place_over_lower(b, lower, dropped, before)
            self._keep(before, b.tree, b.backup)
            self._hold(b)
        except Rejected:
            for v in dropped:              # the tags they held are free again: nothing took them
                v.tree, v.backup, prefer = saved[v.name]
                self._hold(v, prefer)
            self.calendar.links.update(before)
            raise self._full_over(b, first) from None
        self.bookings[spec.name] = b
        victims = [v for v in reversed(dropped) if not self._spared(b, v, saved[v.name])]
        why = outranked_by(spec)
        return [self._booked_event(b, victims)] + [self._place_again(v, why(v)) for v in victims]

    def _place_over_lower(self, b: Booking, lower: list[Booking], dropped: list[Booking],
                          before: dict) -> tuple[Tree, Tree | None]:
        """Where ``b`` goes were ``lower`` gone, dropping (into ``dropped``) only those on
        the links it lacks, lowest priority first, until it fits there. From priority 4 up
        every lower booking may go, and the calendar answers "the peak of the priorities
        from p up" without dropping anything; below, only a tenant's own may, so they are
        dropped to ask."""
        from slices.preemption import CROSS_TENANT_PRIORITY

        if b.spec.priority >= CROSS_TENANT_PRIORITY:
            room = self._residual_over(b.t0, b.t1, from_priority=b.spec.priority)
        else:
            for v in lower:
                self._keep(before, v.tree, v.backup)
                self._drop(v)
                dropped.append(v)
            room = self._residual_over(b.t0, b.t1)
        tree, backup = self.place_pair(b.spec, room, self._no_tags(b.t0, b.t1))
        b.tree, b.backup = tree, backup
        need, today = b.need(), self.residual_from(b.t0)
        short = {k for k, n in need.items() if today[k] - self.calendar.peak(k, b.t0, b.t1) + EPSILON < n}
        for v in lower:
            if not short:
                break
            if v.tree is None or not short & (v.tree.links | (v.backup.links if v.backup else frozenset())):
                continue
            self._keep(before, v.tree, v.backup)
            self._drop(v)
            dropped.append(v)
            short = {k for k in short if today[k] - self.calendar.peak(k, b.t0, b.t1) + EPSILON < need[k]}
        if short:
            raise Rejected("bandwidth", "still short")
        return tree, backup

    def _keep(self, before: dict, *trees: Tree | None) -> None:
        """Copy the calendars of ``trees``' links into ``before`` (once each)."""
        for t in trees:
            for k in t.links if t else ():
                if k not in before and k in self.calendar.links:
                    before[k] = self.calendar.links[k].copy()

    def _spared(self, b: Booking, v: Booking, saved: tuple) -> bool:
        """Put ``v`` back as it was if ``b`` and it both still fit; else leave it out."""
        v.tree, v.backup, prefer = saved
        try:
            self._hold(v, prefer)
        except Rejected:
            v.tree = v.backup = None
            return False
        if self._overbooked(b) or self._overbooked(v):
            self._drop(v)
            return False
        return True

    def _overbooked(self, b: Booking) -> bool:
        today = self.residual_from(b.t0)
        return any(today[k] - self.calendar.peak(k, b.t0, b.t1) < -EPSILON for k in b.need())

    def rebook(self, spec: SliceSpec, now: float) -> list[Event]:
        """Change booking ``spec.name`` (e.g. a later or earlier end, another bandwidth):
        booked again as ``spec`` against the calendar without its old self. All or
        nothing: if ``spec`` does not fit, the booking stays exactly as it was (its
        links' calendars put back, its tags kept) and Rejected is raised."""
        old = self.bookings[spec.name]
        saved = (old.tree, old.backup, {**{("tags", k): t for k, t in old.tags.items()},
                                        **{("backup_tags", k): t for k, t in old.backup_tags.items()}})
        before: dict = {}
        self._keep(before, old.tree, old.backup)
        del self.bookings[spec.name]
        self._drop(old)
        try:
            return [Event(EventKind.UPDATED if e.slice == spec.name else e.kind, e.slice, e.reason)
                    for e in self.book_ahead(spec, now)]
        except Rejected:
            old.tree, old.backup, prefer = saved
            if old.tree is not None:
                self._hold(old, prefer)
            else:
                self.calendar.use_endpoints([e.key for e in old.spec.endpoints], old.t0, old.t1, old.name)
            self.calendar.links.update(before)
            self.bookings[spec.name] = old
            raise

    def cancel_booking(self, name: str) -> list[Event]:
        """Forget booking ``name`` and give back what it holds."""
        b = self.bookings.pop(name)
        self._drop(b)
        self.calendar.free_endpoints([e.key for e in b.spec.endpoints], name)
        return [Event(EventKind.RELEASED, name, "booking cancelled")]

    def activate(self, name: str) -> list[Event]:
        """Booking ``name`` starts: admit it as a slice of today (see the module text).
        All or nothing: if it cannot be admitted (the network changed since), the
        booking stays and Rejected is raised."""
        cp = self.checkpoint()
        try:
            self.cancel_booking(name)
            b = cp.bookings[name]
            with self.placing_over(b.t0, b.t1):
                return self.admit(b.spec)
        except Rejected:
            self.rollback(cp)
            raise

    def booking_record(self, name: str) -> Placement:
        """Booking ``name`` frozen, as the store keeps it and the API shows it: status
        BOOKED, no id, prefix nor addresses (the slice gets them at its start), the trees
        and tags it holds over its interval (none while it waits)."""
        b = self.bookings[name]
        order = lambda kv: sorted(kv[0])  # noqa: E731 (links by their sites)
        return Placement(spec=b.spec, number=0, prefix="", addresses=tuple((e, "") for e in b.spec.endpoints),
                         status=BOOKED, reason=b.reason, tree=b.tree, backup=b.backup,
                         tags=tuple(sorted(b.tags.items(), key=order)),
                         backup_tags=tuple(sorted(b.backup_tags.items(), key=order)))

    def adopt_booking(self, p: Placement) -> None:
        """Take back a stored booking (a controller restart, a cluster's take-over) over
        its stored interval, on its stored trees, with its stored tags where they are free
        (no switch holds rules of a booking, so another tag costs nothing). Raises
        Rejected (changing nothing) when it does not fit so any more: the caller books it
        again by the usual rules (:meth:`book_ahead`) once every stored slice is back."""
        spec = p.spec
        if spec.schedule is None or spec.schedule.start is None:
            raise Rejected("schedule", f"stored booking {spec.name} has no start")
        if spec.name in self.slices or spec.name in self.bookings:
            raise Rejected("name", f"a slice named {spec.name} already exists")
        t1 = spec.schedule.end if spec.schedule.end is not None else math.inf
        b = Booking(spec=spec, t0=spec.schedule.start, t1=t1, tree=p.tree, backup=p.backup)
        if p.tree is None:      # it was waiting (displaced): it holds nothing until its start
            b.status, b.reason = WAITING, p.reason
            self.bookings[spec.name] = b
            return
        for t in (p.tree, p.backup):
            for k in t.links if t else ():
                if k not in self.ledger.capacity or k in self.down_links:
                    raise Rejected("topology", f"{spec.name} uses {'—'.join(sorted(k))}, not a link up now")
        self._endpoints_free(spec, b.t0, b.t1)
        crossed = next((w for w in self.windows.values()
                        if w.overlaps(b.t0, b.t1) and (w.hits(b.tree) or w.hits(b.backup))), None)
        if crossed is not None:
            raise Rejected("maintenance", f"{spec.name} crosses {crossed.target}, in maintenance then")
        self._hold(b, {**{("tags", k): t for k, t in p.tags}, **{("backup_tags", k): t for k, t in p.backup_tags}})
        if self._overbooked(b):
            self._drop(b)
            raise Rejected("bandwidth", f"{spec.name} no longer fits its stored trees")
        self.bookings[spec.name] = b

    def wait_booking(self, spec: SliceSpec, reason: str) -> None:
        """Keep ``spec`` as a booking that holds nothing and is tried again at its start
        (a stored booking that fits nowhere now: better late than lost)."""
        t1 = spec.schedule.end if spec.schedule and spec.schedule.end is not None else math.inf
        start = spec.schedule.start if spec.schedule and spec.schedule.start is not None else 0.0
        self.bookings[spec.name] = Booking(spec=spec, t0=start, t1=t1, status=WAITING, reason=reason)

    def booked_at(self, t: float) -> list[str]:
        """The bookings that hold resources at moment ``t``, by name."""
        return sorted(n for n, b in self.bookings.items() if b.t0 <= t < b.t1 and b.status == SCHEDULED)

    # -- helpers -----------------------------------------------------------------------------

    def _residual_over(self, t0: float, t1: float, from_priority: int = 0, need: float = 0.0) -> dict[LinkKey, float]:
        return self.calendar.residual(self.residual_from(t0), t0, t1, from_priority, need)

    def residual_from(self, t0: float) -> dict[LinkKey, float]:
        """The ledger's residual (today's slices) plus what the slices of today whose
        schedule ends by ``t0`` hold: from then it is free for a booking (the controller
        deletes each at its end)."""
        ending = [s for s in self.slices.values()
                  if s.spec.schedule is not None and s.spec.schedule.end is not None and s.spec.schedule.end <= t0]
        if not ending:
            return self.ledger.residual
        out = dict(self.ledger.residual)
        for s in ending:
            for k in tag_links(s):
                out[k] += s.spec.bandwidth_mbps
        return out

    def _no_tags(self, t0: float, t1: float) -> set[LinkKey]:
        """Links with no tag free over ``[t0, t1)`` (rare: a link of 4,093 tags in use)."""
        return {k for k in self.ledger.tags.full if self.calendar.free_tag(k, t0, t1, self.ledger.tags) is None}

    def _endpoints_free(self, spec: SliceSpec, t0: float, t1: float) -> None:
        away = self.window_endpoint(spec, t0, t1)
        if away:
            raise Rejected("maintenance", away, structural=True)
        for e in spec.endpoints:
            owner = self.endpoint_owner.get(e.key)
            if owner and not self._ends_by(owner, t0):
                raise Rejected("endpoint", f"endpoint {e} belongs to slice {owner} (until it is deleted)"
                               if self.slices[owner].spec.tenant == spec.tenant else
                               f"endpoint {e} is in use by another tenant's slice")
            other = self.calendar.endpoint_user(e.key, t0, t1)
            if other:
                theirs = self.bookings[other]
                whose = f"slice {other}" if theirs.spec.tenant == spec.tenant else "another tenant's slice"
                raise Rejected("endpoint", f"endpoint {e} is booked by {whose} "
                               f"{interval_text(max(t0, theirs.t0), min(t1, theirs.t1))}")

    def _ends_by(self, name: str, t: float) -> bool:
        """Whether slice ``name`` of today ends (its schedule's end) by ``t``: its
        endpoints are free for a booking from then."""
        sch = self.slices[name].spec.schedule
        return sch is not None and sch.end is not None and sch.end <= t

    def _hold(self, b: Booking, prefer: dict | None = None) -> None:
        """Hold ``b``'s bandwidth and a tag per link of each tree over its interval (the
        tags of ``prefer``, by (which, link), where they are free). Changes nothing and
        raises Rejected when a link has no tag free then."""
        prefer = prefer or {}
        b.tags, b.backup_tags = {}, {}
        try:
            for tree, which in ((b.tree, "tags"), (b.backup, "backup_tags")):
                for k in sorted(tree.links, key=sorted) if tree else ():
                    getattr(b, which)[k] = self._take_tag(k, b, prefer.get((which, k)))
        except Rejected:
            self._release_tags(b)
            raise
        for tree in (b.tree, b.backup):
            if tree is not None:
                self.calendar.book(tree.links, b.t0, b.t1, b.spec.priority, b.spec.bandwidth_mbps)
        self.calendar.use_endpoints([e.key for e in b.spec.endpoints], b.t0, b.t1, b.name)
        b.status, b.reason = SCHEDULED, ""

    def _take_tag(self, k: LinkKey, b: Booking, preferred: int | None) -> int:
        space = self.ledger.tags
        if preferred is not None:
            try:
                return self.calendar.hold_tag(k, preferred, b.t0, b.t1, b.name, space)
            except Rejected:
                pass
        tag = self.calendar.free_tag(k, b.t0, b.t1, space)
        if tag is None:
            raise Rejected("tags", f"link {'—'.join(sorted(k))} has no tag free {interval_text(b.t0, b.t1)}")
        return self.calendar.hold_tag(k, tag, b.t0, b.t1, b.name, space)

    def _release_tags(self, b: Booking) -> None:
        for which in ("tags", "backup_tags"):
            for k, tag in getattr(b, which).items():
                self.calendar.release_tag(k, tag, b.name, self.ledger.tags)
            setattr(b, which, {})

    def _drop(self, b: Booking) -> None:
        """Give back what ``b`` holds (it keeps its spec and interval)."""
        self._release_tags(b)
        for tree in (b.tree, b.backup):
            if tree is not None:
                self.calendar.book(tree.links, b.t0, b.t1, b.spec.priority, -b.spec.bandwidth_mbps)
        self.calendar.free_endpoints([e.key for e in b.spec.endpoints], b.name)
        b.tree = b.backup = None

    def _place_again(self, v: Booking, why: str) -> Event:
        """A displaced booking over its own interval elsewhere, or waiting for its start."""
        try:
            with self.placing_over(v.t0, v.t1):
                v.tree, v.backup = self.place_pair(v.spec, self._residual_over(v.t0, v.t1), self._no_tags(v.t0, v.t1))
            self._hold(v)
            return Event(EventKind.RE_PLACED, v.name, f"{why}; booked on another tree {interval_text(v.t0, v.t1)}")
        except Rejected as e:
            v.tree = v.backup = None
            v.status, v.reason = WAITING, why
            return Event(EventKind.PREEMPTED, v.name, f"{why}; tried again at its start ({e})")

    def _full_over(self, b: Booking, first: Rejected) -> Rejected:
        """The refusal of ``b`` naming the tightest link of its best tree ignoring
        bandwidth, and the stretch of ``[t0, t1)`` where that link is fullest."""
        if first.constraint != "bandwidth":
            return first
        try:
            tree, backup = self.place_pair(b.spec, {k: math.inf for k in self.ledger.residual}, set())
        except Rejected:
            return first
        need = b.spec.bandwidth_mbps
        worst = None
        for k in sorted(tree.links | (backup.links if backup else frozenset()), key=sorted):
            cal = self.calendar.links.get(k)
            booked, a, z = cal.busiest(b.t0, b.t1) if cal is not None else (0.0, b.t0, b.t1)
            left = self.residual_from(b.t0)[k] - booked
            if left + EPSILON < need and (worst is None or left < worst[0]):
                worst = (left, k, a, z)
        if worst is None:
            return first
        left, k, a, z = worst
        cap = self.ledger.capacity[k]
        x, y = sorted(k)
        return Rejected("bandwidth", f"link {x}—{y} is full {interval_text(a, z)} ({cap - left:g} of "
                        f"{cap:g} Mbit/s booked); {b.name} needs {need:g}")


def without_schedule(spec: SliceSpec) -> SliceSpec:
    """``spec`` as a slice of today (tests and the benchmark compare the two)."""
    return replace(spec, schedule=None)
