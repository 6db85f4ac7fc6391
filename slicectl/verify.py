"""``slicectl verify``: do the slices work right now, within their bounds, and are they
isolated? The automated connectivity test a CI job runs against a live controller and
the hosts of the WAN, with an answer it can read (exit code, JSON, JUnit XML).

Checks, per slice (every slice, or the named ones):

* ``state``: the controller says ACTIVE;
* ``icmp``: every ordered endpoint pair exchanges pings (at most one of PING_COUNT lost);
* ``tcp``: every ordered pair opens a TCP connection and gets its bytes echoed back;
* ``rtt``: the pair's smallest round trip (of PING_COUNT; the median is reported too) is
  within twice the slice's one-way bound plus a stated tolerance (switches and hosts add
  a little that the bound, a propagation delay, does not count);
* ``throughput`` (``--throughput``): TCP goodput of every ordered pair reaches
  THROUGHPUT_SHARE of the reservation (the meter polices at the reservation: TCP gets a
  little less);
* ``isolation-unicast`` / ``isolation-arp``: every host outside the slice pings each
  endpoint address and asks for it by ARP (a broadcast): nothing may answer;

and once (``--ttc``): ``ttc``, the time from CreateSlice of a fresh two-cloud probe
slice (between hosts no slice uses) until both directions pass a ping, against the
programme's 10-minute target; the probe slice is deleted after.

The hosts come from an inventory file, the contract with a WAN this tool did not build
(``slicectl wan up --inventory`` writes one): ``{"hosts": [{"name", "site", "port",
"ip", and how to run a command in the host: "pid" (enter that process's network
namespace), "netns" (a named network namespace) or "exec" (a command prefix such as
["ssh", "root@10.1.2.3"])}]}``; other keys are ignored. The hosts need ping, arping
(iputils), python3 and, for ``--throughput``, iperf3.
"""
from __future__ import annotations

import json
import os
import random
import re
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable, Iterable

import grpc

from proto.convert import STATE_NAMES
from proto.defaults import VERIFY_PARALLEL, VERIFY_RTT_TOLERANCE_MS
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.client import every_slice
from slicectl.progress import Progress
from slicectl.targets import TTC_TARGET_S, against
# the inventory, the host side and the output are in these two modules; their names are
# importable from here too, as they were when this was one module
from slicectl.verifyhosts import (ECHO_CLIENT, ECHO_LIFETIME_S, ECHO_SERVER, TTC_PROBE_EVERY_S, TTC_TIMEOUT_S,
                                  Host, Inventory, PingResult, VerifyError, load_inventory, own_addresses,
                                  ping_once, ping_stats, read_inventory, start_echo_servers, until_connected)
from slicectl.verifyreport import Check, format_table, summary, to_json, to_junit

if TYPE_CHECKING:
    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc

__all__ = ["ECHO_CLIENT", "ECHO_LIFETIME_S", "ECHO_SERVER", "KINDS", "PARALLEL", "PING_COUNT", "PING_INTERVAL_S",
           "RTT_TOLERANCE_MS", "THROUGHPUT_SECONDS", "THROUGHPUT_SHARE", "TTC_PROBE_EVERY_S", "TTC_TIMEOUT_S",
           "Check", "Host", "Inventory", "Options", "PingResult", "SliceUnderTest", "VerifyError", "format_table",
           "isolation_checks", "load_inventory", "own_addresses", "ping_checks", "ping_once", "ping_stats",
           "read_inventory", "rtt_limit_ms", "slice_under_test", "summary", "tcp_check", "throughput_check",
           "to_json", "to_junit", "ttc_check", "until_connected", "verify"]

RTT_TOLERANCE_MS = VERIFY_RTT_TOLERANCE_MS   # default allowance over 2 x the one-way bound
THROUGHPUT_SHARE = 0.8      # of the reservation, for TCP through the slice's policer
THROUGHPUT_SECONDS = 2
PING_COUNT, PING_INTERVAL_S = 5, 0.2
PARALLEL = VERIFY_PARALLEL   # checks at once
Say = Callable[[str], None]
Endpoint = tuple[str, int, str]   # (site, port, ip)
KINDS = ("state", "host", "icmp", "rtt", "tcp", "throughput", "isolation-unicast", "isolation-arp", "ttc")


@dataclass
class SliceUnderTest:
    """A slice as the checks need it: where each endpoint is now, and its address."""

    name: str
    state: str
    reason: str
    bandwidth_mbps: float
    bound_ms: float | None
    endpoints: list[tuple[str, int, str]]            # (site, port, ip) where it is now
    hosts: dict[tuple[str, int], Host] = field(default_factory=dict)


def slice_under_test(s: pb.Slice) -> SliceUnderTest:
    """The slice with each endpoint where it is now: at its standby after a failover, so
    the checks reach the host that serves it."""
    eps = []
    for e in s.endpoints:
        at_standby = e.location == "standby" and e.HasField("standby")
        eps.append((e.standby.site, e.standby.port, e.ip) if at_standby else (e.site, e.port, e.ip))
    return SliceUnderTest(s.spec.name, STATE_NAMES.get(s.state, "?"), s.reason, s.spec.bandwidth_mbps,
                          s.spec.max_latency_ms if s.spec.HasField("max_latency_ms") else None, eps)


# -- single checks (each runs in the hosts; safe to run in parallel) -----------------------

def rtt_limit_ms(bound_ms: float, tolerance_ms: float) -> float:
    """The largest round trip that keeps a one-way bound: there and back, plus what the
    hosts and switches add."""
    return 2 * bound_ms + tolerance_ms


def _subject(src: Endpoint, dst: Endpoint) -> str:
    return f"{src[0]}:{src[1]} -> {dst[0]}:{dst[1]} ({dst[2]})"


def ping_checks(s: SliceUnderTest, src: Endpoint, dst: Endpoint, tolerance: tuple[float, str]) -> list[Check]:
    """icmp and (with a bound) rtt from the host at ``src`` to ``dst``'s address;
    ``tolerance``: (ms, where the figure comes from)."""
    started = time.monotonic()
    r = s.hosts[src[:2]].run(["ping", "-n", "-c", str(PING_COUNT), "-i", f"{PING_INTERVAL_S:g}", "-W", "1", dst[2]],
                             timeout=PING_COUNT * PING_INTERVAL_S + 10)
    ping = ping_stats(r.stdout)
    took = time.monotonic() - started
    out = [Check(s.name, "icmp", _subject(src, dst), ping.replies >= PING_COUNT - 1,
                 f"{ping.replies}/{PING_COUNT} replies", f">= {PING_COUNT - 1}/{PING_COUNT}", took)]
    if s.bound_ms is not None:
        limit = rtt_limit_ms(s.bound_ms, tolerance[0])
        out.append(Check(s.name, "rtt", _subject(src, dst), ping.min_ms is not None and ping.min_ms <= limit,
                         "no reply" if ping.min_ms is None else
                         f"{ping.min_ms:.2f} ms (fastest of {ping.replies}; median {ping.median_ms:.2f} ms)",
                         f"<= {limit:g} ms (2 x {s.bound_ms:g} ms bound + {tolerance[0]:g} ms {tolerance[1]})",
                         took))
    return out


def tcp_check(s: SliceUnderTest, src: Endpoint, dst: Endpoint, echo_port: int) -> list[Check]:
    """A TCP connection from the host at ``src`` to the echo server at ``dst``."""
    host = s.hosts[src[:2]]
    started = time.monotonic()
    r = host.run([host.python, "-c", ECHO_CLIENT, dst[2], str(echo_port)], timeout=10)
    return [Check(s.name, "tcp", _subject(src, dst), r.returncode == 0,
                  "echoed" if r.returncode == 0 else (r.stdout.strip() or r.stderr.strip() or "no echo"),
                  f"connection to port {echo_port} echoed", time.monotonic() - started)]


def throughput_check(s: SliceUnderTest, src: Endpoint, dst: Endpoint) -> Check:
    """TCP goodput from ``src`` to ``dst`` (iperf3, THROUGHPUT_SECONDS) against the reservation."""
    server, client = s.hosts[dst[:2]], s.hosts[src[:2]]
    port = random.randint(20000, 39999)
    want = THROUGHPUT_SHARE * s.bandwidth_mbps
    subject = _subject(src, dst)
    started = time.monotonic()
    srv = server.popen(["iperf3", "-s", "-1", "-p", str(port)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for _attempt in range(10):   # until the server listens
            r = client.run(["iperf3", "-c", dst[2], "-p", str(port), "-t", str(THROUGHPUT_SECONDS), "-J",
                            "--connect-timeout", "2000"], timeout=THROUGHPUT_SECONDS + 15)
            if "refused" not in r.stdout:
                break
            time.sleep(0.2)
        try:
            mbps = json.loads(r.stdout)["end"]["sum_received"]["bits_per_second"] / 1e6
            measured = f"{mbps:.1f} Mbit/s"
        except (ValueError, KeyError):
            mbps, measured = 0.0, "no transfer: " + (r.stdout.strip().splitlines() or [r.stderr.strip()])[-1][:80]
    finally:
        srv.kill()
        srv.wait()
    return Check(s.name, "throughput", subject, mbps >= want, measured,
                 f">= {want:g} Mbit/s ({THROUGHPUT_SHARE:.0%} of the {s.bandwidth_mbps:g} Mbit/s reserved)",
                 time.monotonic() - started)


def isolation_checks(s: SliceUnderTest, outsider: Host, target: Endpoint) -> list[Check]:
    """The outsider pings the endpoint's address and asks for it by ARP: no answer allowed."""
    subject = f"outsider {outsider.name} ({outsider.where}) -> {target[0]}:{target[1]} ({target[2]})"
    started = time.monotonic()
    both = [outsider.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for argv in
            (["ping", "-n", "-q", "-c", "3", "-i", "0.2", "-W", "1", target[2]],
             ["arping", "-c", "1", "-w", "1", target[2]])]
    try:
        ping, arp = (p.communicate(timeout=10)[0] for p in both)
    except subprocess.TimeoutExpired:
        ping = arp = "no answer within 10 s"
    finally:
        for p in both:
            p.kill()
            p.wait()
    took = time.monotonic() - started
    out = []
    # exit status 0: answered, 1: not answered; anything else: the probe did not run, and
    # a probe that did not run proves nothing
    for kind, proc, text, answers in (
            ("isolation-unicast", both[0], ping, ping_stats(ping).replies),
            ("isolation-arp", both[1], arp, len(re.findall(r"Unicast reply from", arp)))):
        if proc.returncode in (0, 1):
            out.append(Check(s.name, kind, subject, answers == 0, f"{answers} replies", "0 replies", took))
        elif "Network is unreachable" in text:   # the outsider has no route there: nothing to send
            out.append(Check(s.name, kind, subject, True, "no route from the outsider", "0 replies", took))
        else:
            out.append(Check(s.name, kind, subject, False, f"the probe failed: {_last_line(text)}",
                             "0 replies", took))
    return out


def _last_line(text: str) -> str:
    lines = [l for l in text.strip().splitlines() if l.strip()]
    return lines[-1][:120] if lines else "no output"


# -- time to connectivity -------------------------------------------------------------------

def ttc_check(stub: pb_grpc.SliceServiceStub, topology: pb.Topology, slices: list[pb.Slice], hosts: list[Host]) -> Check:
    """Create a probe slice between two hosts no slice uses (clouds first), time it to
    connectivity both ways, delete it."""
    used = set()
    for s in slices:
        for e in s.endpoints:
            used |= {(e.site, e.port), (e.standby.site, e.standby.port)}
    taken_ips = {e.ip for s in slices for e in s.endpoints}
    kind = {site.name: site.kind for site in topology.sites}
    free = [h for h in hosts if (h.site, h.port) not in used and h.ip not in taken_ips and h.site in kind]
    free.sort(key=lambda h: (kind[h.site] not in ("cloud", "leaf"), h.site, h.port))
    a = next(iter(free), None)
    b = next((h for h in free if a and h.site != a.site), None)
    name = f"verify-ttc-{os.getpid()}"
    if b is None:
        return Check("", "ttc", "probe slice", False, "no two free hosts in different sites",
                     f"<= {TTC_TARGET_S:g} s")
    subject = f"probe slice {name}: {a.where} <-> {b.where}"
    spec = pb.SliceSpec(name=name, tenant="slicectl-verify", bandwidth_mbps=1, priority=0,
                        endpoints=[pb.Endpoint(site=h.site, port=h.port, ip=h.ip) for h in (a, b)])
    started = time.monotonic()
    try:
        stub.CreateSlice(pb.CreateSliceRequest(spec=spec), timeout=60)
    except grpc.RpcError as e:
        return Check("", "ttc", subject, False, f"refused: {e.details() or e.code().name}", f"<= {TTC_TARGET_S:g} s")
    try:
        seconds, _ok = until_connected([(a, b.ip), (b, a.ip)], started)
    finally:
        stub.DeleteSlice(pb.DeleteSliceRequest(name=name), timeout=60)
    if seconds is None:
        return Check("", "ttc", subject, False, f"not connected after {TTC_TIMEOUT_S:g} s",
                     f"<= {TTC_TARGET_S:g} s", TTC_TIMEOUT_S)
    return Check("", "ttc", subject, seconds <= TTC_TARGET_S,
                 f"{seconds:.3f} s ({against(seconds, TTC_TARGET_S)})",
                 f"<= {TTC_TARGET_S:g} s", seconds)


# -- the run ------------------------------------------------------------------------------

@dataclass
class Options:
    """What `slicectl verify` was asked to check beyond connectivity, and how many checks run at once."""

    rtt_tolerance_ms: float | None = None    # None: the inventory's, else RTT_TOLERANCE_MS
    throughput: bool = False
    ttc: bool = False
    isolation: bool = True
    parallel: int = PARALLEL


def verify(slice_stub: pb_grpc.SliceServiceStub, topology_stub: pb_grpc.TopologyServiceStub, inventory: Inventory,
           names: Iterable[str], options: Options, say: Say) -> list[Check]:
    """Every check of the named slices (all when none are named), in a stable order."""
    hosts = inventory.hosts
    if options.rtt_tolerance_ms is not None:
        tolerance = (options.rtt_tolerance_ms, "tolerance")
    elif inventory.rtt_tolerance_ms is not None:
        tolerance = (inventory.rtt_tolerance_ms, "tolerance, the inventory's")
    else:
        tolerance = (RTT_TOLERANCE_MS, "tolerance")
    names = list(names)
    everything = _slices(slice_stub, [])   # the unnamed ones too: their ports and addresses are taken
    slices = _slices(slice_stub, names) if names else everything
    tests = [slice_under_test(s) for s in slices]
    at = {(h.site, h.port): h for h in hosts}
    checks: list[Check] = []
    pings: list[Callable[[], list[Check]]] = []
    tcp: list[Callable[[], list[Check]]] = []
    probes: list[tuple[SliceUnderTest, Host, tuple[str, int, str]]] = []   # isolation: (slice, outsider, endpoint)
    echo_port = random.randint(40000, 59999)
    needed: dict[tuple[str, int], Host] = {}
    legit: dict[tuple[str, int], set[str]] = {}    # location -> addresses it may reach (its slices')
    for t in map(slice_under_test, everything):
        for site, port, _ip in t.endpoints:
            legit.setdefault((site, port), set()).update(ip for *_, ip in t.endpoints)
    for t in tests:
        checks.append(Check(t.name, "state", "controller", t.state == "active",
                            t.state + (f" ({t.reason})" if t.reason and t.state != "active" else ""), "active"))
        for site, port, ip in t.endpoints:
            host = at.get((site, port))
            if host is None:
                checks.append(Check(t.name, "host", f"{site}:{port} ({ip})", False,
                                    "no host at this port in the inventory", "a host"))
            else:
                t.hosts[(site, port)] = needed[(site, port)] = host
        reachable = [e for e in t.endpoints if e[:2] in t.hosts]
        for src in reachable:
            for dst in reachable:
                if src is not dst:
                    pings.append(lambda t=t, src=src, dst=dst: ping_checks(t, src, dst, tolerance))
                    tcp.append(lambda t=t, src=src, dst=dst: tcp_check(t, src, dst, echo_port))
        if options.isolation:
            inside = {e[:2] for e in t.endpoints}
            probes += [(t, o, target) for o in hosts if (o.site, o.port) not in inside for target in t.endpoints
                       if target[2] not in legit.get((o.site, o.port), ())]
    isolation: list[Callable[[], list[Check]]] = []
    if probes:
        outsiders = sorted({o for _t, o, _target in probes}, key=lambda h: h.name)
        with ThreadPoolExecutor(max(1, options.parallel)) as pool:
            own = dict(zip(outsiders, pool.map(own_addresses, outsiders)))
        # a host that holds the address itself answers its own pings: no leak to look for
        isolation = [lambda t=t, o=o, target=target: isolation_checks(t, o, target)
                     for t, o, target in probes if target[2] not in own[o]]
    # round trips first, a few at a time and alone (busy hosts and switches would add to
    # them); then TCP; then isolation
    checks += _run("endpoint pairs, ICMP", pings, max(1, options.parallel // 3), say)
    servers = start_echo_servers(needed.values(), echo_port)
    try:
        checks += _run("endpoint pairs, TCP", tcp, options.parallel, say)
    finally:
        for proc in servers:
            proc.kill()
            proc.wait()
    checks += _run("isolation", isolation, options.parallel, say)
    if options.throughput:   # one pair at a time: transfers at once would share links
        pairs = [(t, src, dst) for t in tests for src in t.endpoints for dst in t.endpoints
                 if src is not dst and src[:2] in t.hosts and dst[:2] in t.hosts]
        with Progress("throughput", len(pairs), say) as bar:
            for t, src, dst in pairs:
                checks.append(throughput_check(t, src, dst))
                bar.advance()
    if options.ttc:
        say("time to connectivity: creating a probe slice")
        topology = topology_stub.GetTopology(pb.GetTopologyRequest(), timeout=30)
        checks.append(ttc_check(slice_stub, topology, everything, hosts))
    order = {t.name: i for i, t in enumerate(tests)}
    return sorted(checks, key=lambda c: (order.get(c.slice, len(order)), KINDS.index(c.check)))


def _run(what: str, jobs: list[Callable[[], list[Check]]], parallel: int, say: Say) -> list[Check]:
    out: list[Check] = []
    with Progress(what, len(jobs), say) as bar, ThreadPoolExecutor(max(1, parallel)) as pool:
        for result in pool.map(lambda job: job(), jobs):
            out += result
            bar.advance()
    return out


def _slices(stub: pb_grpc.SliceServiceStub, names: list[str]) -> list[pb.Slice]:
    if names:
        return [stub.GetSlice(pb.GetSliceRequest(name=n), timeout=30) for n in names]
    return every_slice(lambda request: stub.ListSlices(request, timeout=30))


