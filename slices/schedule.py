"""When a slice holds its resources: a schedule, parsed and checked once, then frozen.

A spec's ``schedule`` says when the slice is booked (issue 27)::

    schedule: {start: "2026-12-12T22:00:00+09:00", end: "2026-12-12T23:00:00+09:00"}
    schedule: {start: "2026-12-12T22:00:00Z", duration: PT1H}   # ISO 8601 duration
    schedule: {end: "2026-12-13T06:00:00Z"}                      # from now until then
    schedule: {duration: PT30M}                                  # from now, 30 minutes

Each part is optional: no start means now, no end (nor duration) means until deleted.
Times are RFC 3339 with a timezone (``Z`` or an offset): a time without one names no
instant (whose midnight?) and is refused rather than guessed. Durations are ISO 8601
(``PT2H``, ``P1DT30M``), the form NSI and OSCARS use, so a schedule read from one of
them needs no translation; years and months are refused (their length varies).

Pure: no clock. The caller passes ``now`` (seconds since the epoch) for the checks that
need it (a start in the past beyond :data:`GRACE_S`); without it they are skipped, as a
client validating a file offline has no authoritative clock.
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Callable, Mapping

FIELDS = ("start", "end", "duration")
# A start this far in the past is still "now": a request composed a few seconds before it
# arrives (or a clock a little behind the server's) must not be refused for it.
GRACE_S = 60.0
# A booking further ahead than this is almost certainly a typo (2062 for 2026).
MAX_AHEAD_S = 2 * 365 * 86400.0
MIN_DURATION_S = 1.0
FOREVER = math.inf
_DURATION = re.compile(r"^P(?:(?P<d>\d+(?:\.\d+)?)D)?(?:T(?:(?P<h>\d+(?:\.\d+)?)H)?"
                       r"(?:(?P<m>\d+(?:\.\d+)?)M)?(?:(?P<s>\d+(?:\.\d+)?)S)?)?$")


@dataclass(frozen=True)
class Schedule:
    """Seconds since the epoch (UTC); ``duration`` only while ``start`` is unknown (it
    counts from the moment the slice is admitted: :meth:`window` resolves it)."""

    start: float | None = None
    end: float | None = None
    duration: float | None = None

    def window(self, now: float) -> tuple[float, float]:
        """The interval ``[t0, t1)`` the slice holds its resources, ``t1`` inf for none."""
        t0 = self.start if self.start is not None and self.start > now else now
        if self.end is not None:
            return t0, self.end
        if self.duration is not None:
            return t0, (self.start if self.start is not None else now) + self.duration
        return t0, FOREVER

    def resolved(self, now: float) -> "Schedule":
        """The same schedule with absolute times only (what is stored: a restart must not
        count a duration again from its own clock)."""
        start = now if self.start is None else self.start
        _t0, t1 = self.window(now)
        return Schedule(start=start, end=None if t1 == FOREVER else t1)

    def to_dict(self) -> dict[str, str]:
        out = {}
        if self.start is not None:
            out["start"] = rfc3339(self.start)
        if self.end is not None:
            out["end"] = rfc3339(self.end)
        if self.duration is not None:
            out["duration"] = iso_duration(self.duration)
        return out


def rfc3339(t: float) -> str:
    """``t`` (epoch seconds) as RFC 3339 in UTC, to the second (microseconds if any)."""
    d = datetime.fromtimestamp(t, timezone.utc)
    return d.isoformat(timespec="microseconds" if d.microsecond else "seconds").replace("+00:00", "Z")


def short_time(t: float) -> str:
    """``t`` as ``2026-12-12T22:00`` UTC (refusal messages), ``∞`` for no end."""
    if t == FOREVER:
        return "∞"
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%dT%H:%M")


def interval_text(t0: float, t1: float) -> str:
    """``2026-12-12T22:00–23:00`` (the day said once when both ends share it)."""
    a, b = short_time(t0), short_time(t1)
    return f"{a}–{b[11:]}" if a[:10] == b[:10] else f"{a}–{b}"


def iso_duration(seconds: float) -> str:
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    time = "".join(f"{v:g}{u}" for v, u in ((hours, "H"), (minutes, "M"), (secs, "S")) if v)
    return "P" + (f"{days:g}D" if days else "") + ("T" + time if time else "" if days else "T0S")


def parse_time(raw: Any) -> tuple[float | None, str]:
    """An RFC 3339 time as epoch seconds, or (None, why not)."""
    if not isinstance(raw, str):
        return None, f"must be an RFC 3339 time as text, e.g. '2026-12-12T22:00:00Z', got {raw!r}"[:160]
    try:
        d = datetime.fromisoformat(raw.strip())
    except ValueError:
        return None, f"not an RFC 3339 time: {raw[:60]!r} (e.g. '2026-12-12T22:00:00+09:00')"
    if d.tzinfo is None or "T" not in raw.upper():
        return None, (f"{raw[:60]!r} has no timezone: add 'Z' for UTC or an offset such as '+09:00'"
                      if d.tzinfo is None else f"{raw[:60]!r} is a date, not a time")
    return d.timestamp(), ""


def parse_duration(raw: Any) -> tuple[float | None, str]:
    """An ISO 8601 duration (days, hours, minutes, seconds) as seconds, or (None, why)."""
    m = _DURATION.match(raw) if isinstance(raw, str) else None
    if m is None or raw in ("P", "PT") or raw.endswith("T"):
        return None, (f"must be an ISO 8601 duration such as 'PT2H' or 'P1DT30M' "
                      f"(days, hours, minutes, seconds), got {str(raw)[:60]!r}")
    seconds = sum(float(m[k] or 0) * f for k, f in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)))
    if seconds < MIN_DURATION_S:
        return None, f"must be at least {MIN_DURATION_S:g} s, got {raw!r}"
    return seconds, ""


def parse_schedule(raw: Any, bad: Callable[[str, str], None], now: float | None,
                   path: str = "schedule") -> Schedule | None:
    """The schedule of a spec document, every problem reported through ``bad(path,
    problem)``; None if any (or if ``raw`` is None: no schedule)."""
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        bad(path, f"must be a mapping with start, end or duration, got {str(raw)[:60]!r}")
        return None
    before = []
    report = lambda p, why: (before.append(p), bad(p, why))  # noqa: E731
    for key in sorted(map(str, raw)):
        if key not in FIELDS:
            report(f"{path}.{key}", f"unknown field (allowed: {', '.join(FIELDS)})")
    if not raw:
        report(path, "is empty: give a start, an end or a duration (or leave schedule out)")
    times = {}
    for key, parser in (("start", parse_time), ("end", parse_time), ("duration", parse_duration)):
        if raw.get(key) is not None:
            value, why = parser(raw[key])
            if value is None:
                report(f"{path}.{key}", why)
            times[key] = value
    start, end, duration = times.get("start"), times.get("end"), times.get("duration")
    if "end" in times and "duration" in times:
        report(f"{path}.duration", "give an end or a duration, not both")
    if start is not None and end is not None and end <= start:
        report(f"{path}.end", f"{rfc3339(end)} is not after the start {rfc3339(start)}")
    if now is not None:
        if start is not None and start < now - GRACE_S:
            report(f"{path}.start", f"{rfc3339(start)} is in the past (now is {rfc3339(now)}): "
                   f"leave start out to begin now")
        elif start is not None and start > now + MAX_AHEAD_S:
            report(f"{path}.start", f"{rfc3339(start)} is more than two years ahead")
        if end is not None and end <= now and (start is None or start < end):
            report(f"{path}.end", f"{rfc3339(end)} is in the past (now is {rfc3339(now)})")
    if before:
        return None
    if start is not None and duration is not None:
        end, duration = start + duration, None
    return Schedule(start=start, end=end, duration=duration)
