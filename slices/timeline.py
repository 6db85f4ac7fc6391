"""The plan, link by link (``slicectl schedule``, issue 27): what each slice holds on a link
over which interval, and the peak booked over each of those intervals against the link's
capacity. Pure: the controller builds the :class:`Span` lists from its model, the client
computes the peaks and the drawing from what it was sent (the same code either side).

The peaks reuse :class:`slices.calendar.LinkCalendar`: a link's spans are booked into a
fresh calendar, whose step function answers "the most booked at one moment of
``[t0, t1)``" as admission asks it. A span with no end (a slice of today, until it is
deleted) has ``t1 = inf``; every answer is clipped to the range asked about.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from slices.calendar import LinkCalendar

DAY_S = 86400.0


@dataclass(frozen=True)
class Span:
    """Mbit/s a slice holds on one link over ``[t0, t1)`` (``t1`` inf: until deleted).
    ``ahead``: a booking ahead (else a slice of today)."""

    slice: str
    tenant: str
    t0: float
    t1: float
    mbps: float
    priority: int = 0
    ahead: bool = True


@dataclass(frozen=True)
class Row:
    """A span as a timeline shows it: clipped to the range, with the link's peak over it."""

    span: Span
    t0: float
    t1: float
    peak_mbps: float


@dataclass(frozen=True)
class LinkTimeline:
    a: str
    b: str
    capacity_mbps: float
    rows: tuple[Row, ...]
    steps: tuple[tuple[float, float, float], ...]   # (from, to, Mbit/s booked) over the range

    @property
    def peak_mbps(self) -> float:
        return max((s[2] for s in self.steps), default=0.0)

    @property
    def name(self) -> str:
        return f"{self.a}—{self.b}"


def default_range(spans, now: float, since: float | None = None,
                  until: float | None = None) -> tuple[float, float]:
    """``[since, until)``: given, else from ``now`` to the last end of a span (a day
    after ``since`` when no span ends, or all ended before it)."""
    start = now if since is None else since
    if until is None:
        ends = [s.t1 for s in spans if math.isfinite(s.t1) and s.t1 > start]
        until = max(ends, default=start + DAY_S)
    return start, until


def calendar_of(spans) -> LinkCalendar:
    cal = LinkCalendar()
    for s in spans:
        cal.add(s.t0, s.t1, min(max(s.priority, 0), 7), s.mbps)
    return cal


def link_timeline(a: str, b: str, capacity: float, spans, since: float, until: float) -> LinkTimeline:
    """Link ``a``—``b``'s spans that meet ``[since, until)``, each with the peak booked over
    its part of the range, and the step function of what is booked over the range."""
    inside = sorted((s for s in spans if s.t0 < until and since < s.t1), key=lambda s: (s.t0, s.slice))
    cal = calendar_of(inside)
    rows = tuple(Row(s, max(s.t0, since), min(s.t1, until), cal.peak(max(s.t0, since), min(s.t1, until)))
                 for s in inside)
    return LinkTimeline(a, b, capacity, rows, steps(cal, since, until))


def steps(cal: LinkCalendar, since: float, until: float) -> tuple[tuple[float, float, float], ...]:
    """The calendar's step function over ``[since, until)``: (from, to, booked), one per
    change, zero stretches included."""
    bounds = [since] + [float(t) for t in cal.times if since < t < until] + [until]
    out = []
    for t0, t1 in zip(bounds, bounds[1:]):
        out.append((t0, t1, cal.peak(t0, t1)))
    return tuple(out)


def stacked(rows) -> list[tuple[Row, float]]:
    """Each row with the Mbit/s below it in a stacked drawing: the peak of the rows drawn
    before it over its interval, so no two bars overlap."""
    below, out = LinkCalendar(), []
    for r in rows:
        out.append((r, below.peak(r.t0, r.t1)))
        below.add(r.t0, r.t1, 0, r.span.mbps)
    return out
