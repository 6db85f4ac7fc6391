"""The one way the model changes: engine decision → rule plan → diff → switches → store →
events, all or nothing for a client's request (:meth:`Pipeline.transact`), and the slices'
states worked out from what the switches confirmed (:meth:`Pipeline.refresh_states`).
Runs on the owner thread only."""
from __future__ import annotations

import logging
import time
from dataclasses import dataclass, replace
from typing import Callable, Iterable

from controller.lookups import Lookups
from controller.model import REFUSED, Model, SwitchProblem, Wire
from controller.states import EventKind, SliceState, SliceStatus, booking_state
from controller.store import StoreError
from controller.storage import StateStore
from controller.watchers import Published, Watchers
from slices.compiler import Changes, diff, recompile
from slices.engine import PREEMPTED, Event
from topologies.ports import PortMap

log = logging.getLogger("intercloud.controller")
DRAIN_MARGIN_S = 0.002   # a switch's own forwarding time, on top of the links' delay


class SwitchRefused(Exception):
    """A switch refused a request's rules; the request was undone everywhere."""


@dataclass(frozen=True)
class Timings:
    """Where decisions and times to connectivity are reported (prometheus_client
    histograms' ``observe``, controller.metrics), or nowhere."""

    engine_seconds: Callable[[float], None] | None = None
    ttc_seconds: Callable[[float], None] | None = None
    # where a client's request spends its time after the decision: "compile" (plan and
    # diff), "push" (the switches: sends and barriers), "store" (states, write, commit)
    part_seconds: Callable[[str, float], None] | None = None


class Pipeline:
    def __init__(self, model: Model, store: StateStore, wire: Wire, ports: PortMap, watchers: Watchers,
                 lookups: Lookups, timings: Timings = Timings()):
        self.model, self.store, self.wire, self.ports = model, store, wire, ports
        self.watchers, self.lookups, self.timings = watchers, lookups, timings

    def transact(self, decide: Callable[[], list[Event]], *, created: Iterable[str] = (),
                 deleted: str | Iterable[str] = (), request: bool = True,
                 also: Callable[[object], None] | None = None) -> None:
        """Apply what ``decide`` decides.

        A client's request (``request=True``) happens completely or not at all: if
        anything after the decision fails - the compiler, a switch refusing its rules, the
        wire, the store (read-only, locked, full) - the engine, the plan and the states
        are put back, rules already sent are taken back, the store transaction is rolled
        back, and the error goes to the caller. The store's write lock is taken before
        anything is sent, so a store that cannot be written stops a request before the
        switches see it. ``also(tx)`` writes more in the same store transaction (a
        maintenance window: controller.maintenance).

        What the network did by itself (a link went down) is not undone when a switch or
        the store fails: the engine must keep following reality. Switch problems then show
        in the slices' states; a store that cannot be written is logged."""
        m = self.model
        saved = (m.engine.checkpoint(), m.plan, {n: st.copy() for n, st in m.states.items()})
        created = list(created)
        deleted = {deleted} if isinstance(deleted, str) else set(deleted)
        sent: Changes | None = None
        new_plan = saved[1]
        try:
            started = time.perf_counter()
            events = decide()
            if self.timings.engine_seconds is not None:
                self.timings.engine_seconds(time.perf_counter() - started)
            touched = sorted({e.slice for e in events if e is not None} | set(created))
            compiled = time.perf_counter()
            new_plan = recompile(m.plan, m.engine, touched, self.ports)
            changes = replace(diff(m.plan, new_plan), drain_s=_drain_s(saved[0].slices, touched))
            for name in created:
                m.states[name] = SliceStatus()
            if request:
                parts = {"compile": time.perf_counter() - compiled}
                with self.store.transaction() as tx:
                    sent = changes
                    pushed = time.perf_counter()
                    problems = self.send(changes)
                    parts["push"] = time.perf_counter() - pushed
                    refused = {x: p for x, p in problems.items() if p.kind == REFUSED}
                    if refused:
                        raise SwitchRefused("; ".join(f"switch {x} refused the rules: {p}"
                                                      for x, p in sorted(refused.items())))
                    m.plan = new_plan
                    published = self._record(tx, events, touched, problems, deleted)
                    if also is not None:
                        also(tx)
                parts["store"] = time.perf_counter() - pushed - parts["push"]
                self._report(parts)
            else:
                sent = changes
                problems = self.send(changes)
                m.plan = new_plan
        except BaseException:
            self._undo(saved, sent, new_plan)
            raise
        self.refresh_lookups(touched)
        if not request:
            try:
                with self.store.transaction() as tx:
                    published = self._record(tx, events, touched, problems, deleted)
                    if also is not None:
                        also(tx)
            except StoreError as e:
                log.error("%s; the network changed anyway: %s", e, "; ".join(str(ev) for ev in events))
                return
        self.watchers.publish(published)

    def _report(self, parts: dict[str, float]) -> None:
        if self.timings.part_seconds is not None:
            for part, seconds in parts.items():
                self.timings.part_seconds(part, seconds)

    def _undo(self, saved: tuple, sent: Changes | None, new_plan: dict) -> None:
        """Put the engine, plan and states back; take back the rules already sent."""
        m = self.model
        m.engine.rollback(saved[0])
        m.plan, m.states = saved[1], saved[2]
        if sent is not None and len(sent):
            problems = self.send(diff(new_plan, saved[1]))
            if problems:
                log.error("taking back the rules of a failed request: %s",
                          "; ".join(f"{x}: {p}" for x, p in sorted(problems.items())))

    def refresh_lookups(self, names: Iterable[str]) -> None:
        """What the OpenFlow side reads for the named slices; forget the deleted ones."""
        names = list(names)
        self.watchers.tenant_of.update(self.lookups.refresh(self.model.engine, names))
        for name in names:
            if name not in self.model.engine.slices:
                self.model.address_problems.pop(name, None)
                self.model.sla_flagged.discard(name)

    def send(self, changes: Changes) -> dict[str, SwitchProblem]:
        """Push ``changes`` unless there are none; the switches' problems. A switch that
        did not confirm keeps its problem (``model.switch_problems``) until it confirms a
        later push or holds the plan at an audit."""
        if not len(changes):
            return {}
        problems = self.wire.push(changes)
        for site in changes.switches:
            if site in problems:
                self.model.switch_problems[site] = problems[site]
            else:
                self.model.switch_problems.pop(site, None)
        return problems

    def _record(self, tx, events: list[Event], touched: list[str], problems: dict,
                deleted: set[str]) -> list[Published]:
        """Work out the touched slices' states and write them, their placements and the
        events in ``tx``; return what to publish once the transaction has committed."""
        m, now = self.model, time.time()
        published = [Published(e.slice, e.kind, "", e.reason, now) for e in events if e is not None]
        states = self.refresh_states(problems, [n for n in touched if n in m.engine.slices], commit=False)
        deletes = sorted(deleted)
        for name in deletes:
            m.states.pop(name, None)
        if deleted:
            published = [p if p.slice not in deleted else replace(p, state=SliceState.DELETED) for p in published]
        states.update(self._booking_states([n for n in touched if n in m.engine.bookings], now))
        # every touched slice is written, not only those whose state changed: a re-placed
        # or updated slice keeps its state but not its placement or spec
        upserts = [(m.engine.record(n) if n in m.engine.slices else m.engine.booking_record(n),
                    m.states[n].state, m.states[n].reason, m.states[n].created)
                   for n in touched if n in m.engine.slices or n in m.engine.bookings]
        rows = [(p.slice, p.kind, p.state or m.states.get(p.slice, SliceStatus(SliceState.DELETED)).state, p.reason)
                for p in published]
        rows += [(n, EventKind.STATE, st.state, st.reason) for n, st in states.items()]
        tx.write(upserts, deletes, rows)
        return [Published(*r, now) for r in rows]

    def _booking_states(self, names: list[str], now: float) -> dict[str, SliceStatus]:
        """The named bookings' states (controller.schedules.booking_state), those changed."""
        changed = {}
        for name in names:
            st = self.model.states.setdefault(name, SliceStatus())
            new = booking_state(self.model.engine.bookings[name])
            if (st.state, st.reason) != new:
                st.state, st.reason, st.updated = new[0], new[1], now
                changed[name] = st
        return changed

    def refresh_states(self, problems: dict[str, SwitchProblem], names: Iterable[str],
                       commit: bool = True) -> dict[str, SliceStatus]:
        """Recompute the state of the named slices from the engine and the switches; with
        ``commit``, store and publish those that changed."""
        m = self.model
        connected = self.wire.connected_sites()
        problems = {**m.switch_problems, **problems}
        changed = {}
        for name in names:
            if name not in m.engine.slices:
                continue
            st = m.states.setdefault(name, SliceStatus())
            new = self._judge(name, problems, connected)
            if (st.state, st.reason) != new:
                if (new[0] == SliceState.ACTIVE and st.state == SliceState.REQUESTED
                        and self.timings.ttc_seconds is not None):
                    self.timings.ttc_seconds(time.time() - st.created)   # time to connectivity
                st.state, st.reason, st.updated = new[0], new[1], time.time()
                changed[name] = st
        if commit and changed:
            rows = [(n, EventKind.STATE, st.state, st.reason) for n, st in changed.items()]
            try:
                self.store.commit([(m.engine.record(n), st.state, st.reason, st.created)
                                   for n, st in changed.items()], [], rows)
            except StoreError as e:
                log.error("%s; slice states not saved: %s", e, "; ".join(f"{n} {st.state}" for n, st in changed.items()))
            self.watchers.publish([Published(*r, time.time()) for r in rows])
        return changed

    def _judge(self, name: str, problems: dict[str, SwitchProblem], connected: set[str]) -> tuple[SliceState, str]:
        """A slice's state and reason from its placement and its switches' problems."""
        m = self.model
        s = m.engine.slices[name]
        if s.status == PREEMPTED:
            return SliceState.PREEMPTED, s.reason
        if s.dark:
            return SliceState.REQUESTED, "a federation part booked without rules: they come at Provision"
        sites = sorted(s.tree.sites | (s.backup.sites if s.backup else frozenset()))
        bad = [f"{x}: {problems[x]}" for x in sites if x in problems]
        bad += [f"{x}: switch not connected" for x in sites if x not in connected and x not in problems]
        if any(problems[x].kind == REFUSED for x in sites if x in problems):
            new = (SliceState.FAILED, "; ".join(bad))  # a switch refused the slice's rules
        elif bad:
            new = (SliceState.DEGRADED, "; ".join(bad))
        elif s.spec.protection != "none" and s.backup is None:
            new = (SliceState.DEGRADED, "protection lost: no disjoint backup until capacity returns")
        else:
            new = (SliceState.ACTIVE, f"worst delay {s.tree.worst_delay_ms:.2f} ms over {len(s.tree.edges)} links")
        # a host no longer at an endpoint (failed back from a standby) is left out
        wrong = m.address_problems.get(name)
        if wrong and new[0] in (SliceState.ACTIVE, SliceState.DEGRADED):
            mine = {str(e): a for e, a in m.engine.record(name).live_addresses}
            text = "; ".join(f"the host at {label} uses {seen}, not the endpoint's {mine[label]}"
                             " (seen in its ARP): it cannot communicate in the slice"
                             for label, (seen, _t) in sorted(wrong.items()) if label in mine)
            if text:
                new = (SliceState.DEGRADED, text if new[0] == SliceState.ACTIVE else f"{new[1]}; {text}")
        return new


def _drain_s(before: dict, names: list[str]) -> float:
    """How long frames may still be on the trees the named slices had before a change:
    the worst one-way delay of those trees (plus a margin). 0 when none had one."""
    worst = max((t.worst_delay_ms for n in names if n in before
                 for t in (before[n].tree, before[n].backup) if t is not None), default=0.0)
    return worst / 1000 + DRAIN_MARGIN_S if worst else 0.0
