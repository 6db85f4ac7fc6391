"""The os-ken OpenFlow 1.3 application: the wire between the model and the switches.

It owns nothing of the model. Switch events (connected, gone, port status) are posted to
the owner thread (controller.core); the owner calls back through the :class:`Wire`
methods here to send rule changes (each batch closed by a barrier per switch, waited
for), and to read a switch's flows, groups and meters for an audit. os-ken runs on its
native hub (threads, no eventlet monkey-patching), so the gRPC server shares the
process. Started by :func:`controller.main.run` (``slicectl controller``).
"""
from __future__ import annotations

import logging
import secrets
import struct
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.lib.packet import arp, packet, vlan
from os_ken.ofproto import ofproto_v1_3

from controller import ofwire
from controller.core import ABSENT, REFUSED, UNCONFIRMED, SliceController, SwitchProblem
from controller.liveness import LinkMonitor, parse_returned, probe_frame
from controller.dhcp import Lease
from controller.dhcp import reply as dhcp_reply
from controller.sla import SlaMonitor, parse_probe
from controller.sla import probe_frame as sla_frame
from proto.defaults import LINK_HOLD_DOWN_S
from slices.compiler import Changes, change_phases
from slices.rules import (COOKIE_APP, COOKIE_APP_MASK, COOKIE_SLICE_MASK, PRIO_INGRESS, TABLE_CLASSIFY,
                          cookie_slice, meter_id, meter_slice, slice_cookie)

log = logging.getLogger("intercloud.openflow")
BARRIER_TIMEOUT_S = 3.0    # a switch silent this long is not waited for again until it answers
READ_TIMEOUT_S = 10.0
ECHO_WINDOW = 10           # a control channel's delay: the smallest of its last 10 echoes
_ECHO = struct.Struct("!8sd")
_ECHO_MAGIC = b"ICSLECHO"
FOLLOW_S = 0.5             # how often a cluster's follower looks for changes in the shared state
ENDPOINT_FRAMES_PER_S = 20   # DHCP and stray ARP a host may send the controller, per port

# Set by controller.main before os-ken instantiates the app (os-ken creates apps itself).
SETTINGS: dict = {}


@dataclass
class _Waiter:
    done: threading.Event = field(default_factory=threading.Event)
    body: list = field(default_factory=list)
    lost: bool = False   # the switch went away before it answered


class SlicingApp(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _end_senders_with_their_connections()
        self.topology = SETTINGS["topology"]
        self.site_of = {s.dpid: s.name for s in self.topology.sites}
        self.dps: dict[str, object] = {}
        self._waiters: dict[tuple[int, int], _Waiter] = {}
        self._errors: dict[int, list[tuple[int, str]]] = defaultdict(list)  # dpid -> (xid, text)
        self._lock = threading.Lock()
        self._was_live: set[tuple[int, int]] = set()   # (dpid, port) once reported OFPPS_LIVE
        # connected switches that stopped answering (site -> since when): nobody waits for
        # them until one of their barrier replies shows they are back
        self._unresponsive: dict[str, float] = {}
        self.metrics = SETTINGS.get("metrics")    # controller.metrics.Metrics, or None
        self.controller = SliceController(self.topology, SETTINGS["store"], self,
                                          hold_down_s=SETTINGS.get("hold_down_s", LINK_HOLD_DOWN_S),
                                          **SETTINGS.get("engine", {}))
        for problem in self.controller.restore_problems:
            log.error(problem)
        if self.metrics is not None:
            self.controller.on_repair = self.metrics.audit_repairs.inc
            self.metrics.watch(self.controller)
        # a cluster's instance (controller.cluster) changes the network only while it leads
        self.cluster = SETTINGS.get("cluster")
        self._led = 0          # the generation whose take-over has completed; 0: not leading
        self._roles: dict[str, str] = {}   # site -> the role its switch last confirmed to us
        self._audit_interval = SETTINGS.get("audit_interval")
        self.monitor: LinkMonitor | None = None
        self._probing = threading.Event()
        self._prober: threading.Thread | None = None
        probes = self._probe_settings = SETTINGS.get("probes")
        if probes is not None:
            self.monitor = LinkMonitor(self.topology, self.controller.ports, **probes)
            self.controller.links_by_probes = True
            self._nonce = secrets.randbits(64)
            self._prober = threading.Thread(target=self._probe_every, name="link-probes", daemon=True)
            self._prober.start()
        self.sla: SlaMonitor | None = None
        self._frame_budget: dict[tuple, list] = {}
        self._slower: dict | None = None     # links last told to the owner as measured slow
        self.controller.dhcp_lease_s = SETTINGS.get("dhcp_lease_s", self.controller.dhcp_lease_s)
        self._echo_s: dict[str, deque] = defaultdict(lambda: deque(maxlen=ECHO_WINDOW))
        self._sla_thread: threading.Thread | None = None
        sla = SETTINGS.get("sla")
        if sla is not None:
            self.controller.reroute_on_sla = sla.pop("reroute", True)
            self.sla = SlaMonitor(**sla)
            self._sla_nonce = secrets.randbits(64)
            self._sla_thread = threading.Thread(target=self._sla_every, name="sla-probes", daemon=True)
            self._sla_thread.start()
        self._stats_thread: threading.Thread | None = None
        self._stats_interval = SETTINGS.get("stats_interval_s") or 0
        if self._stats_interval:
            self._stats_thread = threading.Thread(target=self._stats_every, name="slice-stats", daemon=True)
            self._stats_thread.start()
        self.controller.start(audit_interval=None if self.cluster else self._audit_interval)
        self._follower: threading.Thread | None = None
        if self.cluster is not None:
            self.cluster.on_elected, self.cluster.on_demoted = self._elected, self._demoted
            self._follower = threading.Thread(target=self._follow, name="cluster-follow", daemon=True)
            self._follower.start()
            self.cluster.run()
        on_ready = SETTINGS.get("on_ready")
        if on_ready:
            on_ready(self.controller, self.leads)

    def close(self):
        self._probing.set()
        if self.cluster is not None:
            self.cluster.stop()      # leaving: a follower takes over at once
        for thread in (self._prober, self._sla_thread, self._stats_thread, self._follower):
            if thread is not None:
                thread.join(timeout=2)
        self.controller.stop()
        on_close = SETTINGS.get("on_close")
        if on_close:
            on_close()
        super().close()

    # -- a cluster of controllers (controller.cluster) -----------------------------------------

    def leads(self) -> bool:
        """Whether this instance may change the network: it runs alone, or it is the
        cluster's leader, its lease alive, and its take-over complete."""
        return self.cluster is None or (self._led != 0 and self._led == self.cluster.generation
                                        and self.cluster.leading())

    def _tell(self, fn) -> None:
        """Hand a switch event to the owner, if this instance acts on the network."""
        if self.leads():
            self.controller.post(fn)

    def _send_role(self, dp) -> None:
        """A switch connecting to a cluster's instance learns its role: MASTER from the
        leader, SLAVE (which may not change it) from the others."""
        ofp = dp.ofproto
        if self.leads():
            dp.send_msg(dp.ofproto_parser.OFPRoleRequest(dp, ofp.OFPCR_ROLE_MASTER, self._led))
        elif self.cluster.leader_generation:
            dp.send_msg(dp.ofproto_parser.OFPRoleRequest(dp, ofp.OFPCR_ROLE_SLAVE, self.cluster.leader_generation))

    def _set_roles(self, role: int, generation: int, wait: bool) -> list[str]:
        """Ask every connected switch to take this instance as ``role``; with ``wait``,
        the switches that did not confirm within BARRIER_TIMEOUT_S."""
        sent = []
        for site, dp in dict(self.dps).items():
            msg = dp.ofproto_parser.OFPRoleRequest(dp, role, generation)
            sent.append((site, dp, msg, self._request(dp, msg)))
        failed = []
        for site, dp, msg, w in sent:
            if wait and not (w.done.wait(BARRIER_TIMEOUT_S) and not w.lost and not self._error_of(dp.id, msg.xid)):
                failed.append(site)
            self._forget(dp, [(msg.xid, w)])
        return failed

    def _error_of(self, dpid: int, xid: int) -> str:
        with self._lock:
            return next((text for x, text in self._errors.get(dpid, []) if x == xid), "")

    def _elected(self, generation: int) -> None:
        """This instance leads now (on the cluster's thread): adopt the state the last
        leader stored, become MASTER of every switch with the new generation (the old
        leader, if alive, is demoted by the switches themselves), then audit every switch
        — rules that are right are left alone — and learn which ports are down."""
        started = time.monotonic()
        self.controller.call(self.controller.reload, timeout=120)
        refused = self._set_roles(ofproto_v1_3.OFPCR_ROLE_MASTER, generation, wait=True)
        if refused:
            log.error("switches %s did not confirm this leader as MASTER; their audit will retry",
                      ", ".join(sorted(refused)))
        if self._probe_settings is not None:
            with self._lock:   # liveness is learnt afresh: what a follower heard is not evidence
                self.monitor = LinkMonitor(self.topology, self.controller.ports, **self._probe_settings)
        self._led = generation
        for site, dp in dict(self.dps).items():
            self.controller.post(lambda site=site: self.controller.switch_connected(site))
            ofp = dp.ofproto
            for no, port in (getattr(dp, "ports", {}) or {}).items():
                if port.state & ofp.OFPPS_LINK_DOWN or port.config & ofp.OFPPC_PORT_DOWN:
                    self.controller.post(lambda site=site, no=no: self.controller.port_changed(site, no, False))
        self.controller.start_audits(self._audit_interval)
        log.warning("took over as the cluster's leader (generation %d) in %.2f s: %d slices, %d switches MASTER",
                    generation, time.monotonic() - started, len(self.controller.engine.slices),
                    len(self.dps) - len(refused))

    def _demoted(self, why: str) -> None:
        """This instance must not change the network any more: it stops auditing and
        tells the switches it is SLAVE now (if it still reaches them; the next leader's
        role request demotes it anyway)."""
        generation, self._led = self._led, 0
        self.controller.stop_audits()
        if generation:
            self._set_roles(ofproto_v1_3.OFPCR_ROLE_SLAVE, generation, wait=False)

    def _follow(self) -> None:
        """A follower keeps its model as the leader stored it, for reads (any instance
        answers them) and a quick take-over: whenever etcd's revision moves, it reloads."""
        seen = None
        while not self._probing.wait(FOLLOW_S):
            if self.leads():
                seen = None
                continue
            self._claim_slave()
            try:
                revision = self.cluster.etcd.revision()
                if revision != seen:
                    self.controller.call(self.controller.reload, timeout=120)
                    seen = revision
            except Exception as e:   # etcd away or slow: the next round tries again
                log.warning("following the cluster's state: %s", e)

    def _claim_slave(self) -> None:
        """Ask to be SLAVE of every switch that has not confirmed it: a switch that
        connected before this follower knew of any leader got no role request then, and
        would keep it EQUAL (told everything, fenced by nothing)."""
        for site, dp in dict(self.dps).items():
            if self._roles.get(site) != "slave":
                self._send_role(dp)

    def roles(self) -> dict[str, str]:
        """Site -> the OpenFlow role its switch confirmed to this instance ("master",
        "slave"), for the switches of a cluster's instance that answered a role request."""
        return dict(self._roles)

    @set_ev_cls(ofp_event.EventOFPRoleReply, MAIN_DISPATCHER)
    def _role_reply(self, ev):
        msg = ev.msg
        site = self.site_of.get(msg.datapath.id)
        if site is not None:
            ofp = msg.datapath.ofproto
            self._roles[site] = {ofp.OFPCR_ROLE_MASTER: "master", ofp.OFPCR_ROLE_SLAVE: "slave"}.get(msg.role, "equal")
        self._resolve(msg.datapath.id, msg.xid, None, last=True)

    # -- switch events -------------------------------------------------------------------------

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _state_change(self, ev):
        dp = ev.datapath
        site = self.site_of.get(dp.id)
        if ev.state == MAIN_DISPATCHER:
            if site is None:
                log.warning("switch dpid %016x is not in topology %s: ignored (known dpids: %s)",
                            dp.id, self.topology.name, ", ".join(f"{d:x}" for d in sorted(self.site_of)))
                return
            known = self.dps.get(site)
            if known is not None and known is not dp:
                self._refuse_second(site, known, dp)
                return
            self._check_ports(site, dp)
            self._was_live |= {(dp.id, no) for no, p in (getattr(dp, "ports", {}) or {}).items()
                               if getattr(p, "state", 0) & dp.ofproto.OFPPS_LIVE}
            self.dps[site] = dp
            with self._lock:   # it has just answered the handshake; if it hangs again, a barrier says so
                self._unresponsive.pop(site, None)
            log.info("switch %s (dpid %016x) connected", site, dp.id)
            if self.cluster is not None:
                self._send_role(dp)
            self._tell(lambda: self.controller.switch_connected(site))
        elif ev.state == DEAD_DISPATCHER and site is not None and self.dps.get(site) is dp:
            del self.dps[site]
            self._roles.pop(site, None)
            with self._lock:
                self._unresponsive.pop(site, None)
            self._release(dp.id)
            log.info("switch %s disconnected", site)
            self._tell(lambda: self.controller.switch_disconnected(site))

    def _refuse_second(self, site: str, known, dp) -> None:
        """A connection claims the dpid of a switch that is connected: an impostor, or the
        same switch back before its old connection was seen to die. The connected one
        keeps the site (its rules, its slices); the newcomer is closed. The connected one
        is then asked for a barrier: if it does not answer within BARRIER_TIMEOUT_S its
        connection is closed too, so the switch's next attempt is accepted."""
        log.error("switch %s: a second connection (%s) claims dpid %016x while the switch is connected "
                  "(%s): refused", site, _address(dp), dp.id, _address(known))
        _close(dp)

        def challenge():
            barrier = known.ofproto_parser.OFPBarrierRequest(known)
            w = self._request(known, barrier)
            answered = w.done.wait(BARRIER_TIMEOUT_S) and not w.lost
            self._forget(known, [(barrier.xid, w)])
            if not answered and self.dps.get(site) is known:
                log.error("switch %s: the connected switch did not answer for %g s either: its connection is "
                          "closed, the next one for dpid %016x will be accepted", site, BARRIER_TIMEOUT_S, dp.id)
                _close(known)
        threading.Thread(target=challenge, name=f"challenge-{site}", daemon=True).start()

    def _check_ports(self, site: str, dp) -> None:
        """Report a switch whose ports do not match the topology file (mis-cabled, or
        another topology's emulation)."""
        s = self.topology.site(site)
        expected = set(range(1, s.hosts + 1))
        expected |= {self.controller.ports.toward(site, l.other(site)) for l in self.topology.links_of(site)}
        present = set(getattr(dp, "ports", {}) or {})
        missing = sorted(expected - present)
        if present and missing:
            log.warning("switch %s lacks ports %s that topology %s expects", site, missing, self.topology.name)

    @set_ev_cls(ofp_event.EventOFPPortStatus, MAIN_DISPATCHER)
    def _port_status(self, ev):
        msg = ev.msg
        dp, ofp = msg.datapath, msg.datapath.ofproto
        site = self.site_of.get(dp.id)
        if site is None:
            return
        desc = msg.desc
        live = bool(desc.state & ofp.OFPPS_LIVE)
        if live:
            self._was_live.add((dp.id, desc.port_no))
        up = (msg.reason != ofp.OFPPR_DELETE and not (desc.state & ofp.OFPPS_LINK_DOWN)
              and not (desc.config & ofp.OFPPC_PORT_DOWN)
              # a port that was live and is no longer (e.g. Open vSwitch's BFD on it stopped
              # hearing the other end) is up, but frames vanish on it: a silent failure
              and (live or (dp.id, desc.port_no) not in self._was_live))
        if not up and self.monitor is not None:
            with self._lock:
                self.monitor.port_down(site, desc.port_no, f"{site} port {desc.port_no} down")
        self._tell(lambda: self.controller.port_changed(site, desc.port_no, up))

    # -- link probes (controller.liveness) ------------------------------------------------------

    def _probe_every(self) -> None:
        """Each interval, send the round's probes (controller.liveness: one end of every
        link, one packet-out per switch), and hand the links whose liveness changed to
        the owner."""
        interval, seq = self.monitor.interval_s, 0
        next_at = time.monotonic()
        while not self._probing.wait(max(0.0, next_at - time.monotonic())):
            next_at += interval
            if not self.leads():   # a SLAVE may not send packets (its take-over starts afresh)
                continue
            seq += 1
            frame = probe_frame(self._nonce, seq)
            dps = dict(self.dps)
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
                verdicts = self.monitor.evaluate(time.monotonic(), set(self.dps))
                ask = self.monitor.unconfirmed(time.monotonic())
            for site in ask:   # missed probes and nothing heard since: is it us or the links?
                dp = dps.get(site)
                if dp is not None:
                    self._echo(dp)
            for v in verdicts:
                self._tell(lambda v=v: self.controller.link_verdict(v.a, v.b, v.up, v.reason))
            if time.monotonic() - next_at > interval:   # fell behind (a stalled machine): no burst
                next_at = time.monotonic()

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg = ev.msg
        now = time.monotonic()
        site = self.site_of.get(msg.datapath.id)
        if site is None:
            return
        if self._endpoint_frame(site, msg, now):
            return
        if self.sla is not None:
            seq = parse_probe(msg.data, self._sla_nonce)
            if seq is not None:
                with self._lock:
                    self.sla.answered(seq, now, lambda t: (self._channel_s(t.src_site) + self._channel_s(t.dst_site)) / 2)
                return
        if self.monitor is None:
            return
        returned = parse_returned(msg.data, self._nonce)
        if returned is not None:
            with self._lock:
                self.monitor.answered(site, msg.match["in_port"], returned[0], now, returned[1],
                                      channel_s=self._channel_s(site))

    # -- endpoints' hosts: DHCP and wrong addresses (controller.dhcp) --------------------------

    def _endpoint_frame(self, site: str, msg, now: float) -> bool:
        """A frame an endpoint rule sent up (its host's ARP from another address than the
        endpoint's, or its DHCP request): True if it was one, handled. At most
        ENDPOINT_FRAMES_PER_S per port are looked at; the rest are dropped here."""
        sid = cookie_slice(msg.cookie)
        port = msg.match.get("in_port")
        here = self.controller.endpoint_index.get((sid, site, port)) if sid else None
        if not here:
            return False
        budget = self._frame_budget.get((site, port))
        if budget is None or now - budget[0] >= 1.0:
            budget = self._frame_budget[(site, port)] = [now, 0]
        budget[1] += 1
        if budget[1] > ENDPOINT_FRAMES_PER_S:
            return True
        pkt = packet.Packet(msg.data)
        tag = pkt.get_protocol(vlan.vlan)
        vid = tag.vid if tag is not None else None
        info = next((x for x in here if (x.vlan or None) == vid), None)
        if info is None:
            return True
        request = pkt.get_protocol(arp.arp)
        if request is not None:
            if request.src_ip not in ("0.0.0.0", info.address):
                self._tell(lambda: self.controller.endpoint_misaddressed(info.slice, info.label,
                                                                                   request.src_ip))
            return True
        if info.dhcp:
            answer = dhcp_reply(msg.data, Lease(info.address, info.prefix), self.controller.dhcp_lease_s)
            if answer is not None:
                frame, word = answer
                dp = msg.datapath
                ofp, parser = dp.ofproto, dp.ofproto_parser
                actions = ([parser.OFPActionPushVlan(0x8100), parser.OFPActionSetField(vlan_vid=vid | ofp.OFPVID_PRESENT)]
                           if vid else []) + [parser.OFPActionOutput(port)]
                dp.send_msg(parser.OFPPacketOut(dp, buffer_id=ofp.OFP_NO_BUFFER, in_port=ofp.OFPP_CONTROLLER,
                                                actions=actions, data=frame))
                log.info("DHCP for slice %s at %s: %s", info.slice, info.label, word)
        return True

    # -- per-slice rates ------------------------------------------------------------------------

    def _stats_every(self) -> None:
        """Each interval, every slice's counters from every switch (two requests a switch):
        the growth since the last reading is what the slice carries now (GetSlice)."""
        before, at = None, 0.0
        while not self._probing.wait(self._stats_interval if before is not None else 1.0):
            now, totals = time.monotonic(), self.all_counters()
            if before is not None and now > at:
                dt = now - at
                self.controller.slice_rates = {
                    sid: ((c["ingress_bytes"] - before.get(sid, c)["ingress_bytes"]) * 8 / dt,
                          (c["meter_dropped_packets"] - before.get(sid, c)["meter_dropped_packets"]) / dt, dt)
                    for sid, c in totals.items()}
            before, at = totals, now

    # -- live SLA (controller.sla) --------------------------------------------------------------

    def _channel_s(self, site: str) -> float:
        """The control channel's round trip to ``site``'s switch: the smallest recent echo."""
        echoes = self._echo_s.get(site)
        return min(echoes) if echoes else 0.0

    @set_ev_cls(ofp_event.EventOFPEchoReply, MAIN_DISPATCHER)
    def _echo_reply(self, ev):
        data = ev.msg.data or b""
        site = self.site_of.get(ev.msg.datapath.id)
        if site is None or len(data) != _ECHO.size or data[:8] != _ECHO_MAGIC:
            return
        _magic, sent = _ECHO.unpack(data)
        with self._lock:
            self._echo_s[site].append(time.monotonic() - sent)
            if self.monitor is not None:
                self.monitor.returned(sent)

    @staticmethod
    def _echo(dp) -> None:
        """An echo request carrying its send time (answered in :meth:`_echo_reply`)."""
        dp.send_msg(dp.ofproto_parser.OFPEchoRequest(dp, data=_ECHO.pack(_ECHO_MAGIC, time.monotonic())))

    def _sla_every(self) -> None:
        """Each interval: an echo to every switch (the control channel's share of a
        probe's trip), a probe into every slice between every two of its endpoint sites,
        the slices' statuses judged; the owner hears of each verdict that changed, and of
        the links' measured delays."""
        interval, seq = self.sla.interval_s, 0
        next_at = time.monotonic()
        while not self._probing.wait(max(0.0, next_at - time.monotonic())):
            next_at += interval
            if not self.leads():
                continue
            dps = dict(self.dps)
            for dp in dps.values():
                self._echo(dp)
            targets = self.controller.sla_targets
            with self._lock:
                self.sla.watch(list(targets), time.monotonic())
            for t in targets:
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
            self.controller.sla_status = statuses
            self.controller.link_delays_ms = links
            for name in turned:
                self._tell(lambda n=name, st=statuses[name]: self.controller.sla_turned(n, st))
            slower = self._slower_than_modelled(links)
            if slower != self._slower:
                self._slower = slower
                self._tell(lambda m=slower: self.controller.links_measured(m))
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

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier(self, ev):
        self._resolve(ev.msg.datapath.id, ev.msg.xid, None, last=True)
        site = self.site_of.get(ev.msg.datapath.id)
        with self._lock:
            since = self._unresponsive.pop(site, None)
        if since is not None:
            log.warning("switch %s answers again after %.1f s: reconciling it", site, time.monotonic() - since)
            self._tell(lambda: self.controller.switch_connected(site))

    def _hung(self, site: str) -> SwitchProblem | None:
        """The problem of a switch known not to answer, after nudging it with a barrier
        (its reply will say it is back); None for a switch that answers."""
        with self._lock:
            since = self._unresponsive.get(site)
        if since is None:
            return None
        dp = self.dps.get(site)
        if dp is not None:
            dp.send_msg(dp.ofproto_parser.OFPBarrierRequest(dp))
        return SwitchProblem(UNCONFIRMED, f"not answering the controller for {time.monotonic() - since:.0f} s")

    def _gave_up_on(self, site: str, what: str) -> None:
        with self._lock:
            first = site not in self._unresponsive
            self._unresponsive.setdefault(site, time.monotonic())
        if first:
            log.error("switch %s: %s; not waiting for it until it answers again", site, what)

    @set_ev_cls([ofp_event.EventOFPFlowStatsReply, ofp_event.EventOFPGroupDescStatsReply,
                 ofp_event.EventOFPMeterConfigStatsReply, ofp_event.EventOFPMeterStatsReply],
                MAIN_DISPATCHER)
    def _multipart(self, ev):
        msg = ev.msg
        more = msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE
        self._resolve(msg.datapath.id, msg.xid, msg.body, last=not more)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [MAIN_DISPATCHER, CONFIG_DISPATCHER])
    def _error(self, ev):
        msg = ev.msg
        text = f"OpenFlow error type {msg.type} code {msg.code}"
        log.warning("switch %s: %s (xid %s)", self.site_of.get(msg.datapath.id), text, msg.xid)
        with self._lock:
            self._errors[msg.datapath.id].append((msg.xid, text))
        self._resolve(msg.datapath.id, msg.xid, None, last=True)  # a failed request gets no reply

    def _resolve(self, dpid: int, xid: int, body, last: bool) -> None:
        with self._lock:
            w = self._waiters.get((dpid, xid))
        if w is None:
            return
        if body:
            w.body.extend(body)
        if last:
            w.done.set()

    def _release(self, dpid: int) -> None:
        """A switch's connection died: whoever waits for its answers stops waiting now (a
        read or push in hand would otherwise hold the owner thread for its whole timeout)."""
        with self._lock:
            waiters = [w for (d, _x), w in self._waiters.items() if d == dpid]
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
        """Send ``changes`` make-before-break, phase by phase (:func:`change_phases`): each
        switch's share of a phase closed by a barrier, every barrier of a phase waited for
        before the next one goes out. A switch that is absent, refuses or does not answer
        gets nothing more of this push; the others go on. Returns the problems by switch."""
        problems: dict[str, SwitchProblem] = {}
        sent = False
        for phase in change_phases(changes):
            if sent and changes.drain_s and any(op == "delete" for items in phase.values() for op, _e in items):
                time.sleep(changes.drain_s)  # let frames on the old paths arrive first
                sent = False
            pending = {}
            for site, items in sorted(phase.items()):
                if site in problems:
                    continue
                dp = self.dps.get(site)
                if dp is None:
                    problems[site] = SwitchProblem(ABSENT, "switch not connected")
                    continue
                first_xid = None
                for op, e in items:
                    if self.metrics is not None:
                        self.metrics.flow_mods.labels(op).inc()
                    for msg in ofwire.to_messages(dp, e, op):
                        with self._lock:
                            dp.set_xid(msg)
                        first_xid = msg.xid if first_xid is None else first_xid
                        dp.send_msg(msg)
                barrier = dp.ofproto_parser.OFPBarrierRequest(dp)
                pending[site] = (dp, first_xid, barrier, self._request(dp, barrier))
                sent = True
            phase_sent = time.monotonic()
            for site, (dp, first_xid, barrier, w) in pending.items():
                if site in self._unresponsive:   # sent, but nobody waits for it
                    problems[site] = self._hung(site)
                elif not w.done.wait(BARRIER_TIMEOUT_S):
                    problems[site] = SwitchProblem(UNCONFIRMED, f"no barrier reply within {BARRIER_TIMEOUT_S:g} s")
                    self._gave_up_on(site, problems[site].detail)
                elif w.lost:
                    problems[site] = SwitchProblem(ABSENT, "switch disconnected before confirming")
                elif self.metrics is not None:
                    self.metrics.barrier_seconds.observe(time.monotonic() - phase_sent)
                self._forget(dp, [(barrier.xid, w)])
                with self._lock:
                    errors = [t for x, t in self._errors.pop(dp.id, []) if x >= first_xid]
                if errors:
                    problems[site] = SwitchProblem(REFUSED, "; ".join(sorted(set(errors))))
        return problems

    def read(self, site: str):
        dp = self.dps.get(site)
        if dp is None or self._hung(site):
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
        if dp is None or self._hung(site):
            return {}
        ofp, parser = dp.ofproto, dp.ofproto_parser
        cookie, mask = (slice_cookie(slice_id), COOKIE_SLICE_MASK) if slice_id else (COOKIE_APP, COOKIE_APP_MASK)
        flows = parser.OFPFlowStatsRequest(dp, table_id=TABLE_CLASSIFY, out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY,
                                           cookie=cookie, cookie_mask=mask, match=parser.OFPMatch())
        meter = parser.OFPMeterStatsRequest(dp, meter_id=meter_id(slice_id) if slice_id else ofp.OFPM_ALL)
        waiters = [(r, self._request(dp, r)) for r in (flows, meter)]
        for _r, w in waiters:
            w.done.wait(READ_TIMEOUT_S)
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


def _release_sender(dp) -> None:
    """Let a dead connection's threads end. os-ken's native hub cannot kill a thread, and
    a datapath's sender waits on its queue forever once the connection is gone, so the
    connection's own thread, joining it, never ends either - nor is the switch ever
    reported gone: two threads leaked per connection (300 connect/close cycles: 13 -> 613
    threads). A last, empty send with close_socket=True wakes the sender, which then
    ends as it does on any close."""
    q = getattr(dp, "send_q", None)
    if q is not None:
        try:
            q.put_nowait((b"", True))
        except Exception:   # a full queue: its sender is awake anyway
            pass


def _end_senders_with_their_connections() -> None:
    """Wrap os-ken's receive loop (once per process) so that when a connection's
    receiving ends, its sender is released (:func:`_release_sender`)."""
    from os_ken.controller import controller as osken

    receive = osken.Datapath._recv_loop
    if getattr(receive, "releases_sender", False):
        return

    def receive_then_release(dp):
        try:
            receive(dp)
        finally:
            _release_sender(dp)
    receive_then_release.releases_sender = True
    osken.Datapath._recv_loop = receive_then_release


_ZERO = {"ingress_packets": 0, "ingress_bytes": 0, "meter_packets": 0, "meter_bytes": 0, "meter_dropped_packets": 0}
