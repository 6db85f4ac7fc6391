"""This domain as a provider to its peers (issue 26): the domain side of the federation
API. A peer reserves a part of a slice here; the part is held, then committed or aborted,
provisioned, released and terminated, following the NSI CS 2.0 state machines of
:mod:`slices.nsi`.

- **Reserve** books the part in the engine *dark* (bandwidth and tags held, no rules:
  :meth:`slices.engine.SliceEngine.admit`), through the same all-or-nothing pipeline as a
  tenant's slice, and holds it for a timeout (default 60 s; OESS learnt that 15 s is too
  short for slow providers, OpenNSA holds 120 s). A hold not committed in time is released
  by this domain on its own: a dead requester leaves nothing behind.
- **Commit** makes the booking real: it no longer expires. **Abort** releases it.
- **Provision** installs the part's rules; **Release** removes them, keeping the booking;
  **Terminate** removes both.

A peer is a tenant here (``peer:NAME``) with the limits the tenant policy gives that
name (controller.tenancy): priority ceiling, bandwidth per slice and in total, number of
parts, sites. Trust is a boundary: every text that leaves towards a peer goes through
:meth:`FederationProvider.outward`, which replaces this domain's internal site names (and
so its link names) by ``(internal)``. A refused Reserve leaves no connection and no
booking.

Connection records (controller.fedrecords) let a restarted domain keep its committed
parts and release the holds it finds uncommitted. A Reserve with a schedule books the part
ahead (controller.schedules). Border ports are watched (controller.fedborders).
"""
from __future__ import annotations

import logging
import queue
import threading
import time
import uuid
from dataclasses import replace
from pathlib import Path
from typing import Callable

from controller.fedborders import BorderWatch
from controller.fedparts import FederationError, Notice, Part
from controller.fedrecords import read_connections, write_connections
from controller.schedules import resolved
from controller.tenancy import Limits, PolicyDenied, TenantPolicy, check
from slices.abstract import AbstractView, abstract_view
from slices.errors import Rejected
from slices.nsi import Connection, IllegalTransition, ProvisionState, ReservationState
from slices.spec import MAX_ENDPOINTS, SliceSpec, parse_spec
from topologies.federation import Federation, border_ports, domain_topology

log = logging.getLogger("intercloud.federation")
DEFAULT_HOLD_S = 60.0
MAX_HOLD_S = 900.0     # OSCARS' hold; longer would let a peer park capacity
PEER_TENANT = "peer:"
MAX_ENDED = 1000       # connections aborted, timed out, terminated or past their end kept for Query


def _endpoint_doc(site: str, port: int, vlan: int, addresses: tuple[str, ...] = ()) -> dict:
    """An STP as a spec's endpoint: its first address is the endpoint's, the others (a
    border port's) are reached through it (``via``)."""
    doc = {"site": site, "port": port, **({"vlan": vlan} if vlan else {})}
    if addresses:
        doc["ip"] = addresses[0]
        if len(addresses) > 1:
            doc["via"] = list(addresses[1:])
    return doc


def tenant_of(peer: str) -> str:
    return PEER_TENANT + peer


class FederationProvider(BorderWatch):
    """The domain ``domain`` of ``fed`` answering its peers, on ``ctl`` (controller.core)."""

    def __init__(self, ctl, fed: Federation, domain: str, policy: TenantPolicy | None = None,
                 hold_s: float = DEFAULT_HOLD_S, clock: Callable[[], float] = time.monotonic,
                 records: str | Path | None = None):
        """``records``: the JSON file keeping the connection records across restarts (None:
        in memory only, as in tests that never restart)."""
        self.ctl, self.fed, self.domain = ctl, fed, domain
        self.records = Path(records) if records else None
        self.down_ports: set[tuple[str, int]] = set()
        self.topology = domain_topology(fed, domain)
        if self.topology.name != ctl.topology.name or len(self.topology.sites) != len(ctl.topology.sites):
            raise ValueError(f"the controller runs {ctl.topology.name}, not domain {domain}'s topology")
        self.policy, self.hold_s, self.clock = policy, hold_s, clock
        self.ports = border_ports(fed, domain)
        own = fed.domain(domain).topology
        self.clouds = {s.name: s.hosts for s in own.sites if s.kind == "cloud"}
        self.points = set(self.clouds) | set(self.ports)
        self.internal = sorted((s.name for s in own.sites if s.name not in self.points), key=len, reverse=True)
        self.parts: dict[str, Part] = {}
        self._lock = threading.RLock()
        self._watchers: dict[str, list[queue.Queue]] = {}
        self._stop, self._wake = threading.Event(), threading.Event()
        self._reaper = threading.Thread(target=self._reap_loop, name="federation-holds", daemon=True)

    # -- life -------------------------------------------------------------------------------

    def start(self) -> None:
        """Take back the committed parts a previous run recorded, release the dark parts
        it left uncommitted, then start releasing expired holds and watching border ports."""
        recorded = self._read_records()
        self.ctl.call(lambda: self._adopt(recorded))
        self.ctl.on_access_port(self._port_changed)
        self._reaper.start()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._reaper.is_alive():
            self._reaper.join(timeout=5)
        with self._lock:
            for qs in self._watchers.values():
                for q in qs:
                    q.put(None)

    def _adopt(self, recorded: dict) -> None:
        """(owner thread) Parts of the previous run: a committed one is kept with its
        record; a dark part without a committed record (a hold, or one whose record was
        lost) is released, as its requester has aborted it or will see it time out."""
        engine = self.ctl.engine
        held = [(n, s.spec, not s.dark, s.dark) for n, s in engine.slices.items()]
        # booked ahead: a part if recorded (only parts and tenants' bookings are booked)
        held += [(n, b.spec, bool(recorded.get(n, {}).get("provisioned")), n in recorded)
                 for n, b in engine.bookings.items()]
        for name, spec, provisioned, federated in held:
            rec = recorded.get(name)
            if rec is not None and rec.get("committed"):
                state = Connection().on("reservation", "reserve").on("reservation", "held")
                state = state.on("reservation", "commit").on("reservation", "committed")
                if provisioned:
                    state = state.on("provision", "provision").on("provision", "provisioned")
                elif name in engine.bookings:
                    self.ctl.schedules.dark.add(name)
                self.parts[name] = Part(name, rec["peer"], rec.get("global_id", ""), spec, state, None,
                                        "committed (kept across a restart)", True, spec.tenant)
            elif federated:   # only federation parts are ever dark
                log.warning("federation part %s of %s released: it was not committed before the restart",
                            name, spec.tenant)
                self.ctl.delete(name)
        self._write_records()

    def _read_records(self) -> dict:
        return read_connections(self.records) if self.records is not None else {}

    def _write_records(self) -> None:
        if self.records is not None:
            with self._lock:
                write_connections(self.records, self.domain, self.parts)

    # -- trust boundary ---------------------------------------------------------------------

    def outward(self, text: str) -> str:
        """``text`` as a peer may read it: no internal site (or link) of this domain."""
        for name in self.internal:
            text = text.replace(name, "(internal)")
        return text

    def peer_of(self, requester: str, authenticated: str | None = None) -> str:
        """The peer domain making the call: the certificate's name when there is one (it
        must match ``requester`` if given), else ``requester``."""
        peer = authenticated or requester
        if authenticated and requester and requester != authenticated:
            raise FederationError("PERMISSION_DENIED", f"requester {requester!r} is not who the certificate "
                                  f"says ({authenticated!r})")
        if not peer or peer == self.domain or not self.fed.has_domain(peer):
            raise FederationError("PERMISSION_DENIED", f"{peer!r} is not a peer domain of {self.domain} in "
                                  f"federation {self.fed.name}")
        return peer

    # -- the view ---------------------------------------------------------------------------

    def view(self) -> AbstractView:
        def compute() -> AbstractView:
            e = self.ctl.engine
            return abstract_view(self.domain, self.topology, e.residual, self.ports, e.down_links, e.down_sites)
        return self.ctl.call(compute)

    # -- reserve, commit, abort -----------------------------------------------------------------

    def reserve(self, peer: str, global_id: str, endpoints: list[tuple], bandwidth_mbps: float,
                max_latency_ms: float | None = None, priority: int = 3, allowed_regions: list[str] | None = None,
                hold_s: float | None = None, tenant: str | None = None, name: str | None = None,
                schedule: tuple[str | None, str | None] = (None, None)) -> Part:
        """Book a part for ``peer`` and hold it; FederationError (nothing booked) if it
        cannot be, naming this domain and the constraint or policy rule. ``tenant`` and
        ``name``: the home controller's own part, booked for its tenant under the slice's
        name (``peer`` is then this domain). ``schedule``: (start, end) as RFC 3339, either
        None: a later start books the part ahead (controller.schedules), started at its
        start without rules unless provisioned by then, and ended at its end."""
        hold = self.hold_s if not hold_s else hold_s
        if not 0 < hold <= MAX_HOLD_S:
            raise FederationError("INVALID_ARGUMENT", f"hold_timeout_s: must be 0 (default {self.hold_s:g}) or "
                                  f"up to {MAX_HOLD_S:g} s, got {hold:g}")
        cid = name or f"{self.domain}-{uuid.uuid4().hex[:12]}"
        tenant = tenant or tenant_of(peer)
        spec = self._spec(cid, tenant, endpoints, bandwidth_mbps, max_latency_ms, priority, allowed_regions,
                          schedule)
        with self._lock:
            self._check_policy(peer, spec)
            part = Part(cid, peer, global_id[:200], spec, Connection().on("reservation", "reserve"), tenant=tenant)

            def admit() -> None:
                if cid in self.ctl.engine.slices or cid in self.ctl.engine.bookings:
                    raise Rejected("name", f"slice {cid} exists")
                self._check_borders(spec)
                if spec.schedule is not None:   # booked ahead, or now until its end: the controller times it
                    self.ctl.schedules.dark.add(cid)
                    if not self.ctl.schedules.starts_later(spec, self.ctl.clock()):
                        self.ctl.pipeline.transact(lambda: self.ctl.engine.admit(spec, dark=True), created=[cid])
                        self.ctl.schedules.rearm()
                    else:
                        self.ctl.schedules.create(spec)
                    return
                self.ctl.pipeline.transact(lambda: self.ctl.engine.admit(spec, dark=True), created=[cid])
            try:
                self.ctl.call(admit)
            except Rejected as e:
                code = ("RESOURCE_EXHAUSTED" if e.constraint in ("bandwidth", "tags", "ids") else
                        "ALREADY_EXISTS" if e.constraint == "name" else "FAILED_PRECONDITION")
                raise FederationError(code, self.outward(f"domain {self.domain} refuses: {e.constraint}: "
                                                         f"{e.reason}")) from None
            part.state, part.booked = part.state.on("reservation", "held"), True
            part.expires = self.clock() + hold
            part.reason = f"held for {hold:g} s"
            self.parts[cid] = part
        self._wake.set()
        self._notify("state_change", part, f"{cid} held for {hold:g} s")
        return part

    def _spec(self, cid: str, tenant: str, endpoints, bandwidth_mbps, max_latency_ms, priority,
              allowed_regions, schedule: tuple[str | None, str | None] = (None, None)) -> SliceSpec:
        """The part as a slice spec of the peer's tenant; every endpoint must be a point
        this domain offers (a cloud's host port or a border port), checked before the spec
        parser, whose hints could name internal sites."""
        if len(endpoints) < 2:
            raise FederationError("INVALID_ARGUMENT", "endpoints: a part needs at least two")
        for i, (site, port, _vlan, *rest) in enumerate(endpoints):
            if site not in self.points:
                # the name is not echoed: an internal site and a typo get the same answer
                raise FederationError("INVALID_ARGUMENT", f"endpoints[{i}].site: not a border point or cloud of "
                                      f"domain {self.domain} (those are {', '.join(sorted(self.points))})")
            addresses = rest[0] if rest else ()
            if len(addresses) > MAX_ENDPOINTS:
                raise FederationError("INVALID_ARGUMENT", f"endpoints[{i}].addresses: at most {MAX_ENDPOINTS} "
                                      f"(one per endpoint of a slice), got {len(addresses)}")
            if not (1 <= port <= self.clouds.get(site, 0) or port in self.ports.get(site, {})):
                raise FederationError("INVALID_ARGUMENT", f"endpoints[{i}].port: {port} is not a host or border "
                                      f"port of {self.domain}/{site}")
            if port in self.ports.get(site, {}) and not _vlan:
                raise FederationError("INVALID_ARGUMENT", f"endpoints[{i}].vlan: a border port carries every slice "
                                      "crossing that border: a tag (1-4094) is required there")
        doc = {"name": cid, "tenant": tenant, "bandwidth_mbps": bandwidth_mbps, "priority": priority,
               "endpoints": [_endpoint_doc(*e) for e in endpoints]}
        if max_latency_ms:
            doc["max_latency_ms"] = max_latency_ms
        if allowed_regions:
            doc["allowed_regions"] = list(allowed_regions)
        if any(schedule):
            doc["schedule"] = {k: v for k, v in zip(("start", "end"), schedule) if v}
        try:
            now = self.ctl.clock()
            return resolved(parse_spec(doc, self.topology, now=now), now)
        except ValueError as e:
            raise FederationError("INVALID_ARGUMENT", self.outward(f"domain {self.domain}: {e}")) from None

    def _check_policy(self, peer: str, spec: SliceSpec, skip: str = "") -> None:
        tenant = spec.tenant
        limits = self.policy.limits(tenant) if self.policy is not None else Limits()
        if peer == self.domain:   # the home's own part: the tenant's slices here count too
            held = self.ctl.call(lambda: [s.spec for n, s in self.ctl.engine.slices.items()
                                          if s.spec.tenant == tenant and n != skip])
        else:
            held = [p.spec for p in self.parts.values() if p.peer == peer and p.booked and p.cid != skip]
        try:
            check(limits, tenant, [spec], held, self.topology)
        except PolicyDenied as e:
            raise FederationError("PERMISSION_DENIED", self.outward(f"domain {self.domain}: {e}")) from None

    def commit(self, peer: str, cid: str) -> Part:
        with self._lock:
            part = self._part(peer, cid)
            self._expire_if_due(part)
            part.state = part.state.on("reservation", "commit")
            part.state = part.state.on("reservation", "committed")
            part.expires, part.reason = None, "committed"
        self._write_records()
        self._notify("state_change", part, f"{cid} committed")
        return part

    def abort(self, peer: str, cid: str) -> Part:
        with self._lock:
            part = self._part(peer, cid)
            self._expire_if_due(part)
            held = part.state.reservation == ReservationState.HELD
            part.state = part.state.on("reservation", "abort")
            if held:
                self._unbook(part)
            part.state = part.state.on("reservation", "aborted")
            part.expires, part.reason = None, "aborted"
        self._write_records()
        self._notify("state_change", part, f"{cid} aborted")
        return part

    # -- provision, release, terminate -----------------------------------------------------------

    def provision(self, peer: str, cid: str) -> Part:
        """Install the committed part's rules. If a switch is missing or refuses them,
        nothing is installed, the part stays Released and the error says why."""
        with self._lock:
            part = self._part(peer, cid)
            provisioning = part.state.on("provision", "provision")
            self._light(part, True)
            part.state = provisioning.on("provision", "provisioned")
            part.reason = "provisioned"
        self._write_records()
        self._notify("state_change", part, f"{cid} provisioned")
        return part

    def release(self, peer: str, cid: str) -> Part:
        with self._lock:
            part = self._part(peer, cid)
            releasing = part.state.on("provision", "release")
            self._light(part, False)
            part.state = releasing.on("provision", "released")
            part.reason = "released: booked, no rules"
        self._notify("state_change", part, f"{cid} released")
        return part

    def terminate(self, peer: str, cid: str) -> Part:
        with self._lock:
            part = self._part(peer, cid)
            terminating = part.state.on("lifecycle", "terminate")
            if part.booked:
                self._unbook(part)
            part.state = terminating.on("lifecycle", "terminated")
            part.expires, part.reason = None, "terminated"
        self._write_records()
        self._notify("state_change", part, f"{cid} terminated")
        return part

    def modify(self, peer: str, cid: str, endpoints: list[tuple],
               max_latency_ms: float | None = None) -> Part:
        """Move a committed part to new endpoints (a re-route around a lost border), make
        before break inside this domain, all or nothing: NSI's modify (a Reserve naming the
        connection, then its Commit) in one step, as a re-route cannot wait for two round
        trips. Bandwidth, priority and geo-fence stay. FederationError if it cannot be:
        the part is then as it was."""
        with self._lock:
            part = self._part(peer, cid)
            if not part.state.committed or part.state.reservation != ReservationState.START or not part.booked:
                raise FederationError("FAILED_PRECONDITION", f"connection {cid} is not a committed, booked part "
                                      f"(reservation {part.state.reservation.value}, lifecycle "
                                      f"{part.state.lifecycle.value})")
            old = part.spec
            spec = self._spec(cid, part.tenant, endpoints, old.bandwidth_mbps, max_latency_ms, old.priority,
                              sorted(old.allowed_regions) if old.allowed_regions else None)
            spec = replace(spec, schedule=old.schedule)   # a re-route keeps the part's times
            self._check_policy(peer, spec, skip=cid)

            def update() -> None:
                self._check_borders(spec, skip=cid)
                if part.state.provision == ProvisionState.PROVISIONED:
                    self.ctl._require_connected(spec)
                self.ctl.pipeline.transact(lambda: self.ctl.engine.update(spec))
            try:
                self.ctl.call(update)
            except Rejected as e:
                raise FederationError("RESOURCE_EXHAUSTED" if e.constraint in ("bandwidth", "tags") else
                                      "FAILED_PRECONDITION", self.outward(f"domain {self.domain} refuses: "
                                                                          f"{e.constraint}: {e.reason}")) from None
            except Exception as e:   # a switch missing or refusing: the pipeline undid everything
                raise FederationError("UNAVAILABLE", self.outward(f"domain {self.domain}: {e}")) from None
            part.spec, part.reason = spec, "modified"
        self._notify("state_change", part, f"{cid} modified")
        return part

    def query_all(self) -> list[Part]:
        """Every connection of every peer (the operator's status)."""
        with self._lock:
            return [p for _, p in sorted(self.parts.items())]

    def query(self, peer: str, cids: list[str]) -> list[Part]:
        with self._lock:
            if cids:
                return [self._part(peer, c) for c in cids]
            return [p for _, p in sorted(self.parts.items()) if p.peer == peer]

    # -- the engine, on the owner thread ---------------------------------------------------------

    def _unbook(self, part: Part) -> None:
        """Give the part's booking back as a deleted slice's is: the slices it preempted (a
        Reserve may preempt lower priorities, up to the peer's granted one) are placed again."""
        def delete() -> None:
            self.ctl.schedules.dark.discard(part.cid)
            self.ctl.delete(part.cid)
        self.ctl.call(delete)
        part.booked = False

    def _light(self, part: Part, on: bool) -> None:
        def run() -> None:
            if part.cid in self.ctl.engine.bookings:   # booked ahead: rules (or none) from its start
                (self.ctl.schedules.dark.discard if on else self.ctl.schedules.dark.add)(part.cid)
                return
            if on:
                self.ctl._require_connected(part.spec)
            self.ctl.pipeline.transact(lambda: self.ctl.engine.light(part.cid, on))
        try:
            self.ctl.call(run)
        except Exception as e:   # a switch missing or refusing: the pipeline undid everything
            raise FederationError("UNAVAILABLE", self.outward(f"domain {self.domain}: {e}")) from None

    # -- holds ---------------------------------------------------------------------------------

    def _part(self, peer: str, cid: str) -> Part:
        part = self.parts.get(cid)
        if part is None or part.peer != peer:   # another peer's connection does not exist for this one
            raise FederationError("NOT_FOUND", f"no connection {cid[:80]!r} of {peer} in domain {self.domain}")
        return part

    def _expire_if_due(self, part: Part) -> bool:
        """Release ``part``'s hold if its time is up (lock held); whether it was."""
        if part.state.reservation != ReservationState.HELD or part.expires is None or self.clock() < part.expires:
            return False
        part.state = part.state.on("reservation", "timeout")
        self._unbook(part)
        part.expires, part.reason = None, "hold expired before a commit: released"
        self._write_records()
        self._notify("reserve_timeout", part, f"{part.cid}: hold expired, booking released")
        return True

    def _end_if_passed(self, part: Part) -> None:
        """(lock held) A part whose schedule's end came: the controller removed it
        (controller.schedules); its connection reads PassedEndTime."""
        sch = part.spec.schedule
        if not part.booked or sch is None or sch.end is None or self.ctl.clock() < sch.end:
            return
        if self.ctl.call(lambda: part.cid in self.ctl.engine.slices or part.cid in self.ctl.engine.bookings):
            return
        part.state, part.booked, part.reason = part.state.on("lifecycle", "end_time"), False, "its end time passed"
        self._write_records()
        self._notify("state_change", part, f"{part.cid}: its end time passed")

    def _reap_loop(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                for part in list(self.parts.values()):
                    try:
                        self._expire_if_due(part)
                        self._end_if_passed(part)
                    except Exception:  # the owner busy or stopping: try again at the next round
                        log.exception("releasing the hold of %s", part.cid)
                ended = [c for c, p in self.parts.items() if not p.booked]
                for c in ended[:-MAX_ENDED]:   # Query answers them a while, not for ever
                    del self.parts[c]
                due = [p.expires for p in self.parts.values() if p.expires is not None]
            wait = min(due, default=self.clock() + 1.0) - self.clock()
            self._wake.wait(timeout=min(max(wait, 0.01), 1.0))
            self._wake.clear()

    # -- notifications ---------------------------------------------------------------------------

    def subscribe(self, peer: str) -> queue.Queue:
        q: queue.Queue = queue.Queue()
        with self._lock:
            self._watchers.setdefault(peer, []).append(q)
        return q

    def unsubscribe(self, peer: str, q: queue.Queue) -> None:
        with self._lock:
            if q in self._watchers.get(peer, []):
                self._watchers[peer].remove(q)

    def _notify(self, kind: str, part: Part, text: str, stp: tuple[str, int] | None = None) -> None:
        notice = Notice(kind, part.peer, replace(part), self.outward(text), stp)
        with self._lock:
            for q in self._watchers.get(part.peer, []):
                q.put(notice)


__all__ = ["DEFAULT_HOLD_S", "FederationError", "FederationProvider", "IllegalTransition", "Notice", "Part",
           "tenant_of"]
