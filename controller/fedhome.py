"""The home controller of slices across domains (issue 26): a tenant asks its own domain's
controller for a slice whose endpoints are in several domains (``site: west/osaka-dc``; a
bare site is in the home domain), and the home sets it up in every domain, all or
nothing, following NSI CS 2.0's aggregator:

1. **Route** over what every domain advertises (its abstract view and border offers:
   slices.interdomain), splitting the latency bound per domain and passing the geo-fence
   down. A domain whose controller does not answer is left out; a route that needs it is
   refused naming it.
2. **Reserve** each domain's part, in parallel. At every border crossed both sides end
   their parts on the border's port with one VLAN tag the home chose for that border; each
   domain's border switch translates between that tag and its own tags inside, so the two
   sides never need to agree on anything else. A refusal anywhere aborts every part
   reserved, and the answer names the domain and the constraint.
3. **Commit** every part, then **Provision** every part (rules installed). The slice is
   ACTIVE when every part is Provisioned. A failure at either step terminates every part.

If the home dies between Reserve and Commit, each domain releases its hold when the hold
times out: nothing is left anywhere. A border port that goes down makes its domains send
an error notification; the home then re-routes every slice crossing it through another
border or domain, modifying the parts that stay (make before break inside each domain)
and adding or terminating the others. When a peer comes back (its notification stream
reopens), the two sides reconcile: parts the home does not know of (requests it aborted
while the peer was away) are terminated, committed ones are kept.

The records of the slices (which parts, where, which tags) are written to a JSON file
beside the store, so a restarted home still knows them."""
from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterable

from controller.failpoints import wait_at
from controller.fedfailures import FailureHandling
from controller.fedpeers import DomainError, LocalDomain, PartState, PeerDomain, Stp
from controller.fedrequest import parse_request
from controller.fedslices import (FederatedRefusal, FedSlice, PartRecord, load_records, save_records, window,
                                  with_resolved_schedule)
from controller.tenancy import Limits
from slices.errors import UnknownSlice
from slices.interdomain import FedRequest, Refused, Route, route
from slices.schedule import rfc3339
from topologies.federation import border_ports
from topologies.fedmodel import BorderLink, Federation

log = logging.getLogger("intercloud.federation.home")
MIN_TAG, MAX_TAG = 2, 4094


def _beyond(rt: Route, border: BorderLink, domain: str) -> set[str]:
    """The domains of the route reached from ``domain`` across ``border`` (the route's
    domains form a tree, slices.interdomain)."""
    far = border.other(border.end_in(domain)).domain
    links = {(b.a.domain, b.b.domain) for b in rt.borders if b != border}
    seen, todo = {far}, [far]
    while todo:
        x = todo.pop()
        for a, z in links:
            for u, v in ((a, z), (z, a)):
                if u == x and v not in seen:
                    seen.add(v)
                    todo.append(v)
    return seen


def is_federated(doc: dict, home: str) -> bool:
    """Whether ``doc`` names an endpoint in another domain (``DOMAIN/SITE``)."""
    eps = doc.get("endpoints")
    return isinstance(eps, list) and any(isinstance(e, dict) and isinstance(e.get("site"), str)
                                         and "/" in e["site"] and not e["site"].startswith(home + "/")
                                         for e in eps)


class FederationHome(FailureHandling):
    """The home side of slices across domains, for domain ``local.name`` of ``fed``."""

    def __init__(self, fed: Federation, local: LocalDomain, peers: dict[str, PeerDomain],
                 records: str | Path | None = None, rng: random.Random | None = None):
        self.fed, self.local, self.peers = fed, local, peers
        self.domain = local.name
        self.records = Path(records) if records else None
        self.slices: dict[str, FedSlice] = {}
        self.down_borders: set[str] = set()
        self._retry_s: dict[str, float] = {}   # a degraded slice's next wait before another re-route
        self.border_tags: dict[str, set[int]] = {}   # tags in use at either end, as last read
        self.peer_errors: dict[str, str] = {}
        self.watching: set[str] = set()
        self._lock = threading.RLock()               # the records
        self._slice_locks: dict[str, threading.Lock] = {}
        self._busy: set[str] = set()   # slices being set up or re-routed now (their parts not all noted yet)
        self._inflight: set[tuple[str, str]] = set()   # (domain, cid) reserved by a create or re-route under way
        self._rng = rng or random.Random()
        self._pool = ThreadPoolExecutor(max_workers=max(4, 2 * (len(peers) + 1)), thread_name_prefix="fed-home")
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._streams: dict[str, object] = {}
        self._ports = {d.name: {(b.end_in(d.name).site, port): b for site, ports in border_ports(fed, d.name).items()
                                for port, b in ports.items()} for d in fed.domains}
        self._load()

    # -- life -------------------------------------------------------------------------------

    def start(self) -> None:
        """Watch every domain's notifications (and reconcile with each as it comes)."""
        for name in [self.domain, *sorted(self.peers)]:
            t = threading.Thread(target=self._watch, args=(name,), name=f"fed-watch-{name}", daemon=True)
            t.start()
            self._threads.append(t)

    def close(self) -> None:
        self._stop.set()
        for stream in list(self._streams.values()):
            stream.cancel()
        for t in self._threads:
            t.join(timeout=3)
        self._pool.shutdown(wait=False, cancel_futures=True)
        for p in self.peers.values():
            p.close()

    def _domain(self, name: str):
        return self.local if name == self.domain else self.peers[name]

    # -- requests ---------------------------------------------------------------------------

    def is_federated(self, doc: dict) -> bool:
        return is_federated(doc, self.domain)

    def has(self, name: str) -> bool:
        self._prune()
        with self._lock:
            return name in self.slices

    def find(self, name: str) -> FedSlice | None:
        with self._lock:
            return self.slices.get(name)

    def get(self, name: str) -> FedSlice:
        with self._lock:
            fs = self.slices.get(name)
        if fs is None:
            raise UnknownSlice(name)
        return fs

    def names(self) -> list[str]:
        self._prune()
        with self._lock:
            return sorted(self.slices)

    def _prune(self) -> None:
        """Forget the slices whose schedule's end has come: every domain removed its part
        then (controller.schedules); any part left is terminated."""
        now = time.time()
        with self._lock:
            ended = [fs for fs in self.slices.values() if (window(fs.doc)[1] or float("inf")) <= now]
            for fs in ended:
                del self.slices[fs.name]
        if ended:
            log.info("slices across domains ended: %s", ", ".join(fs.name for fs in ended))
            for fs in ended:
                self._pool.submit(self._terminate, list(fs.parts.values()))
            self._save()

    def create(self, doc: dict, exists: Callable[[str], bool] = lambda _n: False, police: bool = True) -> FedSlice:
        """Set up the slice ``doc`` (its tenant and full name filled in) in every domain,
        all or nothing; SpecError for a malformed request, FederatedRefusal naming the
        domain and the constraint otherwise. ``police``: hold it to the tenant's policy
        here (an admin's request is not)."""
        req, priority, vlans = self._request(doc)
        if police:
            self._police(doc["tenant"], req, priority)
        doc = with_resolved_schedule(doc, time.time())
        with self._lock:
            if req.name in self.slices or exists(req.name):
                raise FederatedRefusal("ALREADY_EXISTS", f"slice {req.name} exists")
            lock = self._slice_locks.setdefault(req.name, threading.Lock())
        with lock:
            with self._lock:   # a create of the same name may have finished while this one waited
                if req.name in self.slices:
                    raise FederatedRefusal("ALREADY_EXISTS", f"slice {req.name} exists")
            views, borders_free = self._views()
            try:
                rt = route(req, self.fed, views, borders_free)
            except Refused as e:
                raise self._refusal(e, views) from None
            tags = {b.name: self._tag(b.name) for b in rt.borders}
            parts = self._parts(rt, tags, vlans)
            with self._setting_up(req.name):
                return self._set_up(req, priority, doc, parts, tags, rt)

    @contextmanager
    def _setting_up(self, name: str):
        """While slice ``name`` is set up or moved, a reconciliation leaves its parts alone
        (a part may be answered before the home has noted it)."""
        with self._lock:
            self._busy.add(name)
        try:
            yield
        finally:
            with self._lock:
                self._busy.discard(name)

    def _set_up(self, req: FedRequest, priority: int, doc: dict, parts: dict[str, PartRecord], tags: dict,
                rt: Route) -> FedSlice:
        """Reserve, commit and provision every part (the create's second half, slice lock held)."""
        done = self._reserve_all(req, priority, doc, parts)
        fs = FedSlice(req.name, doc["tenant"], doc, done, tags, rt.worst_delay_ms)
        try:
            wait_at("federation-before-commit")
            self._all(done, lambda p: self._domain(p.domain).step("commit", p.cid), "commit")
            with self._lock:
                self.slices[fs.name] = fs
            self._all(done, lambda p: self._domain(p.domain).step("provision", p.cid), "provision")
        except DomainError as e:
            with self._lock:
                self.slices.pop(fs.name, None)
            self._terminate(done.values())
            raise FederatedRefusal("UNAVAILABLE" if e.code in ("UNAVAILABLE", "DEADLINE_EXCEEDED") else e.code,
                                   f"{e} (every part was terminated)") from None
        finally:
            self._settled(done.values())
        fs.updated = time.time()
        self._save()
        log.info("slice %s across %s is active: worst delay %.2f ms", fs.name, ", ".join(sorted(done)),
                 fs.worst_delay_ms)
        return fs

    def delete(self, name: str) -> None:
        """Terminate every part; a domain that does not answer is told when it comes back
        (reconciliation terminates what the home does not know)."""
        with self._lock:
            lock = self._slice_locks.setdefault(name, threading.Lock())
        with lock:   # not while a re-route of it is under way
            with self._lock:
                fs = self.slices.pop(name, None)
            if fs is None:
                raise UnknownSlice(name)
            self._terminate(fs.parts.values())
            self._save()

    # -- steps ------------------------------------------------------------------------------

    def _request(self, doc: dict) -> tuple[FedRequest, int, dict[tuple[str, str, int], tuple[int, str]]]:
        return parse_request(doc, self.domain, self.fed)

    def _police(self, tenant: str, req: FedRequest, priority: int) -> None:
        """FederatedRefusal (PERMISSION_DENIED) naming the first rule of the tenant's policy
        in this domain the whole slice breaks: every domain holds its part to the peer's
        policy there, and this domain holds the slice to its tenant's, whether or not a
        part of it is here. Sites are written DOMAIN/SITE in the policy (a bare site is here)."""
        policy = self.local.p.policy
        lim = policy.limits(tenant) if policy is not None else Limits()
        mine = [fs for fs in self.slices.values() if fs.tenant == tenant]
        held = self.local.p.ctl.call(lambda: [s.spec for s in self.local.p.ctl.engine.slices.values()
                                              if s.spec.tenant == tenant and s.spec.name not in self.slices])
        why = ""
        if lim.max_priority is not None and priority > lim.max_priority:
            why = f"may use priority up to {lim.max_priority}, asked {priority}"
        elif lim.max_slice_mbps is not None and req.bandwidth_mbps > lim.max_slice_mbps:
            why = f"may reserve up to {lim.max_slice_mbps:g} Mbit/s per slice, asked {req.bandwidth_mbps:g}"
        elif lim.max_slices is not None and len(mine) + len(held) + 1 > lim.max_slices:
            why = f"may hold up to {lim.max_slices} slices, holds {len(mine) + len(held)}"
        elif lim.max_total_mbps is not None and (sum(float(fs.doc["bandwidth_mbps"]) for fs in mine) + sum(
                s.bandwidth_mbps for s in held) + req.bandwidth_mbps > lim.max_total_mbps + 1e-9):
            why = f"may reserve up to {lim.max_total_mbps:g} Mbit/s in total"
        elif lim.sites is not None or lim.regions is not None:
            for e in req.endpoints:
                site = e.site if e.domain == self.domain else f"{e.domain}/{e.site}"
                topo = self.fed.domain(e.domain).topology
                region = topo.site(e.site).region if topo.has_site(e.site) else "unknown"
                if not ((lim.sites is not None and site in lim.sites) or (lim.regions is not None and region in lim.regions)):
                    why = f"may not use {site} (region {region})"
                    break
        if why:
            raise FederatedRefusal("PERMISSION_DENIED", f"domain {self.domain}: tenant {tenant} {why} (slice "
                                   f"{req.name}); an admin grants more (tenant policy)")

    def _views(self):
        """Every answering domain's view, read in parallel, and per border the Mbit/s both
        of its ends have free (0 when either is down or does not answer); the tags in use
        at either end of each border go to ``border_tags``."""
        names = [self.domain, *sorted(self.peers)]
        futures = {n: self._pool.submit(self._domain(n).view) for n in names}
        views, offers = {}, {}
        for n, f in futures.items():
            try:
                views[n], offers[n] = f.result()
                self.peer_errors.pop(n, None)
            except DomainError as e:
                self.peer_errors[n] = e.text
                log.warning("no view of domain %s: %s", n, e.text)
        free: dict[str, float] = {b.name: 0.0 for b in self.fed.borders}
        for b in self.fed.borders:
            ends = [o for d in (b.a.domain, b.b.domain) for o in offers.get(d, []) if o.name == b.name]
            if len(ends) == 2 and all(o.up for o in ends):
                self.border_up(b.name)   # its port is back at both ends
            if len(ends) == 2 and all(o.up for o in ends) and b.name not in self.down_borders:
                free[b.name] = min(o.free_mbps for o in ends)
            self.border_tags[b.name] = {t for o in ends for t in o.tags}
        return views, free

    def _refusal(self, e: Refused, views: dict) -> FederatedRefusal:
        missing = sorted(set(self.peers) - set(views) - {e.domain})
        text = str(e)
        if missing:   # a route through them might have been found: say so
            text += "; not answering: " + ", ".join(f"domain {m}" for m in missing)
        code = ("UNAVAILABLE" if e.constraint == "unreachable" else
                "RESOURCE_EXHAUSTED" if e.constraint == "bandwidth" else "FAILED_PRECONDITION")
        return FederatedRefusal(code, text)

    def _tag(self, border: str) -> int:
        """A tag neither end of ``border`` uses (as their views said), picked at random so
        that two homes choosing at once rarely pick the same; FederatedRefusal if none is
        left."""
        used = self.border_tags.get(border, set())
        if len(used) >= MAX_TAG - MIN_TAG + 1:
            raise FederatedRefusal("RESOURCE_EXHAUSTED", f"border {border}: every VLAN tag is in use")
        while True:
            tag = self._rng.randint(MIN_TAG, MAX_TAG)
            if tag not in used:
                return tag

    def _parts(self, rt: Route, tags: dict[str, int], vlans: dict) -> dict[str, PartRecord]:
        """Each domain's part: its endpoints, and for every border it crosses the border's
        port with the border's tag and the addresses of the endpoints beyond that border."""
        parts = {}
        for p in rt.parts:
            stps: list[Stp] = []
            for e in p.endpoints:
                vlan, ip = vlans[(e.domain, e.site, e.port)]
                stps.append((e.site, e.port, vlan, (ip,)))
            for b in rt.borders:
                end = b.end_in(p.domain)
                if end is not None:
                    beyond = _beyond(rt, b, p.domain)
                    addresses = tuple(sorted(ip for (d, _s, _p), (_v, ip) in vlans.items() if d in beyond))
                    stps.append((end.site, self._port_of(p.domain, b), tags[b.name], addresses))
            parts[p.domain] = PartRecord(p.domain, "", stps, p.max_latency_ms, p.base_delay_ms)
        return parts

    def _port_of(self, domain: str, border: BorderLink) -> int:
        return next(port for (site, port), b in self._ports[domain].items() if b == border)

    def _reserve_all(self, req: FedRequest, priority: int, doc: dict,
                     parts: dict[str, PartRecord]) -> dict[str, PartRecord]:
        """Reserve every part in parallel; if any domain refuses, abort the others and
        raise FederatedRefusal naming the first refusing domain."""
        regions = sorted(req.allowed_regions) if req.allowed_regions else None

        start, end = window(doc)

        def reserve(p: PartRecord) -> PartState:
            st = self._domain(p.domain).reserve(doc["tenant"], req.name, p.endpoints, req.bandwidth_mbps,
                                                p.max_latency_ms, priority, regions,
                                                (rfc3339(start) if start else None, rfc3339(end) if end else None))
            with self._lock:   # not "unknown" to a reconciliation while the request goes on
                self._inflight.add((p.domain, st.cid))
            return st
        futures = {d: self._pool.submit(reserve, p) for d, p in parts.items()}
        done, failed = {}, []
        for d, f in futures.items():
            try:
                st = f.result()
                done[d] = replace(parts[d], cid=st.cid, state=st.state)
            except DomainError as e:
                failed.append(e)
        if failed:
            self._abort(done.values())
            self._settled(done.values())
            first = sorted(failed, key=lambda e: e.domain)[0]
            code = first.code if first.code in ("RESOURCE_EXHAUSTED", "PERMISSION_DENIED", "UNAVAILABLE",
                                                "INVALID_ARGUMENT", "DEADLINE_EXCEEDED") else "FAILED_PRECONDITION"
            raise FederatedRefusal("UNAVAILABLE" if code == "DEADLINE_EXCEEDED" else code,
                                   f"{first} (every part was aborted: nothing is held in any domain)")
        return done

    def _all(self, parts: dict[str, PartRecord], fn: Callable[[PartRecord], PartState], what: str) -> None:
        """``fn`` on every part in parallel; the first DomainError after all have answered."""
        futures = {d: self._pool.submit(fn, p) for d, p in parts.items()}
        errors = []
        for d, f in futures.items():
            try:
                parts[d].state = f.result().state
            except DomainError as e:
                errors.append(e)
        if errors:
            raise sorted(errors, key=lambda e: e.domain)[0]

    def _settled(self, parts: Iterable[PartRecord]) -> None:
        """The parts' request is over: a record of a slice knows them now, or they are gone."""
        with self._lock:
            self._inflight.difference_update((p.domain, p.cid) for p in parts)

    def _abort(self, parts: Iterable[PartRecord]) -> None:
        self._best_effort(parts, "abort")

    def _terminate(self, parts: Iterable[PartRecord]) -> None:
        self._best_effort(parts, "terminate")

    def _best_effort(self, parts: Iterable[PartRecord], op: str) -> None:
        """``op`` on every part; a domain that does not answer keeps its part until its
        hold times out (abort) or the reconciliation when it comes back (terminate)."""
        futures = [(p, self._pool.submit(self._domain(p.domain).step, op, p.cid)) for p in parts if p.cid]
        for p, f in futures:
            try:
                f.result()
            except DomainError as e:
                log.warning("%s of %s in domain %s: %s", op, p.cid, p.domain, e.text)

    # -- records ------------------------------------------------------------------------------

    def _save(self) -> None:
        if self.records is not None:
            with self._lock:
                save_records(self.records, self.domain, self.slices)

    def _load(self) -> None:
        if self.records is not None:
            self.slices.update(load_records(self.records))


__all__ = ["FedSlice", "FederatedRefusal", "FederationHome", "PartRecord", "is_federated"]
