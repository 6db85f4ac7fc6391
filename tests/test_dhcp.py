"""The controller's DHCP answers (controller.dhcp): pure, frames in and out."""
from __future__ import annotations

from os_ken.lib.packet import dhcp, ethernet, ipv4, packet, udp

from controller.dhcp import DHCP_NAK, Lease, reply

CLIENT = "02:00:00:00:00:07"
LEASE = Lease("10.128.3.2", "10.128.3.0/24")


def request(kind: int, requested: str | None = None) -> bytes:
    options = [dhcp.option(dhcp.DHCP_MESSAGE_TYPE_OPT, bytes([kind]))]
    if requested:
        options.append(dhcp.option(dhcp.DHCP_REQUESTED_IP_ADDR_OPT, bytes(int(x) for x in requested.split("."))))
    p = packet.Packet()
    p.add_protocol(ethernet.ethernet(dst="ff:ff:ff:ff:ff:ff", src=CLIENT, ethertype=0x0800))
    p.add_protocol(ipv4.ipv4(src="0.0.0.0", dst="255.255.255.255", proto=17))
    p.add_protocol(udp.udp(src_port=68, dst_port=67))
    p.add_protocol(dhcp.dhcp(op=dhcp.DHCP_BOOT_REQUEST, chaddr=CLIENT, xid=0x1234, hlen=6,
                             options=dhcp.options(options)))
    p.serialize()
    return bytes(p.data)


def parsed(frame: bytes) -> tuple:
    p = packet.Packet(frame)
    d = p.get_protocol(dhcp.dhcp)
    opts = {o.tag: o.value for o in d.options.option_list}
    return p.get_protocol(ethernet.ethernet), p.get_protocol(udp.udp), d, opts


def test_a_discover_gets_the_endpoints_address_with_the_prefixs_mask_and_no_router():
    frame, word = reply(request(dhcp.DHCP_DISCOVER), LEASE, lease_s=600)
    eth, u, d, opts = parsed(frame)
    assert eth.dst == CLIENT and (u.src_port, u.dst_port) == (67, 68)
    assert d.op == dhcp.DHCP_BOOT_REPLY and d.xid == 0x1234 and d.yiaddr == "10.128.3.2"
    assert opts[dhcp.DHCP_MESSAGE_TYPE_OPT] == bytes([dhcp.DHCP_OFFER])
    assert opts[dhcp.DHCP_SUBNET_MASK_OPT] == bytes([255, 255, 255, 0])
    assert int.from_bytes(opts[dhcp.DHCP_IP_ADDR_LEASE_TIME_OPT], "big") == 600
    assert opts[dhcp.DHCP_SERVER_IDENTIFIER_OPT] == bytes([10, 128, 3, 254])
    assert dhcp.DHCP_GATEWAY_ADDR_OPT not in opts        # gateway-less: the slice is one subnet
    assert word == f"offer 10.128.3.2/24 to {CLIENT}"


def test_a_request_for_the_address_is_acked_for_another_nakked():
    frame, _ = reply(request(dhcp.DHCP_REQUEST, "10.128.3.2"), LEASE)
    assert parsed(frame)[3][dhcp.DHCP_MESSAGE_TYPE_OPT] == bytes([dhcp.DHCP_ACK])
    frame, word = reply(request(dhcp.DHCP_REQUEST, "192.168.1.50"), LEASE)
    _eth, _u, d, opts = parsed(frame)
    assert opts[dhcp.DHCP_MESSAGE_TYPE_OPT] == bytes([DHCP_NAK]) and d.yiaddr == "0.0.0.0"
    assert word == f"nak: it asked for 192.168.1.50, the endpoint's address is 10.128.3.2/24 to {CLIENT}"


def test_anything_else_gets_no_answer():
    assert reply(request(dhcp.DHCP_ACK), LEASE) is None
    assert reply(b"\x00" * 60, LEASE) is None
