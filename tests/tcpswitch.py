"""A fake OpenFlow 1.3 switch over TCP, bytes built by hand: it completes the handshake
(hello, features, port descriptions) as a real switch does and then answers only what
it is told to. For attack tests against the real controller process without Mininet: a
switch that goes silent, a squatter on another switch's dpid, a spoofed port status."""
from __future__ import annotations

import socket
import struct
import threading
import time

OFP_VERSION = 4
HELLO, ERROR, ECHO_REQUEST, ECHO_REPLY, FEATURES_REQUEST, FEATURES_REPLY = 0, 1, 2, 3, 5, 6
FLOW_MOD, GROUP_MOD, METER_MOD = 14, 15, 29
PORT_STATUS, MULTIPART_REQUEST, MULTIPART_REPLY, BARRIER_REQUEST, BARRIER_REPLY = 12, 18, 19, 20, 21
MP_PORT_DESC = 13
PPS_LINK_DOWN, PPS_LIVE = 1, 4
PPR_MODIFY = 2


def message(msg_type: int, xid: int, body: bytes = b"") -> bytes:
    return struct.pack("!BBHI", OFP_VERSION, msg_type, 8 + len(body), xid) + body


def port(no: int, up: bool = True) -> bytes:
    """An ofp_port (64 bytes): number, a made-up MAC and name, up (live) or link down."""
    state = PPS_LIVE if up else PPS_LINK_DOWN
    return struct.pack("!I4x6s2x16sIIIIIIII", no, bytes([2, 0, 0, 0, no >> 8, no & 0xFF]),
                       f"p{no}".encode(), 0, state, 0, 0, 0, 0, 0, 0)


def port_status(no: int, up: bool) -> bytes:
    return message(PORT_STATUS, 0, struct.pack("!B7x", PPR_MODIFY) + port(no, up))


class TcpSwitch:
    """One connection as switch ``dpid`` with ``ports`` (number -> up). ``answers``: what
    it answers after the handshake ("all": barriers and multipart requests with empty
    replies, "none": nothing but echoes, "reads": everything until it is sent a change,
    nothing after). :meth:`connect` returns once the controller
    has asked for the port descriptions and been answered."""

    def __init__(self, of_port: int, dpid: int, ports: dict[int, bool] | None = None, answers: str = "all",
                 source: str = "127.0.0.1"):
        self.of_port, self.dpid, self.ports, self.answers = of_port, dpid, dict(ports or {}), answers
        self.source = source     # another loopback address (127.0.0.2) is another machine to the controller
        self.sock: socket.socket | None = None
        self.received: list[int] = []          # message types, in arrival order
        self.handshaken = threading.Event()
        self.closed = threading.Event()

    def connect(self, timeout: float = 10.0) -> "TcpSwitch":
        """Connect and complete the handshake (TimeoutError if the controller does not:
        a refused switch's connection is closed, :attr:`closed`)."""
        self.sock = socket.create_connection(("127.0.0.1", self.of_port), timeout=timeout,
                                             source_address=(self.source, 0))
        self.sock.sendall(message(HELLO, 1))
        threading.Thread(target=self._serve, daemon=True, name=f"tcpswitch-{self.dpid:x}").start()
        if not self.handshaken.wait(timeout) and not self.closed.is_set():
            raise TimeoutError("the controller did not finish the OpenFlow handshake")
        return self

    def send(self, data: bytes) -> None:
        self.sock.sendall(data)

    def close(self) -> None:
        if self.sock is not None:
            try:
                self.sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            self.sock.close()
        self.closed.wait(2)

    def _serve(self) -> None:
        buf = b""
        try:
            while data := self.sock.recv(65536):
                buf += data
                while len(buf) >= 8 and len(buf) >= struct.unpack_from("!H", buf, 2)[0]:
                    length = struct.unpack_from("!H", buf, 2)[0]
                    msg, buf = buf[:length], buf[length:]
                    self._answer(msg)
        except OSError:
            pass
        finally:
            self.closed.set()

    def _answer(self, msg: bytes) -> None:
        _v, msg_type, _len, xid = struct.unpack_from("!BBHI", msg)
        self.received.append(msg_type)
        if self.answers == "reads" and msg_type in (FLOW_MOD, GROUP_MOD, METER_MOD):
            self.answers = "none"      # it confirms nothing from the first change on
        if msg_type == ECHO_REQUEST:
            self.send(message(ECHO_REPLY, xid, msg[8:]))
        elif msg_type == FEATURES_REQUEST:
            self.send(message(FEATURES_REPLY, xid, struct.pack("!QIBB2xII", self.dpid, 256, 254, 0, 0x4F, 0)))
        elif msg_type == MULTIPART_REQUEST and struct.unpack_from("!H", msg, 8)[0] == MP_PORT_DESC:
            body = b"".join(port(no, up) for no, up in sorted(self.ports.items()))
            self.send(message(MULTIPART_REPLY, xid, struct.pack("!HH4x", MP_PORT_DESC, 0) + body))
            self.handshaken.set()
        elif self.answers in ("all", "reads") and msg_type == BARRIER_REQUEST:
            self.send(message(BARRIER_REPLY, xid))
        elif self.answers in ("all", "reads") and msg_type == MULTIPART_REQUEST:
            self.send(message(MULTIPART_REPLY, xid, msg[8:12] + b"\0" * 4))


def wait_for(check, seconds: float = 10.0, every: float = 0.05):
    """``check()``'s first true value within ``seconds`` (else the last, false one)."""
    deadline = time.monotonic() + seconds
    while True:
        got = check()
        if got or time.monotonic() > deadline:
            return got
        time.sleep(every)
