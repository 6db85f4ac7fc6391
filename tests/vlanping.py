"""Ping across a VLAN from a Mininet host without a VLAN interface: this machine's kernel
has no 8021q module (``ip link add ... type vlan`` answers "Unknown device type") and no
tc vlan action, so tagged ARP and ICMP echo are written and read on a raw socket.

Run inside a host (standalone: no project imports)::

    python vlanping.py answer IFACE SECONDS VLAN:IP [VLAN:IP ...]
        answers ARP requests and echo requests for each IP on its VLAN; prints one line
        per answer: "answered arp|echo vlan V from SRC to DST"
    python vlanping.py ping IFACE VLAN SRC DST COUNT TIMEOUT
        ARP for DST from SRC on VLAN, then COUNT echo requests; prints "received N"
"""
from __future__ import annotations

import select
import socket
import struct
import sys
import time

ETH_P_ALL, ETH_P_8021Q, ETH_P_ARP, ETH_P_IP = 0x0003, 0x8100, 0x0806, 0x0800
SOL_PACKET, PACKET_AUXDATA, TP_STATUS_VLAN_VALID = 263, 8, 0x10
BROADCAST = b"\xff" * 6


def open_socket(iface: str) -> tuple[socket.socket, bytes]:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.bind((iface, 0))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    return s, s.getsockname()[4]


def receive(s: socket.socket, timeout: float) -> tuple[int | None, int, bytes, bytes, bytes] | None:
    """(vlan or None, ethertype, src mac, dst mac, payload) of the next frame, or None."""
    if not select.select([s], [], [], max(0.0, timeout))[0]:
        return None
    data, anc, _flags, addr = s.recvmsg(65535, socket.CMSG_SPACE(32))
    if addr[2] == socket.PACKET_OUTGOING:
        return (None, 0, b"", b"", b"")
    vlan = None
    for level, kind, value in anc:   # a tag the kernel took off into the packet's metadata
        if level == SOL_PACKET and kind == PACKET_AUXDATA:
            status, _l, _s, _m, _n, tci = struct.unpack_from("IIIHHH", value)
            if status & TP_STATUS_VLAN_VALID:
                vlan = tci & 0xFFF
    dst, src, eth = data[:6], data[6:12], struct.unpack_from("!H", data, 12)[0]
    payload = data[14:]
    if eth == ETH_P_8021Q:
        vlan = struct.unpack_from("!H", data, 14)[0] & 0xFFF
        eth, payload = struct.unpack_from("!H", data, 16)[0], data[18:]
    return vlan, eth, src, dst, payload


def frame(dst: bytes, src: bytes, vlan: int, eth: int, payload: bytes) -> bytes:
    return dst + src + struct.pack("!HHH", ETH_P_8021Q, vlan, eth) + payload


def arp(op: int, sha: bytes, spa: str, tha: bytes, tpa: str) -> bytes:
    return struct.pack("!HHBBH6s4s6s4s", 1, ETH_P_IP, 6, 4, op, sha, socket.inet_aton(spa), tha, socket.inet_aton(tpa))


def checksum(data: bytes) -> int:
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def ipv4_icmp(src: str, dst: str, kind: int, ident: int, seq: int, body: bytes) -> bytes:
    icmp = struct.pack("!BBHHH", kind, 0, 0, ident, seq) + body
    icmp = icmp[:2] + struct.pack("!H", checksum(icmp)) + icmp[4:]
    head = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(icmp), 0, 0, 64, 1, 0,
                       socket.inet_aton(src), socket.inet_aton(dst))
    return head[:10] + struct.pack("!H", checksum(head)) + head[12:] + icmp


def answer(iface: str, seconds: float, pairs: list[str]) -> None:
    s, mac = open_socket(iface)
    mine = {(int(v), ip) for v, ip in (p.split(":") for p in pairs)}
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        got = receive(s, end - time.monotonic())
        if got is None or got[0] is None:
            continue
        vlan, eth, src, _dst, p = got
        if eth == ETH_P_ARP and len(p) >= 28:
            op, sha, spa, _tha, tpa = struct.unpack_from("!6xH6s4s6s4s", p)
            spa, tpa = socket.inet_ntoa(spa), socket.inet_ntoa(tpa)
            if op == 1 and (vlan, tpa) in mine:
                s.send(frame(src, mac, vlan, ETH_P_ARP, arp(2, mac, tpa, sha, spa)))
                print(f"answered arp vlan {vlan} from {spa} to {tpa}", flush=True)
        elif eth == ETH_P_IP and len(p) >= 28 and p[9] == 1 and p[20] == 8:
            src_ip, dst_ip = socket.inet_ntoa(p[12:16]), socket.inet_ntoa(p[16:20])
            if (vlan, dst_ip) in mine:
                ident, seq = struct.unpack_from("!HH", p, 24)
                s.send(frame(src, mac, vlan, ETH_P_IP, ipv4_icmp(dst_ip, src_ip, 0, ident, seq, p[28:])))
                print(f"answered echo vlan {vlan} from {src_ip} to {dst_ip}", flush=True)


def ping(iface: str, vlan: int, src: str, dst: str, count: int, timeout: float) -> int:
    s, mac = open_socket(iface)
    end = time.monotonic() + timeout
    peer = None
    while peer is None and time.monotonic() < end:
        s.send(frame(BROADCAST, mac, vlan, ETH_P_ARP, arp(1, mac, src, b"\0" * 6, dst)))
        wait = time.monotonic() + 0.5
        while peer is None and time.monotonic() < min(wait, end):
            got = receive(s, min(wait, end) - time.monotonic())
            if got and got[0] == vlan and got[1] == ETH_P_ARP and len(got[4]) >= 28:
                op, sha, spa = struct.unpack_from("!6xH6s4s", got[4])
                if op == 2 and socket.inet_ntoa(spa) == dst:
                    peer = sha
    received = 0
    for seq in range(1, count + 1 if peer else 1):
        s.send(frame(peer, mac, vlan, ETH_P_IP, ipv4_icmp(src, dst, 8, 0x4D50, seq, b"mpls" * 8)))
        wait = time.monotonic() + 1.0
        while time.monotonic() < wait:
            got = receive(s, wait - time.monotonic())
            p = got[4] if got and got[0] == vlan and got[1] == ETH_P_IP else b""
            if len(p) >= 28 and p[20] == 0 and socket.inet_ntoa(p[12:16]) == dst \
                    and struct.unpack_from("!HH", p, 24) == (0x4D50, seq):
                received += 1
                break
    return received


if __name__ == "__main__":
    if sys.argv[1] == "answer":
        answer(sys.argv[2], float(sys.argv[3]), sys.argv[4:])
    else:
        _, _, iface, vlan, src, dst, count, timeout = sys.argv
        print(f"received {ping(iface, int(vlan), src, dst, int(count), float(timeout))}", flush=True)
