"""The one owner of the model: engine, installed rule plan, slice states, store.

gRPC handlers and OpenFlow events never touch the model: they hand a request to
:meth:`SliceController.call` / :meth:`post`, which a single owner thread runs in order
(as magma's pipelined controller loop does). Each request follows the one-way flow:
spec → engine decision → rule plan → diff → wire → store → events, all or nothing (see
:meth:`SliceController._transact`). The wire is an interface (:class:`Wire`), so the same
owner runs against os-ken switches (controller.app) or simulated ones (tests).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from collections import Counter
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any, Callable, Iterable, Protocol

from controller.ofwire import canonical_entry
from controller.sla import VIOLATED, WITHIN, SlaStatus, Target, targets_of
from controller.store import Store, StoreError, placement_from_json
from slices.compiler import Changes, Plan, compile_plan, diff, recompile
from slices.engine import PREEMPTED, RESTORE_BATCH, Event, SliceEngine
from slices.errors import Rejected, SpecError
from slices.memory import settle_garbage
from slices.rules import Entry
from slices.spec import SliceSpec, parse_spec
from topologies.model import Topology
from topologies.ports import PortMap

log = logging.getLogger("intercloud.controller")
CALL_TIMEOUT_S = 30.0
SETTLE_EVERY = 100  # requests between garbage settlements
OWNER_THREAD = "slice-owner"


ABSENT, REFUSED, UNCONFIRMED = "not-connected", "refused", "unconfirmed"


@dataclass(frozen=True)
class SwitchProblem:
    """Why a switch did not confirm a push: ``kind`` is ABSENT (not connected), REFUSED
    (it answered with an OpenFlow error) or UNCONFIRMED (no barrier reply in time)."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return self.detail


class SwitchRefused(Exception):
    """A switch refused a request's rules; the request was undone everywhere."""


class NotConnected(Exception):
    """A switch the request needs is not connected (FAILED_PRECONDITION)."""


class AlreadyExists(Exception):
    """A slice of that name exists with a different spec."""


class Wire(Protocol):
    def connected_sites(self) -> set[str]: ...

    def push(self, changes: Changes) -> dict[str, SwitchProblem]:
        """Send the changes (per switch, in order) and a barrier to every switch involved;
        return {site: problem} for switches that did not confirm them."""

    def read(self, site: str) -> list[Entry] | None:
        """What the switch holds now, as rule-plan entries (None if not connected)."""

    def counters(self, site: str, slice_id: int) -> dict[str, int]:
        """Packet/byte counters of a slice's ingress flows and meter on one switch."""


@dataclass
class SliceState:
    state: str = "requested"
    reason: str = ""
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)


@dataclass(frozen=True)
class EndpointInfo:
    """What the OpenFlow side needs to answer an endpoint's DHCP and check its ARP."""

    slice: str
    label: str               # site:port[.vlan]
    address: str
    prefix: str
    vlan: int | None
    dhcp: bool               # no address given: the controller hands it out


ADDRESS_HOLD_S = 10.0        # a wrong address is reported until unseen this long


@dataclass(frozen=True)
class Published:
    slice: str
    kind: str
    state: str
    reason: str
    time: float
    tenant: str = ""     # whose slice: watchers see only their own tenant's events


class SliceController:
    def __init__(self, topology: Topology, store: Store, wire: Wire, *, prefix_pool: str = "10.128.0.0/9",
                 prefix_len: int = 24, hold_down_s: float = 0.0):
        self.topology = topology
        self.store = store
        self.wire = wire
        self.ports = PortMap(topology)
        self._pool = (prefix_pool, prefix_len)
        self.engine = SliceEngine(topology, prefix_pool=prefix_pool, prefix_len=prefix_len)
        self.states: dict[str, SliceState] = {}
        self.plan: Plan = {}
        self.restore_problems: list[str] = []
        self._subscribers: list[queue.Queue] = []
        self._sub_lock = threading.Lock()
        self._owner: ThreadPoolExecutor | None = None
        self._handled = 0
        self._auditor: threading.Thread | None = None
        self.hold_down_s = hold_down_s          # seconds a link must stay up before it is used
        self._coming_up: dict = {}              # link -> token of the hold-down under way
        # with probes (controller.liveness), a link comes back up only when they say so
        self.links_by_probes = False
        self.link_reasons: dict = {}            # link -> why it is down
        # switches that did not confirm their last changes, until they hold the plan again:
        # a slice across one is not active, whatever later pushes elsewhere confirm
        self.switch_problems: dict[str, SwitchProblem] = {}
        self.on_repair: Callable[[int], Any] | None = None   # entries an audit had to send
        # prometheus_client histograms (controller.metrics), when metrics are served
        self.engine_seconds = self.ttc_seconds = None
        # live SLA (controller.sla): the probes to send, rebuilt whenever placements change
        # (read by the probing thread without a lock: always a whole new tuple), and each
        # slice's status as last judged (set by the probing thread, likewise)
        self.sla_targets: tuple[Target, ...] = ()
        self._targets: dict[str, list[Target]] = {}
        self.sla_status: dict[str, SlaStatus] = {}
        self.link_delays_ms: dict = {}        # each link's measured one-way delay (link probes)
        # slice id -> (ingress bit/s, dropped packets/s, over how many seconds): set by the
        # OpenFlow side every --stats-interval
        self.slice_rates: dict[int, tuple[float, float, float]] = {}
        self.reroute_on_sla = True            # move a slice whose bound is violated, if it helps
        self._sla_flagged: set[str] = set()   # slices whose violation was announced
        # (slice id, site, port) -> EndpointInfo of the endpoints there, rebuilt with the
        # targets; read by the OpenFlow side without a lock (replaced whole)
        self.endpoint_index: dict[tuple, tuple[EndpointInfo, ...]] = {}
        self._endpoints: dict[str, dict[tuple, tuple[EndpointInfo, ...]]] = {}
        # slice -> endpoint label -> (the address its host uses instead, last seen)
        self.address_problems: dict[str, dict[str, tuple[str, float]]] = {}
        self.dhcp_lease_s = 3600
        self.max_slices_per_tenant = 0        # 0: no quota
        self._stopped = False
        self._tenant_of: dict[str, str] = {}   # slice -> tenant, kept until its deletion is published
        self._auditing = threading.Event()
        self._load()

    # -- the owner thread --------------------------------------------------------------------

    def start(self, audit_interval: float | None = None) -> None:
        """Start the owner thread; with ``audit_interval`` (seconds), audit every switch
        that often (:meth:`audit_switches`)."""
        self._owner = ThreadPoolExecutor(max_workers=1, thread_name_prefix=OWNER_THREAD)
        self.start_audits(audit_interval)

    def start_audits(self, interval: float | None) -> None:
        """Audit every switch each ``interval`` seconds (None: never), from now on."""
        self.stop_audits()
        if interval:
            self._auditing.clear()
            self._auditor = threading.Thread(target=self._audit_every, args=(interval,),
                                             name="switch-audit", daemon=True)
            self._auditor.start()

    def stop_audits(self) -> None:
        self._auditing.set()
        if self._auditor is not None:
            if self._auditor is not threading.current_thread():
                self._auditor.join(timeout=5)
            self._auditor = None

    def stop(self) -> None:
        """Finish the request in hand, drop the queued ones, stop the owner thread."""
        self._stopped = True
        self.stop_audits()
        if self._owner is not None:
            self._owner.shutdown(wait=True, cancel_futures=True)
            self._owner = None

    def _audit_every(self, interval: float) -> None:
        """Queue an audit every ``interval`` seconds, never more than one at a time (a
        switch slow to answer delays the next audit rather than piling them up)."""
        while not self._auditing.wait(interval):
            try:
                self.audit_switches()
            except Exception:  # a failed audit is logged; the next one tries again
                log.exception("switch audit failed")

    def _on_owner_thread(self) -> bool:
        return threading.current_thread().name.startswith(OWNER_THREAD)

    def _owned(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """``fn`` as the owner runs it: every SETTLE_EVERY requests the garbage is settled."""
        def run():
            self._handled += 1
            if self._handled % SETTLE_EVERY == 0:
                settle_garbage()
            return fn()
        return run

    def call(self, fn: Callable[[], Any], timeout: float = CALL_TIMEOUT_S) -> Any:
        """Run ``fn`` on the owner thread and return its result (or raise its error)."""
        if self._owner is None or self._on_owner_thread():
            return fn()
        return self._owner.submit(self._owned(fn)).result(timeout)

    def post(self, fn: Callable[[], Any]) -> None:
        """Queue ``fn`` for the owner thread without waiting (events from switches)."""
        if self._owner is None:
            fn()
            return
        self._owner.submit(self._owned(fn)).add_done_callback(_log_failure)

    # -- start-up: take the stored slices back ----------------------------------------------------

    def reload(self) -> None:
        """Forget the model and adopt the store's again, as at start: a follower in a
        cluster keeping up with what the leader wrote, or one that has just become the
        leader (controller.cluster). What the network told this instance (links and
        sites down) goes too: the switches tell the new leader again."""
        self.engine = SliceEngine(self.topology, prefix_pool=self._pool[0], prefix_len=self._pool[1])
        self.states, self.plan, self.restore_problems = {}, {}, []
        self.switch_problems, self.link_reasons, self._coming_up = {}, {}, {}
        self._targets, self._endpoints, self._sla_flagged = {}, {}, set()
        self._load()

    def _load(self) -> None:
        """Adopt every stored slice exactly as it was, or none of it: a row that is
        invalid, names what no longer exists, or conflicts with a slice adopted before it
        (an endpoint, a tag, capacity) is reported and left out, whole."""
        waiting = []
        for row in self.store.load():
            cp = self.engine.checkpoint()
            try:
                spec = parse_spec(row.spec, self.topology)
                placement = placement_from_json(spec, row.placement, row.reason)
            except Exception as e:  # whatever a damaged row holds, the others still load
                what = str(e) if isinstance(e, (SpecError, ValueError)) else f"{type(e).__name__}: {e}"
                self.restore_problems.append(f"stored slice {row.name} not restored: {what}")
                log.error(self.restore_problems[-1])
                continue
            try:
                self.engine.adopt(placement)
            except ValueError as e:
                # its placement does not fit this network (less capacity, a link gone, a tag
                # or id taken): it waits like a preempted slice and is placed by the usual
                # rules if it can be, never booked beyond capacity
                self.engine.rollback(cp)
                why = f"its stored placement does not fit this network: {e}"
                try:
                    self.engine.adopt(replace(placement, status=PREEMPTED, reason=why, tree=None, backup=None,
                                              tags=(), backup_tags=(), standby_trees=(), moved=()))
                except ValueError as e2:
                    self.engine.rollback(cp)
                    self.restore_problems.append(f"stored slice {row.name} not restored: {e2}")
                    log.error(self.restore_problems[-1])
                    continue
                self.restore_problems.append(f"stored slice {row.name}: {why}; waiting to be placed again")
                log.error(self.restore_problems[-1])
                waiting.append(row.name)
            self.states[row.name] = SliceState(row.state, row.reason, row.create_time, row.update_time)
        if waiting:
            self._place_waiting_after_load(waiting)
        self.plan = compile_plan(self.engine, self.ports)
        self._refresh_targets(list(self.engine.slices))

    def _place_waiting_after_load(self, names: list[str]) -> None:
        """Slices whose stored placement did not fit: placed again where they fit now
        (the switches get their rules when they connect), their new placement and state
        stored."""
        events = self.engine.restore_waiting()
        touched = sorted(set(names) | {e.slice for e in events})
        for e in events:
            log.info("restored from the store: %s", e)
        for name in touched:
            s = self.engine.slices[name]
            st = self.states.get(name) or SliceState()
            st.state, st.reason = ("requested", "placed again at start") if s.status != PREEMPTED else \
                ("preempted", s.reason)
            self.states[name] = st
        try:
            self.store.commit([(self.engine.record(n), self.states[n].state, self.states[n].reason,
                                self.states[n].created) for n in touched], [],
                              [(n, "restored" if self.engine.slices[n].status != PREEMPTED else "preempted",
                                self.states[n].state, self.states[n].reason) for n in touched])
        except StoreError as e:
            log.error("%s; the slices placed again at start are not saved", e)

    def _refresh_targets(self, names: Iterable[str]) -> None:
        """Rebuild what the OpenFlow side reads for the named slices: their SLA probes and
        their endpoints by (slice id, site, port)."""
        for name in names:
            if name in self.engine.slices:
                record = self.engine.record(name)
                self._tenant_of[name] = record.spec.tenant
                self._targets[name] = targets_of(record)
                at: dict[tuple, list[EndpointInfo]] = {}
                for e, address in record.live_addresses:
                    at.setdefault((record.number, e.site, e.port), []).append(
                        EndpointInfo(name, str(e), address, record.prefix, e.vlan, not e.ip))
                self._endpoints[name] = {k: tuple(v) for k, v in at.items()}
            else:
                self._targets.pop(name, None)
                self._endpoints.pop(name, None)
                self._sla_flagged.discard(name)
                self.address_problems.pop(name, None)
        self.sla_targets = tuple(t for ts in self._targets.values() for t in ts)
        self.endpoint_index = {k: v for eps in self._endpoints.values() for k, v in eps.items()}

    # -- endpoints' hosts ------------------------------------------------------------------------

    def endpoint_misaddressed(self, name: str, label: str, seen: str) -> None:
        """The host at endpoint ``label`` of ``name`` sent ARP from ``seen``, not the
        endpoint's address: it cannot communicate in the slice, which says so (degraded,
        naming both addresses) until that has not been seen for ADDRESS_HOLD_S."""
        if name not in self.engine.slices:
            return
        problems = self.address_problems.setdefault(name, {})
        new = problems.get(label, ("", 0))[0] != seen
        problems[label] = (seen, time.monotonic())
        if new:
            log.warning("slice %s: the host at %s uses %s, not the endpoint's address", name, label, seen)
            self._refresh_states({}, [name])
            self._recheck_address(name, label)

    def _recheck_address(self, name: str, label: str) -> None:
        def later():
            if not self._stopped:
                self.post(lambda: self._address_seen_lately(name, label))
        timer = threading.Timer(ADDRESS_HOLD_S, later)
        timer.daemon = True
        timer.start()

    def _address_seen_lately(self, name: str, label: str) -> None:
        problems = self.address_problems.get(name, {})
        if label not in problems:
            return
        if time.monotonic() - problems[label][1] < ADDRESS_HOLD_S:
            self._recheck_address(name, label)
            return
        del problems[label]
        self._refresh_states({}, [name])

    # -- requests (run on the owner thread) ---------------------------------------------------

    def create(self, doc: dict) -> str:
        spec = parse_spec(doc, self.topology)
        existing = self.engine.slices.get(spec.name)
        if existing is not None:
            if existing.spec == spec:
                return spec.name  # idempotent: the same request again
            raise AlreadyExists(f"slice {spec.name} exists with a different spec; use UpdateSlice")
        self._require_connected(spec)
        self._check_quota([spec])
        self._transact(lambda: self.engine.admit(spec), created=[spec.name])
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
                specs.append(parse_spec(doc, self.topology))
            except SpecError as e:
                problems += [(f"specs[{i}]" + (f".{f}" if f else ""), p) for f, p in e.violations]
        first: dict[str, int] = {}
        for i, spec in enumerate(specs):
            if first.setdefault(spec.name, i) != i:
                problems.append((f"specs[{i}].name", f"{spec.name!r} is also the name of specs[{first[spec.name]}]"))
        if problems:
            raise SpecError(problems)
        new = []
        for spec in specs:
            existing = self.engine.slices.get(spec.name)
            if existing is None:
                new.append(spec)
            elif existing.spec != spec:
                raise AlreadyExists(f"slice {spec.name} exists with a different spec; use UpdateSlice")
        for spec in new:
            self._require_connected(spec)
        self._check_quota(new)

        def decide() -> list[Event]:
            events = []
            for spec in new:
                try:
                    events += self.engine.admit(spec)
                except Rejected as e:
                    raise Rejected(e.constraint, f"slice {spec.name}: {e.reason}", e.structural) from None
            return events
        if new:
            self._transact(decide, created=[s.name for s in new])
        return [s.name for s in specs]

    def _check_quota(self, specs: list[SliceSpec]) -> None:
        """Refuse ``specs`` if they would take a tenant past --max-slices-per-tenant."""
        if not self.max_slices_per_tenant:
            return
        adding = Counter(s.tenant for s in specs)
        held = Counter(s.spec.tenant for s in self.engine.slices.values() if s.spec.tenant in adding)
        for tenant, n in sorted(adding.items()):
            if held[tenant] + n > self.max_slices_per_tenant:
                raise Rejected("quota", f"tenant {tenant!r} has {held[tenant]} slices"
                               + (f" and asks for {n} more" if n > 1 else "")
                               + f"; this controller allows one tenant at most {self.max_slices_per_tenant} "
                               f"(--max-slices-per-tenant {self.max_slices_per_tenant})", structural=True)

    def update(self, doc: dict) -> str:
        spec = parse_spec(doc, self.topology)
        old = self.engine.get(spec.name)
        if old.spec == spec:
            return spec.name
        self._require_connected(spec)
        self._transact(lambda: self.engine.update(spec))
        return spec.name

    def delete(self, name: str) -> None:
        """Delete ``name``; the slices waiting for capacity are placed again by a task of
        their own, queued after this one: the caller does not wait for them."""
        self.engine.get(name)
        self._transact(lambda: self.engine.release(name, restore=False), deleted=name)
        if self.engine.waiting():
            self.post(self._restore_waiting)

    def _restore_waiting(self) -> None:
        """Restore up to RESTORE_BATCH waiting slices, then queue the rest behind whatever
        requests came in meanwhile."""
        if self._stopped:
            return
        self._transact(lambda: self.engine.restore_waiting(limit=RESTORE_BATCH), request=False)
        if self.engine.restore_pending:
            self.post(self._restore_waiting)

    def failback(self, name: str, site: str | None = None) -> str:
        """Endpoints of ``name`` at their standbys (of ``site`` only, if given) go back."""
        self.engine.get(name)
        self._transact(lambda: self.engine.failback(name, site or None))
        return name

    def drain(self, site: str) -> None:
        self._transact(lambda: self.engine.drain(site))

    def undrain(self, site: str) -> None:
        self._transact(lambda: self.engine.undrain(site))

    def switch_connected(self, site: str) -> None:
        """A switch (re)connected: make it hold exactly the plan, touching nothing else.
        A site that was lost is back (its endpoints stay at their standbys until failed
        back: data lives there now)."""
        if site in self.engine.down_sites:
            log.warning("site %s is back", site)
            self._transact(lambda: self.engine.site_up(site), request=False)
        found = self.wire.read(site)
        if found is not None:
            self._reconcile(site, found)

    def _reconcile(self, site: str, found: list[Entry], read_against: Plan | None = None) -> None:
        """Send ``site`` the difference between what it holds (``found``) and the plan.
        ``read_against``: the plan when ``found`` was read off the owner thread; if the
        plan has changed since, nothing is sent (the next audit reads again)."""
        if read_against is not None and read_against is not self.plan:
            return
        wanted = [canonical_entry(e) for entries in self.plan.values() for e in entries if e.switch == site]
        changes = reconcile(found, wanted)
        if len(changes):
            log.info("switch %s: %d deletes, %d modifies, %d adds to match the plan", site,
                     len(changes.deletes), len(changes.modifies), len(changes.adds))
            if self.on_repair is not None:
                self.on_repair(len(changes))
        problems = self._send(changes)
        if site not in problems:
            self.switch_problems.pop(site, None)   # it holds the plan now
        self._refresh_states(problems, self._slices_at(site))

    def audit_switches(self) -> None:
        """Read every connected switch and send it only the difference with the plan, as
        ONOS's FlowRuleManager does: entries deleted by hand come back, foreign ones go,
        and slices left failed or degraded by a switch that refused or did not answer are
        tried again (their state follows what the switches now confirm). Called from the
        auditor thread, the switches are read there and only the repairs queue for the
        owner."""
        for site in sorted(self.wire.connected_sites()):
            if self._owner is None or self._on_owner_thread():
                self.switch_connected(site)
                continue
            # read off the owner thread: a switch slow to answer delays this audit, not requests
            plan = self.plan
            found = self.wire.read(site)
            if found is not None:
                self.call(lambda site=site, found=found, plan=plan: self._reconcile(site, found, plan))

    def switch_disconnected(self, site: str) -> None:
        self._refresh_states({site: SwitchProblem(ABSENT, "switch not connected")}, self._slices_at(site))
        self._check_lost(site)

    def _check_lost(self, site: str) -> None:
        """A site is lost when its switch is unreachable *and* every link of it has
        failed: a lost control channel alone is not a disaster (fail-secure switches keep
        forwarding), nor is a cut link. Its endpoints with standbys move to them."""
        links = [l.key for l in self.topology.links_of(site)]
        if (site in self.engine.down_sites or site in self.wire.connected_sites() or not links
                or not all(k in self.engine.down_links for k in links)):
            return
        log.warning("site %s lost: switch unreachable and all %d links down", site, len(links))
        self._transact(lambda: self.engine.site_down(site, "switch unreachable and every link down"),
                       request=False)

    def port_changed(self, site: str, port: int, up: bool) -> None:
        """A link port changed state. Down is acted on at once; up only once the port has
        stayed up for ``hold_down_s`` (no flapping link pulls slices back and forth)."""
        neighbour = self.ports.neighbour_at(site, port)
        if neighbour is None:
            return
        key = frozenset((site, neighbour))
        if not up:
            self._coming_up.pop(key, None)
            self._link_down(site, neighbour, f"{site} port {port} down")
            return
        if key not in self.engine.down_links or key in self._coming_up or self.links_by_probes:
            return
        if not self.hold_down_s:
            self._link_up(site, neighbour)
            return
        stamp = self._coming_up[key] = object()
        timer = threading.Timer(self.hold_down_s, lambda: self.post(lambda: self._held_up(key, stamp, site, neighbour)))
        timer.daemon = True
        timer.start()

    def _held_up(self, key, stamp, site: str, neighbour: str) -> None:
        if self._coming_up.get(key) is not stamp:
            return  # it went down again meanwhile
        del self._coming_up[key]
        self._link_up(site, neighbour)

    def link_verdict(self, a: str, b: str, up: bool, reason: str) -> None:
        """The probes (controller.liveness) judged the a—b link up or down. A link that
        falls silent between two connected switches may be a switch that lost its rules
        (flows deleted by hand, a switch restarted behind the controller's back): both
        are audited at once rather than at the next periodic audit."""
        if up:
            self._link_up(a, b)
            return
        self._link_down(a, b, reason)
        for site in sorted({a, b} & self.wire.connected_sites()):
            self.switch_connected(site)

    def _link_down(self, a: str, b: str, reason: str) -> None:
        key = frozenset((a, b))
        if key in self.engine.down_links:
            if reason.startswith("miswired"):
                self.link_reasons[key] = reason   # the more useful word for the operator
            return
        self.link_reasons[key] = reason
        log.warning("link %s—%s down: %s", a, b, reason)
        self._transact(lambda: self.engine.link_down(a, b, reason), request=False)
        for site in (a, b):
            self._check_lost(site)

    def _link_up(self, a: str, b: str) -> None:
        key = frozenset((a, b))
        if key in self.engine.down_links:
            self.link_reasons.pop(key, None)
            log.info("link %s—%s up", a, b)
            self._transact(lambda: self.engine.link_up(a, b), request=False)

    # -- live SLA (controller.sla) ------------------------------------------------------------

    def links_measured(self, measured: dict) -> None:
        """The links' one-way delays as the probes measure them: placements from now on
        use them (see :meth:`SliceEngine.set_link_delays`)."""
        for change in self.engine.set_link_delays(measured):
            log.info("link delay as measured: %s", change)

    def sla_turned(self, name: str, status: SlaStatus) -> None:
        """A slice's SLA verdict changed: tell the watchers; a slice whose bound is violated
        by slow links (not by lost probes) moves to a faster tree if the links' measured
        delays offer one that keeps its bound."""
        if name not in self.engine.slices or status.state not in (WITHIN, VIOLATED):
            return
        if status.state == WITHIN and name not in self._sla_flagged:
            return   # the first verdict of a new slice: nothing was wrong
        (self._sla_flagged.add if status.state == VIOLATED else self._sla_flagged.discard)(name)
        kind = "sla-violated" if status.state == VIOLATED else "sla-restored"
        st = self.states.get(name)
        (log.warning if status.state == VIOLATED else log.info)("slice %s: %s (%s)", name, kind, status.reason)
        self._publish([Published(name, kind, st.state if st else "", status.reason, time.time())])
        if (status.state == VIOLATED and not status.lost and status.delay_ms is not None
                and self.reroute_on_sla):
            self._transact(lambda: self.engine.reroute(name, status.delay_ms, f"SLA violated: {status.reason}"),
                           request=False)

    # -- the one-way flow's last steps ------------------------------------------------------------

    def _transact(self, decide: Callable[[], list[Event]], *, created: Iterable[str] = (),
                  deleted: str | None = None, request: bool = True) -> None:
        """The only way the model changes: engine decision → rule plan → diff → switches →
        store → events.

        A client's request (``request=True``) happens completely or not at all: if
        anything after the decision fails - the compiler, a switch refusing its rules, the
        wire, the store (read-only, locked, full) - the engine, the plan and the states
        are put back, rules already sent are taken back, the store transaction is rolled
        back, and the error goes to the caller. The store's write lock is taken before
        anything is sent, so a store that cannot be written stops a request before the
        switches see it.

        What the network did by itself (a link went down) is not undone when a switch or
        the store fails: the engine must keep following reality. Switch problems then show
        in the slices' states; a store that cannot be written is logged."""
        saved = (self.engine.checkpoint(), self.plan, {n: replace(st) for n, st in self.states.items()})
        sent: Changes | None = None

        def undo() -> None:
            self.engine.rollback(saved[0])
            self.plan, self.states = saved[1], saved[2]
            if sent is not None and len(sent):
                problems = self._send(diff(new_plan, saved[1]))
                if problems:
                    log.error("taking back the rules of a failed request: %s",
                              "; ".join(f"{x}: {p}" for x, p in sorted(problems.items())))

        new_plan = saved[1]
        try:
            started = time.perf_counter()
            events = decide()
            if self.engine_seconds is not None:
                self.engine_seconds.observe(time.perf_counter() - started)
            touched = sorted({e.slice for e in events if e is not None} | set(created))
            new_plan = recompile(self.plan, self.engine, touched, self.ports)
            changes = replace(diff(self.plan, new_plan), drain_s=_drain_s(saved[0].slices, touched))
            for name in created:
                self.states[name] = SliceState()
            if request:
                with self.store.transaction() as tx:
                    sent = changes
                    problems = self._send(changes)
                    refused = {x: p for x, p in problems.items() if p.kind == REFUSED}
                    if refused:
                        raise SwitchRefused("; ".join(f"switch {x} refused the rules: {p}"
                                                      for x, p in sorted(refused.items())))
                    self.plan = new_plan
                    published = self._record(tx, events, touched, problems, deleted)
            else:
                sent = changes
                problems = self._send(changes)
                self.plan = new_plan
        except BaseException:
            undo()
            raise
        self._refresh_targets(touched)
        if not request:
            try:
                with self.store.transaction() as tx:
                    published = self._record(tx, events, touched, problems, deleted)
            except StoreError as e:
                log.error("%s; the network changed anyway: %s", e, "; ".join(str(ev) for ev in events))
                return
        self._publish(published)

    def _send(self, changes: Changes) -> dict[str, SwitchProblem]:
        """Push ``changes`` unless there are none; the switches' problems. A switch that
        did not confirm keeps its problem (:attr:`switch_problems`) until it confirms a
        later push or holds the plan at an audit."""
        if not len(changes):
            return {}
        problems = self.wire.push(changes)
        for site in changes.switches:
            if site in problems:
                self.switch_problems[site] = problems[site]
            else:
                self.switch_problems.pop(site, None)
        return problems

    def _record(self, tx, events: list[Event], touched: list[str], problems: dict,
                deleted: str | None) -> list[Published]:
        """Work out the touched slices' states and write them, their placements and the
        events in ``tx``; return what to publish once the transaction has committed."""
        now = time.time()
        published = [Published(e.slice, e.kind, "", e.reason, now) for e in events if e is not None]
        states = self._refresh_states(problems, [n for n in touched if n in self.engine.slices], commit=False)
        deletes = []
        if deleted:
            self.states.pop(deleted, None)
            deletes.append(deleted)
            published = [p if p.slice != deleted else Published(p.slice, p.kind, "deleted", p.reason, p.time)
                         for p in published]
        # every touched slice is written, not only those whose state changed: a re-placed
        # or updated slice keeps its state but not its placement or spec
        upserts = [(self.engine.record(n), self.states[n].state, self.states[n].reason, self.states[n].created)
                   for n in touched if n in self.engine.slices]
        rows = [(p.slice, p.kind, p.state or self.states.get(p.slice, SliceState("deleted")).state, p.reason)
                for p in published]
        rows += [(n, "state", st.state, st.reason) for n, st in states.items()]
        tx.write(upserts, deletes, rows)
        return [Published(*r, now) for r in rows]

    def _refresh_states(self, problems: dict[str, "SwitchProblem"], names: Iterable[str],
                        commit: bool = True) -> dict:
        """Recompute the state of the named slices from the engine and the switches."""
        connected = self.wire.connected_sites()
        problems = {**self.switch_problems, **problems}
        changed = {}
        for name in names:
            s = self.engine.slices.get(name)
            if s is None:
                continue
            st = self.states.setdefault(name, SliceState())
            if s.status == PREEMPTED:
                new = ("preempted", s.reason)
            else:
                sites = sorted(s.tree.sites | (s.backup.sites if s.backup else frozenset()))
                bad = [f"{x}: {problems[x]}" for x in sites if x in problems]
                bad += [f"{x}: switch not connected" for x in sites if x not in connected and x not in problems]
                if any(problems[x].kind == REFUSED for x in sites if x in problems):
                    new = ("failed", "; ".join(bad))  # a switch refused the slice's rules
                elif bad:
                    new = ("degraded", "; ".join(bad))
                elif s.spec.protection != "none" and s.backup is None:
                    new = ("degraded", "protection lost: no disjoint backup until capacity returns")
                else:
                    new = ("active", f"worst delay {s.tree.worst_delay_ms:.2f} ms over {len(s.tree.edges)} links")
                # a host no longer at an endpoint (failed back from a standby) is left out
                wrong = self.address_problems.get(name)
                if wrong and new[0] in ("active", "degraded"):
                    mine = {str(e): a for e, a in self.engine.record(name).live_addresses}
                    text = "; ".join(f"the host at {label} uses {seen}, not the endpoint's {mine[label]}"
                                     " (seen in its ARP): it cannot communicate in the slice"
                                     for label, (seen, _t) in sorted(wrong.items()) if label in mine)
                    if text:
                        new = ("degraded", text if new[0] == "active" else f"{new[1]}; {text}")
            if (st.state, st.reason) != new:
                if new[0] == "active" and st.state == "requested" and self.ttc_seconds is not None:
                    self.ttc_seconds.observe(time.time() - st.created)   # time to connectivity
                st.state, st.reason, st.updated = new[0], new[1], time.time()
                changed[name] = st
        if commit and changed:
            rows = [(n, "state", st.state, st.reason) for n, st in changed.items()]
            try:
                self.store.commit([(self.engine.record(n), st.state, st.reason, st.created)
                                   for n, st in changed.items()], [], rows)
            except StoreError as e:
                log.error("%s; slice states not saved: %s", e, "; ".join(f"{n} {st.state}" for n, st in changed.items()))
            self._publish([Published(*r, time.time()) for r in rows])
        return changed

    def _slices_at(self, site: str) -> list[str]:
        return sorted(n for n, s in self.engine.slices.items() if s.tree is not None and
                      (site in s.tree.sites or (s.backup is not None and site in s.backup.sites)))

    def _require_connected(self, spec: SliceSpec) -> None:
        missing = sorted(set(spec.sites) - self.wire.connected_sites())
        if missing:
            raise NotConnected(f"the switch of {', '.join(missing)} is not connected to the controller")

    # -- watching -----------------------------------------------------------------------------

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=10_000)
        with self._sub_lock:
            self._subscribers.append(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._sub_lock:
            if q in self._subscribers:
                self._subscribers.remove(q)

    def _publish(self, items: list[Published]) -> None:
        items = [replace(i, tenant=self._tenant_of.get(i.slice, "")) for i in items]
        for i in items:
            if i.state == "deleted":
                self._tenant_of.pop(i.slice, None)
        with self._sub_lock:
            subs = list(self._subscribers)
        for q in subs:
            for item in items:
                try:
                    q.put_nowait(item)
                except queue.Full:
                    pass  # a stalled watcher loses events rather than stalling the owner


DRAIN_MARGIN_S = 0.002   # a switch's own forwarding time, on top of the links' delay


def _drain_s(before: dict, names: list[str]) -> float:
    """How long frames may still be on the trees the named slices had before a change:
    the worst one-way delay of those trees (plus a margin). 0 when none had one."""
    worst = max((t.worst_delay_ms for n in names if n in before
                 for t in (before[n].tree, before[n].backup) if t is not None), default=0.0)
    return worst / 1000 + DRAIN_MARGIN_S if worst else 0.0


def _log_failure(done: Future) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("background request failed", exc_info=done.exception())


def reconcile(found: list[Entry], wanted: list[Entry]) -> Changes:
    """What to send so a switch holding ``found`` holds exactly ``wanted``: entries that
    differ are replaced in place (a modify: same key, new content), foreign or stale ones
    are deleted, missing ones added; the rest is left alone."""
    have = {e.key: e for e in found}
    want = {e.key: e for e in wanted}
    stale = [e for k, e in have.items() if k not in want or want[k] != e]
    return diff({"switch": tuple(stale)}, {"switch": tuple(e for k, e in want.items()
                                                           if k not in have or have[k] != e)})
