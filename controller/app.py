"""The os-ken OpenFlow 1.3 application: a thin adapter between os-ken and the controller
that :func:`controller.wiring.build` made (as Faucet's app is around its valve).

It owns nothing. OpenFlow events come in and go to the part whose job they are: switch
connections and replies to the switches' channels (controller.switches), switch and port
events to the owner thread (controller.core, only while this instance leads:
controller.leadership), returned probes to the probers (controller.probing), endpoints'
DHCP and ARP to controller.endpoint_frames. os-ken runs on its native hub (threads, no
eventlet monkey-patching), so the gRPC server shares the process. os-ken constructs the
app itself: controller.main passes the wiring as a keyword argument of
``AppManager.instantiate_apps``.
"""
from __future__ import annotations

import logging
import time

from os_ken.base import app_manager
from os_ken.controller import ofp_event
from os_ken.controller.handler import CONFIG_DISPATCHER, DEAD_DISPATCHER, MAIN_DISPATCHER, set_ev_cls
from os_ken.ofproto import ofproto_v1_3

from controller.wiring import Wiring

log = logging.getLogger("intercloud.openflow")


class SlicingApp(app_manager.OSKenApp):
    OFP_VERSIONS = [ofproto_v1_3.OFP_VERSION]

    def __init__(self, *args, wiring: Wiring, **kwargs):
        super().__init__(*args, **kwargs)
        _end_senders_with_their_connections()
        self.wiring = wiring
        self.topology = wiring.topology
        self.channels, self.controller = wiring.channels, wiring.controller
        self.leadership, self.probers, self.frames = wiring.leadership, wiring.probers, wiring.frames
        self.site_of = self.channels.site_of
        self._was_live: set[tuple[int, int]] = set()   # (dpid, port) once reported OFPPS_LIVE
        self.channels.on_late = lambda site, problem: self._tell(
            lambda: self.controller.switch_confirmed(site, problem))

    def _tell(self, fn) -> None:
        self.leadership.tell(fn)

    # -- switch events -------------------------------------------------------------------------

    @set_ev_cls(ofp_event.EventOFPStateChange, [MAIN_DISPATCHER, DEAD_DISPATCHER])
    def _state_change(self, ev):
        dp = ev.datapath
        site = self.site_of.get(dp.id)
        if ev.state == MAIN_DISPATCHER:
            if site is None:
                log.warning("switch dpid 0x%016x is not in topology %s: ignored (known dpids: %s)",
                            dp.id, self.topology.name, ", ".join(f"{d:#x}" for d in sorted(self.site_of)))
                return
            if not self.channels.claim(site, dp):
                return
            known = self.channels.dps.get(site)
            if known is not None and known is not dp:
                self.channels.refuse_second(site, known, dp)
                return
            self._check_ports(site, dp)
            self._was_live |= {(dp.id, no) for no, p in (getattr(dp, "ports", {}) or {}).items()
                               if getattr(p, "state", 0) & dp.ofproto.OFPPS_LIVE}
            self.channels.attach(site, dp)
            log.info("switch %s (dpid 0x%016x) connected", site, dp.id)
            if self.leadership.cluster is not None:
                self.leadership.send_role(dp)
            ports = _port_states(dp)
            self._tell(lambda: self.controller.switch_connected(site))
            self._tell(lambda: self.controller.ports_read(site, ports))
        elif ev.state == DEAD_DISPATCHER and site is not None and self.channels.dps.get(site) is dp:
            self.channels.detach(site, dp)
            self.leadership.switch_gone(site)
            log.info("switch %s disconnected", site)
            self._tell(lambda: self.controller.switch_disconnected(site))

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
        if not up:
            self.probers.port_down(site, desc.port_no)
        self._tell(lambda: self.controller.port_changed(site, desc.port_no, up))

    @set_ev_cls(ofp_event.EventOFPPacketIn, MAIN_DISPATCHER)
    def _packet_in(self, ev):
        msg = ev.msg
        now = time.monotonic()
        site = self.site_of.get(msg.datapath.id)
        if site is None:
            return
        if not self.frames.handle(site, msg, now):
            self.probers.packet_in(site, msg, now)

    @set_ev_cls(ofp_event.EventOFPEchoReply, MAIN_DISPATCHER)
    def _echo_reply(self, ev):
        site = self.site_of.get(ev.msg.datapath.id)
        if site is not None:
            self.probers.echo_reply(site, ev.msg.data or b"")

    # -- replies the switches' channels wait for --------------------------------------------------

    @set_ev_cls(ofp_event.EventOFPRoleReply, MAIN_DISPATCHER)
    def _role_reply(self, ev):
        msg = ev.msg
        site = self.site_of.get(msg.datapath.id)
        if site is not None:
            self.leadership.role_confirmed(site, msg.role, msg.datapath.ofproto)
        self.channels.reply(msg.datapath.id, msg.xid, None, last=True)

    @set_ev_cls(ofp_event.EventOFPBarrierReply, MAIN_DISPATCHER)
    def _barrier(self, ev):
        since = self.channels.answered_barrier(ev.msg.datapath.id, ev.msg.xid)
        site = self.site_of.get(ev.msg.datapath.id)
        if since is not None:
            log.warning("switch %s answers again after %.1f s: reconciling it", site, time.monotonic() - since)
            self._tell(lambda: self.controller.switch_connected(site))

    @set_ev_cls([ofp_event.EventOFPFlowStatsReply, ofp_event.EventOFPGroupDescStatsReply,
                 ofp_event.EventOFPMeterConfigStatsReply, ofp_event.EventOFPMeterStatsReply],
                MAIN_DISPATCHER)
    def _multipart(self, ev):
        msg = ev.msg
        more = msg.flags & msg.datapath.ofproto.OFPMPF_REPLY_MORE
        self.channels.reply(msg.datapath.id, msg.xid, msg.body, last=not more)

    @set_ev_cls(ofp_event.EventOFPErrorMsg, [MAIN_DISPATCHER, CONFIG_DISPATCHER])
    def _error(self, ev):
        msg = ev.msg
        text = f"OpenFlow error type {msg.type} code {msg.code}"
        log.warning("switch %s: %s (xid %s)", self.site_of.get(msg.datapath.id), text, msg.xid)
        self.channels.error(msg.datapath.id, msg.xid, text)


def _port_states(dp) -> dict[int, bool]:
    """Port number -> up, as the switch described its ports while connecting: read again
    on every connection, so no port status heard on an earlier one (forged, or stale)
    outlives it."""
    ofp = dp.ofproto
    return {no: not (p.state & ofp.OFPPS_LINK_DOWN) and not (p.config & ofp.OFPPC_PORT_DOWN)
            for no, p in (getattr(dp, "ports", {}) or {}).items() if p is not None}


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
