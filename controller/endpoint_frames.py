"""Frames an endpoint rule sends up to the controller: its host's DHCP request (answered
with the endpoint's address, controller.dhcp) and its ARP from another address than the
endpoint's (reported to the owner: the slice is degraded until it stops)."""
from __future__ import annotations

import logging
from typing import Callable

from os_ken.lib.packet import arp, packet, vlan

from controller.dhcp import Lease
from controller.dhcp import reply as dhcp_reply
from controller.lookups import Lookups
from slices.rules import cookie_slice

log = logging.getLogger("intercloud.openflow")
ENDPOINT_FRAMES_PER_S = 20   # DHCP and stray ARP a host may send the controller, per port


class EndpointFrames:
    """``tell``: hand a function to the owner; ``misaddressed(slice, label, address)``: what
    the owner is told of a host using the wrong address."""

    def __init__(self, lookups: Lookups, dhcp_lease_s: int, tell: Callable[[Callable[[], None]], None],
                 misaddressed: Callable[[str, str, str], None]):
        self.lookups, self.dhcp_lease_s = lookups, dhcp_lease_s
        self._tell, self._misaddressed = tell, misaddressed
        self._frame_budget: dict[tuple, list] = {}

    def handle(self, site: str, msg, now: float) -> bool:
        """A frame an endpoint rule sent up (its host's ARP from another address than the
        endpoint's, or its DHCP request): True if it was one, handled. At most
        ENDPOINT_FRAMES_PER_S per port are looked at; the rest are dropped here."""
        sid = cookie_slice(msg.cookie)
        port = msg.match.get("in_port")
        here = self.lookups.endpoint_index.get((sid, site, port)) if sid else None
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
                self._tell(lambda: self._misaddressed(info.slice, info.label, request.src_ip))
            return True
        if info.dhcp:
            answer = dhcp_reply(msg.data, Lease(info.address, info.prefix), self.dhcp_lease_s)
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
