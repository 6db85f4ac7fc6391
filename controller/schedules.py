"""Slices booked ahead, served (issue 27): booked at admission, started and ended on time.

A spec with a ``schedule`` whose start is later than now is *booked* (the engine's
calendar, :mod:`slices.booking`): it holds its bandwidth and tags over its interval, has
no rules, and shows ``scheduled``. At its start the controller activates it - the booking
leaves the calendar and the slice is admitted and pushed as any create is - and its state
goes ``requested`` → ``active``; the time to connectivity is measured from the start. At
its end the slice is deleted (rules removed, the event log keeps the record). A spec with
a schedule that starts now (no start, or one within the grace) is admitted at once and
only its end is timed.

Every transition goes through :meth:`controller.pipeline.Pipeline.transact`, so each one
is in the store's event log (``booked``, ``started``, ``ended``) and in WatchSlices.

Timers: one thread (:class:`WallTimer`) waits for the next target, a *wall-clock* time
(the schedule is wall-clock), with monotonic waits of at most :data:`NAP_S`; at each wake
it computes ``target - time.time()`` again. So an NTP step forward fires whatever became
due at once (within NAP_S), and a step back delays events to the new wall time; a step
never fires an event twice (the owner decides from the model, not from the timer). The
timer only posts :meth:`Schedules.tick` to the owner thread, which decides what is due.
Only a leading instance runs the timer (it starts and stops with the audits).
"""
from __future__ import annotations

import logging
import math
import threading
import time
from dataclasses import replace
from typing import Callable

from controller.maintenance import Maintenance
from controller.model import Model
from controller.owner import Owner
from controller.pipeline import Pipeline
from controller.states import EventKind, SliceState, SliceStatus, booking_state
from slices.booking import Booking
from slices.engine import Event
from slices.errors import Rejected, SpecError
from slices.record import Placement
from slices.schedule import Schedule, rfc3339
from slices.spec import SliceSpec

log = logging.getLogger("intercloud.controller")
NAP_S = 0.5          # the longest monotonic wait: how late a wall-clock step forward is noticed
RETRY_S = 5.0        # a booking that could not start is tried again this often until its end


class WallTimer:
    """Calls ``fire`` (from its own thread) once the wall clock ``wall()`` reaches the
    target given to :meth:`aim`; see the module text for how clock steps behave."""

    def __init__(self, fire: Callable[[], None], wall: Callable[[], float] = time.time, nap_s: float = NAP_S):
        self._fire, self._wall, self._nap = fire, wall, nap_s
        self._cv = threading.Condition()
        self._target: float | None = None
        self._thread: threading.Thread | None = None
        self._stopped = True

    def aim(self, target: float | None) -> None:
        """Fire at wall time ``target`` (None: not at all), replacing the previous target."""
        with self._cv:
            self._target = target
            self._cv.notify()

    @property
    def target(self) -> float | None:
        return self._target

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        self.stop()
        self._stopped = False
        self._thread = threading.Thread(target=self._run, name="schedule-timer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cv:
            self._stopped = True
            self._cv.notify()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5)
        self._thread = None

    def _run(self) -> None:
        while True:
            with self._cv:
                if self._stopped:
                    return
                if self._target is None:
                    self._cv.wait()
                    continue
                left = self._target - self._wall()   # again at every wake: the wall clock may step
                if left > 0:
                    self._cv.wait(min(left, self._nap))
                    continue
                self._target = None
            try:
                self._fire()
            except Exception:  # logged; the owner aims the timer again on its next tick
                log.exception("schedule timer")


def resolved(spec: SliceSpec, now: float, start: float | None = None) -> SliceSpec:
    """``spec`` with absolute times only (what is stored: a restart must not count a
    duration again). ``start``: the start an active slice keeps when an update gives none."""
    if spec.schedule is None:
        return spec
    s = spec.schedule
    if s.start is None and start is not None:
        end = s.end if s.end is not None else (start + s.duration if s.duration is not None else None)
        return replace(spec, schedule=Schedule(start=start, end=end))
    return replace(spec, schedule=s.resolved(now))


def active_at(model: Model, t: float) -> set[str]:
    """The slices and bookings that hold resources at wall time ``t``: bookings over
    their interval; slices from their start (or creation) until their end (or for ever)."""
    out = {n for n, b in model.engine.bookings.items() if b.t0 <= t < b.t1}
    for n, s in model.engine.slices.items():
        sch = s.spec.schedule
        st = model.states.get(n)
        start = sch.start if sch is not None and sch.start is not None else (st.created if st else -math.inf)
        end = sch.end if sch is not None and sch.end is not None else math.inf
        if start <= t < end:
            out.add(n)
    return out


class Schedules:
    """The controller's side of bookings: requests with a schedule, and the timer. Runs
    on the owner thread (the timer only posts :meth:`tick`)."""

    def __init__(self, model: Model, pipeline: Pipeline, owner: Owner, clock: Callable[[], float] = time.time,
                 maintenance: Maintenance | None = None):
        """``maintenance``: the maintenance windows the timer also drains and undrains."""
        self.model, self.pipeline, self.owner, self.clock = model, pipeline, owner, clock
        self.maintenance = maintenance
        self.timer = WallTimer(lambda: self.owner.post(self.tick), clock)
        self._retry: dict[str, float] = {}      # booking -> when its start is tried again
        # federation parts booked ahead and not provisioned (controller.federation): they
        # start booked without rules, as a part reserved now is, until their Provision
        self.dark: set[str] = set()

    # -- requests ------------------------------------------------------------------------------

    def starts_later(self, spec: SliceSpec, now: float) -> bool:
        return spec.schedule is not None and spec.schedule.start is not None and spec.schedule.start > now

    def create(self, spec: SliceSpec) -> None:
        """Book ``spec`` (resolved) if it starts later, else admit it now; all or nothing."""
        now = self.clock()
        engine = self.model.engine
        if self.starts_later(spec, now):
            self.pipeline.transact(lambda: engine.book_ahead(spec, now), created=[spec.name])
        else:
            self.pipeline.transact(lambda: engine.admit(spec), created=[spec.name])
        self.rearm()

    def update(self, spec: SliceSpec) -> SliceSpec:
        """Change a booking or a slice to ``spec`` (a later or earlier end, another start
        for a booking, anything a slice's update may change), checked against the
        calendar, all or nothing. An active slice keeps its start: it cannot be postponed."""
        now, engine = self.clock(), self.model.engine
        name = spec.name
        if name in engine.bookings:
            spec = resolved(spec, now)
            later = self.starts_later(spec, now)

            def decide() -> list[Event]:
                if later:
                    return engine.rebook(spec, now)
                return engine.cancel_booking(name) + engine.admit(spec)   # brought forward: starts now
            self.pipeline.transact(decide, created=[] if later else [name])
            self._retry.pop(name, None)
        else:
            old = engine.get(name).spec
            start = old.schedule.start if old.schedule is not None and old.schedule.start is not None else None
            spec = resolved(spec, now, start)
            if self.starts_later(spec, now):
                raise SpecError([("schedule.start", f"slice {name} has started already: only its end can "
                                  "change (delete it and book it again to move it later)")])
            self.pipeline.transact(lambda: engine.update(spec))
        self.rearm()
        return spec

    def cancel(self, name: str) -> None:
        """Cancel booking ``name`` (DeleteSlice before its start)."""
        self.pipeline.transact(lambda: self.model.engine.cancel_booking(name), deleted=name)
        self.cancelled([name])

    def cancelled(self, names: list[str]) -> None:
        """The named bookings were cancelled (by a batch delete too): no retry, the
        timer set for the bookings left."""
        for name in names:
            self._retry.pop(name, None)
        self.rearm()

    # -- start-up ------------------------------------------------------------------------------

    def adopt(self, stored: list[tuple[Placement, SliceStatus]], problems: list[str]) -> None:
        """Take back stored bookings, after every stored slice: each on its stored trees
        if they still fit, else booked again by the usual rules, else kept waiting for
        its start (holding nothing), each outcome but the first reported in ``problems``."""
        engine, now = self.model.engine, self.clock()
        again = []
        for p, st in stored:
            try:
                engine.adopt_booking(p)
            except Rejected as e:
                again.append((p, e))
            self.model.states[p.name] = st
        for p, why in again:
            try:
                engine.book_ahead(p.spec, now)
                problems.append(f"stored booking {p.name}: its stored trees do not fit ({why.reason}); booked again")
            except Rejected as e:
                engine.wait_booking(p.spec, f"could not be booked again at start: {e.reason}")
                problems.append(f"stored booking {p.name}: {e.reason}; waiting for its start")
            log.error(problems[-1])
            b = engine.bookings[p.name]
            st = self.model.states[p.name]
            st.state, st.reason = booking_state(b)
        self._retry.clear()
        self.rearm()

    # -- the timer -----------------------------------------------------------------------------

    def start_timer(self) -> None:
        self.timer.start()
        self.rearm()

    def stop_timer(self) -> None:
        self.timer.stop()

    def next_at(self) -> float | None:
        """The wall time of the next start, retry or end (None: nothing is timed)."""
        e = self.model.engine
        times = [min(max(b.t0, self._retry.get(n, b.t0)), b.t1) for n, b in e.bookings.items()]
        times += [s.spec.schedule.end for s in e.slices.values()
                  if s.spec.schedule is not None and s.spec.schedule.end is not None]
        if self.maintenance is not None and (at := self.maintenance.next_at()) is not None:
            times.append(at)
        return min(times, default=None)

    def rearm(self) -> None:
        self.timer.aim(self.next_at())

    def tick(self) -> None:
        """Drain and undrain the maintenance windows whose time came, start the bookings
        whose start has come, end the slices whose end has, by the wall clock now; then
        aim the timer at what comes next."""
        if self.owner.stopped:
            return
        now, engine = self.clock(), self.model.engine
        if self.maintenance is not None:   # drains first: a booking starting now avoids the window
            self.maintenance.tick(now)
        # ends first: a booking starting when another slice ends may need its ports
        for name in sorted(n for n, s in engine.slices.items()
                           if s.spec.schedule is not None and s.spec.schedule.end is not None
                           and s.spec.schedule.end <= now):
            self._end(name)
        for name in sorted(n for n, b in engine.bookings.items() if b.t0 <= now):
            b = engine.bookings[name]
            if b.t1 <= now:
                self._expire(name, b)
            elif self._retry.get(name, b.t0) <= now:
                self._start(name, b, now)
        self.rearm()

    def _start(self, name: str, b: Booking, now: float) -> None:
        engine, t0 = self.model.engine, b.t0

        def decide() -> list[Event]:
            events = engine.activate(name)
            if name in self.dark:
                events += engine.light(name, False)
            # REQUESTED from the start, so the time to connectivity counts from it
            self.model.states[name] = SliceStatus(SliceState.REQUESTED, "started: rules being installed",
                                                  created=t0, updated=now)
            return [Event(EventKind.STARTED, name, f"its start {rfc3339(t0)} came: admitted, rules pushed "
                          f"{max(0.0, now - t0):.3f} s after it")] + events
        try:
            self.pipeline.transact(decide, request=False)
            self._retry.pop(name, None)
        except Rejected as e:
            why = f"could not start at {rfc3339(t0)}: {e.reason}; tried again every {RETRY_S:g} s until its end"
            self._retry[name] = now + RETRY_S
            if engine.bookings[name].reason != why:
                def mark() -> list[Event]:
                    engine.bookings[name].reason = why
                    return [Event(EventKind.PREEMPTED, name, why)]
                self.pipeline.transact(mark, request=False)
            log.warning("booking %s %s", name, why)

    def _expire(self, name: str, b: Booking) -> None:
        """A booking whose end came before it could start: gone, as its slice would be."""
        self._retry.pop(name, None)
        why = f"its end {rfc3339(b.t1)} came before it could start"
        self.pipeline.transact(lambda: [Event(EventKind.ENDED, name, why)] + self.model.engine.cancel_booking(name),
                               deleted=name, request=False)

    def _end(self, name: str) -> None:
        """Slice ``name`` reached its end: deleted (rules removed), the slices waiting for
        capacity tried again."""
        engine = self.model.engine
        end = engine.slices[name].spec.schedule.end   # type: ignore[union-attr]
        self.pipeline.transact(lambda: [Event(EventKind.ENDED, name, f"its end {rfc3339(end)} came: rules removed")]
                               + engine.release(name, restore=False), deleted=name, request=False)
        if engine.waiting():
            self.pipeline.transact(lambda: engine.restore_waiting(), request=False)


def same_request(existing: SliceSpec, spec: SliceSpec) -> bool:
    """Whether ``spec`` asks for what ``existing`` (as stored: its schedule resolved) is:
    a schedule without a start, or with a duration, is compared as resolved from the
    stored start."""
    if existing == spec:
        return True
    if existing.schedule is None or spec.schedule is None or existing.schedule.start is None:
        return False
    return resolved(spec, existing.schedule.start, existing.schedule.start) == existing
