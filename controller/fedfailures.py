"""The failure half of the home controller (controller.fedhome): notifications from every
domain, reconciliation with a peer that comes back, and re-routing a slice around a lost
border (issue 26). A mixin of :class:`controller.fedhome.FederationHome`, whose records,
domains and steps it uses; kept apart so each half reads on its own."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import replace

from controller.fedpeers import DomainError
from controller.fedslices import FederatedRefusal, FedSlice, PartRecord, window
from slices.interdomain import Refused, route

log = logging.getLogger("intercloud.federation.home")
WATCH_RETRY_S = 1.0
RETRY_S, RETRY_MAX_S = 1.0, 30.0   # a degraded slice is re-routed again after 1, 2, 4 ... 30 s


class FailureHandling:
    # -- failures -----------------------------------------------------------------------------

    def _watch(self, name: str) -> None:
        """Read domain ``name``'s notifications for as long as the home runs, reopening the
        stream when the peer comes back, and reconciling each time it does."""
        while not self._stop.is_set():
            try:
                if name == self.domain:
                    self._reconcile(name)
                    self.watching.add(name)
                    for notice in self.local.notices(self._stop):
                        self._on_notice(name, notice.kind, notice.part.cid, notice.stp)
                    continue
                stream = self.peers[name].watch()
                self._streams[name] = stream
                self._reconcile(name)
                self.watching.add(name)
                for n in stream:
                    kind = {1: "reserve_timeout", 2: "state_change", 3: "error"}.get(n.kind, "")
                    stp = (n.stp.site, n.stp.port) if n.HasField("stp") else None
                    self._on_notice(name, kind, n.connection_id, stp)
            except DomainError as e:
                self.peer_errors[name] = e.text
            except Exception as e:  # the stream broke (the peer went away): try again
                if not self._stop.is_set():
                    self.peer_errors[name] = f"notifications: {e.code().name if hasattr(e, 'code') else e}"
            self.watching.discard(name)
            self._stop.wait(WATCH_RETRY_S)

    def _reconcile(self, name: str) -> None:
        """Terminate (or abort) the parts domain ``name`` holds for this home that no slice
        of the home owns: requests aborted or deleted while it was away."""
        dom = self._domain(name)
        parts = dom.query()
        with self._lock:   # after the query: a part reserved meanwhile is in flight or recorded by now
            known = {p.cid for fs in self.slices.values() for p in fs.parts.values() if p.domain == name}
            known |= {cid for d, cid in self._inflight if d == name}
            # a slice being set up or moved now: its parts may be answered but not yet noted
            busy = {g for n in self._busy for g in (n, f"{self.domain}:{n}")}
        for part in parts:
            if part.cid in known or part.global_id in busy or part.state in ("Terminated", "Terminating"):
                continue
            op = "abort" if part.state in ("ReserveHeld", "ReserveTimeout", "ReserveFailed") else "terminate"
            try:
                dom.step(op, part.cid)
                if op == "abort" and part.committed:
                    dom.step("terminate", part.cid)
                log.warning("domain %s: %s of %s, which no slice of this home owns (reconciled)", name, op,
                            part.cid)
            except DomainError as e:
                log.warning("domain %s: reconciling %s: %s", name, part.cid, e.text)

    def _on_notice(self, domain: str, kind: str, cid: str, stp: tuple[str, int] | None) -> None:
        if kind != "error" or stp is None:
            return
        border = self._ports.get(domain, {}).get(stp)
        if border is None:
            return
        with self._lock:
            first = border.name not in self.down_borders
            self.down_borders.add(border.name)
            now = time.time()   # a slice booked ahead is placed by each domain at its start
            hit = [fs.name for fs in self.slices.values() if border.name in fs.tags
                   and (window(fs.doc)[0] or 0) <= now]
        if first:
            log.warning("border %s down (domain %s): re-routing %d slices", border.name, domain, len(hit))
        for name in hit:
            self._pool.submit(self._reroute_logged, name, border.name)

    def _reroute_logged(self, name: str, lost: str) -> None:
        """:meth:`reroute` in the pool: an unexpected error is logged and leaves the slice
        degraded (to be tried again), never lost with the pool's future."""
        try:
            self.reroute(name, lost)
        except Exception as e:  # noqa: BLE001 - anything: the slice must not be left as if fine
            log.exception("re-route of %s around %s", name, lost)
            fs = self.find(name)
            if fs is not None:
                self._degraded(fs, f"border {lost} down, re-route failed: {e}", lost)

    def border_up(self, name: str) -> None:
        """A border is back in use for new routes (an operator's word, or its port up)."""
        with self._lock:
            self.down_borders.discard(name)

    def reroute(self, name: str, lost: str = "") -> None:
        """Move slice ``name`` off the borders that are down: the parts of domains it keeps
        are modified (make before break inside each), new domains' parts are reserved,
        committed and provisioned, and the parts of domains it leaves are terminated after."""
        with self._lock:
            lock = self._slice_locks.setdefault(name, threading.Lock())
        with lock:
            with self._lock:
                fs = self.slices.get(name)
            if fs is None or (fs.state != "degraded" and not set(fs.tags) & self.down_borders):
                return
            t0 = time.monotonic()
            req, priority, vlans = self._request(fs.doc)
            views, free = self._views()
            for b in fs.tags:             # the slice's own share of the borders it uses is its to move
                if b in free and b not in self.down_borders:
                    free[b] += req.bandwidth_mbps
            try:
                rt = route(req, self.fed, views, free)
            except Refused as e:
                self._degraded(fs, f"border {lost} down, no other route: {e}", lost)
                return
            tags = {b.name: fs.tags.get(b.name) or self._tag(b.name) for b in rt.borders}
            wanted = self._parts(rt, tags, vlans)
            kept = {d: p for d, p in wanted.items() if d in fs.parts}
            added = {d: p for d, p in wanted.items() if d not in fs.parts}
            left = [p for d, p in fs.parts.items() if d not in wanted]
            with self._setting_up(name):
                try:
                    new = self._reserve_all(req, priority, fs.doc, added) if added else {}
                except FederatedRefusal as e:
                    self._degraded(fs, f"border {lost} down, re-route refused: {e}", lost)
                    return
                try:
                    self._move(fs, name, lost, t0, rt, tags, kept, new, left)
                finally:
                    self._settled(new.values())

    def _move(self, fs, name, lost, t0, rt, tags, kept, new, left) -> None:
        """The re-route's second half: modify the kept parts, commit and provision the new
        ones, terminate the parts left; on an error, undo (slice lock held)."""
        modified, errors = {}, []
        futures = {d: self._pool.submit(self._modify, fs.parts[d], p) for d, p in kept.items()}
        for d, f in futures.items():
            try:
                modified[d] = f.result()
            except DomainError as e:
                errors.append(e)
        if not errors:
            try:
                self._all(new, lambda p: self._domain(p.domain).step("commit", p.cid), "commit")
                self._all(new, lambda p: self._domain(p.domain).step("provision", p.cid), "provision")
            except DomainError as e:
                errors.append(e)
        if errors:   # put the kept parts back as they were, drop the new ones
            for d in modified:
                try:
                    self._modify(modified[d], fs.parts[d])
                except DomainError as e:
                    log.warning("re-route of %s: undoing %s: %s", name, d, e.text)
                    with self._lock:   # it stays where the re-route put it: record that
                        fs.parts[d] = modified[d]
            self._terminate(new.values())
            self._degraded(fs, f"border {lost} down, re-route failed: {errors[0]}", lost)
            return
        self._terminate(left)
        with self._lock:
            fs.parts = {**modified, **new}
            fs.tags, fs.worst_delay_ms = tags, rt.worst_delay_ms
            fs.state, fs.reason, fs.updated = "active", f"re-routed around border {lost} in " \
                f"{(time.monotonic() - t0) * 1000:.0f} ms", time.time()
            self._retry_s.pop(name, None)
        self._save()
        log.warning("slice %s re-routed around %s in %.0f ms: now via %s", name, lost,
                    (time.monotonic() - t0) * 1000, ", ".join(sorted(tags)) or "one domain")

    def _modify(self, old: PartRecord, new: PartRecord) -> PartRecord:
        if sorted(old.endpoints) == sorted(new.endpoints) and old.max_latency_ms == new.max_latency_ms:
            return old
        st = self._domain(old.domain).modify(old.cid, new.endpoints, new.max_latency_ms)
        return replace(new, cid=old.cid, state=st.state)

    def _degraded(self, fs: FedSlice, reason: str, lost: str = "") -> None:
        """The slice could not be moved now: DEGRADED with why, and tried again after
        RETRY_S, doubling up to RETRY_MAX_S (a second border may have failed while the
        first re-route read the views; a domain may come back)."""
        log.error("slice %s: %s", fs.name, reason)
        with self._lock:
            fs.state, fs.reason, fs.updated = "degraded", reason, time.time()
            delay = min(RETRY_MAX_S, 2 * self._retry_s.get(fs.name, RETRY_S / 2))
            self._retry_s[fs.name] = delay
        self._save()
        if not self._stop.is_set():
            timer = threading.Timer(delay, self._retry, (fs.name, lost))
            timer.daemon = True
            timer.start()

    def _retry(self, name: str, lost: str) -> None:
        if self._stop.is_set():
            return
        try:
            self._pool.submit(self._reroute_logged, name, lost)
        except RuntimeError:   # the home is closing
            pass
