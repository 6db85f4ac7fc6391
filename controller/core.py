"""The owner of the model: a slice controller that answers requests and network events.

gRPC handlers and OpenFlow events never touch the model: they hand a request to
:meth:`SliceController.call` / :meth:`post`, which the owner thread (controller.owner)
runs in order. Each request follows the one-way flow: spec → engine decision → rule plan
→ diff → wire → store → events, all or nothing (controller.pipeline). The parts, each with
its own job: the model (controller.model), the pipeline, the network's events
(controller.network), what hosts and probes tell of placed slices
(controller.slice_health), the watchers (controller.watchers) and what the OpenFlow side
reads without a lock (controller.lookups). The wire and the store are interfaces
(:class:`controller.model.Wire`, :class:`controller.storage.StateStore`), so the same owner
runs against os-ken switches or simulated ones, on SQLite or etcd.
"""
from __future__ import annotations

import logging
import queue
import time
from collections import Counter
from dataclasses import replace
from typing import Any, Callable

from controller.lookups import EndpointInfo, Lookups
from controller.maintenance import Maintenance
from controller.model import ABSENT, REFUSED, UNCONFIRMED, Model, SwitchProblem, Wire
from controller.network import NetworkEvents, reconcile
from controller.owner import CALL_TIMEOUT_S, Owner, Periodic
from controller.pipeline import Pipeline, SwitchRefused, Timings
from controller.schedules import Schedules, resolved, same_request
from controller.settings import CoreSettings
from controller.slice_health import SliceHealth
from controller.states import EventKind, SliceState, SliceStatus
from controller.storage import StateStore
from controller.store import StoreError, placement_from_json
from controller.watchers import Published, Watchers
from slices.compiler import compile_plan
from slices.engine import PREEMPTED, RESTORE_BATCH, Event, SliceEngine
from slices.errors import Rejected, SpecError, UnknownSlice
from slices.record import BOOKED
from slices.spec import SliceSpec, parse_spec
from topologies.model import Topology
from topologies.ports import PortMap

__all__ = ["ABSENT", "REFUSED", "UNCONFIRMED", "CALL_TIMEOUT_S", "AlreadyExists", "EndpointInfo", "NotConnected",
           "Published", "SliceController", "SwitchProblem", "SwitchRefused", "Wire", "reconcile"]
log = logging.getLogger("intercloud.controller")


class NotConnected(Exception):
    """A switch the request needs is not connected (FAILED_PRECONDITION)."""


class AlreadyExists(Exception):
    """A slice of that name exists with a different spec."""


class SliceController:
    """Requests (create, update, delete, failback, drain) and the start-up from the store;
    network events are handed to :attr:`network`, slice health to :attr:`health`."""

    def __init__(self, topology: Topology, store: StateStore, wire: Wire, settings: CoreSettings = CoreSettings(),
                 *, timings: Timings = Timings(), on_repair: Callable[[int], Any] | None = None,
                 clock: Callable[[], float] = time.time):
        """``clock``: the wall clock schedules are judged and timed by (tests pass a fake one)."""
        self.topology, self.store, self.wire, self.settings = topology, store, wire, settings
        self.clock = clock
        self.ports = PortMap(topology)
        self.owner = Owner()
        self.model = Model(self._new_engine())
        self.watchers = Watchers()
        self.lookups = Lookups()
        self.pipeline = Pipeline(self.model, store, wire, self.ports, self.watchers, self.lookups, timings)
        self.network = NetworkEvents(topology, self.ports, self.model, self.pipeline, wire, self.owner, settings,
                                     on_repair)
        self.health = SliceHealth(self.model, self.pipeline, self.owner, self.watchers, settings)
        self._auditor = Periodic("switch-audit", self.network.audit_switches)
        self.maintenance = Maintenance(self.model, self.pipeline, clock)
        self.schedules = Schedules(self.model, self.pipeline, self.owner, clock, self.maintenance)
        self.restore_problems: list[str] = []
        self._access_port_listeners: list[Callable[[str, int, bool], None]] = []
        self._load()

    def _new_engine(self) -> SliceEngine:
        return SliceEngine(self.topology, prefix_pool=self.settings.prefix_pool, prefix_len=self.settings.prefix_len)

    # -- the owner thread and the audits ----------------------------------------------------------

    def start(self, audit_interval: float | None = None) -> None:
        """Start the owner thread; with ``audit_interval`` (seconds), audit every switch
        that often (:meth:`NetworkEvents.audit_switches`). Bookings are started and ended
        only once :meth:`start_audits` is called: by the instance that leads
        (controller.leadership), not by a cluster's follower."""
        self.owner.start()
        self._auditor.start(audit_interval)

    def start_audits(self, interval: float | None) -> None:
        """Audit every switch each ``interval`` seconds (None: never), from now on; and
        start and end booked slices on time (what a leading instance does)."""
        self._auditor.start(interval)
        self.schedules.start_timer()

    def stop_audits(self) -> None:
        self._auditor.stop()
        self.schedules.stop_timer()

    def stop(self) -> None:
        """Finish the request in hand, drop the queued ones, stop the owner thread."""
        self.owner.stopped = True
        self.stop_audits()
        self.owner.stop()

    def call(self, fn: Callable[[], Any], timeout: float = CALL_TIMEOUT_S) -> Any:
        return self.owner.call(fn, timeout)

    def post(self, fn: Callable[[], Any]) -> None:
        self.owner.post(fn)

    # -- what tests and the read model look at (owner thread) ------------------------------------

    @property
    def engine(self) -> SliceEngine:
        return self.model.engine

    @property
    def plan(self):
        return self.model.plan

    @property
    def states(self) -> dict[str, SliceStatus]:
        return self.model.states

    # -- network events and slice health, as the OpenFlow side posts them -------------------------

    def switch_connected(self, site: str) -> None:
        """``site``'s switch connected (or answers again): it gets the plan, and its links
        settle for a moment (controller.settling)."""
        self.network.switch_joined(site)
        self.network.switch_connected(site)

    def ports_read(self, site: str, ports: dict[int, bool]) -> None:
        """``site``'s ports as its switch described them on connecting (port -> up)."""
        self.network.ports_read(site, ports)

    def switch_disconnected(self, site: str) -> None:
        self.network.switch_disconnected(site)

    def switch_confirmed(self, site: str, problem) -> None:
        """A switch on probation confirmed (or refused: ``problem``) its last pushes late."""
        self.network.switch_confirmed(site, problem)

    def audit_switches(self) -> None:
        self.network.audit_switches()

    def port_changed(self, site: str, port: int, up: bool) -> None:
        self.network.port_changed(site, port, up)
        if self.ports.neighbour_at(site, port) is None:
            for listener in self._access_port_listeners:
                listener(site, port, up)

    def on_access_port(self, listener: Callable[[str, int, bool], None]) -> None:
        """Call ``listener(site, port, up)`` on the owner thread when an access port (not a
        link's) changes state: the federation watches its border ports so."""
        self._access_port_listeners.append(listener)

    def link_verdict(self, a: str, b: str, up: bool, reason: str) -> None:
        self.network.link_verdict(a, b, up, reason)

    def endpoint_misaddressed(self, name: str, label: str, seen: str) -> None:
        self.health.endpoint_misaddressed(name, label, seen)

    def links_measured(self, measured: dict) -> None:
        self.health.links_measured(measured)

    def sla_turned(self, name: str, status) -> None:
        self.health.sla_turned(name, status)

    def subscribe(self) -> queue.Queue:
        return self.watchers.subscribe()

    def unsubscribe(self, q: queue.Queue) -> None:
        self.watchers.unsubscribe(q)

    # -- start-up: take the stored slices back ----------------------------------------------------

    def reload(self) -> None:
        """Forget the model and adopt the store's again, as at start: a follower in a
        cluster keeping up with what the leader wrote, or one that has just become the
        leader (controller.cluster). What the network told this instance (links and
        sites down) goes too: the switches tell the new leader again."""
        self.model.reset(self._new_engine())
        self.restore_problems = []
        self.network.forget()
        self.lookups.clear()
        self._load()

    def _load(self) -> None:
        """Adopt every stored slice exactly as it was, or none of it: a row that is
        invalid, names what no longer exists, or conflicts with a slice adopted before it
        (an endpoint, a tag, capacity) is reported and left out, whole."""
        waiting, booked = [], []
        for row in self.store.load():
            cp = self.model.engine.checkpoint()
            try:
                spec = parse_spec(row.spec, self.topology)
                placement = placement_from_json(spec, row.placement, row.reason)
                state = SliceState(row.state)
            except Exception as e:  # whatever a damaged row holds, the others still load
                what = str(e) if isinstance(e, (SpecError, ValueError)) else f"{type(e).__name__}: {e}"
                self.restore_problems.append(f"stored slice {row.name} not restored: {what}")
                log.error(self.restore_problems[-1])
                continue
            if placement.status == BOOKED:   # taken back once every slice of today is
                booked.append((placement, SliceStatus(state, row.reason, row.create_time, row.update_time)))
                continue
            try:
                self.model.engine.adopt(placement)
            except ValueError as e:
                # its placement does not fit this network (less capacity, a link gone, a tag
                # or id taken): it waits like a preempted slice and is placed by the usual
                # rules if it can be, never booked beyond capacity
                self.model.engine.rollback(cp)
                why = f"its stored placement does not fit this network: {e}"
                try:
                    self.model.engine.adopt(replace(placement, status=PREEMPTED, reason=why, tree=None,
                                                    backup=None, tags=(), backup_tags=(), standby_trees=(),
                                                    moved=()))
                except ValueError as e2:
                    self.model.engine.rollback(cp)
                    self.restore_problems.append(f"stored slice {row.name} not restored: {e2}")
                    log.error(self.restore_problems[-1])
                    continue
                self.restore_problems.append(f"stored slice {row.name}: {why}; waiting to be placed again")
                log.error(self.restore_problems[-1])
                waiting.append(row.name)
            self.model.states[row.name] = SliceStatus(state, row.reason, row.create_time, row.update_time)
        if waiting:
            self._place_waiting_after_load(waiting)
        self.maintenance.adopt(self.store.windows(), self.restore_problems)   # bookings avoid them
        self.schedules.adopt(booked, self.restore_problems)
        self.model.plan = compile_plan(self.model.engine, self.ports)
        self.pipeline.refresh_lookups(list(self.model.engine.slices))

    def _place_waiting_after_load(self, names: list[str]) -> None:
        """Slices whose stored placement did not fit: placed again where they fit now
        (the switches get their rules when they connect), their new placement and state
        stored."""
        events = self.model.engine.restore_waiting()
        touched = sorted(set(names) | {e.slice for e in events})
        for e in events:
            log.info("restored from the store: %s", e)
        for name in touched:
            s = self.model.engine.slices[name]
            st = self.model.states.get(name) or SliceStatus()
            st.state, st.reason = (SliceState.REQUESTED, "placed again at start") if s.status != PREEMPTED else \
                (SliceState.PREEMPTED, s.reason)
            self.model.states[name] = st
        engine, states = self.model.engine, self.model.states
        try:
            self.store.commit([(engine.record(n), states[n].state, states[n].reason, states[n].created)
                               for n in touched], [],
                              [(n, EventKind.RESTORED if engine.slices[n].status != PREEMPTED else EventKind.PREEMPTED,
                                states[n].state, states[n].reason) for n in touched])
        except StoreError as e:
            log.error("%s; the slices placed again at start are not saved", e)

    def _parse(self, doc: dict) -> SliceSpec:
        """``doc`` validated, a schedule against this controller's clock."""
        return parse_spec(doc, self.topology, now=self.clock())

    def _existing(self, name: str) -> SliceSpec | None:
        """The spec of the slice or booking ``name``, if there is one."""
        e = self.model.engine
        s = e.slices.get(name)
        return s.spec if s is not None else (e.bookings[name].spec if name in e.bookings else None)

    def create(self, doc: dict) -> str:
        spec = self._parse(doc)
        existing = self._existing(spec.name)
        if existing is not None:
            if same_request(existing, spec):
                return spec.name  # idempotent: the same request again
            raise AlreadyExists(f"slice {spec.name} exists with a different spec; use UpdateSlice")
        if spec.schedule is not None:
            spec = resolved(spec, self.clock())
            if not self.schedules.starts_later(spec, self.clock()):
                self._require_connected(spec)
            self._check_quota([spec])
            self.schedules.create(spec)
            return spec.name
        self._require_connected(spec)
        self._check_quota([spec])
        self.pipeline.transact(lambda: self.model.engine.admit(spec), created=[spec.name])
        return spec.name

    def create_many(self, docs: list[dict]) -> list[str]:
        """Create the slices of ``docs`` in one request, all or nothing: one engine pass,
        one push (one round of rules and barriers per switch), one store transaction.

        A slice that exists with the same spec is left as it is (the request can be sent
        again). Every problem is named by its place in the request (``specs[3].name``) or
        its slice; any one fails the whole request and nothing changes."""
        specs, problems = [], []
        for i, doc in enumerate(docs):
            try:
                specs.append(self._parse(doc))
            except SpecError as e:
                problems += [(f"specs[{i}]" + (f".{f}" if f else ""), p) for f, p in e.violations]
        first: dict[str, int] = {}
        for i, spec in enumerate(specs):
            if first.setdefault(spec.name, i) != i:
                problems.append((f"specs[{i}].name", f"{spec.name!r} is also the name of specs[{first[spec.name]}]"))
        if problems:
            raise SpecError(problems)
        new, now = [], self.clock()
        for spec in specs:
            existing = self._existing(spec.name)
            if existing is None:
                new.append(resolved(spec, now))
            elif not same_request(existing, spec):
                raise AlreadyExists(f"slice {spec.name} exists with a different spec; use UpdateSlice")
        for spec in new:
            if not self.schedules.starts_later(spec, now):
                self._require_connected(spec)
        self._check_quota(new)

        def decide() -> list[Event]:
            events = []
            for spec in new:
                try:
                    events += (self.model.engine.book_ahead(spec, now) if self.schedules.starts_later(spec, now)
                               else self.model.engine.admit(spec))
                except Rejected as e:
                    raise Rejected(e.constraint, f"slice {spec.name}: {e.reason}", e.structural) from None
            return events
        if new:
            self.pipeline.transact(decide, created=[s.name for s in new])
            self.schedules.rearm()
        return [s.name for s in specs]

    def create_each(self, docs: list[dict]) -> list[str | Exception]:
        """Each of ``docs`` created as by :meth:`create`, with its own outcome; the new,
        unscheduled ones together (group commit: an engine decision each, then one push -
        one round of rules and barriers per switch - and one store transaction). If that
        fails (one is refused, a switch refuses the rules, the store fails), the group is
        undone and each is created on its own: a failed one fails alone, leaving nothing."""
        group: dict[str, SliceSpec] = {}
        for doc in docs:
            try:
                spec = self._parse(doc)
                if spec.schedule is None and self._existing(spec.name) is None and spec.name not in group:
                    self._require_connected(spec)
                    group[spec.name] = spec
            except (SpecError, NotConnected):
                pass       # created on its own below, which raises the same
        out: dict[str, str] = {}
        if len(group) > 1:
            try:
                self._check_quota(list(group.values()))
                self.pipeline.transact(lambda: [ev for s in group.values() for ev in self.model.engine.admit(s)],
                                       created=list(group))
                out = {name: name for name in group}
            except Exception as e:   # undone: each on its own
                log.info("a group of %d creates failed (%s); each on its own now", len(group), e)
        return [out.pop(d.get("name"), None) or _outcome(self.create, d) for d in docs]

    def _check_quota(self, specs: list[SliceSpec]) -> None:
        """Refuse ``specs`` if they would take a tenant past --max-slices-per-tenant."""
        if not self.settings.max_slices_per_tenant:
            return
        adding = Counter(s.tenant for s in specs)
        e = self.model.engine
        held = Counter(s.spec.tenant for s in [*e.slices.values(), *e.bookings.values()] if s.spec.tenant in adding)
        for tenant, n in sorted(adding.items()):
            if held[tenant] + n > self.settings.max_slices_per_tenant:
                raise Rejected("quota", f"tenant {tenant!r} has {held[tenant]} slices"
                               + (f" and asks for {n} more" if n > 1 else "")
                               + f"; this controller allows one tenant at most {self.settings.max_slices_per_tenant} "
                               f"(--max-slices-per-tenant {self.settings.max_slices_per_tenant})", structural=True)

    def update(self, doc: dict) -> str:
        spec = self._parse(doc)
        old = self._existing(spec.name)
        if old is None:
            raise UnknownSlice(spec.name)
        if same_request(old, spec):
            return spec.name
        if spec.name not in self.model.engine.bookings:
            self._require_connected(spec)
        if spec.schedule is not None or old.schedule is not None:
            self.schedules.update(spec)
            return spec.name
        self.pipeline.transact(lambda: self.model.engine.update(spec))
        return spec.name

    def delete(self, name: str) -> None:
        """Delete ``name`` (cancel it, if it is booked ahead); the slices waiting for
        capacity are placed again by a task of their own, queued after this one: the
        caller does not wait for them."""
        if name in self.model.engine.bookings:
            self.schedules.cancel(name)
            return
        self.model.engine.get(name)
        self.pipeline.transact(lambda: self.model.engine.release(name, restore=False), deleted=name)
        if self.model.engine.waiting():
            self.post(self._restore_waiting)

    def delete_many(self, names: list[str]) -> list[str]:
        """Delete the named slices and bookings in one request, all or nothing: one engine
        pass, one push (one round of rule removals and barriers per switch), one store
        transaction; then, as after :meth:`delete`, the slices waiting for capacity are
        placed again by a task of their own.

        Not idempotent, like :meth:`delete`: a name that is not a slice (already deleted,
        never created) fails the whole request with UnknownSlice naming it, and nothing is
        deleted; a name twice is a SpecError naming its place (``names[3]``)."""
        first: dict[str, int] = {}
        problems = [(f"names[{i}]", f"the same slice as names[{first[n]}]")
                    for i, n in enumerate(names) if first.setdefault(n, i) != i]
        if problems:
            raise SpecError(problems)
        e = self.model.engine
        for name in names:
            if name not in e.slices and name not in e.bookings:
                raise UnknownSlice(name)
        booked = [n for n in names if n in e.bookings]

        def decide() -> list[Event]:
            events = []
            for name in names:
                events += e.cancel_booking(name) if name in e.bookings else e.release(name, restore=False)
            return events
        self.pipeline.transact(decide, deleted=names)
        if booked:
            self.schedules.cancelled(booked)
        if self.model.engine.waiting():
            self.post(self._restore_waiting)
        return list(names)

    def _restore_waiting(self) -> None:
        """Restore up to RESTORE_BATCH waiting slices, then queue the rest behind whatever
        requests came in meanwhile."""
        if self.owner.stopped:
            return
        self.pipeline.transact(lambda: self.model.engine.restore_waiting(limit=RESTORE_BATCH), request=False)
        if self.model.engine.restore_pending:
            self.post(self._restore_waiting)

    def failback(self, name: str, site: str | None = None) -> str:
        """Endpoints of ``name`` at their standbys (of ``site`` only, if given) go back."""
        self.model.engine.get(name)
        self.pipeline.transact(lambda: self.model.engine.failback(name, site or None))
        return name

    def drain(self, site: str) -> list[Event]:
        """Drain ``site``; what it did to each slice (moved, or blocked and why)."""
        return self._site_change(lambda: self.model.engine.drain(site))

    def undrain(self, site: str) -> list[Event]:
        """Undrain ``site``; what it did to each slice."""
        return self._site_change(lambda: self.model.engine.undrain(site))

    def drain_link(self, a: str, b: str) -> list[Event]:
        return self._site_change(lambda: self.model.engine.drain_link(a, b))

    def undrain_link(self, a: str, b: str) -> list[Event]:
        return self._site_change(lambda: self.model.engine.undrain_link(a, b))

    def plan_window(self, site: str, link: tuple[str, str] | None, start: str, end: str):
        """Plan a maintenance window of ``site`` or ``link`` (controller.maintenance);
        the window and what it did to the bookings."""
        w, events = self.maintenance.plan(site, frozenset(link) if link else None, start, end)
        self.schedules.rearm()
        return w, events

    def cancel_window(self, wid: str) -> list[Event]:
        events = self.maintenance.cancel(wid)
        self.schedules.rearm()
        return events

    def _site_change(self, decide: Callable[[], list[Event]]) -> list[Event]:
        done: list[Event] = []

        def decided() -> list[Event]:
            done[:] = decide()
            return done
        self.pipeline.transact(decided)
        return list(done)


    def _require_connected(self, spec: SliceSpec) -> None:
        missing = sorted(set(spec.sites) - self.wire.connected_sites())
        if missing:
            raise NotConnected(f"the switch of {', '.join(missing)} is not connected to the controller")


def _outcome(fn: Callable[[dict], str], doc: dict) -> str | Exception:
    try:
        return fn(doc)
    except Exception as e:   # the caller's own error, raised to it alone
        return e
