"""The real controller process and its OpenFlow listener, without switches: connections
that come and go leave no threads behind."""
from __future__ import annotations

import socket
import struct
import time

from slicectl.launcher import ControllerProcess

CYCLES = 1000


def threads_of(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        return int(next(line for line in f if line.startswith("Threads:")).split()[1])


def wait_listening(port: int, seconds: float = 30.0) -> None:
    """Until the controller (starting on a busy machine takes a few seconds) accepts
    OpenFlow connections."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def test_1000_openflow_connect_close_cycles_leave_the_thread_count_where_it_was(tmp_path):
    with ControllerProcess("two-clouds", tmp_path / "store.db", tmp_path / "controller.log") as ctl:
        wait_listening(ctl.of)
        time.sleep(1.0)
        start = threads_of(ctl.proc.pid)
        for i in range(CYCLES):
            with socket.create_connection(("127.0.0.1", ctl.of), timeout=5) as s:
                s.sendall(struct.pack("!BBHI", 4, 0, 8, i + 1))     # OFPT_HELLO, OpenFlow 1.3
                s.recv(8)                                             # the controller's hello
        deadline = time.monotonic() + 10
        while threads_of(ctl.proc.pid) > start + 5 and time.monotonic() < deadline:
            time.sleep(0.2)
        end = threads_of(ctl.proc.pid)
    print(f"{CYCLES} OpenFlow connect/close cycles: {start} -> {end} threads")
    assert end <= start + 5, (start, end)
