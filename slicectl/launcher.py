"""`slicectl controller` (and a local etcd for a cluster of them) as child processes, for
the demo, benchmarks and tests."""
from __future__ import annotations

import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import grpc

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _terminate(proc: subprocess.Popen | None) -> None:
    """SIGTERM, and SIGKILL if it has not exited 10 s later."""
    if proc and proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class ControllerProcess:
    """Start, kill -9, restart and stop a controller; talk to it over gRPC."""

    def __init__(self, topology: str, store: Path, log: Path, options: tuple[str, ...] = ()):
        """``options``: more `slicectl controller` options (``("--no-probes",)``, ...)."""
        self.topology, self.store, self.log_path = topology, Path(store), Path(log)
        self.options = tuple(options)
        self.grpc, self.of = f"127.0.0.1:{free_port()}", free_port()
        self.metrics_url = f"http://127.0.0.1:{free_port()}/metrics"
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.channel = None

    def start(self) -> "ControllerProcess":
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "slicectl.cli", "controller", "--topology", self.topology,
             "--store", str(self.store), "--grpc", self.grpc, "--openflow", f"127.0.0.1:{self.of}",
             "--metrics", self.metrics_url.removeprefix("http://").removesuffix("/metrics"), *self.options],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        self.channel = grpc.insecure_channel(self.grpc)
        self.slices = pb_grpc.SliceServiceStub(self.channel)
        self.topology_api = pb_grpc.TopologyServiceStub(self.channel)
        return self

    def wait_switches(self, timeout: float = 60) -> float:
        """Block until every switch of the topology is connected and every link is in use
        (a link that came back is used after the controller's hold-down); return the
        seconds taken."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"the controller exited ({self.proc.returncode}); see {self.log_path}")
            try:
                t = self.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=2)
                if all(s.connected for s in t.sites) and all(l.up for l in t.links):
                    return time.monotonic() - started
            except grpc.RpcError:
                pass
            time.sleep(0.2)
        raise TimeoutError(f"switches did not all connect, or links did not all come up, within "
                           f"{timeout:g} s; see {self.log_path}")

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._close()

    def stop(self) -> None:
        _terminate(self.proc)
        self._close()

    def _close(self) -> None:
        if self.channel is not None:
            self.channel.close()
            self.channel = None
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "ControllerProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class EtcdProcess:
    """A single-member etcd (Debian's ``etcd-server``) on free loopback ports, its data in
    ``directory``: enough for a cluster of controllers on one machine, in tests and
    labs. Transactions may hold 10,000 operations (a CreateSlices of 1,000 slices)."""

    def __init__(self, directory: Path):
        self.directory = Path(directory)
        self.client_port, self.peer_port = free_port(), free_port()
        self.url = f"etcd://127.0.0.1:{self.client_port}"
        self.proc: subprocess.Popen | None = None
        self._log = None

    def start(self, timeout: float = 20) -> "EtcdProcess":
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("etcd is not installed: `sudo make setup` installs Debian's etcd-server")
        self.directory.mkdir(parents=True, exist_ok=True)
        self._log = open(self.directory / "etcd.log", "a")
        client, peer = f"http://127.0.0.1:{self.client_port}", f"http://127.0.0.1:{self.peer_port}"
        self.proc = subprocess.Popen(
            [binary, "--name", "slicing", "--data-dir", str(self.directory / "data"),
             "--listen-client-urls", client, "--advertise-client-urls", client,
             "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
             "--initial-cluster", f"slicing={peer}", "--max-txn-ops", "10000",
             "--max-request-bytes", "33554432", "--log-level", "warn"],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if self.proc.poll() is not None:
                raise RuntimeError(f"etcd exited ({self.proc.returncode}); see {self.directory / 'etcd.log'}")
            try:
                with socket.create_connection(("127.0.0.1", self.client_port), timeout=0.5):
                    return self
            except OSError:
                time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"etcd did not listen within {timeout:g} s; see {self.directory / 'etcd.log'}")

    def stop(self) -> None:
        _terminate(self.proc)
        if self._log is not None:
            self._log.close()
            self._log = None

    def __enter__(self) -> "EtcdProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
