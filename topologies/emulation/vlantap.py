"""An 802.1Q subinterface in userspace, for kernels without the 8021q module.

Usage (inside a host's namespace): ``python vlantap.py PARENT VLAN INNER``

A virtual server on a shared host sees its slice as an interface of its own whose frames
leave the host tagged with the slice endpoint's VLAN (``ip link add link eth0 name v37 type
vlan id 37``). These machines have no 8021q (``Unknown device type``), no tc ``vlan``
action and no VLAN-filtering bridge, so the tag is added and removed here: INNER is one end
of a veth pair whose other end holds the address; every frame leaving INNER goes out of
PARENT with tag VLAN, and every frame arriving at PARENT with tag VLAN goes into INNER
untagged. Frames of other VLANs and untagged ones are left to the host. The kernel strips
802.1Q tags into packet metadata before raw sockets see a frame; the tag is read from
PACKET_AUXDATA, as the delay relay does (:mod:`topologies.emulation.relay`).

It prints ``ready`` once both sockets are bound, and dies with its parent. Only the
standard library: it runs in any Mininet host.
"""
from __future__ import annotations

import ctypes
import select
import signal
import socket
import struct
import sys

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 1 << 4
AUXDATA = struct.Struct("IIIHHHH")  # struct tpacket_auxdata
PR_SET_PDEATHSIG = 1


def open_port(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.bind((ifname, 0))
    return s


def vlan_of(ancdata: list) -> int | None:
    """The VLAN id the kernel stripped from a received frame, or None if it had none."""
    for level, kind, payload in ancdata:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= AUXDATA.size:
            status, _len, _snap, _mac, _net, tci, _tpid = AUXDATA.unpack_from(payload)
            if status & TP_STATUS_VLAN_VALID:
                return tci & 0x0FFF
    return None


def tagged(frame: bytes, vlan: int) -> bytes:
    return frame[:12] + struct.pack("!HH", 0x8100, vlan) + frame[12:]


def run(parent: str, vlan: int, inner: str) -> None:
    out, into = open_port(parent), open_port(inner)
    print("ready", flush=True)
    space = socket.CMSG_SPACE(AUXDATA.size)
    while True:
        for s in select.select([out, into], [], [])[0]:
            frame, anc, _flags, addr = s.recvmsg(65535, space)
            if addr[2] == PACKET_OUTGOING:
                continue   # our own sends, seen again
            if s is into:
                out.send(tagged(frame, vlan))
            elif vlan_of(anc) == vlan:
                into.send(frame)
            elif frame[12:14] == b"\x81\x00" and struct.unpack_from("!H", frame, 14)[0] & 0x0FFF == vlan:
                into.send(frame[:12] + frame[16:])   # a tag the kernel left in place


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    try:
        ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    run(argv[0], int(argv[1]), argv[2])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
