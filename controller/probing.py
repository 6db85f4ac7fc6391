"""The controller's own measurements, each on a thread of its own: link probes
(controller.liveness: is every link alive?), SLA probes (controller.sla: does every slice
keep its latency bound?), echoes (the control channel's share of a probe's trip) and
every slice's counters (its current rates). Verdicts go to the owner thread; the figures
are kept in :class:`Measurements` for the read model."""
from __future__ import annotations

import logging
import secrets
import struct
import threading
import time
from collections import defaultdict, deque
from typing import Callable

from controller.liveness import LinkMonitor, parse_returned, probe_frame
from controller.settings import Settings
from controller.sla import SlaMonitor, parse_probe
from controller.sla import probe_frame as sla_frame
from controller.switches import SwitchChannels
from topologies.model import Topology
from topologies.ports import PortMap

log = logging.getLogger("intercloud.openflow")
ECHO_WINDOW = 10           # a control channel's delay: the smallest of its last 10 echoes
_ECHO = struct.Struct("!8sd")
_ECHO_MAGIC = b"ICSLECHO"


class Measurements:
    """The latest figures, each replaced whole by the thread that measures it (readers
    need no lock): slice id -> (ingress bit/s, dropped packets/s, over how many seconds);
    slice -> SLA status; link -> measured one-way delay (ms); whether SLA probes run."""

    def __init__(self, sla_monitored: bool = False) -> None:
        self.slice_rates: dict[int, tuple[float, float, float]] = {}
        self.sla_status: dict = {}
        self.link_delays_ms: dict = {}
        # SLA probes run here (--sla-interval, and this instance leads): a placed slice
        # not judged yet is "measuring", not "not monitored"
        self.sla_monitored = sla_monitored


class Probers:
    """The probing threads of one controller. ``leads``: whether this instance may send
    packets (a cluster's follower may not); ``tell``: hand a function to the owner (if
    this instance leads); ``sla_targets``: the probes to send, as the owner last built them."""

    def __init__(self, topology: Topology, ports: PortMap, channels: SwitchChannels, settings: Settings,
                 leads: Callable[[], bool], tell: Callable[[Callable[[], None]], None],
                 sla_targets: Callable[[], tuple], on_verdict, on_sla, on_measured):
        self.topology, self.ports, self.channels, self.settings = topology, ports, channels, settings
        self.leads, self._tell, self._sla_targets = leads, tell, sla_targets
        self._on_verdict, self._on_sla, self._on_measured = on_verdict, on_sla, on_measured
        # a cluster's follower does not probe: its slices are not being measured
        self.measurements = Measurements(sla_monitored=settings.sla is not None and leads())
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._echo_s: dict[str, deque] = defaultdict(lambda: deque(maxlen=ECHO_WINDOW))
        self._nonce, self._sla_nonce = secrets.randbits(64), secrets.randbits(64)
        self.monitor = self._new_monitor()
        self.sla = SlaMonitor(**settings.sla.monitor_options()) if settings.sla is not None else None
        self._slower: dict | None = None     # links last told to the owner as measured slow
        self._was_leading = leads()   # alone: leading from the start, nothing to learn afresh

    def _new_monitor(self) -> LinkMonitor | None:
        probes = self.settings.probes
        return LinkMonitor(self.topology, self.ports, **probes.monitor_options()) if probes is not None else None

    def start(self) -> None:
        jobs = [("link-probes", self._probe_every, self.monitor is not None),
                ("sla-probes", self._sla_every, self.sla is not None),
                ("slice-stats", self._stats_every, bool(self.settings.stats_interval_s))]
        for name, target, wanted in jobs:
            if wanted:
                thread = threading.Thread(target=target, name=name, daemon=True)
                thread.start()
                self._threads.append(thread)

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=2)

    def _leading_now(self) -> bool:
        """Whether to probe this round; liveness is learnt afresh when this instance starts
        leading: what it heard as a follower is not evidence."""
        leading = self.leads()
        if leading and not self._was_leading and self.settings.probes is not None:
            with self._lock:
                self.monitor = self._new_monitor()
        self._was_leading = leading
        return leading

    def port_down(self, site: str, port: int) -> None:
        """A switch reported a link port down: the monitor need not wait for probes."""
        if self.monitor is not None:
            with self._lock:
                self.monitor.port_down(site, port, f"{site} port {port} down")

    def packet_in(self, site: str, msg, now: float) -> bool:
        """A probe that came back (SLA or link): True if it was one, recorded."""
        if self.sla is not None:
            seq = parse_probe(msg.data, self._sla_nonce)
            if seq is not None:
                with self._lock:
                    self.sla.answered(seq, now, lambda t: (self._channel_s(t.src_site) + self._channel_s(t.dst_site)) / 2)
                return True
        if self.monitor is None:
            return False
        returned = parse_returned(msg.data, self._nonce)
        if returned is None:
            return False
        with self._lock:
            self.monitor.answered(site, msg.match["in_port"], returned[0], now, returned[1],
                                  channel_s=self._channel_s(site))
        return True

    def echo_reply(self, site: str, data: bytes) -> None:
        """An echo reply: if it is one of ours, the control channel's round trip."""
        if len(data) != _ECHO.size or data[:8] != _ECHO_MAGIC:
            return
        _magic, sent = _ECHO.unpack(data)
        with self._lock:
            self._echo_s[site].append(time.monotonic() - sent)
            if self.monitor is not None:
                self.monitor.returned(sent)

    def _probe_every(self) -> None:
        """Each interval, send the round's probes (controller.liveness: one end of every
        link, one packet-out per switch), and hand the links whose liveness changed to
        the owner."""
        interval, seq = self.monitor.interval_s, 0
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += interval
            if not self._leading_now():   # a SLAVE may not send packets (its take-over starts afresh)
                continue
            seq += 1
            frame = probe_frame(self._nonce, seq)
            dps = dict(self.channels.dps)
            for site, dp in dps.items():
                with self._lock:
                    ports = self.monitor.due(site, seq, set(dps))
                    self.monitor.sent(site, ports, time.monotonic(), seq)
                if ports:  # one packet-out: the copy that comes back on a port is that port's
                    ofp, parser = dp.ofproto, dp.ofproto_parser
                    dp.send_msg(parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                                                    actions=[parser.OFPActionOutput(p) for p in ports],
                                                    data=frame))
            with self._lock:
                verdicts = self.monitor.evaluate(time.monotonic(), set(self.channels.dps))
                ask = self.monitor.unconfirmed(time.monotonic())
            for site in ask:   # missed probes and nothing heard since: is it us or the links?
                dp = dps.get(site)
                if dp is not None:
                    self._echo(dp)
            for v in verdicts:
                self._tell(lambda v=v: self._on_verdict(v.a, v.b, v.up, v.reason))
            if time.monotonic() - next_at > interval:   # fell behind (a stalled machine): no burst
                next_at = time.monotonic()

    def _stats_every(self) -> None:
        """Each interval, every slice's counters from every switch (two requests a switch):
        the growth since the last reading is what the slice carries now (GetSlice)."""
        before, at = None, 0.0
        while not self._stop.wait(self.settings.stats_interval_s if before is not None else 1.0):
            now, totals = time.monotonic(), self.channels.all_counters()
            if before is not None and now > at:
                dt = now - at
                self.measurements.slice_rates = {
                    sid: ((c["ingress_bytes"] - before.get(sid, c)["ingress_bytes"]) * 8 / dt,
                          (c["meter_dropped_packets"] - before.get(sid, c)["meter_dropped_packets"]) / dt, dt)
                    for sid, c in totals.items()}
            before, at = totals, now

    def _channel_s(self, site: str) -> float:
        """The control channel's round trip to ``site``'s switch: the smallest recent echo."""
        echoes = self._echo_s.get(site)
        return min(echoes) if echoes else 0.0

    @staticmethod
    def _echo(dp) -> None:
        """An echo request carrying its send time (answered in :meth:`_echo_reply`)."""
        dp.send_msg(dp.ofproto_parser.OFPEchoRequest(dp, data=_ECHO.pack(_ECHO_MAGIC, time.monotonic())))

    def _sla_every(self) -> None:
        """Each interval: an echo to every switch (the control channel's share of a
        probe's trip), a probe into every slice between every two of its endpoint sites
        (past the monitor's budget of probes a second, the next share of them in turn),
        the slices' statuses judged; the owner hears of each verdict that changed, and of
        the links' measured delays."""
        interval, seq = self.sla.interval_s, 0
        next_at = time.monotonic()
        while not self._stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += interval
            self.measurements.sla_monitored = self._leading_now()
            if not self.measurements.sla_monitored:
                continue
            dps = dict(self.channels.dps)
            for dp in dps.values():
                self._echo(dp)
            targets = self._sla_targets()
            with self._lock:
                self.sla.watch(list(targets), time.monotonic())
                due = self.sla.due(list(targets))
            for t in due:
                dp = dps.get(t.src_site)
                if dp is None:
                    continue
                seq += 1
                ofp, parser = dp.ofproto, dp.ofproto_parser
                with self._lock:
                    self.sla.sent(t, seq, time.monotonic())
                dp.send_msg(parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                                                actions=[parser.OFPActionOutput(ofp.OFPP_TABLE)],
                                                data=sla_frame(t, self._sla_nonce, seq)))
            with self._lock:
                statuses, turned = self.sla.evaluate(time.monotonic(), time.time(), list(targets))
                links = self.monitor.delays_ms() if self.monitor is not None else {}
            self.measurements.sla_status = statuses
            self.measurements.link_delays_ms = links
            for name in turned:
                self._tell(lambda n=name, st=statuses[name]: self._on_sla(n, st))
            slower = self._slower_than_modelled(links)
            if slower != self._slower:
                self._slower = slower
                self._tell(lambda m=slower: self._on_measured(m))
            if time.monotonic() - next_at > interval:
                next_at = time.monotonic()

    def _slower_than_modelled(self, measured: dict) -> dict:
        """The links measured clearly slower than their model (by more than the SLA
        tolerance, 2 ms and 20 %: a switch's own forwarding time is not news), at their
        measured delay rounded to the millisecond (so small jitter changes nothing)."""
        out = {}
        for l in self.topology.links:
            d = measured.get(l.key)
            if d is not None and d > l.delay_ms * 1.2 + 2.0 + self.sla.tolerance_ms:
                out[l.key] = float(round(d))
        return out
