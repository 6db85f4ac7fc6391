"""A TCP relay between one Open vSwitch bridge and the controller that can make the
switch look hung: while ``hung`` is set, the switch's barrier and multipart replies
(OpenFlow types 21 and 19) are swallowed, everything else passes (echoes keep the
connection up, packet-ins keep its links probed). Open vSwitch itself cannot be made to
hang one bridge while staying connected."""
from __future__ import annotations

import socket
import struct
import threading

OFPT_MULTIPART_REPLY, OFPT_BARRIER_REPLY = 19, 21


class OpenFlowProxy:
    def __init__(self, controller: tuple[str, int]):
        self.controller = controller
        self.hung = False
        self.swallowed = 0
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self._sockets: list[socket.socket] = [self._listener]
        self._stop = threading.Event()
        threading.Thread(target=self._accept, daemon=True, name="of-proxy").start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                switch, _ = self._listener.accept()
            except OSError:
                return
            ctl = socket.create_connection(self.controller)
            self._sockets += [switch, ctl]
            threading.Thread(target=self._pump, args=(switch, ctl, self._unless_hung), daemon=True).start()
            threading.Thread(target=self._pump, args=(ctl, switch, None), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, keep) -> None:
        """Copy src to dst until either closes; with ``keep``, message by message."""
        buf = b""
        try:
            while data := src.recv(65536):
                if keep is None:
                    dst.sendall(data)
                    continue
                buf += data
                while len(buf) >= 8 and len(buf) >= struct.unpack_from("!H", buf, 2)[0]:
                    length = struct.unpack_from("!H", buf, 2)[0]
                    msg, buf = buf[:length], buf[length:]
                    if keep(msg):
                        dst.sendall(msg)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                s.close()

    def _unless_hung(self, msg: bytes) -> bool:
        if self.hung and msg[1] in (OFPT_BARRIER_REPLY, OFPT_MULTIPART_REPLY):
            self.swallowed += 1
            return False
        return True

    def close(self) -> None:
        self._stop.set()
        for s in self._sockets:
            try:
                s.close()
            except OSError:
                pass
