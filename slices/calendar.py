"""What is booked ahead on each link, over time: bandwidth by priority, and tags.

The ledger (:mod:`slices.ledger`) books today's slices, from now until deleted. The
calendar books slices with a schedule (:mod:`slices.schedule`) over their interval
``[t0, t1)``. What a booking can have on a link over ``[t0, t1)`` is the ledger's
residual there minus the calendar's *peak* over that interval: the most that is booked
at any one moment of it (a booking 22:00-23:00 and another 23:00-24:00 do not add up).

Per link the calendar is a step function kept as two numpy arrays: the sorted moments
where anything starts or ends, and, for the interval after each, the Mbit/s booked by
each priority (a row of 8). Booking inserts at most two moments and adds to a run of
rows; the peak over an interval is a max over the rows it covers; "the peak if every
priority below p left" (preemption) is the same over the columns from p up. So one
more booking costs O(log n) to find its rows plus C-speed work on the rows it covers,
with n the moments on the link: at 10,000 bookings over a week, ~20,000 rows of 64
bytes per link at most.

Tags: a booking holds one tag per link, which another booking may hold too when their
intervals do not overlap. Every tag some booking holds is also taken in the ledger's
:class:`slices.resources.TagSpace` (once, however many bookings share it): today's slices
last until deleted, so they overlap every booking and must never get such a tag.
"""
from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field

import numpy as np

from slices.placement import LinkKey
from slices.resources import TagSpace, no_tag_left

LEVELS = 8   # priorities 0..7
TAG_SEARCH = 16      # shared tags tried before a new one is taken...
TAG_RESERVE = 1024   # ...while the link has more than this many free


class LinkCalendar:
    """One link's bookings as a step function (see the module text)."""

    __slots__ = ("times", "level", "total", "_peak")

    def __init__(self) -> None:
        self.times = np.empty(0, dtype=float)           # moments where the level changes
        self.level = np.zeros((0, LEVELS), dtype=float)  # booked on [times[i], times[i+1])
        self.total = np.zeros(0, dtype=float)            # the rows' sums (most questions ask only this)
        self._peak: float | None = None                  # the peak over all time, cached

    def copy(self) -> "LinkCalendar":
        other = LinkCalendar()
        other.times, other.level, other._peak = self.times.copy(), self.level.copy(), self._peak
        other.total = self.total.copy()
        return other

    def add(self, t0: float, t1: float, priority: int, mbps: float) -> None:
        """Book (``mbps`` > 0) or free (< 0) ``mbps`` at ``priority`` over ``[t0, t1)``.
        New moments go in with one copy of the arrays (most of the cost of a booking on
        a long calendar), each with a copy of the row before it."""
        times, n = self.times, len(self.times)
        at, values, rows, bounds = [], [], [], []
        for t in (t0, t1) if t1 != np.inf else (t0,):
            i = int(np.searchsorted(times, t))
            bounds.append(i + len(at))        # where its row is once the new ones are in
            if i < n and times[i] == t:
                continue
            at.append(i)
            values.append(t)
            rows.append(self.level[i - 1] if i else np.zeros(LEVELS))
        if at:
            totals = [self.total[i - 1] if i else 0.0 for i in at]
            self.times = _spliced(times, at, [np.array([v]) for v in values])
            self.level = _spliced(self.level, at, [r.reshape(1, LEVELS) for r in rows])
            self.total = _spliced(self.total, at, [np.array([v]) for v in totals])
        i0, i1 = bounds[0], bounds[1] if len(bounds) > 1 else len(self.times)
        self.level[i0:i1, priority] += mbps
        self.total[i0:i1] += mbps
        self._peak = None

    def rows(self, t0: float, t1: float) -> tuple[int, int]:
        """The rows covering ``[t0, t1)``: the one holding ``t0`` up to the one before ``t1``."""
        i0 = max(int(np.searchsorted(self.times, t0, side="right")) - 1, 0)
        i1 = int(np.searchsorted(self.times, t1, side="left")) if t1 != np.inf else len(self.times)
        return i0, i1

    def peak(self, t0: float, t1: float, from_priority: int = 0) -> float:
        """The most booked at one moment of ``[t0, t1)`` by priorities ``from_priority`` and up."""
        if not len(self.times):
            return 0.0
        if t0 == -np.inf and t1 == np.inf and from_priority == 0:
            if self._peak is None:
                self._peak = max(float(self.total.max()), 0.0)
            return self._peak
        i0, i1 = self.rows(t0, t1)
        if i1 <= i0:
            return 0.0
        if from_priority == 0:
            return max(float(self.total[i0:i1].max()), 0.0)
        return max(float(self.level[i0:i1, from_priority:].sum(axis=1).max()), 0.0)

    def busiest(self, t0: float, t1: float) -> tuple[float, float, float]:
        """``(booked, from, to)``: the peak over ``[t0, t1)`` and the first stretch of it
        where it is reached (clipped to the interval)."""
        i0, i1 = self.rows(t0, t1)
        if i1 <= i0:
            return 0.0, t0, t1
        totals = self.total[i0:i1]
        top = float(totals.max())
        j = int(np.argmax(totals))
        k = j
        while k + 1 < len(totals) and totals[k + 1] >= top - 1e-9:
            k += 1
        start = max(float(self.times[i0 + j]), t0)
        end = float(self.times[i0 + k + 1]) if i0 + k + 1 < len(self.times) else np.inf
        return top, start, min(end, t1)


def _spliced(array: np.ndarray, at: list[int], pieces: list[np.ndarray]) -> np.ndarray:
    """``array`` with ``pieces[j]`` inserted before row ``at[j]`` (``at`` ascending): one
    concatenate, ten times faster than ``np.insert`` on a (3000, 8) array (measured)."""
    parts, last = [], 0
    for i, piece in zip(at, pieces):
        parts += [array[last:i], piece]
        last = i
    parts.append(array[last:])
    return np.concatenate(parts)


def overlaps(intervals: list[tuple[float, float, str]], t0: float, t1: float) -> bool:
    """Whether any of ``intervals`` meets ``[t0, t1)``. They are one tag's on one link, so
    never overlap each other: sorted by start, they are sorted by end too, and only the
    last one starting before ``t1`` can reach past ``t0``."""
    i = bisect_left(intervals, (t1,))
    return i > 0 and intervals[i - 1][1] > t0


@dataclass
class Calendar:
    """Every link's calendar, the tags bookings hold and the endpoints they use."""

    links: dict[LinkKey, LinkCalendar] = field(default_factory=dict)
    # link -> tag -> the intervals (t0, t1, booking) holding it, sorted
    tags: dict[LinkKey, dict[int, list]] = field(default_factory=dict)
    # endpoint key -> the intervals (t0, t1, booking) that use it, sorted
    endpoints: dict[tuple, list] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.links)

    def copy(self) -> "Calendar":
        return Calendar(links={k: c.copy() for k, c in self.links.items()},
                        tags={k: {t: list(v) for t, v in by.items()} for k, by in self.tags.items()},
                        endpoints={k: list(v) for k, v in self.endpoints.items()})

    # -- bandwidth ---------------------------------------------------------------------------

    def book(self, links, t0: float, t1: float, priority: int, mbps: float) -> None:
        for key in links:
            cal = self.links.get(key)
            if cal is None:
                cal = self.links[key] = LinkCalendar()
            cal.add(t0, t1, priority, mbps)

    def peak(self, key: LinkKey, t0: float, t1: float, from_priority: int = 0) -> float:
        cal = self.links.get(key)
        return cal.peak(t0, t1, from_priority) if cal is not None else 0.0

    def residual(self, residual: dict[LinkKey, float], t0: float = -np.inf, t1: float = np.inf,
                 from_priority: int = 0, need: float = 0.0) -> dict[LinkKey, float]:
        """``residual`` (the ledger's, today) less the peak booked over ``[t0, t1)`` by
        priorities ``from_priority`` and up: what a booking of that interval can have.

        With ``need``, a link whose peak over all time still leaves twice ``need`` is
        given that bound instead of its exact figure: placement only asks whether a link
        has ``need`` left (twice, where a primary and its backup share it), so the answer
        is the same, without a search of that link's calendar (on a 263-link WAN, most
        of the cost of a booking)."""
        out = dict(residual)
        for key, cal in self.links.items():
            left = out[key]
            if need and left - cal.peak(-np.inf, np.inf) >= 2 * need + 1e-9:
                out[key] = left - cal.peak(-np.inf, np.inf)
            else:
                out[key] = left - cal.peak(t0, t1, from_priority)
        return out

    # -- tags --------------------------------------------------------------------------------

    def free_tag(self, key: LinkKey, t0: float, t1: float, space: TagSpace) -> int | None:
        """A tag of ``key`` no booking overlapping ``[t0, t1)`` holds and no slice of today
        holds: first one bookings already share (so today's slices keep the most), else a
        new one from ``space``; None if there is none."""
        by = self.tags.get(key, {})
        # a few shared tags first; past those, a new one while the link has plenty (a
        # full search of 4,000 tags costs milliseconds), the full search when it has not
        for n, (tag, held) in enumerate(by.items()):
            if not overlaps(held, t0, t1):
                return tag
            if n >= TAG_SEARCH and space.free(key) > TAG_RESERVE:
                return -1
        return None if space.free(key) == 0 else -1

    def hold_tag(self, key: LinkKey, tag: int, t0: float, t1: float, name: str, space: TagSpace) -> int:
        """Hold ``tag`` (-1: a new one from ``space``) on ``key`` over ``[t0, t1)``."""
        by = self.tags.setdefault(key, {})
        if tag == -1:
            tag = space.allocate(key)
        elif tag in by:
            if overlaps(by[tag], t0, t1):
                raise no_tag_left(key, space.SIZE)
        elif not space.low <= tag <= space.high or not space.take(key, tag):
            raise no_tag_left(key, space.SIZE)
        held = by.setdefault(tag, [])
        held.insert(bisect_right(held, (t0, t1, name)), (t0, t1, name))
        return tag

    def release_tag(self, key: LinkKey, tag: int, name: str, space: TagSpace) -> None:
        held = self.tags[key][tag]
        held[:] = [h for h in held if h[2] != name]
        if not held:
            del self.tags[key][tag]
            space.release(key, tag)

    # -- endpoints ---------------------------------------------------------------------------

    def endpoint_user(self, key: tuple, t0: float, t1: float, but: str = "") -> str | None:
        """The booking that uses endpoint ``key`` during ``[t0, t1)``, if any."""
        return next((n for a, b, n in self.endpoints.get(key, ()) if a < t1 and t0 < b and n != but), None)

    def use_endpoints(self, keys, t0: float, t1: float, name: str) -> None:
        for key in keys:
            held = self.endpoints.setdefault(key, [])
            held.insert(bisect_right(held, (t0, t1, name)), (t0, t1, name))

    def free_endpoints(self, keys, name: str) -> None:
        for key in keys:
            held = [h for h in self.endpoints.get(key, ()) if h[2] != name]
            if held:
                self.endpoints[key] = held
            else:
                self.endpoints.pop(key, None)
