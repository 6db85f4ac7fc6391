"""Maintenance windows, served (issue 27 item 6): planned, stored, drained on time.

A window (:mod:`slices.windows`) is planned through the pipeline like any request: the
engine places the overlapping bookings around it, all or nothing, and the window is
written in the same store transaction. The schedule timer (controller.schedules) also
aims at each window's drain time (``start - LEAD_S``) and end: at the first the site or
link is drained (as DrainSite / DrainLink do, make-before-break), at the second it is
undrained and the window forgotten (store row deleted). A window that drained what was
already drained by hand leaves it drained at its end.

Which windows are being drained is kept in memory only: after a restart (or a cluster's
take-over) the first tick drains again what is inside its window, so a restart in the
middle of a window keeps the site drained.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

from controller.model import Model
from controller.pipeline import Pipeline
from slices.engine import Event
from slices.placement import LinkKey
from slices.schedule import rfc3339
from slices.windows import Window, window_from

log = logging.getLogger("intercloud.controller")


class Maintenance:
    """The controller's side of windows; runs on the owner thread."""

    def __init__(self, model: Model, pipeline: Pipeline, clock: Callable[[], float] = time.time):
        self.model, self.pipeline, self.clock = model, pipeline, clock
        self.draining: set[str] = set()     # windows whose drain has been done
        self.owned: set[str] = set()        # ... by the window itself (undrained at its end)

    # -- requests ----------------------------------------------------------------------------

    def plan(self, site: str, link: LinkKey | None, start: str, end: str) -> tuple[Window, list[Event]]:
        """Plan a window (SpecError for bad times, KeyError for an unknown site or link,
        Rejected naming the blocked bookings); changes nothing when it raises. The
        caller aims the timer again (controller.schedules)."""
        w = window_from(site, link, start, end, self.clock())
        done: list[Event] = []

        def decide() -> list[Event]:
            done[:] = self.model.engine.plan_window(w)
            return done
        self.pipeline.transact(decide, also=lambda tx: tx.put_window(w.to_dict()))
        return w, list(done)

    def cancel(self, wid: str) -> list[Event]:
        """Forget window ``wid``; one being drained now is undrained (if it drained)."""
        engine = self.model.engine
        if wid not in engine.windows:
            raise KeyError(f"no maintenance window {wid}")
        w = engine.windows[wid]
        done: list[Event] = []

        def decide() -> list[Event]:
            engine.cancel_window(wid)
            done[:] = self._undrain(w) if wid in self.owned else []
            return done
        self.pipeline.transact(decide, also=lambda tx: tx.drop_window(wid))
        self.draining.discard(wid)
        self.owned.discard(wid)
        return list(done)

    # -- start-up ------------------------------------------------------------------------------

    def adopt(self, docs: list[dict], problems: list[str]) -> None:
        """Take back the stored windows (before the stored bookings, which avoid them)."""
        engine = self.model.engine
        self.draining.clear()
        self.owned.clear()
        for d in docs:
            try:
                w = Window.from_dict(d)
                if (w.site and not engine.topology.has_site(w.site)) or (w.link and w.link not in engine.capacity):
                    raise ValueError(f"{w.target} is not in {engine.topology.name}")
            except (KeyError, TypeError, ValueError) as e:
                problems.append(f"stored maintenance window {d.get('id', '?')} not restored: {e}")
                log.error(problems[-1])
                continue
            engine.windows[w.id] = w

    # -- the timer ---------------------------------------------------------------------------

    def next_at(self) -> float | None:
        times = [w.t1 if w.id in self.draining else w.drain_at for w in self.model.engine.windows.values()]
        return min(times, default=None)

    def tick(self, now: float) -> None:
        """Drain the windows whose drain time came, undrain and forget those whose end did."""
        engine = self.model.engine
        for w in sorted(engine.windows.values(), key=lambda w: (w.t1, w.id)):
            if w.t1 <= now:
                self._end(w)
            elif w.drain_at <= now and w.id not in self.draining:
                self._begin(w, now)

    def _begin(self, w: Window, now: float) -> None:
        engine = self.model.engine
        already = w.site in engine.drained if w.site else w.link in engine.drained_links
        other = any(v.id in self.owned and _same(v, w) for v in engine.windows.values())
        log.info("maintenance window %s of %s (%s–%s): draining %.0f s before its start", w.id, w.target,
                 rfc3339(w.t0), rfc3339(w.t1), w.t0 - now)
        self.pipeline.transact(lambda: self._drain(w), request=False)
        self.draining.add(w.id)
        if not already or other:
            self.owned.add(w.id)

    def _end(self, w: Window) -> None:
        engine = self.model.engine
        mine = w.id in self.owned
        log.info("maintenance window %s of %s ended at %s", w.id, w.target, rfc3339(w.t1))

        def decide() -> list[Event]:
            engine.cancel_window(w.id)
            return self._undrain(w) if mine else []
        self.pipeline.transact(decide, request=False, also=lambda tx: tx.drop_window(w.id))
        self.draining.discard(w.id)
        self.owned.discard(w.id)

    def _drain(self, w: Window) -> list[Event]:
        engine = self.model.engine
        if w.site:
            return engine.drain(w.site)
        a, b = sorted(w.link)   # type: ignore[arg-type]
        return engine.drain_link(a, b)

    def _undrain(self, w: Window) -> list[Event]:
        engine = self.model.engine
        if any(v.id in self.draining and v.id != w.id and _same(v, w) for v in engine.windows.values()):
            return []      # another window of the same target holds it drained
        if w.site:
            return engine.undrain(w.site)
        a, b = sorted(w.link)   # type: ignore[arg-type]
        return engine.undrain_link(a, b)


def _same(v: Window, w: Window) -> bool:
    return (v.site, v.link) == (w.site, w.link)
