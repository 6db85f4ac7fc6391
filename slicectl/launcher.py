"""`slicectl controller` (and a local etcd for a cluster of them) as child processes, for
the demo, benchmarks and tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import grpc

from slicectl.processes import free_port, terminate
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc


class ControllerProcess:
    """Start, kill -9, restart and stop a controller; talk to it over gRPC."""

    def __init__(self, topology: str, store: Path, log: Path, options: tuple[str, ...] = (), nice: int = 0,
                 env: dict[str, str] | None = None):
        """``options``: more `slicectl controller` options (``("--no-probes",)``, ...);
        ``nice``: run it at that niceness (below an emulated WAN on the same machine);
        ``env``: more environment variables (controller.failpoints)."""
        self.env = env
        self.topology, self.store, self.log_path = topology, Path(store), Path(log)
        self.options = tuple(options)
        self.nice = nice
        self.grpc, self.of = f"127.0.0.1:{free_port()}", free_port()
        self.metrics_url = f"http://127.0.0.1:{free_port()}/metrics"
        self.proc: subprocess.Popen | None = None
        self._log = None
        self.channel = None

    def start(self) -> "ControllerProcess":
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [*(("nice", "-n", str(self.nice)) if self.nice else ()),
             sys.executable, "-m", "slicectl.cli", "controller", "--topology", self.topology,
             "--store", str(self.store), "--grpc", self.grpc, "--openflow", f"127.0.0.1:{self.of}",
             "--metrics", self.metrics_url.removeprefix("http://").removesuffix("/metrics"), *self.options],
            stdout=self._log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            env={**os.environ, **self.env} if self.env else None)
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

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT): the process keeps its sockets and answers nothing, as a
        machine that hangs."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()
        self._close()

    def stop(self) -> None:
        terminate(self.proc)
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

