"""The host side of ``slicectl verify``: the inventory (which hosts there are and how to
run a command in each), and what runs in the hosts: pings, the TCP echo server and its
client. The lab checks use ping_once and until_connected on Mininet nodes too.
"""
from __future__ import annotations

import re
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

from slicectl.jsonfiles import read_json

TTC_TIMEOUT_S = 60.0
TTC_PROBE_EVERY_S = 0.01
ECHO_LIFETIME_S = 600       # a TCP echo server left behind by a killed run exits by itself

# run inside the hosts (python3 there): a TCP echo server, and a client that checks the echo
ECHO_SERVER = r"""
import socket, sys, time
srv = socket.socket()
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("0.0.0.0", int(sys.argv[1])))
srv.listen(64)
srv.settimeout(1)
print("ready", flush=True)
end = time.time() + float(sys.argv[2])
while time.time() < end:
    try:
        c, _ = srv.accept()
    except socket.timeout:
        continue
    try:
        c.settimeout(3)
        c.sendall(c.recv(64))
    except OSError:
        pass
    finally:
        c.close()
"""
ECHO_CLIENT = r"""
import socket, sys
word = b"slicectl-verify"
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=3)
    s.settimeout(3)
    s.sendall(word)
    got = s.recv(64)
except OSError as e:
    print(e)
    sys.exit(1)
sys.exit(0 if got == word else 1)
"""


class VerifyError(Exception):
    """Bad input (inventory, slice names): exit 2, nothing checked."""


@dataclass(frozen=True)
class Host:
    """A host of the inventory and how to run a command in it."""

    name: str
    site: str
    port: int
    ip: str
    prefix: tuple[str, ...]      # what runs a command inside it
    python: str = "python3"

    @property
    def where(self) -> str:
        """SITE:PORT, how messages name a host."""
        return f"{self.site}:{self.port}"

    def popen(self, argv: list[str], **kw: Any) -> subprocess.Popen:
        """Start ``argv`` in the host, in the background."""
        return subprocess.Popen([*self.prefix, *argv], **kw)

    def run(self, argv: list[str], timeout: float) -> subprocess.CompletedProcess:
        """Run ``argv`` in the host; a timeout is an exit status (124), not an exception, so
        that one stuck host fails its own checks only."""
        try:
            return subprocess.run([*self.prefix, *argv], capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(e.cmd, 124, e.stdout or "", "timed out")


@dataclass(frozen=True)
class Inventory:
    """The hosts a verify run may use, and what the network adds to round trips, if it says."""

    hosts: list[Host]
    # what the network adds to round trips besides propagation, if the inventory says
    # (an emulation's software switches do; see topologies.emulation.wan.RTT_TOLERANCE_MS)
    rtt_tolerance_ms: float | None = None


def load_inventory(path: str | Path) -> Inventory:
    """The inventory file; VerifyError naming the file and field if it is wrong."""
    return read_inventory(read_json(path, "inventory", VerifyError), str(path))


def read_inventory(doc: object, path: str = "inventory") -> Inventory:
    """An inventory document (its format: slicectl.verify's docstring)."""
    tolerance = doc.get("rtt_tolerance_ms") if isinstance(doc, dict) else None
    if tolerance is not None and (not isinstance(tolerance, (int, float)) or isinstance(tolerance, bool)
                                  or tolerance < 0):
        raise VerifyError(f"{path}: rtt_tolerance_ms: expected milliseconds >= 0, got {tolerance!r}")
    hosts = doc.get("hosts") if isinstance(doc, dict) else None
    if not isinstance(hosts, list):
        raise VerifyError(f"{path}: hosts: expected a list of hosts")
    out = []
    for i, h in enumerate(hosts):
        where = f"{path}: hosts[{i}]"
        if not isinstance(h, dict):
            raise VerifyError(f"{where}: expected a mapping")
        for key, kind in (("site", str), ("port", int), ("ip", str)):
            if not isinstance(h.get(key), kind) or isinstance(h.get(key), bool):
                raise VerifyError(f"{where}.{key}: expected {'a string' if kind is str else 'a whole number'}, "
                                  f"got {h.get(key)!r}")
        ways = [k for k in ("pid", "netns", "exec") if h.get(k) is not None]
        if len(ways) != 1:
            raise VerifyError(f"{where}: give exactly one of pid, netns, exec (how to run a command in "
                              f"the host), got {', '.join(ways) or 'none'}")
        local = True
        if ways == ["pid"]:
            if not isinstance(h["pid"], int) or h["pid"] <= 0:
                raise VerifyError(f"{where}.pid: expected a process id, got {h['pid']!r}")
            prefix = ("nsenter", "-t", str(h["pid"]), "-n", "--")
        elif ways == ["netns"]:
            if not isinstance(h["netns"], str) or not h["netns"]:
                raise VerifyError(f"{where}.netns: expected a namespace name, got {h['netns']!r}")
            prefix = ("ip", "netns", "exec", h["netns"])
        else:
            if not isinstance(h["exec"], list) or not h["exec"] or not all(isinstance(x, str) for x in h["exec"]):
                raise VerifyError(f"{where}.exec: expected a command prefix (list of strings), got {h['exec']!r}")
            prefix, local = tuple(h["exec"]), False
        out.append(Host(str(h.get("name") or f"{h['site']}:{h['port']}"), h["site"], h["port"],
                        h["ip"].split("/")[0], prefix, sys.executable if local else "python3"))
    return Inventory(out, None if tolerance is None else float(tolerance))


# -- pings and addresses in the hosts ---------------------------------------------------------

@dataclass(frozen=True)
class PingResult:
    """What one ping run measured."""

    replies: int
    min_ms: float | None       # the path's delay: what the bound is about
    median_ms: float | None    # what the slice sees typically (queues, a busy machine)


def ping_stats(out: str) -> PingResult:
    """Replies and round trips from ping's output. The bound is checked against the
    smallest round trip: a reply held up in a queue of a busy machine (or by the first ARP
    exchange) says nothing about the path, a slower path slows every reply."""
    got = re.search(r"(\d+) (?:packets )?received", out)
    times = [float(t) for t in re.findall(r"time=([\d.]+) ms", out)]
    return PingResult(int(got.group(1)) if got else 0, min(times, default=None),
                      statistics.median(times) if times else None)


def own_addresses(host: Host) -> set[str]:
    """The IPv4 addresses the host holds now (not only the inventory's)."""
    r = host.run(["ip", "-4", "-o", "addr", "show"], timeout=10)
    return set(re.findall(r"inet ([\d.]+)/", r.stdout)) | {host.ip}


# -- time to connectivity (the probe slice of ttc, and the lab checks) -----------------------

def ping_once(host: Any, ip: str, wait_s: float = 1.0) -> subprocess.Popen:
    """One ping from ``host`` (a :class:`Host` or a Mininet node) to ``ip``, in the background."""
    return host.popen(["ping", "-n", "-c", "1", "-W", f"{wait_s:g}", "-q", ip],
                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def until_connected(pairs: list[tuple[object, str]], started: float, timeout_s: float = TTC_TIMEOUT_S,
                    every_s: float = TTC_PROBE_EVERY_S, wait_s: float = 0.5) -> tuple[float | None, int]:
    """Ping from each (host, address) pair again and again, all in parallel, until every
    pair has passed once; (seconds since ``started`` or None on timeout, pairs passed).
    ``wait_s``: how long one ping waits for its answer, so also how late a pair that lost
    its first ping (sent before the rules were in) is seen passing."""
    todo = set(range(len(pairs)))
    running: dict[int, subprocess.Popen] = {}
    while todo and time.monotonic() - started < timeout_s:
        for k in list(todo):
            proc = running.get(k)
            if proc is None:
                running[k] = ping_once(*pairs[k], wait_s=wait_s)
            elif proc.poll() is not None:
                del running[k]
                if proc.returncode == 0:
                    todo.discard(k)
        time.sleep(every_s)
    for proc in running.values():
        proc.kill()
        proc.wait()
    return (None if todo else time.monotonic() - started), len(pairs) - len(todo)


# -- the TCP echo servers ---------------------------------------------------------------------

def start_echo_servers(hosts: Iterable[Host], port: int) -> list[subprocess.Popen]:
    """A TCP echo server in each host, started together, each waited for until it listens."""
    procs = [h.popen([h.python, "-c", ECHO_SERVER, str(port), str(ECHO_LIFETIME_S)], stdout=subprocess.PIPE,
                     stderr=subprocess.DEVNULL, text=True) for h in hosts]
    for p in procs:
        p.stdout.readline()   # "ready", or "" if it could not bind (its tcp checks then fail)
    return procs
