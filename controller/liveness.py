"""Link liveness from the controller's own probes: silent failures and miswired links.

A switch reports a cut fibre (its port goes down) but not a link whose frames vanish
with the ports up - a failed transport network or amplifier - nor a cable plugged into
the wrong port. So the controller probes every inter-site link itself, whatever the
switch supports (Open vSwitch's BFD, where enabled, only speeds up local failover):

* every ``interval_s`` one end of each link sends a probe out of the link's port (the
  ends take turns; one OpenFlow packet-out per switch carries all its probes of the
  round); the far end's switch returns it on the same port with its own site and port
  written into the source address (a rule of the base plan, see :mod:`slices.rules`),
  and the sender's switch hands it back to the controller, which learns the port from
  the packet-in. One round trip checks both directions and the cabling, and needs the
  control channel of only one end: a switch cut off from the controller still returns
  its neighbours' probes (fail-secure switches keep forwarding; its neighbour then
  probes every round), so a lost control channel alone never takes a link down, while a
  destroyed site does.
* a probe is missed once its round trip plus one interval has passed unanswered; a link
  is **down** after ``misses`` missed probes in a row that span at least ``misses``
  intervals plus the round trip (counting probes: a controller too busy to send is not
  mistaken for a dead link; and time: nor is one that sent a few rounds at once after
  falling behind), provided something sent after the last of them has come back - another
  link's probe, or an echo the controller then asks the switches for (a controller too
  busy to *read* its switches, or a switch process stalled as a whole, hears no link and
  is not mistaken for every link dead: measured on the emulation, all probes of a round
  came back 60-110 ms late together when its two cores were saturated), or as soon as a probe
  comes back from a switch or port the topology does not put at the other end
  (**miswired**: reported and not used); it is **up** again only after its probes have
  come back without a miss for ``hold_down_s`` (no flapping). A link is judged only once
  one of its ends has been connected for ``grace_s`` (a switch that just connected may
  not have its rules yet).

Defaults: a 50 ms interval and 3 misses declare a silent link down 150-250 ms after it
fails, plus its round trip (measured on japan-intercloud: see the README). A probe is a
60-byte frame, 84 bytes on the wire with preamble and gap, once per interval in each
direction of a link (out and back): 84 x 8 bit x 20/s = 13.4 kbit/s, 0.013 % of a
100 Mbit/s link; under the 1 % budget for any link of 1.35 Mbit/s or more.

Pure: no I/O. :mod:`controller.app` sends and receives the frames and feeds the clock.
"""
from __future__ import annotations

import struct
from collections import deque
from dataclasses import dataclass, field

from proto.defaults import LINK_HOLD_DOWN_S, PROBE_INTERVAL_S, PROBE_MISSES
from slices.rules import PROBE_ETH_TYPE, PROBE_OUT, probe_mac_origin
from topologies.model import Topology
from topologies.ports import PortMap

PROBE_GRACE_S = 1.0
DELAY_WINDOW = 20                     # a link's delay: the smallest of its last 20 probes
FRAME_BYTES = 60                      # the Ethernet minimum without the FCS
WIRE_BYTES = FRAME_BYTES + 4 + 20     # FCS, preamble, start delimiter and inter-frame gap
_MAGIC = b"ICPR"
_SOURCE = bytes.fromhex("021c00000000")
_HEAD = struct.Struct("!6s6sH4sQQ")   # dst, src, ethertype, magic, nonce, sequence


def probe_frame(nonce: int, seq: int) -> bytes:
    """The frame a switch sends out of a link port."""
    head = _HEAD.pack(bytes.fromhex(PROBE_OUT.replace(":", "")), _SOURCE, PROBE_ETH_TYPE, _MAGIC, nonce, seq)
    return head.ljust(FRAME_BYTES, b"\0")


def parse_returned(data: bytes, nonce: int) -> tuple[str, int] | None:
    """The source address and sequence number of a returned probe of this controller
    (``nonce``), else None."""
    if len(data) < _HEAD.size:
        return None
    _dst, src, eth_type, magic, got_nonce, seq = _HEAD.unpack_from(data)
    if eth_type != PROBE_ETH_TYPE or magic != _MAGIC or got_nonce != nonce:
        return None
    return ":".join(f"{b:02x}" for b in src), seq


def probe_load_bps(interval_s: float) -> float:
    """Bits per second of probes on each direction of a link."""
    return WIRE_BYTES * 8 / interval_s


@dataclass(frozen=True)
class Verdict:
    """A link's liveness changed: ``up`` or not, and why."""

    a: str
    b: str
    up: bool
    reason: str


UNVERIFIED, UP, DOWN = "unverified", "up", "down"


@dataclass
class _Link:
    a: str
    b: str
    ends: dict            # (site, port) of each end -> (site, port) of the other
    phase: int            # which end probes on even rounds (0: a, 1: b)
    rtt_s: float
    status: str = UNVERIFIED
    reason: str = "not probed yet"
    pending: list = field(default_factory=list)   # send times of probes not answered yet
    last_answer: float | None = None
    answering_since: float | None = None
    judged_from: float | None = None   # when an end had been connected long enough
    miswired: str = ""
    miswired_at: float | None = None
    sent_at: dict = field(default_factory=dict)           # sequence -> send time, for delays
    delays: deque = field(default_factory=lambda: deque(maxlen=DELAY_WINDOW))   # one-way, ms


@dataclass
class LinkMonitor:
    """Each link's liveness from probe answers (see the module text)."""

    topology: Topology
    ports: PortMap
    interval_s: float = PROBE_INTERVAL_S
    misses: int = PROBE_MISSES
    hold_down_s: float = LINK_HOLD_DOWN_S
    grace_s: float = PROBE_GRACE_S
    _links: dict = field(default_factory=dict, init=False)
    _at_port: dict = field(default_factory=dict, init=False)
    _sites: list = field(default_factory=list, init=False)
    _heard_up_to: float = field(default=float("-inf"), init=False)   # see returned()

    def __post_init__(self):
        if self.interval_s <= 0 or self.misses < 1 or self.hold_down_s < 0:
            raise ValueError("probe interval must be > 0, misses >= 1, hold-down >= 0")
        self._sites = [s.name for s in self.topology.sites]
        for i, l in enumerate(self.topology.links):
            pa, pb = self.ports.toward(l.a, l.b), self.ports.toward(l.b, l.a)
            link = _Link(l.a, l.b, {(l.a, pa): (l.b, pb), (l.b, pb): (l.a, pa)}, i % 2, 2 * l.delay_ms / 1000)
            self._links[l.key] = link
            self._at_port[(l.a, pa)] = self._at_port[(l.b, pb)] = link

    def due(self, site: str, round_no: int, connected: set[str]) -> list[int]:
        """The link ports ``site``'s switch probes in round ``round_no``: the ends of a
        link take turns, one round each, so each link gets one probe per interval; when
        the other end is not connected, this end probes every round."""
        out = []
        for (s, port), link in self._at_port.items():
            if s != site:
                continue
            other = link.b if site == link.a else link.a
            mine = (round_no + link.phase + (site == link.b)) % 2 == 0
            if mine or other not in connected:
                out.append(port)
        return sorted(out)

    def sent(self, site: str, ports: list[int], now: float, seq: int | None = None) -> None:
        for port in ports:
            link = self._at_port.get((site, port))
            if link is not None:
                link.pending.append(now)
                del link.pending[:-4 * self.misses]   # enough to count misses; bounded while down
                if seq is not None:
                    link.sent_at[seq] = now
                    while len(link.sent_at) > 4 * self.misses:
                        del link.sent_at[next(iter(link.sent_at))]

    def answered(self, site: str, port: int, origin: str, now: float, seq: int | None = None,
                 channel_s: float = 0.0) -> None:
        """A probe ``site`` sent out of ``port`` came back, returned by the switch port
        that ``origin`` (its source address) names. With its sequence number, its round
        trip less ``channel_s`` (the control channel's: out to the switch and back) is
        one sample of the link's delay."""
        link = self._at_port.get((site, port))
        where = probe_mac_origin(origin)
        if link is None or where is None:
            return
        at = link.sent_at.pop(seq, None) if seq is not None else None
        if at is not None:
            link.delays.append(max(0.0, (now - at - channel_s) * 1000 / 2))
            self.returned(at)
        index, far_port = where
        far = (self._sites[index] if index < len(self._sites) else f"site #{index}", far_port)
        expected = link.ends[(site, port)]
        if far != expected:
            link.miswired = (f"miswired: {site} port {port} reaches {far[0]} port {far[1]}, "
                             f"expected {expected[0]} port {expected[1]}")
            link.miswired_at = now
            return
        if link.answering_since is None:
            link.answering_since = now
        link.last_answer = now
        link.pending.clear()

    def returned(self, sent_at: float) -> None:
        """Something the controller sent at ``sent_at`` (a probe over any link, an echo to
        any switch) has come back and been read: the way back from the switches is
        working for what was sent until then, so a link whose probes of that time are
        still missing is silent itself."""
        self._heard_up_to = max(self._heard_up_to, sent_at)

    def unconfirmed(self, now: float) -> list[str]:
        """The ends of links that have missed their probes while nothing sent since came
        back from any link: ask their switches for an echo (see :meth:`returned`)."""
        out = set()
        for link in self._links.values():
            missed = self._missed(link, now)
            if link.status != DOWN and missed and self._heard_up_to < missed[-1]:
                out.update((link.a, link.b))
        return sorted(out)

    def _missed(self, link: _Link, now: float) -> list[float]:
        """When the probes ``link`` missed were sent, oldest first: a probe is missed once
        its round trip and one more interval have passed unanswered."""
        return [t for t in link.pending if now - t > link.rtt_s + self.interval_s]

    def port_down(self, site: str, port: int, reason: str) -> None:
        """The switch reported the port down: the link is down at once, and comes back
        only through probes and hold-down like any other."""
        link = self._at_port.get((site, port))
        if link is not None:
            link.status, link.reason = DOWN, reason
            link.answering_since = None

    def evaluate(self, now: float, connected: set[str]) -> list[Verdict]:
        """Judge every link now; the links whose liveness changed."""
        out = []
        for link in self._links.values():
            if not {link.a, link.b} & connected:
                link.judged_from = None
                link.pending.clear()
                continue  # nobody can probe it: nothing learnt
            if link.judged_from is None:
                link.judged_from = now + self.grace_s
            verdict = self._judge(link, now)
            if verdict is not None:
                out.append(verdict)
        return out

    def _judge(self, link: _Link, now: float) -> Verdict | None:
        # counting missed probes, not time, a controller too busy to send is not mistaken
        # for a dead link
        missed = self._missed(link, now)
        overdue = len(missed)
        if overdue:
            link.answering_since = None
        if link.miswired_at is not None and now - link.miswired_at > self.misses * self.interval_s + link.rtt_s:
            link.miswired, link.miswired_at = "", None   # no wrong answer lately: fixed
        if link.miswired:
            return self._set(link, DOWN, link.miswired)
        answering = link.answering_since is not None
        if answering and link.status == UNVERIFIED:
            return self._set(link, UP, "probes answered")
        if answering and link.status == DOWN and now - link.answering_since >= self.hold_down_s:
            return self._set(link, UP, f"probes answered for {self.hold_down_s:g} s")
        # and as long as the misses would take at the proper pace: a controller that fell
        # behind and sent a few rounds at once has not given the link its chance yet
        silent_for = now - (link.last_answer if link.last_answer is not None else link.judged_from - self.grace_s)
        if (overdue >= self.misses and silent_for > self.misses * self.interval_s + link.rtt_s
                and link.status != DOWN and now >= link.judged_from
                and self._heard_up_to >= missed[-1]):   # the way back works
            silent = (f"{overdue} probes unanswered, none for {(now - link.last_answer) * 1000:.0f} ms"
                      if link.last_answer is not None else "probes never answered")
            return self._set(link, DOWN, silent)
        return None

    def _set(self, link: _Link, status: str, reason: str) -> Verdict | None:
        if link.status == status and (status != DOWN or link.reason == reason):
            return None
        link.status, link.reason = status, reason
        return Verdict(link.a, link.b, status == UP, reason)

    def delays_ms(self) -> dict:
        """Each link's measured one-way delay (the smallest of its recent samples: queues
        only add), for the links with samples."""
        return {key: min(link.delays) for key, link in self._links.items() if link.delays}

    def state(self, a: str, b: str) -> tuple[str, str]:
        """``(status, reason)`` of the a—b link."""
        link = self._links[frozenset((a, b))]
        return link.status, link.reason
