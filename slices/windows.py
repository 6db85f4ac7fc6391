"""Maintenance windows (issue 27 item 6): a site or a link drained over ``[start, end)``,
planned ahead, and the links drained by hand (``drain_link``).

A window is drained :data:`LEAD_S` before its start (slices move off make-before-break
while the site still works) and undrained at its end; the controller times both
(:mod:`controller.maintenance`). Bookings (:mod:`slices.booking`) whose interval overlaps
``[start - LEAD_S, end)`` are placed around the window's site or link: while a booking
is placed, :attr:`Windows.over` is its interval, and
:meth:`slices.pairs.PairPlacement.ahead_sites` / ``avoided_links`` add the windows
overlapping it to what placement avoids. A booking may not have an endpoint at a site
in maintenance during its interval.

Planning a window is all or nothing: every booking overlapping it that crosses the site
or link is placed again around it (over its own interval); if one cannot be (or has an
endpoint at the site), nothing changes and Rejected names every blocked booking.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass

from slices.errors import Rejected, SpecError
from slices.placement import LinkKey, Tree
from slices.record import PLACED, Event, EventKind
from slices.schedule import interval_text, parse_time, short_time
from slices.state import Slice

LEAD_S = 30.0        # a window is drained this long before its start: traffic is off by then


@dataclass(frozen=True)
class Window:
    """A planned maintenance of ``site``, or of the link ``link`` (two sites), over
    ``[t0, t1)``; drained from ``t0 - LEAD_S``."""

    id: str
    t0: float
    t1: float
    site: str = ""
    link: LinkKey | None = None

    @property
    def target(self) -> str:
        return f"site {self.site}" if self.site else "link " + "—".join(sorted(self.link or ()))

    @property
    def drain_at(self) -> float:
        return self.t0 - LEAD_S

    def overlaps(self, t0: float, t1: float) -> bool:
        return self.drain_at < t1 and t0 < self.t1

    def hits(self, tree: Tree | None) -> bool:
        if tree is None:
            return False
        return self.site in tree.sites if self.site else self.link in tree.links

    def to_dict(self) -> dict:
        return {"id": self.id, "t0": self.t0, "t1": self.t1, "site": self.site,
                "link": sorted(self.link) if self.link else []}

    @classmethod
    def from_dict(cls, d: dict) -> "Window":
        return cls(id=str(d["id"]), t0=float(d["t0"]), t1=float(d["t1"]), site=str(d.get("site", "")),
                   link=frozenset(d["link"]) if d.get("link") else None)


def window_from(site: str, link: LinkKey | None, start: str, end: str, now: float) -> Window:
    """A window from the API's text (RFC 3339 with a timezone; no ``start``: now), or
    SpecError naming ``start`` / ``end``. No clock: the caller passes ``now``."""
    problems = []
    t1, why = parse_time(end) if end else (None, "required with a start (when the maintenance ends)")
    if why:
        problems.append(("end", why))
    t0, why = parse_time(start) if start else (now, "")
    if why:
        problems.append(("start", why))
    if not problems:
        if t1 <= t0:     # type: ignore[operator]
            problems.append(("end", f"{end!r} is not after the start"))
        elif t1 <= now:  # type: ignore[operator]
            problems.append(("end", f"{end!r} is in the past"))
    if problems:
        raise SpecError(problems)
    wid = (site or "—".join(sorted(link or ()))) + "@" + short_time(t0)   # type: ignore[arg-type]
    return Window(id=wid, t0=t0, t1=t1, site=site, link=link)        # type: ignore[arg-type]


class Windows:
    """Mixed into :class:`slices.engine.SliceEngine` (which gives it the topology,
    ledger, slices, bookings, ``checkpoint``/``rollback``, ``drain``/``undrain``,
    ``place_pair`` and the booking helpers)."""

    windows: dict[str, Window]
    drained_links: set[LinkKey]
    over: tuple[float, float] | None     # the interval of the booking being placed, if any

    @contextlib.contextmanager
    def placing_over(self, t0: float, t1: float):
        """Placements inside the block avoid the windows overlapping ``[t0, t1)``."""
        saved, self.over = self.over, (t0, t1)
        try:
            yield
        finally:
            self.over = saved

    def window_endpoint(self, spec, t0: float, t1: float) -> str | None:
        """Why ``spec`` booked over ``[t0, t1)`` may not have an endpoint where it has one."""
        for w in self.windows.values():
            if w.site and w.overlaps(t0, t1) and w.site in spec.sites:
                return (f"site {w.site} is in maintenance {interval_text(w.t0, w.t1)} (window {w.id}): "
                        f"no booking may have an endpoint there then")
        return None

    # -- planning --------------------------------------------------------------------------

    def plan_window(self, w: Window) -> list[Event]:
        """Plan ``w``: every overlapping booking that crosses it is placed again around
        it, all or nothing (see the module text)."""
        if w.site and not self.topology.has_site(w.site):
            raise KeyError(f"no site {w.site}")
        if w.link is not None and w.link not in self.ledger.capacity:
            raise KeyError(f"no link {'—'.join(sorted(w.link))}")
        if w.id in self.windows:
            raise Rejected("name", f"a maintenance window {w.id} exists already", structural=True)
        cp = self.checkpoint()
        self.windows[w.id] = w
        events, blocked = [], []
        for b in sorted(self.bookings.values(), key=lambda b: (-b.spec.priority, b.name)):
            if not w.overlaps(b.t0, b.t1):
                continue
            if w.site and w.site in b.spec.sites:
                blocked.append(f"{b.name} (an endpoint at {w.site} {interval_text(b.t0, b.t1)})")
            elif w.hits(b.tree) or w.hits(b.backup):
                self._drop(b)
                with self.placing_over(b.t0, b.t1):
                    try:
                        b.tree, b.backup = self.place_pair(b.spec, self._residual_over(b.t0, b.t1),
                                                           self._no_tags(b.t0, b.t1))
                        self._hold(b)
                    except Rejected as e:
                        blocked.append(f"{b.name} ({e.reason})")
                        continue
                events.append(Event(EventKind.RE_PLACED, b.name, f"around maintenance window {w.id} of "
                                    f"{w.target} {interval_text(w.t0, w.t1)}"))
        if blocked:
            self.rollback(cp)
            raise Rejected("maintenance", f"{w.target} cannot be in maintenance {interval_text(w.t0, w.t1)}: "
                           f"booking{'s' * (len(blocked) > 1)} {'; '.join(blocked)} cannot avoid it")
        return events

    def cancel_window(self, wid: str) -> Window:
        return self.windows.pop(wid)

    # -- links drained now -----------------------------------------------------------------

    def drain_link(self, a: str, b: str) -> list[Event]:
        """Slices stop crossing link a—b where they can go around it (make-before-break);
        a slice with no way around (or that would preempt another) stays, reported."""
        key = frozenset((a, b))
        if key not in self.ledger.capacity:
            raise KeyError(f"no link {a}—{b}")
        if key in self.drained_links:
            return []
        self.drained_links.add(key)
        why = f"link {a}—{b} drained"
        touched = sorted((s for s in self.slices.values() if s.status == PLACED and _crosses(s, key)),
                         key=lambda s: (-s.spec.priority, s.name))
        return self.move_off([s.name for s in touched], lambda t: key in t.links, why,
                             lambda _name, _tried: f"no way around link {a}—{b} (still crossing it) without "
                                                   "preempting or cutting a slice, and a drain cuts nothing")

    def undrain_link(self, a: str, b: str) -> list[Event]:
        key = frozenset((a, b))
        if key not in self.drained_links:
            return []
        self.drained_links.discard(key)
        return self.after_recovery()


def _crosses(s: Slice, key: LinkKey) -> bool:
    return any(key in t.links for t in (s.tree, s.backup) if t is not None)
