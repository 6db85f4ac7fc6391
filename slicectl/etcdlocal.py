"""A local etcd for tests, labs and benchmarks: one member or several (Debian's
``etcd-server``), each on free loopback ports with its own data directory under the
directory given, started and stopped only by whoever made it. Several members make a
real etcd cluster (raft among them), so losing one member, or the majority, can be
tried on one machine. With ``tls`` it runs as production etcd does: clients and peers
over TLS, client certificates required (slicectl.certs.make_etcd makes them)."""
from __future__ import annotations

import json
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from slicectl.processes import free_port, terminate

MAX_TXN_OPS, MAX_REQUEST_BYTES = 10_000, 33_554_432   # a CreateSlices of 1,000 slices is one transaction


@dataclass(frozen=True)
class EtcdTLS:
    """The PEM files of a TLS etcd: the CA, every member's certificate (serverAuth and
    clientAuth: see slicectl.certs.make_etcd) and the one its clients present."""
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path

    @classmethod
    def make(cls, directory: Path) -> "EtcdTLS":
        """The files in ``directory``, made there (openssl) if they are not yet."""
        from slicectl.certs import make_etcd
        return cls(**make_etcd(directory))

    def context(self) -> ssl.SSLContext:
        """A client's TLS context: trusts the CA, presents the client certificate."""
        ctx = ssl.create_default_context(cafile=str(self.ca))
        ctx.load_cert_chain(str(self.client_cert), str(self.client_key))
        return ctx


@dataclass(frozen=True)
class Timing:
    """etcd's raft timing (milliseconds; None: etcd's defaults, 100 and 1000). A new etcd
    leader is elected 1-2 election timeouts after the last one died."""
    heartbeat_ms: int | None = None
    election_ms: int | None = None

    def flags(self) -> list[str]:
        return ((["--heartbeat-interval", str(self.heartbeat_ms)] if self.heartbeat_ms else []) +
                (["--election-timeout", str(self.election_ms)] if self.election_ms else []))


class EtcdMember:
    """One etcd process: ``name``, its client and peer ports, its data in ``data``."""

    def __init__(self, name: str, data: Path, log: Path, tls: EtcdTLS | None = None,
                 ports: tuple[int, int] | None = None):
        self.name, self.data, self.log_path, self.tls = name, data, log, tls
        self.client_port, self.peer_port = ports or (free_port(), free_port())
        self.proc: subprocess.Popen | None = None
        self._log = None

    @property
    def scheme(self) -> str:
        return "https" if self.tls else "http"

    @property
    def client_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.client_port}"

    @property
    def peer_url(self) -> str:
        return f"{self.scheme}://127.0.0.1:{self.peer_port}"

    def command(self, initial_cluster: str, binary: str, timing: Timing = Timing()) -> list[str]:
        """The etcd command line of this member."""
        tls = [] if not self.tls else [
            "--cert-file", str(self.tls.server_cert), "--key-file", str(self.tls.server_key),
            "--trusted-ca-file", str(self.tls.ca), "--client-cert-auth",
            "--peer-cert-file", str(self.tls.server_cert), "--peer-key-file", str(self.tls.server_key),
            "--peer-trusted-ca-file", str(self.tls.ca), "--peer-client-cert-auth"]
        return [binary, "--name", self.name, "--data-dir", str(self.data),
                "--listen-client-urls", self.client_url, "--advertise-client-urls", self.client_url,
                "--listen-peer-urls", self.peer_url, "--initial-advertise-peer-urls", self.peer_url,
                "--initial-cluster", initial_cluster, "--initial-cluster-state", "new",
                "--max-txn-ops", str(MAX_TXN_OPS), "--max-request-bytes", str(MAX_REQUEST_BYTES),
                # etcd 3.5's default: a member cut off from the others does not raise its term
                # alone, so its return does not force yet another election
                "--pre-vote", *timing.flags(), *tls, "--log-level", "warn"]

    def start(self, initial_cluster: str, binary: str, timing: Timing = Timing(), detach: bool = False) -> None:
        """Start the process; ``detach``: in a session of its own, so that it outlives the
        command that started it and a Ctrl-C in that terminal does not reach it."""
        self.data.parent.mkdir(parents=True, exist_ok=True)
        self._log = open(self.log_path, "a")
        self.proc = subprocess.Popen(self.command(initial_cluster, binary, timing), stdout=self._log,
                                     stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=detach)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def listening(self) -> bool:
        try:
            with socket.create_connection(("127.0.0.1", self.client_port), timeout=0.5):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        """SIGTERM (SIGKILL if it has not exited 10 s later)."""
        terminate(self.proc)
        self._close_log()

    def kill(self) -> None:
        """SIGKILL, as a crash."""
        if self.running():
            self.proc.kill()
            self.proc.wait()
        self._close_log()

    def freeze(self, frozen: bool = True) -> None:
        """SIGSTOP (or SIGCONT): the process holds its ports and answers nothing."""
        if self.running():
            self.proc.send_signal(signal.SIGSTOP if frozen else signal.SIGCONT)

    def status(self) -> dict | None:
        """etcd's own status of this member (its id, the leader's id), None if it does not answer."""
        return member_status(self.client_url, self.tls)

    def _close_log(self) -> None:
        if self._log is not None:
            self._log.close()
            self._log = None


def member_status(client_url: str, tls: EtcdTLS | None = None, timeout: float = 1.0) -> dict | None:
    """etcd's own status of the member at ``client_url`` (its id, the leader's id), None
    if it does not answer."""
    try:
        req = urllib.request.Request(f"{client_url}/v3/maintenance/status", data=b"{}", method="POST")
        with urllib.request.urlopen(req, timeout=timeout, context=tls.context() if tls else None) as r:
            return json.loads(r.read())
    except (OSError, ValueError):
        return None


class EtcdCluster:
    """``members`` etcd members under ``directory`` (one data directory and log each),
    reached as :attr:`url` (``etcd://`` with every member, the form ``--cluster`` takes;
    ``etcds://`` with ``tls``)."""

    def __init__(self, directory: Path, members: int = 3, tls: EtcdTLS | None = None, timing: Timing = Timing(),
                 ports: list[tuple[int, int]] | None = None):
        if members < 1:
            raise ValueError("an etcd cluster needs at least one member")
        self.directory, self.tls, self.timing = Path(directory), tls, timing
        names = ["slicing"] if members == 1 else [f"m{i}" for i in range(members)]
        self.members = [EtcdMember(n, self._data_of(n, members), self.directory / f"{n}.log", tls,
                                   ports[i] if ports else None) for i, n in enumerate(names)]
        self.url = ("etcds://" if tls else "etcd://") + ",".join(f"127.0.0.1:{m.client_port}" for m in self.members)

    def _data_of(self, name: str, members: int) -> Path:
        return self.directory / "data" if members == 1 else self.directory / name

    @property
    def initial_cluster(self) -> str:
        return ",".join(f"{m.name}={m.peer_url}" for m in self.members)

    def start(self, timeout: float = 20, detach: bool = False) -> "EtcdCluster":
        """Start every member that is not running and wait until each listens."""
        binary = shutil.which("etcd")
        if binary is None:
            raise RuntimeError("etcd is not installed: `sudo make setup` installs Debian's etcd-server")
        for m in self.members:
            if not m.running():
                m.start(self.initial_cluster, binary, self.timing, detach)
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            dead = [m for m in self.members if m.proc is not None and m.proc.poll() is not None]
            if dead:
                self.stop()
                raise RuntimeError(f"etcd member {dead[0].name} exited ({dead[0].proc.returncode}); "
                                   f"see {dead[0].log_path}")
            if all(m.listening() for m in self.members):
                return self
            time.sleep(0.1)
        self.stop()
        raise TimeoutError(f"etcd did not listen within {timeout:g} s; see {self.directory}/*.log")

    def restart(self, member: EtcdMember, timeout: float = 20, detach: bool = False) -> None:
        """Start one stopped or killed member again, on its data."""
        member.start(self.initial_cluster, shutil.which("etcd") or "etcd", self.timing, detach)
        started = time.monotonic()
        while not member.listening():
            if time.monotonic() - started > timeout:
                raise TimeoutError(f"etcd member {member.name} did not listen again within {timeout:g} s")
            time.sleep(0.1)

    def leader(self) -> EtcdMember | None:
        """The member etcd elected leader (asked of the members that answer)."""
        for m in self.members:
            st = m.status() if m.running() else None
            if st and st.get("leader"):
                return next((x for x in self.members if (x.status() or {}).get("header", {}).get("member_id")
                             == st["leader"]), None)
        return None

    def stop(self) -> None:
        for m in self.members:
            m.freeze(False)
            m.stop()

    def __enter__(self) -> "EtcdCluster":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


class EtcdProcess:
    """A single-member etcd (Debian's ``etcd-server``) on free loopback ports, its data in
    ``directory``: enough for a cluster of controllers on one machine, in tests and
    labs (several members: slicectl.etcdlocal.EtcdCluster). Stopped, it starts again on
    its data and ports."""

    def __init__(self, directory: Path):
        self._cluster = EtcdCluster(directory, members=1)
        self.directory, self.url = self._cluster.directory, self._cluster.url
        self.client_port = self._cluster.members[0].client_port

    @property
    def proc(self) -> subprocess.Popen | None:
        return self._cluster.members[0].proc

    def start(self, timeout: float = 20) -> "EtcdProcess":
        self._cluster.start(timeout)
        return self

    def stop(self) -> None:
        self._cluster.stop()

    def __enter__(self) -> "EtcdProcess":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
