"""Failures on an emulated WAN under a running controller, each measured from inside the
hosts: a 10 ms ping stream between two endpoints of a slice while the failure happens.
The outage is the longest run of unanswered probes times 10 ms (the time traffic could
not pass), not the controller's own account. Used by ``make bench-failover``.

Scenarios (japan-intercloud):

* ``cut-protected`` / ``cut-unprotected``: a core link of the slice's tree cut (ports
  down, as a cut fibre: the switches report it); a protected slice's cut is filed under
  ``cut-protected-one-end`` when its backup tree crosses only one of the link's two
  switches (that one fails over at once, the other direction waits for the controller);
* ``silent``: a core link of the tree silently dropping every frame, BFD off on it, so
  only the controller's probes can notice;
* ``site-loss``: the cloud of one endpoint destroyed (links silent, switch cut off); the
  endpoint's standby takes its address and announces it (gratuitous ARP once a second);
  then the site is restored and the endpoint failed back;
* ``drain``: a core site of the tree drained (and undrained after);
* ``scale-out``: a cloud added to the slice (and removed after); the stream runs between
  endpoints it already had.
"""
from __future__ import annotations

import re
import subprocess
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

from proto.convert import doc_to_spec
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.launcher import ControllerProcess
from slicectl.report import percentile, render_table

STREAM_INTERVAL_S = 0.01
SCENARIOS = ("cut-protected", "cut-unprotected", "silent", "site-loss", "drain", "scale-out")
ONE_END = "cut-protected-one-end"   # runs of cut-protected, told apart (see the module text)
ROWS = (SCENARIOS[0], ONE_END, *SCENARIOS[1:])
# what the issue asks of the median, where it asks something (seconds)
GOALS_S = {"silent": 0.5, "site-loss": 2.0}
Progress = Callable[[str], None]


@dataclass
class Outage:
    scenario: str
    outage_s: float     # longest run of unanswered probes x interval
    lost: int           # probes unanswered in all
    sent: int
    what: str           # the link or site, for the record


class Stream:
    """``ping -i 0.01`` from ``host`` to ``ip`` for ``seconds``, recorded in ``record``."""

    def __init__(self, host, ip: str, seconds: float, record: Path):
        self.count = int(seconds / STREAM_INTERVAL_S)
        self.record = record
        with open(record, "w") as out:
            self.proc = host.popen(["ping", "-n", "-i", f"{STREAM_INTERVAL_S:g}", "-W", "1",
                                    "-c", str(self.count), ip], stdout=out, stderr=subprocess.STDOUT)

    def outage(self, scenario: str, what: str) -> Outage:
        """Once the stream has ended: the outage it saw."""
        self.proc.wait(timeout=self.count * STREAM_INTERVAL_S + 30)
        return Outage(scenario, *outage_of(self.record.read_text(), self.count), what)


def host_at(wan, site: str, port: int):
    """The emulated host on ``port`` of ``site``'s switch, and its address."""
    h = next(h for h in wan.plan.hosts if h.site == site and h.port == port and not h.probe)
    return wan.host(h.name), h.address


def outage_of(ping_output: str, sent: int) -> tuple[float, int, int]:
    """Longest run of unanswered sequence numbers (x the interval), lost, sent."""
    got = {int(n) for n in re.findall(r"icmp_seq=(\d+)", ping_output)}
    longest = run = 0
    for seq in range(1, sent + 1):
        run = 0 if seq in got else run + 1
        longest = max(longest, run)
    lost = sum(1 for seq in range(1, sent + 1) if seq not in got)
    return round(longest * STREAM_INTERVAL_S, 3), lost, sent


def summarize(results: list[Outage]) -> dict:
    """Per scenario: repetitions, outage p50 and max (ms), probes lost p50, the goal."""
    out = {}
    for name in ROWS:
        rows = [r for r in results if r.scenario == name]
        if not rows:
            continue
        ms = [r.outage_s * 1000 for r in rows]
        out[name] = {"repetitions": len(rows), "outage_ms_p50": percentile(ms, 50), "outage_ms_max": max(ms),
                     "lost_p50": percentile([r.lost for r in rows], 50),
                     "goal_ms": GOALS_S[name] * 1000 if name in GOALS_S else None,
                     "runs": [asdict(r) for r in rows]}
    return out


def format_summary(summary: dict) -> str:
    rows = []
    for name, s in summary.items():
        goal = s["goal_ms"]
        verdict = "-" if goal is None else ("met" if s["outage_ms_p50"] <= goal else "MISSED")
        rows.append((name, s["repetitions"], f"{s['outage_ms_p50']:.0f}", f"{s['outage_ms_max']:.0f}",
                     f"{s['lost_p50']:.0f}", "-" if goal is None else f"p50 <= {goal:.0f}", verdict))
    return render_table(("scenario", "reps", "outage p50 ms", "max ms", "lost p50", "goal ms", ""), rows,
                        rule=True)


# -- the scenarios -----------------------------------------------------------------------------


class Bench:
    """One WAN and controller; slices to break; each scenario measured ``reps`` times."""

    def __init__(self, ctl: ControllerProcess, wan, work: Path, progress: Progress):
        self.ctl, self.wan, self.work, self.progress = ctl, wan, work, progress
        self.n = 0

    def host(self, site: str, port: int):
        return host_at(self.wan, site, port)

    def create(self, name: str, eps: list[tuple[str, int]], **kw) -> dict:
        doc = {"name": name, "tenant": "bench", "bandwidth_mbps": 5, "priority": 7,
               "endpoints": [{"site": s, "port": p, "ip": self.host(s, p)[1]} for s, p in eps], **kw}
        self.ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(doc)), timeout=30)
        return doc

    def stream(self, doc: dict, seconds: float, a: int = 0, b: int = 1) -> Stream:
        src = self.host(doc["endpoints"][a]["site"], doc["endpoints"][a]["port"])[0]
        self.n += 1
        return Stream(src, doc["endpoints"][b]["ip"], seconds, self.work / f"stream-{self.n}.txt")

    def core_link(self, name: str) -> tuple[str, str]:
        tree = self.ctl.slices.GetSlice(pb.GetSliceRequest(name=name), timeout=10).tree
        kind = {s.name: s.kind for s in self.ctl.topology_api.GetTopology(pb.GetTopologyRequest()).sites}
        return next((l.a, l.b) for l in tree if kind[l.a] == "core" and kind[l.b] == "core")

    def transit_site(self, name: str) -> str | None:
        """A core site the slice crosses that is not an endpoint site's only way out:
        one a drain can route the slice around (None if it crosses none)."""
        s = self.ctl.slices.GetSlice(pb.GetSliceRequest(name=name), timeout=10)
        t = self.ctl.topology_api.GetTopology(pb.GetTopologyRequest())
        kind = {x.name: x.kind for x in t.sites}
        neighbours: dict[str, set] = {}
        for l in t.links:
            neighbours.setdefault(l.a, set()).add(l.b)
            neighbours.setdefault(l.b, set()).add(l.a)
        needed = {next(iter(neighbours[e.site])) for e in s.endpoints if len(neighbours[e.site]) == 1}
        crossed = sorted({x for l in s.tree for x in (l.a, l.b)})
        return next((x for x in crossed if kind[x] == "core" and x not in needed), None)

    def settle(self) -> None:
        """Until every switch is connected and every link in use again."""
        self.ctl.wait_switches(timeout=60)

    def protected_cut(self, doc: dict) -> Outage:
        """``cut-protected``: a core link of the protected slice's tree cut; filed under
        ONE_END when its backup tree crosses only one of the link's two switches."""
        a, b = self.core_link(doc["name"])
        backup = self.ctl.slices.GetSlice(pb.GetSliceRequest(name=doc["name"]), timeout=10).backup
        on_backup = {x for l in backup for x in (l.a, l.b)}
        return self.link_failure("cut-protected" if {a, b} <= on_backup else ONE_END, doc, "cut", link=(a, b))

    def link_failure(self, scenario: str, doc: dict, mode: str, link: tuple[str, str] | None = None,
                     probes_only: bool | None = None) -> Outage:
        """Break ``link`` (default: a core link of the slice's tree) with fault ``mode``
        under a stream between the slice's first two endpoints, then restore it.
        ``probes_only`` (default: for a silent link): BFD off on it meanwhile."""
        a, b = link or self.core_link(doc["name"])
        probes_only = scenario == "silent" if probes_only is None else probes_only
        if probes_only:
            set_bfd(self.wan, a, b, False)
        s = self.stream(doc, 2.5)
        time.sleep(0.5)
        self.wan.fault_link(a, b, mode)
        outage = s.outage(scenario, f"{a}—{b}")
        self.wan.fault_link(a, b, "restore")
        if probes_only:
            set_bfd(self.wan, a, b, True)
        self.settle()
        return outage

    def site_loss(self, doc: dict, index: int = 1) -> Outage:
        """Lose the site of endpoint ``index`` (which has a standby), streaming to it from
        the first other endpoint; restore it and fail the endpoint back after."""
        primary = doc["endpoints"][index]
        standby_host, standby_ip = self.host(primary["standby"]["site"], primary["standby"]["port"])
        intf = standby_host.defaultIntf().name
        s = self.stream(doc, 4.0, a=0 if index else 1, b=index)
        time.sleep(0.5)
        self.wan.fault_site(primary["site"], "lost")
        standby_host.cmd(f"ip addr flush dev {intf}; ip addr add {primary['ip']}/8 dev {intf}")
        standby_host.cmd(f"arping -q -U -I {intf} -c 4 {primary['ip']} > /dev/null 2>&1 &")
        outage = s.outage("site-loss", primary["site"])
        self.wan.fault_site(primary["site"], "restore")
        standby_host.cmd(f"ip addr flush dev {intf}; ip addr add {standby_ip}/8 dev {intf}")
        self.settle()
        self.ctl.slices.FailbackEndpoints(pb.FailbackEndpointsRequest(name=doc["name"]), timeout=30)
        home = self.host(primary["site"], primary["port"])[0]
        home.cmd(f"arping -q -U -I {home.defaultIntf().name} -c 2 {primary['ip']}")
        return outage

    def drain(self, doc: dict, site: str | None = None) -> Outage:
        """Drain ``site`` (default: a transit site of the slice) under a stream between
        the slice's first two endpoints, then undrain it."""
        site = site or self.transit_site(doc["name"])
        s = self.stream(doc, 2.0)
        time.sleep(0.5)
        self.ctl.topology_api.DrainSite(pb.DrainSiteRequest(site=site), timeout=30)
        outage = s.outage("drain", site)
        self.ctl.topology_api.UndrainSite(pb.UndrainSiteRequest(site=site), timeout=30)
        return outage

    def scale_out(self, doc: dict, extra: tuple[str, int], shrink: bool = True) -> Outage:
        """Add a cloud to the slice under a stream between two endpoints it had (and, with
        ``shrink``, take it out again after)."""
        grown = {**doc, "endpoints": doc["endpoints"] + [{"site": extra[0], "port": extra[1],
                                                           "ip": self.host(*extra)[1]}]}
        s = self.stream(doc, 2.0)
        time.sleep(0.5)
        self.ctl.slices.UpdateSlice(pb.UpdateSliceRequest(spec=doc_to_spec(grown)), timeout=30)
        outage = s.outage("scale-out", extra[0])
        if shrink:
            self.ctl.slices.UpdateSlice(pb.UpdateSliceRequest(spec=doc_to_spec(doc)), timeout=30)
        else:
            doc["endpoints"] = grown["endpoints"]
        return outage


def set_bfd(wan, a: str, b: str, enabled: bool) -> None:
    """Turn Open vSwitch's BFD on the a—b link on or off (both ends)."""
    link = next(l for l in wan.plan.links if {l.a, l.b} == {a, b})
    args = []
    for intf in link.ends:
        args += ["--", "set", "Interface", intf, f"bfd:enable={str(enabled).lower()}"]
    subprocess.run(["ovs-vsctl", "--timeout=10", *args], check=True, capture_output=True)


def run_failover_bench(reps: int, progress: Progress, scenarios=SCENARIOS) -> dict:
    """Every scenario ``reps`` times on japan-intercloud; the summary (see :func:`summarize`)."""
    import tempfile

    from topologies import load
    from topologies.emulation.wan import SLA_TOLERANCE_OPTIONS, Wan

    topo = load("japan-intercloud")
    results: list[Outage] = []
    with tempfile.TemporaryDirectory(prefix="slicing-failover-") as tmp:
        work = Path(tmp)
        with ControllerProcess(topo.name, work / "store.db", work / "controller.log",
                               options=SLA_TOLERANCE_OPTIONS) as ctl, \
                Wan(topo, controller=("127.0.0.1", ctl.of), progress=progress) as wan:
            ctl.wait_switches()
            bench = Bench(ctl, wan, work, progress)
            protected = bench.create("protected", [("tokyo-dc", 1), ("fukuoka-dc", 1)], protection="link")
            plain = bench.create("plain", [("tokyo-dc", 2), ("fukuoka-dc", 2)])
            dr = bench.create("dr", [("seoul-dc", 1), ("osaka-dc", 1)])
            dr["endpoints"][1]["standby"] = {"site": "nagoya-dc", "port": 1}
            ctl.slices.UpdateSlice(pb.UpdateSliceRequest(spec=doc_to_spec(dr)), timeout=30)
            plan = {"cut-protected": lambda: bench.protected_cut(protected),
                    "cut-unprotected": lambda: bench.link_failure("cut-unprotected", plain, "cut"),
                    "silent": lambda: bench.link_failure("silent", plain, "silent"),
                    "site-loss": lambda: bench.site_loss(dr),
                    "drain": lambda: bench.drain(plain),
                    "scale-out": lambda: bench.scale_out(plain, ("sapporo-dc", 1))}
            for name in scenarios:
                for i in range(reps):
                    r = plan[name]()
                    results.append(r)
                    progress(f"{name} {i + 1}/{reps} ({r.what}): outage {r.outage_s * 1000:.0f} ms, "
                             f"{r.lost}/{r.sent} probes lost")
    return {"topology": topo.name, "repetitions": reps, "stream_interval_ms": STREAM_INTERVAL_S * 1000,
            "scenarios": summarize(results)}
