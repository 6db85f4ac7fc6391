"""Small helpers for the processes the clients start (controllers, etcd members)."""
from __future__ import annotations

import socket
import subprocess


def free_port() -> int:
    """A loopback TCP port free right now (tests and launchers never use fixed ports)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def terminate(proc: subprocess.Popen | None) -> None:
    """SIGTERM, and SIGKILL if it has not exited 10 s later."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
