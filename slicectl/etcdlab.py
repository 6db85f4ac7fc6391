"""``slicectl etcd up|status|down``: a local etcd cluster for the lab and tests that outlives
the command that started it.

``up`` starts the members (slicectl.etcdlocal) in sessions of their own, on free loopback
ports, each with its data directory under DIR, and records what it started in
DIR/etcd.json: the URL, every member's pid, ports and data directory. ``status`` and
``down`` work only from that record, so they never touch an etcd they did not start: a
recorded pid is this cluster's member only if its command line is etcd with the recorded
data directory (a pid reused by another process, or another etcd, is left alone). Run
``up`` again on a DIR whose members stopped (a reboot, ``kill``) and they start again on
their data and ports, as etcd is restarted in production.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import time
from dataclasses import dataclass
from pathlib import Path

from slicectl.etcdlocal import EtcdCluster, EtcdTLS, Timing, member_status

STATE = "etcd.json"
STOP_WAIT_S = 10.0


class LabError(Exception):
    """A command that cannot be done, in one line naming DIR and what to do."""


@dataclass(frozen=True)
class MemberState:
    """What a member's record and its process say now."""
    name: str
    pid: int
    client_url: str
    process: str          # running | gone | not ours (the pid is another process now)
    role: str             # leader | follower | no leader | not answering


def controller_options(state: dict) -> list[str]:
    """The `slicectl controller` options that reach the recorded cluster."""
    out = ["--cluster", state["url"]]
    if state.get("tls"):
        tls = Path(state["tls"])
        out += ["--cluster-ca", str(tls / "ca.pem"), "--cluster-cert", str(tls / "etcd-client.pem"),
                "--cluster-key", str(tls / "etcd-client.key")]
    return out


def read_state(directory: Path) -> dict | None:
    """DIR's record, None if there is none; LabError if it cannot be read."""
    path = Path(directory) / STATE
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as e:
        raise LabError(f"{path}: not a record of `slicectl etcd up` ({e})") from None


def up(directory: Path, members: int = 3, tls: bool = False, timing: Timing = Timing(),
       timeout: float = 30) -> tuple[dict, str]:
    """Start the cluster recorded in DIR (its members that are not running, on their data),
    or a new one: (the record, what was done). Whatever this call started is stopped again
    if it fails or is interrupted, and a new cluster's data removed."""
    directory = Path(directory).resolve()
    state = read_state(directory)
    if state is not None:
        return _restart(directory, state, members, tls, timing, timeout)
    cluster = EtcdCluster(directory, members, None, timing)
    found = [m.data for m in cluster.members if m.data.exists()]
    if found:   # an old member's data would make etcd ignore the new cluster's configuration
        raise LabError(f"{found[0]} exists but {directory} has no {STATE}: not starting a new etcd on data that is "
                       "not its own (remove it, or give another --dir)")
    directory.mkdir(parents=True, exist_ok=True)
    cluster = EtcdCluster(directory, members, EtcdTLS.make(directory / "tls") if tls else None, timing)
    try:
        cluster.start(timeout, detach=True)
        _wait_leader(cluster, timeout)
        state = {"url": cluster.url, "tls": str(directory / "tls") if tls else None,
                 "timing": [timing.heartbeat_ms, timing.election_ms],
                 "members": [{"name": m.name, "pid": m.proc.pid, "client_port": m.client_port,
                              "peer_port": m.peer_port, "data": str(m.data), "log": str(m.log_path)}
                             for m in cluster.members]}
        (directory / STATE).write_text(json.dumps(state, indent=2) + "\n")
    except BaseException:
        cluster.stop()
        for m in cluster.members:
            shutil.rmtree(m.data, ignore_errors=True)
        raise
    return state, f"started {members} member{'s' * (members != 1)}"


def _restart(directory: Path, state: dict, members: int, tls: bool, timing: Timing,
             timeout: float) -> tuple[dict, str]:
    """Start the recorded members that are not running, on their data and ports."""
    if len(state["members"]) != members or bool(state.get("tls")) != tls:
        raise LabError(f"{directory} holds a {len(state['members'])}-member etcd{' with TLS' if state.get('tls') else ''} "
                       f"already: `slicectl etcd down --dir {directory}` first, or give the same --members/--tls")
    rows = state["members"]
    stopped = [i for i, r in enumerate(rows) if _process(r) != "running"]
    if not stopped:
        return state, "already up"
    timing = Timing(*state.get("timing") or (None, None)) if timing == Timing() else timing
    cluster = EtcdCluster(directory, members, EtcdTLS.make(Path(state["tls"])) if state.get("tls") else None, timing,
                          ports=[(r["client_port"], r["peer_port"]) for r in rows])
    try:
        for i in stopped:
            cluster.restart(cluster.members[i], timeout, detach=True)
        _wait_leader(cluster, timeout)
    except BaseException:
        for i in stopped:
            cluster.members[i].stop()
        raise
    for i in stopped:
        rows[i]["pid"] = cluster.members[i].proc.pid
    (directory / STATE).write_text(json.dumps(state, indent=2) + "\n")
    n = len(stopped)
    return state, f"started {n} stopped member{'s' * (n != 1)} again on {'its' if n == 1 else 'their'} data"


def _wait_leader(cluster: EtcdCluster, timeout: float) -> None:
    started = time.monotonic()
    while cluster.leader() is None:
        if time.monotonic() - started > timeout:
            raise LabError(f"etcd elected no leader within {timeout:g} s; see {cluster.directory}/*.log")
        time.sleep(0.1)


def status(directory: Path) -> tuple[dict, list[MemberState]]:
    """The record and every recorded member's process and role; LabError if DIR has none."""
    directory = Path(directory).resolve()
    state = _required(directory)
    tls = EtcdTLS.make(Path(state["tls"])) if state.get("tls") else None
    scheme = "https" if tls else "http"
    out = []
    for r in state["members"]:
        url = f"{scheme}://127.0.0.1:{r['client_port']}"
        process = _process(r)
        st = member_status(url, tls) if process == "running" else None
        role = ("not answering" if st is None else "no leader" if not st.get("leader") else
                "leader" if st["leader"] == st["header"]["member_id"] else "follower")
        out.append(MemberState(r["name"], r["pid"], url, process, role))
    return state, out


def down(directory: Path) -> tuple[list[str], bool]:
    """Stop the recorded members that are still this cluster's (SIGTERM, SIGKILL after
    STOP_WAIT_S) and remove their data and the record; logs and certificates stay.
    (what was done, line by line; whether everything recorded is gone)."""
    directory = Path(directory).resolve()
    state = _required(directory)
    said, clean = [], True
    for r in state["members"]:
        process = _process(r)
        if process == "running":
            if _stop(r["pid"]):
                said.append(f"{r['name']}: stopped (pid {r['pid']})")
            else:
                said.append(f"{r['name']}: pid {r['pid']} did not exit; its data is kept")
                clean = False
                continue
        elif process == "not ours":
            said.append(f"{r['name']}: pid {r['pid']} is no longer this member (another process): left alone")
        data = Path(r["data"])
        if data.is_relative_to(directory):
            shutil.rmtree(data, ignore_errors=True)
    if clean:
        (directory / STATE).unlink()
        said.append(f"removed the members' data and {directory / STATE} (logs and certificates kept)")
    return said, clean


def _required(directory: Path) -> dict:
    state = read_state(directory)
    if state is None:
        raise LabError(f"{directory}: no etcd started here (`slicectl etcd up --dir {directory}` starts one)")
    return state


def _process(record: dict) -> str:
    """running: the pid is etcd on the recorded data directory; gone: no such live
    process; not ours: the pid belongs to another process now."""
    args = _argv(record["pid"])
    if args is None:
        return "gone"
    ours = (os.path.basename(args[0]).startswith("etcd") and "--data-dir" in args
            and args.index("--data-dir") + 1 < len(args) and args[args.index("--data-dir") + 1] == record["data"])
    return "running" if ours else "not ours"


def _argv(pid: int) -> list[str] | None:
    """The command line of a live process, None if there is none (a zombie is none)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
        if "\nState:\tZ" in Path(f"/proc/{pid}/status").read_text():
            return None
    except OSError:
        return None
    return [a.decode(errors="replace") for a in argv]


def _stop(pid: int) -> bool:
    """SIGCONT (a frozen member cannot exit) and SIGTERM, then SIGKILL; whether it exited."""
    for sig, wait in ((signal.SIGCONT, 0), (signal.SIGTERM, STOP_WAIT_S), (signal.SIGKILL, 5)):
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            return True
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            if _argv(pid) is None:
                return True
            time.sleep(0.05)
    return _argv(pid) is None
