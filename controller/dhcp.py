"""DHCP for endpoints without a given address: the controller answers on the endpoint's port.

A slice spec may leave an endpoint's ``ip`` out; the engine then assigns one from the
slice's prefix. The host learns it by DHCP: its DISCOVER and REQUEST (UDP to port 67)
never enter the slice - the endpoint's switch hands them to the controller (a rule of the
slice, :mod:`slices.compiler`) - and the controller answers OFFER and ACK out of that
same port, with the endpoint's address, the prefix's mask, no router (a slice is one
gateway-less subnet) and the configured lease. A REQUEST for any other address gets a
NAK, so a host that kept an old lease starts over. Nothing crosses to other endpoints,
and only the endpoint's own address is ever offered on its port.

Pure: bytes in, bytes out (os-ken's packet library). :mod:`controller.app` does the I/O.
"""
from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address

from netaddr import IPNetwork
from os_ken.lib.packet import dhcp, ethernet, ipv4, packet, udp

from proto.defaults import DHCP_LEASE_S
SERVER_PORT, CLIENT_PORT = 67, 68
_BROADCAST_IP, _BROADCAST_MAC = "255.255.255.255", "ff:ff:ff:ff:ff:ff"
DHCP_NAK = 6                       # RFC 2132 message type (os-ken names the others)
SERVER_MAC = "06:1d:ff:ff:ff:fe"   # locally administered: the slice's virtual DHCP server


@dataclass(frozen=True)
class Lease:
    """What an endpoint's host is told: its address in the slice's prefix."""

    address: str
    prefix: str          # the slice's, e.g. 10.128.0.0/24

    @property
    def server(self) -> str:
        """The virtual server's address: the prefix's last host address."""
        return str(IPNetwork(self.prefix)[-2])


def reply(frame: bytes, lease: Lease, lease_s: int = DHCP_LEASE_S) -> tuple[bytes, str] | None:
    """The answer to a DHCP request in ``frame`` (an Ethernet frame from the endpoint's
    port) and a word for the log, or None when the frame is not a DHCP DISCOVER or
    REQUEST."""
    pkt = packet.Packet(frame)
    eth, req = pkt.get_protocol(ethernet.ethernet), pkt.get_protocol(dhcp.dhcp)
    if eth is None or req is None or req.op != dhcp.DHCP_BOOT_REQUEST:
        return None
    opts = {o.tag: o.value for o in (req.options.option_list if req.options else [])}
    kind = opts.get(dhcp.DHCP_MESSAGE_TYPE_OPT, b"")[:1]
    if kind == bytes([dhcp.DHCP_DISCOVER]):
        answer, word = dhcp.DHCP_OFFER, "offer"
    elif kind == bytes([dhcp.DHCP_REQUEST]):
        wanted = opts.get(dhcp.DHCP_REQUESTED_IP_ADDR_OPT)
        asked = str(IPv4Address(wanted)) if wanted and len(wanted) == 4 else req.ciaddr
        answer, word = (dhcp.DHCP_ACK, "ack") if asked == lease.address else (DHCP_NAK, f"nak: it asked for {asked}, the endpoint's address is")
    else:
        return None
    net = IPNetwork(lease.prefix)
    options = [dhcp.option(dhcp.DHCP_MESSAGE_TYPE_OPT, bytes([answer])),
               dhcp.option(dhcp.DHCP_SERVER_IDENTIFIER_OPT, IPv4Address(lease.server).packed)]
    if answer != DHCP_NAK:
        options += [dhcp.option(dhcp.DHCP_SUBNET_MASK_OPT, net.netmask.packed),
                    dhcp.option(dhcp.DHCP_IP_ADDR_LEASE_TIME_OPT, lease_s.to_bytes(4, "big")),
                    dhcp.option(dhcp.DHCP_RENEWAL_TIME_OPT, (lease_s // 2).to_bytes(4, "big")),
                    dhcp.option(dhcp.DHCP_REBINDING_TIME_OPT, (lease_s * 7 // 8).to_bytes(4, "big"))]
    body = dhcp.dhcp(op=dhcp.DHCP_BOOT_REPLY, chaddr=req.chaddr, xid=req.xid, flags=req.flags,
                     hlen=6, yiaddr=lease.address if answer != DHCP_NAK else "0.0.0.0",
                     siaddr=lease.server, options=dhcp.options(options))
    out = packet.Packet()
    out.add_protocol(ethernet.ethernet(dst=eth.src, src=SERVER_MAC, ethertype=0x0800))
    out.add_protocol(ipv4.ipv4(src=lease.server, dst=_BROADCAST_IP, proto=17, ttl=64))
    out.add_protocol(udp.udp(src_port=SERVER_PORT, dst_port=CLIENT_PORT))
    out.add_protocol(body)
    out.serialize()
    return bytes(out.data), f"{word} {lease.address}/{net.prefixlen} to {eth.src}"
