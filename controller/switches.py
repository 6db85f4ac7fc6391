"""The switches' connections as the owner thread sees them (the :class:`controller.model.Wire`):
rule changes pushed phase by phase, each closed by a barrier per switch and waited for;
reads of a switch's flows, groups and meters for an audit; counters. A switch that does
not answer is waited for once, then not again until one of its barrier replies shows it
is back, so it delays only the requests that need it. A switch that has just connected
is not waited for at all until it has answered once (a barrier, on the thread that reads
it: controller.network): completing the handshake proves nothing, and a switch that
never answers after it, reconnecting over and over, would otherwise hold the owner
thread for a timeout on every connection.

The os-ken app (controller.app) hands it the connections and the replies; it keeps who
waits for which reply (by switch and transaction id)."""
from __future__ import annotations

import logging
import struct
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Callable

from controller import fastwire, ofwire
from controller.identity import SwitchAddresses
from controller.probation import Probation
from controller.model import ABSENT, REFUSED, UNCONFIRMED, SwitchProblem
from slices.compiler import Changes, change_rounds
from slices.rules import (COOKIE_APP, COOKIE_APP_MASK, COOKIE_SLICE_MASK, PRIO_INGRESS, TABLE_CLASSIFY,
                          cookie_slice, meter_id, meter_slice, slice_cookie)
from topologies.model import Topology

log = logging.getLogger("intercloud.openflow")
BARRIER_TIMEOUT_S = 3.0    # a switch silent this long is not waited for again until it answers
READ_TIMEOUT_S = 10.0
# a switch on probation gets a moment to confirm, not a timeout: a healthy one answers a
# barrier in milliseconds (its slices come back active at once), a silent one costs this
PROBATION_WAIT_S = 0.02
_XID = struct.Struct("!I")   # a message's xid, at offset 4 of its header


@dataclass
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    body: list = field(default_factory=list)
    lost: bool = False   # the switch went away before it answered
    late: tuple | None = None   # (site, first xid, xid): a push's barrier nobody waits for (probation)


class SwitchChannels:
    """The connected switches by site, and the replies awaited from them."""

    reads_wait = True   # read() waits for a switch: controller.network reads off the owner thread

    def __init__(self, topology: Topology, metrics=None, address_grace_s: float | None = None):
        self.topology = topology
        # plaintext OpenFlow: each dpid's address (controller.identity); None: not bound
        self.addresses = SwitchAddresses(address_grace_s) if address_grace_s is not None else None
        self.site_of = {s.dpid: s.name for s in topology.sites}
        self.metrics = metrics      # controller.metrics.Metrics, or None
        self.dps: dict[str, object] = {}
        self._waiters: dict[tuple[int, int], _Waiter] = {}
        self._errors: dict[int, list[tuple[int, str]]] = defaultdict(list)  # dpid -> (xid, text)
        self._lock = threading.Lock()
        # connected switches that stopped answering (site -> since when): nobody waits for
        # them until one of their barrier replies shows they are back
        self._unresponsive: dict[str, float] = {}
        # connected switches that have not answered anything yet (site -> since when, and
        # the event set once one of their barriers is answered or they go)
        self._proving: dict[str, tuple[float, threading.Event]] = {}
        self.probation = Probation()      # switches that kept the controller waiting: not waited for
        self._late: dict[str, _Waiter] = {}   # site -> the barrier of its last push on probation
        # told (site, problem or None) when a switch on probation confirms its pushes
        self.on_late: Callable[[str, SwitchProblem | None], None] | None = None

    def attach(self, site: str, dp) -> None:
        """``dp`` is ``site``'s connection now; it has just answered the handshake."""
        self.dps[site] = dp
        with self._lock:
            self._unresponsive.pop(site, None)
            self._proving[site] = (time.monotonic(), threading.Event())

    def claim(self, site: str, dp) -> bool:
        """Whether ``dp`` may be ``site``'s switch as far as its address goes (plaintext
        OpenFlow: controller.identity); a refused one is logged, counted and closed."""
        address = getattr(dp, "address", None)
        why = self.addresses.claim(site, address[0] if isinstance(address, tuple) else None, time.monotonic()) \
            if self.addresses is not None else None
        if why is None:
            return True
        log.error("switch %s: a connection claims dpid 0x%016x from %s, but the dpid is %s", site, dp.id,
                  address[0], why)
        if self.metrics is not None:
            self.metrics.address_conflicts.labels(site).inc()
        _close(dp)
        return False

    def detach(self, site: str, dp) -> None:
        """``site``'s connection died: whoever waits for its answers stops waiting."""
        del self.dps[site]
        if self.addresses is not None:
            self.addresses.gone(site, time.monotonic())
        with self._lock:
            self._unresponsive.pop(site, None)
            proving = self._proving.pop(site, None)
            self._late.pop(site, None)
        if proving is not None:
            proving[1].set()
        self._release(dp.id)

    def answered_barrier(self, dpid: int, xid: int) -> float | None:
        """A barrier reply: since when its switch had been silent (None: it was not)."""
        self._resolve(dpid, xid, None, last=True)
        site = self.site_of.get(dpid)
        with self._lock:
            proving = self._proving.pop(site, None)
            since = self._unresponsive.pop(site, None)
        if proving is not None:
            proving[1].set()
        return since

    def error(self, dpid: int, xid: int, text: str) -> None:
        """An OpenFlow error: the request it answers failed and gets no other reply."""
        with self._lock:
            self._errors[dpid].append((xid, text))
        self._resolve(dpid, xid, None, last=True)

    def reply(self, dpid: int, xid: int, body, last: bool) -> None:
        """(Part of) a multipart or role reply."""
        self._resolve(dpid, xid, body, last)

    def set_roles(self, role: int, generation: int, wait: bool) -> list[str]:
        """Ask every connected switch to take this instance as ``role``; with ``wait``,
        the switches that did not confirm within BARRIER_TIMEOUT_S."""
        sent = []
        for site, dp in dict(self.dps).items():
            msg = dp.ofproto_parser.OFPRoleRequest(dp, role, generation)
            sent.append((site, dp, msg, self._request(dp, msg)))
        failed = []
        for site, dp, msg, w in sent:
            if wait and not (w.done.wait(BARRIER_TIMEOUT_S) and not w.lost and not self.error_of(dp.id, msg.xid)):
                failed.append(site)
            self._forget(dp, [(msg.xid, w)])
        return failed

    def error_of(self, dpid: int, xid: int) -> str:
        with self._lock:
            return next((text for x, text in self._errors.get(dpid, []) if x == xid), "")

    def refuse_second(self, site: str, known, dp) -> None:
        """A connection claims the dpid of a switch that is connected: an impostor, or the
        same switch back before its old connection was seen to die. The connected one
        keeps the site (its rules, its slices); the newcomer is closed. The connected one
        is then asked for a barrier: if it does not answer within BARRIER_TIMEOUT_S its
        connection is closed too, so the switch's next attempt is accepted."""
        log.error("switch %s: a second connection (%s) claims dpid 0x%016x while the switch is connected "
                  "(%s): refused", site, _address(dp), dp.id, _address(known))
        _close(dp)

        def challenge():
            barrier = known.ofproto_parser.OFPBarrierRequest(known)
            w = self._request(known, barrier)
            answered = w.done.wait(BARRIER_TIMEOUT_S) and not w.lost
            self._forget(known, [(barrier.xid, w)])
            if not answered and self.dps.get(site) is known:
                log.error("switch %s: the connected switch did not answer for %g s either: its connection is "
                          "closed, the next one for dpid 0x%016x will be accepted", site, BARRIER_TIMEOUT_S, dp.id)
                _close(known)
        threading.Thread(target=challenge, name=f"challenge-{site}", daemon=True).start()

    def _silent(self, site: str) -> bool:
        """Whether ``site``'s switch is not waited for: known not to answer, connected and
        not answered yet, or on probation."""
        with self._lock:
            if site in self._unresponsive or site in self._proving:
                return True
        return self.probation.on(site, time.monotonic())

    def _hung(self, site: str, probation: bool = True) -> SwitchProblem | None:
        """The problem of a switch known not to answer or not answered yet, after nudging
        it with a barrier (its reply will say it answers), or (``probation``) on probation;
        None for a switch that answers. Reads, made off the owner thread, leave out
        probation: a switch on probation is still read and repaired."""
        with self._lock:
            since, connected = self._unresponsive.get(site), self._proving.get(site, (None,))[0]
        if since is None and connected is None:
            now = time.monotonic()
            return SwitchProblem(UNCONFIRMED, self.probation.describe(site, now)) \
                if probation and self.probation.on(site, now) else None
        dp = self.dps.get(site)
        if dp is not None:
            dp.send_msg(dp.ofproto_parser.OFPBarrierRequest(dp))
        if since is None:
            return SwitchProblem(UNCONFIRMED, f"connected {time.monotonic() - connected:.0f} s ago and has not "
                                              "answered the controller yet")
        return SwitchProblem(UNCONFIRMED, f"not answering the controller for {time.monotonic() - since:.0f} s")

    def _prove(self, site: str, dp) -> bool:
        """Whether ``site``'s switch, connected and not answered yet, answers a barrier
        within READ_TIMEOUT_S (its reply ends the proving: answered_barrier). Waits: never
        on the owner thread."""
        with self._lock:
            proving = self._proving.get(site)
        if proving is None:
            return True
        barrier = dp.ofproto_parser.OFPBarrierRequest(dp)
        w = self._request(dp, barrier)
        proved = proving[1].wait(READ_TIMEOUT_S)   # this barrier or any other answered, or the switch gone
        self._forget(dp, [(barrier.xid, w)])
        if not proved:
            self._gave_up_on(site, f"no answer within {READ_TIMEOUT_S:g} s of connecting")
        return proved and self.dps.get(site) is dp

    def _gave_up_on(self, site: str, what: str, connected: bool = True) -> None:
        """``site``'s switch did not answer (``connected``: its connection lives on, and it
        is not waited for until it answers again); a strike on its record."""
        with self._lock:
            first = connected and site not in self._unresponsive
            if connected:
                self._unresponsive.setdefault(site, time.monotonic())
        if first:
            log.error("switch %s: %s; not waiting for it until it answers again", site, what)
        length = self.probation.strike(site, time.monotonic())
        if length is not None:
            log.error("switch %s: %s, again: on probation, not waited for during %.0f s (its changes are sent, "
                      "its confirmations counted when they come)", site, what, length)

    def _resolve(self, dpid: int, xid: int, body, last: bool) -> None:
        with self._lock:
            w = self._waiters.get((dpid, xid))
        if w is None:
            return
        if body:
            w.body.extend(body)
        if last:
            w.done.set()
            if w.late is not None:
                self._confirmed_late(dpid, xid, w)

    def _wait_late(self, dp, first_xid: int, xid: int, w: _Waiter, site: str) -> None:
        """Keep the barrier of a push to a switch on probation: when it is answered, the
        push is confirmed (or refused) then (:attr:`on_late`). A later push's barrier
        confirms the earlier ones too (OpenFlow's barrier semantics): only the last is kept."""
        with self._lock:
            previous = self._late.get(site)
            if previous is not None:
                first_xid = min(first_xid, previous.late[1])
                self._waiters.pop((dp.id, previous.late[2]), None)
            w.late = (site, first_xid, xid)
            self._late[site] = w
        if w.done.is_set():          # answered before it was marked late
            self._confirmed_late(dp.id, xid, w)

    def _confirmed_late(self, dpid: int, xid: int, w: _Waiter) -> None:
        site, first_xid, _xid = w.late
        with self._lock:
            self._waiters.pop((dpid, xid), None)
            if self._late.get(site) is not w:
                return               # superseded by a later push's barrier, or already handled
            del self._late[site]
            errors = [t for x, t in self._errors.pop(dpid, []) if x >= first_xid]
        if not w.lost and self.on_late is not None:
            self.on_late(site, SwitchProblem(REFUSED, "; ".join(sorted(set(errors)))) if errors else None)

    def _release(self, dpid: int) -> None:
        """A switch's connection died: whoever waits for its answers stops waiting now (a
        read or push in hand would otherwise hold the owner thread for its whole timeout)."""
        with self._lock:
            waiters = [w for (d, _x), w in self._waiters.items() if d == dpid]
            for key in [k for k, w in self._waiters.items() if k[0] == dpid and w.late is not None]:
                del self._waiters[key]      # nobody waits for these: nothing to release
        for w in waiters:
            w.lost = True
            w.done.set()

    def _request(self, dp, msg) -> _Waiter:
        w = _Waiter()
        with self._lock:
            dp.set_xid(msg)
            self._waiters[(dp.id, msg.xid)] = w
        dp.send_msg(msg)
        if getattr(dp, "is_active", True) is False:  # died before _release could see this waiter
            w.lost = True
            w.done.set()
        return w

    def _forget(self, dp, waiters: list[tuple[int, _Waiter]]) -> None:
        with self._lock:
            for xid, _w in waiters:
                self._waiters.pop((dp.id, xid), None)

    # -- the Wire the owner thread calls -------------------------------------------------------

    def connected_sites(self) -> set[str]:
        return set(self.dps)

    def push(self, changes: Changes) -> dict[str, SwitchProblem]:
        """Send ``changes`` make-before-break, round by round (:func:`change_rounds`): each
        switch gets its phases of a round back to back, each closed by a barrier, and every
        switch's last barrier of a round is waited for before the next round goes out. A
        switch that is absent, refuses or does not answer gets nothing more of this push;
        the others go on. Returns the problems by switch."""
        problems: dict[str, SwitchProblem] = {}
        sent = False
        for round_ in change_rounds(changes):
            if sent and changes.drain_s and any(op == "delete" for phases in round_.values() for items in phases
                                                for op, _e in items):
                time.sleep(changes.drain_s)  # let frames on the old paths arrive first
            pending, round_started = {}, time.monotonic()
            for site, phases in round_.items():
                if site in problems:
                    continue
                dp = self.dps.get(site)
                if dp is None:
                    problems[site] = SwitchProblem(ABSENT, "switch not connected")
                    continue
                pending[site] = (dp, *self._send(dp, phases))
                sent = True
            round_sent = time.monotonic()
            for site, (dp, first_xid, barrier_xid, w) in pending.items():
                problem = self._confirmation(site, dp, first_xid, barrier_xid, w, round_sent)
                if problem is not None:
                    problems[site] = problem
            self._timed(round_started, round_sent)
        return problems

    def _send(self, dp, phases: list) -> tuple[int, int, _Waiter]:
        """Send a switch its phases of a round in one write, a barrier between each two
        and one after the last, whose reply the caller waits for: (the first message's
        xid, the last barrier's xid, its waiter). Entries go straight to bytes
        (controller.ofwire.to_bytes): one write per switch and round instead of a message
        object, a serialisation and a hand-off to os-ken's sending thread per entry."""
        parts: list[bytes] = []
        for i, items in enumerate(phases):
            if i:
                parts.append(fastwire.barrier(0))
            for op, e in items:
                if self.metrics is not None:
                    self.metrics.flow_mods.labels(op).inc()
                parts += ofwire.to_bytes(dp, e, op)
        parts.append(fastwire.barrier(0))
        buf = bytearray(b"".join(parts))
        w = _Waiter()
        with self._lock:       # xids in the order sent; the waiter known before the reply can come
            xids = [dp.set_xid(ofwire.NO_MESSAGE) for _p in parts]
            self._waiters[(dp.id, xids[-1])] = w
        offset = 0
        for part, xid in zip(parts, xids):
            _XID.pack_into(buf, offset + 4, xid)
            offset += len(part)
        dp.send(bytes(buf))
        if getattr(dp, "is_active", True) is False:  # died before _release could see this waiter
            w.lost = True
            w.done.set()
        return xids[0], xids[-1], w

    def _timed(self, started: float, sent: float) -> None:
        """One round's time sending and waiting for its barriers (controller.metrics)."""
        if self.metrics is not None:
            self.metrics.push_round_seconds.labels("send").observe(sent - started)
            self.metrics.push_round_seconds.labels("wait").observe(time.monotonic() - sent)

    def _confirmation(self, site: str, dp, first_xid: int, barrier_xid: int, w: _Waiter,
                      phase_sent: float) -> SwitchProblem | None:
        """Wait for a switch's barrier of a push phase (unless it is not waited for); its
        problem, or None: it confirmed."""
        problem = None
        if self._silent(site):   # sent, but nobody waits for it
            with self._lock:
                on_probation_only = site not in self._unresponsive and site not in self._proving
            if not on_probation_only:
                problem = self._hung(site)
            elif not w.done.wait(PROBATION_WAIT_S):
                self._wait_late(dp, first_xid, barrier_xid, w, site)
                return self._hung(site)
            elif w.lost:
                problem = SwitchProblem(ABSENT, "switch disconnected before confirming")
        elif not w.done.wait(BARRIER_TIMEOUT_S):
            problem = SwitchProblem(UNCONFIRMED, f"no barrier reply within {BARRIER_TIMEOUT_S:g} s")
            self._gave_up_on(site, problem.detail)
        elif w.lost:
            problem = SwitchProblem(ABSENT, "switch disconnected before confirming")
            self._gave_up_on(site, "disconnected in the middle of a push", connected=False)
        elif self.metrics is not None:
            self.metrics.barrier_seconds.observe(time.monotonic() - phase_sent)
        self._forget(dp, [(barrier_xid, w)])
        with self._lock:
            errors = [t for x, t in self._errors.pop(dp.id, []) if x >= first_xid]
        return SwitchProblem(REFUSED, "; ".join(sorted(set(errors)))) if errors else problem

    def read(self, site: str):
        """What ``site``'s switch holds (None: not connected, or not answering). Waits up
        to READ_TIMEOUT_S for the switch to answer: callers keep it off the owner thread."""
        dp = self.dps.get(site)
        if dp is None or not self._prove(site, dp) or self._hung(site, probation=False):
            return None
        ofp, parser = dp.ofproto, dp.ofproto_parser
        reqs = [parser.OFPFlowStatsRequest(dp, table_id=ofp.OFPTT_ALL, out_port=ofp.OFPP_ANY,
                                           out_group=ofp.OFPG_ANY, match=parser.OFPMatch()),
                parser.OFPGroupDescStatsRequest(dp),
                parser.OFPMeterConfigStatsRequest(dp, meter_id=ofp.OFPM_ALL)]
        waiters = [(r, self._request(dp, r)) for r in reqs]
        for _r, w in waiters:
            if not w.done.wait(READ_TIMEOUT_S) or w.lost:
                self._forget(dp, [(r.xid, w) for r, w in waiters])
                if not w.lost:
                    self._gave_up_on(site, f"no answer to a read within {READ_TIMEOUT_S:g} s")
                return None
        self._forget(dp, [(r.xid, w) for r, w in waiters])
        flows, groups, meters = (w.body for _r, w in waiters)
        entries = [ofwire.flow_from_stats(site, f) for f in flows]
        entries += [ofwire.group_from_desc(site, g) for g in groups]
        entries += [ofwire.meter_from_config(site, m) for m in meters]
        return entries

    def counters(self, site: str, slice_id: int) -> dict[str, int]:
        """The counters of one slice on one switch (see :meth:`_read_counters`)."""
        return self._read_counters(site, slice_id).get(slice_id, dict(_ZERO))

    def all_counters(self) -> dict[int, dict[str, int]]:
        """Every slice's counters summed over every connected switch, by slice id: two
        requests per switch, whatever the number of slices (for a Prometheus scrape)."""
        total: dict[int, dict[str, int]] = {}
        for site in sorted(self.dps):
            for sid, counts in self._read_counters(site).items():
                mine = total.setdefault(sid, dict(_ZERO))
                for k, v in counts.items():
                    mine[k] += v
        return total

    def _read_counters(self, site: str, slice_id: int | None = None) -> dict[int, dict[str, int]]:
        """Packets and bytes entering at endpoint ports (the ingress flows) and seen and
        dropped by the meters, by slice id, on one switch: of one slice, or of all."""
        dp = self.dps.get(site)
        if dp is None or self._hung(site, probation=False):
            return {}
        ofp, parser = dp.ofproto, dp.ofproto_parser
        cookie, mask = (slice_cookie(slice_id), COOKIE_SLICE_MASK) if slice_id else (COOKIE_APP, COOKIE_APP_MASK)
        flows = parser.OFPFlowStatsRequest(dp, table_id=TABLE_CLASSIFY, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
                                           cookie=cookie, cookie_mask=mask, match=parser.OFPMatch())
        meter = parser.OFPMeterStatsRequest(dp, meter_id=meter_id(slice_id) if slice_id else ofp.OFPM_ALL)
        waiters = [(r, self._request(dp, r)) for r in (flows, meter)]
        for _r, w in waiters:
            if not w.done.wait(READ_TIMEOUT_S) and not w.lost:
                self._gave_up_on(site, f"no answer to a counters read within {READ_TIMEOUT_S:g} s")
                break
        self._forget(dp, [(r.xid, w) for r, w in waiters])
        out: dict[int, dict[str, int]] = {}
        for f in waiters[0][1].body:
            sid = cookie_slice(f.cookie)
            if f.priority == PRIO_INGRESS and sid:  # endpoint ingress rules
                c = out.setdefault(sid, dict(_ZERO))
                c["ingress_packets"] += f.packet_count
                c["ingress_bytes"] += f.byte_count
        for m in waiters[1][1].body:
            c = out.setdefault(meter_slice(m.meter_id), dict(_ZERO))
            c["meter_packets"] += m.packet_in_count
            c["meter_bytes"] += m.byte_in_count
            c["meter_dropped_packets"] += sum(b.packet_band_count for b in m.band_stats)
        return out


def _address(dp) -> str:
    address = getattr(dp, "address", None)
    return f"{address[0]}:{address[1]}" if isinstance(address, tuple) else "unknown address"


def _close(dp) -> None:
    """End an OpenFlow connection: state DEAD (os-ken), and the socket shut both ways so
    its receiving thread ends whatever the other side does."""
    import socket

    close = getattr(dp, "close", None)
    if close is not None:
        close()
    sock = getattr(dp, "socket", None)
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


_ZERO = {"ingress_packets": 0, "ingress_bytes": 0, "meter_packets": 0, "meter_bytes": 0, "meter_dropped_packets": 0}
