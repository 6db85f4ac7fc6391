"""Live SLA monitoring: each slice's one-way delay, measured in band, against its bound.

Admission checks a slice's bound against the model (delay from distance); the network
may not keep that promise: an amplifier chain replaced, a transport path rerouted under
the link, a congested shared segment. So every ``interval_s`` the controller sends a
probe between every two endpoint sites of every slice, both ways: injected at one
endpoint's switch *into the slice* (a packet-out through the tables, from in_port
CONTROLLER, which only the controller can send: see :mod:`slices.rules`), carried by the
slice's own rules - tree, tags, fast-failover groups - and handed back to the controller
by the far endpoint's switch instead of the host. A probe therefore measures the path the
slice's traffic takes, and a slice whose rules no longer carry it shows as losing probes.

One-way delay = receive time - send time - the control channel's share (half the echo
round trip of each of the two switches). The delay of a pair is the smallest of its last
``window`` samples (queueing in the controller or the switch only ever adds); the slice's
delay is that of its worst pair. A slice is **violated** once its delay has been above
``bound + tolerance_ms``, or a pair has answered nothing, for ``hold_s`` without a break;
it is **within bound** again after ``hold_s`` without a fault (no flapping either way).
A slice without a bound is judged on lost probes only.

Pure: no I/O. :mod:`controller.app` sends and receives the frames and feeds the clock.
"""
from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

from os_ken.lib.packet import ethernet, ipv4, packet

from proto.defaults import SLA_HOLD_S, SLA_INTERVAL_S, SLA_MAX_PROBES_PER_S, SLA_TOLERANCE_MS, SLA_WINDOW
from slices.rules import sla_mac

MEASURING, WITHIN, VIOLATED = "measuring", "within-bound", "violated"
WAITING = "waiting for probe answers"
_MAGIC = b"ICSL"
_HEADERS = 14 + 20                 # Ethernet, then IPv4 without options
_BODY = struct.Struct("!4sQQ")    # magic, nonce, sequence
IP_PROTO_EXPERIMENT = 253         # RFC 3692: for experimentation and testing
_DST_MAC = "06:1d:00:00:00:00"


@dataclass(frozen=True)
class Target:
    """One probe to send each round: into slice ``slice`` (id ``number``) at ``src_site``'s
    switch, addressed to the endpoint at ``dst_ip`` on ``dst_site``."""

    slice: str
    number: int
    src_site: str
    dst_site: str
    src_ip: str
    dst_ip: str
    bound_ms: float | None
    version: tuple      # the slice's tree: samples of an older tree are forgotten

    @property
    def pair(self) -> tuple[str, str]:
        return self.src_site, self.dst_site


def targets_of(placement) -> list[Target]:
    """The probes of one placed slice: one per ordered pair of its endpoint sites (from
    the first endpoint at each site). Slices with endpoints at one site only have none."""
    if placement.tree is None:
        return []
    first: dict[str, str] = {}
    for e, address in placement.live_addresses:
        first.setdefault(e.site, address)
    version = (placement.tree.edges, placement.backup.edges if placement.backup else ())
    return [Target(placement.name, placement.number, a, b, first[a], first[b],
                   placement.spec.max_latency_ms, version)
            for a in sorted(first) for b in sorted(first) if a != b]


def probe_frame(t: Target, nonce: int, seq: int) -> bytes:
    """The Ethernet frame of one probe: IPv4 from ``t.src_ip`` to ``t.dst_ip`` (so the
    slice's rules forward it), source address naming the slice (so the far switch
    catches it), and this controller's nonce and the sequence number inside."""
    frame = packet.Packet()
    frame.add_protocol(ethernet.ethernet(dst=_DST_MAC, src=sla_mac(t.number), ethertype=0x0800))
    frame.add_protocol(ipv4.ipv4(src=t.src_ip, dst=t.dst_ip, proto=IP_PROTO_EXPERIMENT, ttl=64,
                                 identification=seq & 0xFFFF))
    frame.add_protocol(_BODY.pack(_MAGIC, nonce, seq))
    frame.serialize()
    return bytes(frame.data)


def parse_probe(data: bytes, nonce: int) -> int | None:
    """The sequence number of a probe of this controller (``nonce``), else None. Read at
    fixed offsets: it runs for every packet-in."""
    at = _HEADERS
    if len(data) < at + _BODY.size or data[12:14] != b"\x08\x00" or data[23] != IP_PROTO_EXPERIMENT:
        return None
    magic, got, seq = _BODY.unpack_from(data, at)
    return seq if magic == _MAGIC and got == nonce else None


@dataclass(frozen=True)
class SlaStatus:
    """A slice's SLA as measured: ``state`` MEASURING (too few answers yet), WITHIN or
    VIOLATED; its worst pair's delay (None while nothing came back) and that pair; since
    when (wall clock) it is in this state, and a sentence saying why."""

    state: str
    delay_ms: float | None
    pair: tuple[str, str] | None
    bound_ms: float | None
    since: float
    reason: str
    lost: bool = False     # violated because probes were lost, not because they were slow


def not_judged_yet(bound_ms: float | None, since: float) -> SlaStatus:
    """A placed slice the probes have not judged yet (it was just placed, or its tree
    just changed): measuring, not "not monitored"."""
    return SlaStatus(MEASURING, None, None, bound_ms, since, WAITING)


@dataclass
class _Slice:
    version: tuple
    samples: dict = field(default_factory=dict)    # pair -> deque of delays (ms)
    answered: dict = field(default_factory=dict)   # pair -> monotonic time of the last answer
    watched_from: float = 0.0
    fault_since: float | None = None
    clear_since: float | None = None
    status: SlaStatus | None = None


@dataclass
class SlaMonitor:
    """Each slice's measured delay and SLA verdict from its probes (see the module text)."""

    interval_s: float = SLA_INTERVAL_S
    window: int = SLA_WINDOW
    hold_s: float = SLA_HOLD_S
    tolerance_ms: float = SLA_TOLERANCE_MS
    # Every probe is a packet-out and a packet-in the controller handles: thousands of
    # slices would send thousands a second and starve the controller's requests (measured:
    # 1,000 slices on one emulated switch, one-by-one creates 3x slower). Past this budget
    # each round probes the next share of the pairs, and a pair is judged silent only after
    # as many more rounds as it takes to come round to it again.
    max_probes_per_s: float = SLA_MAX_PROBES_PER_S
    rounds: int = field(default=1, init=False)     # rounds to probe every pair once
    _offset: int = field(default=0, init=False)
    _slices: dict = field(default_factory=dict, init=False)
    _sent: dict = field(default_factory=dict, init=False)    # seq -> (target, monotonic time)

    def __post_init__(self):
        if (self.interval_s <= 0 or self.window < 1 or self.hold_s < 0 or self.tolerance_ms < 0
                or self.max_probes_per_s <= 0):
            raise ValueError("SLA interval and probe budget must be > 0, window >= 1, hold and tolerance >= 0")

    def due(self, targets: list[Target]) -> list[Target]:
        """The probes to send this round: all of ``targets`` within the budget, else the
        next share of them in turn."""
        budget = max(1, int(self.max_probes_per_s * self.interval_s))
        if len(targets) <= budget:
            self.rounds, self._offset = 1, 0
            return list(targets)
        self.rounds = -(-len(targets) // budget)
        start = self._offset % len(targets)
        self._offset = start + budget
        return (targets[start:] + targets[:start])[:budget]

    def watch(self, targets: list[Target], now: float) -> None:
        """The probes due this round: slices no longer listed are forgotten, a slice whose
        tree changed starts measuring afresh."""
        wanted = {}
        for t in targets:
            wanted.setdefault(t.slice, t.version)
        for name in list(self._slices):
            if name not in wanted:
                del self._slices[name]
        for name, version in wanted.items():
            s = self._slices.get(name)
            if s is None or s.version != version:
                self._slices[name] = _Slice(version, watched_from=now,
                                            status=s.status if s is not None else None)

    def sent(self, t: Target, seq: int, now: float) -> None:
        self._sent[seq] = (t, now)
        if len(self._sent) > 100_000:    # answers that never came: forget the oldest
            for old in list(self._sent)[:len(self._sent) // 2]:
                del self._sent[old]

    def answered(self, seq: int, now: float, channel_s: Callable[[Target], float]) -> float | None:
        """Probe ``seq`` came back; ``channel_s(target)`` is the control channel's share of
        its trip (out to the first switch, in from the last). The one-way delay it
        measured (ms), or None for a probe not ours or outdated."""
        item = self._sent.pop(seq, None)
        if item is None:
            return None
        t, at = item
        s = self._slices.get(t.slice)
        if s is None or s.version != t.version:
            return None
        delay = max(0.0, (now - at - channel_s(t)) * 1000)
        s.samples.setdefault(t.pair, deque(maxlen=self.window)).append(delay)
        s.answered[t.pair] = now
        return delay

    def evaluate(self, now: float, wall: float, targets: list[Target]) -> tuple[dict[str, SlaStatus], list[str]]:
        """Judge every watched slice: the status of each, and the slices whose state
        (measuring, within bound, violated) changed."""
        by_slice: dict[str, list[Target]] = {}
        for t in targets:
            by_slice.setdefault(t.slice, []).append(t)
        statuses, turned = {}, []
        for name, ts in by_slice.items():
            s = self._slices.get(name)
            if s is None:
                continue
            old, s.status = s.status, self._judge(s, ts, now, wall)
            statuses[name] = s.status
            if old is None or old.state != s.status.state:
                turned.append(name)
        return statuses, turned

    def _judge(self, s: _Slice, ts: list[Target], now: float, wall: float) -> SlaStatus:
        bound = ts[0].bound_ms
        every = self.interval_s * self.rounds   # how often each pair is probed
        silent_for = self.hold_s + self.window * every
        lost = [t.pair for t in ts
                if now - s.answered.get(t.pair, s.watched_from) > max(silent_for, 3 * every)]
        measured = {t.pair: min(s.samples[t.pair]) for t in ts if s.samples.get(t.pair)}
        pair = max(measured, key=measured.get) if measured else None
        delay = measured[pair] if pair else None
        old = s.status
        if lost:
            fault = f"no probe answered from {lost[0][0]} to {lost[0][1]} for {silent_for:g} s"
        elif bound is not None and delay is not None and delay > bound + self.tolerance_ms:
            fault = (f"{pair[0]} to {pair[1]} measured {delay:.1f} ms, over the bound of {bound:g} ms"
                     + (f" (+{self.tolerance_ms:g} ms tolerance)" if self.tolerance_ms else ""))
        else:
            fault = ""
        if fault:
            s.clear_since = None
            s.fault_since = s.fault_since if s.fault_since is not None else now
        else:
            s.fault_since = None
            s.clear_since = s.clear_since if s.clear_since is not None else now
        if fault and now - s.fault_since >= self.hold_s:
            state, reason = VIOLATED, fault
        elif not fault and len(measured) == len(ts) and (
                old is None or old.state != VIOLATED or now - s.clear_since >= self.hold_s):
            state = WITHIN
            reason = (f"worst pair {pair[0]} to {pair[1]}: {delay:.1f} ms"
                      + (f" of {bound:g} ms" if bound is not None else " (no bound)"))
        elif old is not None:
            state, reason = old.state, old.reason
        else:
            state, reason = MEASURING, WAITING
        if state == VIOLATED and fault:   # the fault as it stands now
            reason = fault
        since = old.since if old is not None and old.state == state else wall
        return SlaStatus(state, delay, pair, bound, since, reason, lost=bool(lost) and state == VIOLATED)
