"""A userspace delay line between two Ethernet interfaces, for kernels without netem.

Usage: ``python -m topologies.emulation.relay IFACE_A IFACE_B DELAY_MS [CONTROL_FILE]``

SIGUSR1 switches to a reference delay of REFERENCE_DELAY_MS and SIGUSR2 back to
``DELAY_MS``: the fidelity check measures the same path at the reference delay to learn
what the switches around the link cost. (Not zero: a frame due at once waits for this
process to wake up, a frame due later does not, and the reference must be released the
same way as the real thing.) Frames already queued keep their release time.

SIGHUP re-reads CONTROL_FILE, written by fault injection (``slicectl wan fault``): a line
``loss FRACTION`` drops that share of the frames arriving from now on (``loss 1`` is a
silent failure: the ports stay up, nothing crosses), ``loss 0`` or no such line ends it;
a line ``delay MS`` delays frames arriving from now on by MS instead of ``DELAY_MS`` (a
longer fibre route, a congested transport network), no such line restores ``DELAY_MS``.

Every frame that arrives on one interface leaves the other one ``DELAY_MS`` later. The
arrival time is the kernel's receive timestamp (SO_TIMESTAMPNS), so time spent waiting in
this process is not added to the delay. Frames are released in order; a constant delay
per direction makes a FIFO per direction exact, so no heap is needed.

The kernel strips 802.1Q tags into packet metadata before raw sockets see a frame; the
tag comes back from PACKET_AUXDATA and is re-inserted, so VLAN-tagged slices cross the
relay intact. Only the standard library is used: this file also runs under Debian's
Python when Mininet loads a ``--custom`` topology.
"""
from __future__ import annotations

import collections
import ctypes
import os
import random
import select
import signal
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_VLAN_TPID_VALID = 1 << 6
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_SNDBUFFORCE, SO_RCVBUFFORCE = 32, 33  # not exported by the socket module
PR_SET_PDEATHSIG = 1
AUXDATA = struct.Struct("IIIHHHH")  # struct tpacket_auxdata
TIMESPEC = struct.Struct("ll")
ANCILLARY = socket.CMSG_SPACE(AUXDATA.size) + socket.CMSG_SPACE(TIMESPEC.size)
MAX_FRAME = 65535
SPIN_S = 0.0001  # busy-wait this close to a release time
REFERENCE_DELAY_MS = 1.0
BATCH = 64  # frames read from one socket before looking at the clock again
SOCKET_BUFFER = 8 * 1024 * 1024


def open_port(ifname: str) -> socket.socket:
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    for opt in (SO_RCVBUFFORCE, SO_SNDBUFFORCE):
        try:
            s.setsockopt(socket.SOL_SOCKET, opt, SOCKET_BUFFER)
        except OSError:
            pass
    s.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    s.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
    s.bind((ifname, 0))
    s.setblocking(False)
    return s


def frame_and_time(data: bytes, ancdata: list, now: float) -> tuple[bytes, float]:
    """Re-insert a stripped VLAN tag and return (frame, kernel arrival time)."""
    arrived = now
    for level, kind, payload in ancdata:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(payload) >= AUXDATA.size:
            status, _len, _snap, _mac, _net, tci, tpid = AUXDATA.unpack_from(payload)
            if status & TP_STATUS_VLAN_VALID:
                tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID and tpid else 0x8100
                data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
        elif level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(payload) >= TIMESPEC.size:
            sec, nsec = TIMESPEC.unpack_from(payload)
            arrived = sec + nsec * 1e-9
    return data, arrived


def read_control(path: str | None) -> tuple[float, float | None]:
    """``(loss fraction, delay in ms or None)`` a control file asks for: ``(0, None)``,
    no fault, when it is absent or says nothing."""
    loss, delay_ms = 0.0, None
    if not path:
        return loss, delay_ms
    try:
        for line in open(path, encoding="ascii"):
            words = line.split()
            if len(words) == 2 and words[0] == "loss":
                loss = min(1.0, max(0.0, float(words[1])))
            elif len(words) == 2 and words[0] == "delay":
                delay_ms = max(0.0, float(words[1]))
    except (OSError, ValueError, UnicodeDecodeError):
        return 0.0, None  # unreadable or garbled: no fault rather than a dead relay
    return loss, delay_ms


def relay(if_a: str, if_b: str, delay: list[float], loss: list[float] | None = None) -> None:
    """Forward frames between the two interfaces, ``delay[0]`` seconds late, dropping the
    share ``loss[0]`` of them (lists, so a signal handler can change them)."""
    loss = loss if loss is not None else [0.0]
    chance = random.Random()
    a, b = open_port(if_a), open_port(if_b)
    peer = {a.fileno(): b, b.fileno(): a}
    sock = {a.fileno(): a, b.fileno(): b}
    line: dict[int, collections.deque] = {a.fileno(): collections.deque(), b.fileno(): collections.deque()}
    watched = [a.fileno(), b.fileno()]
    while True:
        now = time.time()
        due_next = None
        for fd, queue in line.items():  # release what is due, in order
            out = peer[fd]
            while queue and queue[0][0] <= now:
                try:
                    out.send(queue.popleft()[1])
                except (BlockingIOError, OSError):
                    pass  # full device queue or oversized frame: the wire drops it too
            if queue and (due_next is None or queue[0][0] < due_next):
                due_next = queue[0][0]
        if due_next is None:
            timeout = None
        else:
            # Sleep in select (microsecond timeouts, on a high-resolution timer with no
            # slack for a real-time task) until SPIN_S before the deadline, then poll
            # without sleeping: waking up costs tens of microseconds.
            wait = due_next - time.time()
            timeout = wait - SPIN_S if wait > SPIN_S else 0
        ready, _w, _x = select.select(watched, [], [], timeout)
        if not ready and due_next is not None:
            continue
        now = time.time()
        for fd in ready:
            s, queue = sock[fd], line[fd]
            for _ in range(BATCH):
                try:
                    data, anc, _flags, addr = s.recvmsg(MAX_FRAME, ANCILLARY)
                except (BlockingIOError, InterruptedError):
                    break
                if addr[2] == PACKET_OUTGOING:
                    continue  # our own transmission, seen by the tap
                if loss[0] and (loss[0] >= 1.0 or chance.random() < loss[0]):
                    continue  # an injected fault: the frame never arrives
                frame, arrived = frame_and_time(data, anc, now)
                queue.append((arrived + delay[0], frame))


def _die_with_parent() -> None:
    """Exit when the emulation that started us dies, even by SIGKILL."""
    try:
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    except OSError:
        pass


RT_PRIORITY = 10


def _realtime() -> None:
    """Run at a modest real-time priority: a release due now must not wait behind other
    processes. The relay sleeps in select when nothing is due, and the kernel's RT
    throttling (sched_rt_runtime_us) keeps the rest of the machine alive regardless."""
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(RT_PRIORITY))
    except (OSError, AttributeError):
        pass  # not permitted: run at normal priority


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) not in (3, 4):
        print(__doc__.splitlines()[2].strip(), file=sys.stderr)
        return 2
    if_a, if_b, delay_ms = args[0], args[1], float(args[2])
    control = args[3] if len(args) == 4 else None
    _die_with_parent()
    _realtime()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.signal(signal.SIGINT, lambda *_: sys.exit(0))
    delay, loss = [delay_ms / 1000.0], [0.0]
    signal.signal(signal.SIGUSR1, lambda *_: delay.__setitem__(0, REFERENCE_DELAY_MS / 1000.0))
    signal.signal(signal.SIGUSR2, lambda *_: delay.__setitem__(0, delay_ms / 1000.0))

    def reread(*_) -> None:
        loss[0], changed_ms = read_control(control)
        delay[0] = (delay_ms if changed_ms is None else changed_ms) / 1000.0
    reread()
    signal.signal(signal.SIGHUP, reread)
    if os.getppid() == 1:
        return 0  # parent already gone
    try:
        relay(if_a, if_b, delay, loss)
    except OSError as e:
        print(f"relay {if_a}<->{if_b}: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
