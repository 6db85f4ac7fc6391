"""The cluster under faults of its own parts (``make bench-chaos``): three controllers on a
three-member etcd, every switch of the emulated two-clouds WAN connected to all three, a
client load of creates, updates and deletes with retries (slicectl.chaosload) and a 10 ms
ping stream on a slice made before. Each fault, several times:

* ``leader-kill``: the leading controller ``kill -9`` (started again afterwards);
* ``leader-freeze``: the leading controller frozen (SIGSTOP) 10 s, then woken;
* ``all-controllers``: every controller ``kill -9`` at once, then all started again;
* ``etcd-leader-kill``: etcd's leader member ``kill -9`` (started again afterwards);
* ``etcd-member-freeze``: one etcd member frozen 10 s (the leader, then a follower, in turn);
* ``etcd-majority-lost``: two of three members killed, started again 10 s later;
* ``etcd-restart-all``: every member stopped and started again on its data.

Measured per fault: the longest time without an acknowledged write from the fault on,
and how long after the fault was undone writes came back; acknowledged operations the
cluster does not reflect (lost); operations the store's event log shows done twice;
probes of the stream lost; and the switch tables against the plan afterwards (every
slice's rules present, no rule of a deleted slice left, the old slice's rules untouched,
and the leader's own audit finding nothing to repair)."""
from __future__ import annotations

import re
import shutil
import subprocess
import time
import urllib.request
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import grpc

from proto.convert import doc_to_spec
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl import client
from slicectl.chaosload import PREFIX, Load, longest_without_writes, lost_acknowledged, made_twice
from slicectl.etcdlocal import EtcdCluster
from slicectl.failover import STREAM_INTERVAL_S, Stream, host_at
from slicectl.launcher import ControllerProcess
from slicectl.report import percentile, render_table
from slices.rules import slice_cookie

TOPOLOGY = "two-clouds"
FAULTS = ("leader-kill", "leader-freeze", "all-controllers", "etcd-leader-kill", "etcd-member-freeze",
          "etcd-majority-lost", "etcd-restart-all")
HELD_S = 10.0          # how long a frozen process stays frozen, a lost majority stays lost
STEADY_S = 3.0         # load and stream before the fault
AFTER_S = 15.0         # load and stream after the fault is undone
CONTROLLER_NICE = 10
AUDIT_S = 2.0          # the controllers' audit interval here: the tables check waits for two
# what the issue asks (seconds): any one member killed interrupts writes at most 3 s; etcd
# restarted on its data takes writes again within 5 s
GOALS = {"etcd-leader-kill": ("interrupted_s", 3.0), "etcd-restart-all": ("back_after_undo_s", 5.0)}
Progress = Callable[[str], None]


@dataclass
class FaultRun:
    fault: str
    what: str                  # which instance or member
    interrupted_s: float       # longest time without an acknowledged write, from the fault on
    back_after_undo_s: float   # first acknowledged write after the fault was undone
    acknowledged: int
    refused: int               # attempts refused or timed out (then retried)
    codes: dict                # their status codes
    lost: list
    twice: list
    unresolved: list
    errors: list
    probes_lost: int
    probes_sent: int
    tables: list               # what differs from the plan ([] when nothing)


def leader_of(ctls: list[ControllerProcess]) -> ControllerProcess | None:
    """The instance the cluster names leader, asked of those that answer."""
    for c in ctls:
        if c.proc is None or c.proc.poll() is not None or c.channel is None:
            continue
        try:
            t = c.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=2)
        except grpc.RpcError:
            continue
        api = next((x.api for x in t.controllers if x.leader), None)
        found = next((x for x in ctls if x.grpc == api), None)
        if found is not None:
            return found
    return None


def flow_tables(wan) -> dict[str, list[str]]:
    """Each switch's OpenFlow entries, as Open vSwitch holds them (no counters)."""
    out = {}
    for s in wan.plan.switches:
        dump = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-flows", s.name, "--no-stats"],
                              capture_output=True, text=True, check=True).stdout
        out[s.name] = sorted(line.strip() for line in dump.splitlines() if "cookie" in line or "priority" in line)
    return out


def cookies(tables: dict[str, list[str]]) -> set[int]:
    return {int(m, 16) for rules in tables.values() for r in rules for m in re.findall(r"cookie=(0x[0-9a-f]+)", r)}


def audit_repairs(ctl: ControllerProcess) -> float:
    """The instance's count of entries its audits changed (intercloud_audit_repairs_total)."""
    with urllib.request.urlopen(ctl.metrics_url, timeout=5) as r:
        text = r.read().decode()
    found = re.search(r"^intercloud_audit_repairs_total (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0


def store_events(etcd_url: str) -> list[tuple[str, str]]:
    """(slice, kind) of every event in the cluster's store, read from etcd directly — not
    through the controllers whose writes are being checked."""
    import json

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        import etcd3gw
    host, port = etcd_url.removeprefix("etcd://").split(",")[0].rsplit(":", 1)
    c = etcd3gw.client(host=host, port=int(port), api_path="/v3/", timeout=5)
    rows = c.get_prefix(f"/intercloud-slicing/{TOPOLOGY}/events/")
    return [(e["slice"], e["kind"]) for e in (json.loads(v) for v, _m in rows)]


class Rig:
    """The etcd members, the controllers and the WAN; the slice made before any fault."""

    def __init__(self, work: Path, progress: Progress):
        self.work, self.progress = work, progress
        self.etcd = EtcdCluster(work / "etcd", members=3)
        self.ctls: list[ControllerProcess] = []
        self.wan = None
        self.runs = 0

    def __enter__(self) -> "Rig":
        from topologies import load
        from topologies.emulation.wan import Wan

        self.etcd.start()
        options = ("--cluster", self.etcd.url, "--audit-interval", f"{AUDIT_S:g}")
        # below the emulated network (nice 10): the three would be machines of their own,
        # and started together on two shared cores they starved the switches and links
        # (round trips 20 → 120 ms, then 0.55 s of the stream lost, once in three runs)
        self.ctls = [ControllerProcess(TOPOLOGY, self.work / f"unused-{i}.db", self.work / f"controller-{i}.log",
                                       (*options, "--name", f"c{i}"), nice=CONTROLLER_NICE).start()
                     for i in range(3)]
        # BFD off: no link fails in this benchmark, and 50 ms BFD sessions on the userspace
        # datapath flapped here when a burst of flow changes held Open vSwitch up (all three
        # links at once, 6 s after a controller restart: 1.47 s of the stream lost, 2026-12-06)
        self.wan = Wan(load(TOPOLOGY), controller=[("127.0.0.1", c.of) for c in self.ctls], progress=self.progress,
                       bfd=False)
        self.wan.start()
        for c in self.ctls:
            c.wait_switches()
        self.servers = ",".join(c.grpc for c in self.ctls)
        self.stub = client.stub(client.Server(self.servers))
        ends = [host_at(self.wan, s, 1) for s in ("tokyo-dc", "osaka-dc")]
        self.stream_ends = (ends[0][0], ends[1][1])
        doc = {"name": "existing", "tenant": "chaos", "bandwidth_mbps": 2, "priority": 7,
               "endpoints": [{"site": s, "port": 1, "ip": ip} for s, (_h, ip) in zip(("tokyo-dc", "osaka-dc"), ends)]}
        made = self.stub.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(doc)), timeout=30)
        self.existing_cookie = slice_cookie(made.id)
        time.sleep(2 * AUDIT_S)
        self.base = flow_tables(self.wan)
        return self

    def __exit__(self, *exc) -> None:
        for c in self.ctls:
            c.freeze(False)
            c.stop()
        if self.wan is not None:
            self.wan.stop()
        self.etcd.stop()

    def load_doc(self, name: str, n: int) -> dict:
        """The n-th load slice: Tokyo–Osaka on port 2, VLAN-tagged, a tag of its own."""
        return {"name": name, "tenant": "chaos", "bandwidth_mbps": 1,
                "endpoints": [{"site": s, "port": 2, "vlan": 100 + n % 3000} for s in ("tokyo-dc", "osaka-dc")]}

    def leader(self, timeout: float = 30) -> ControllerProcess:
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            found = leader_of(self.ctls)
            if found is not None:
                return found
            time.sleep(0.2)
        raise RuntimeError(f"no controller is the cluster's leader after {timeout:g} s; see {self.work}")

    def holdings(self, timeout: float = 60) -> dict[str, pb.Slice]:
        """Every slice the cluster holds, by name (asked until an instance answers)."""
        started = time.monotonic()
        while True:
            try:
                return {s.spec.name: s for s in self.stub.ListSlices(pb.ListSlicesRequest(), timeout=5).slices}
            except grpc.RpcError:
                if time.monotonic() - started > timeout:
                    raise
                time.sleep(0.5)

    def tables_against_plan(self, held: dict[str, pb.Slice]) -> list[str]:
        """What the switches hold that the plan does not, or lack: by slice cookie (every
        slice held has entries, no other slice has any), the old slice's entries exactly as
        before, and the leader's audit, given two rounds, changing nothing."""
        tables = flow_tables(self.wan)
        others = cookies(self.base) - {self.existing_cookie}
        want = others | {slice_cookie(s.id) for s in held.values()}
        present = cookies(tables)
        problems = [f"no entries for slice {n}" for n, s in held.items() if slice_cookie(s.id) not in present]
        problems += [f"entries of a slice the cluster does not hold (cookie {hex(c)})" for c in sorted(present - want)]
        mark = f"cookie={hex(self.existing_cookie)},"
        for sw, rules in tables.items():
            if [r for r in rules if r.startswith(mark)] != [r for r in self.base[sw] if r.startswith(mark)]:
                problems.append(f"{sw}: the old slice's entries changed")
        leader = self.leader()
        before = audit_repairs(leader)
        time.sleep(2 * AUDIT_S + 0.5)
        repaired = audit_repairs(leader) - before if self.leader() is leader else 0.0
        if repaired:
            problems.append(f"the leader's audit changed {repaired:g} entries")
        return problems

    def clear_load(self) -> None:
        """Delete what the load left, so that the next run starts from the old slice alone."""
        for name in [n for n in self.holdings() if n.startswith(PREFIX)]:
            for _ in range(50):
                try:
                    self.stub.DeleteSlice(pb.DeleteSliceRequest(name=name), timeout=10)
                    break
                except grpc.RpcError as e:
                    if e.code() == grpc.StatusCode.NOT_FOUND:
                        break
                    time.sleep(0.2)


def restart_controller(ctl: ControllerProcess) -> None:
    ctl.start()
    ctl.wait_switches()


def inject(rig: Rig, fault: str, rep: int) -> tuple[str, Callable | None, Callable | None]:
    """Cause ``fault``: (what it hit, what undoes it after HELD_S or None, what puts the
    rig back once the run is measured or None)."""
    etcd = rig.etcd
    if fault == "leader-kill":
        victim = rig.leader()
        victim.kill9()
        return victim.grpc, None, lambda: restart_controller(victim)
    if fault == "leader-freeze":
        victim = rig.leader()
        victim.freeze(True)
        return victim.grpc, lambda: victim.freeze(False), None
    if fault == "all-controllers":
        for c in rig.ctls:
            c.kill9()
        for c in rig.ctls:
            c.start()
        return "every controller", None, None
    members = [m for m in etcd.members if m.running()]
    leader = etcd.leader() or members[0]
    followers = [m for m in members if m is not leader]
    if fault == "etcd-leader-kill":
        leader.kill()
        return f"member {leader.name} (leader)", None, lambda: etcd.restart(leader)
    if fault == "etcd-member-freeze":
        victim, role = (leader, "leader") if rep % 2 == 0 else (followers[0], "follower")
        victim.freeze(True)
        return f"member {victim.name} ({role})", lambda: victim.freeze(False), None
    if fault == "etcd-majority-lost":
        lost = [leader, followers[0]]
        for m in lost:
            m.kill()
        return f"members {lost[0].name} (leader), {lost[1].name}", lambda: [etcd.restart(m) for m in lost], None
    if fault == "etcd-restart-all":
        for m in etcd.members:
            m.stop()
        etcd.start()
        return "every member", None, None
    raise ValueError(f"unknown fault {fault!r} (one of: {', '.join(FAULTS)})")


def run_once(rig: Rig, fault: str, rep: int) -> FaultRun:
    """One fault under load and the stream; the measurements and checks after it."""
    rig.runs += 1
    held = HELD_S if fault in ("leader-freeze", "etcd-member-freeze", "etcd-majority-lost") else 0.0
    seconds = STEADY_S + held + AFTER_S
    stream = Stream(*rig.stream_ends, seconds + 1, rig.work / f"ping-{fault}-{rep}.txt")
    began = time.monotonic()
    load = Load(rig.servers, rig.load_doc, start_at=rig.runs * 10_000).start()
    time.sleep(STEADY_S)
    fault_at = time.monotonic()
    what, undo, restore = inject(rig, fault, rep)
    if undo is not None:
        time.sleep(max(0.0, fault_at + held - time.monotonic()))
        undo()
    undone_at = time.monotonic()
    time.sleep(max(0.0, began + seconds - time.monotonic()))
    ledger = load.stop()
    stopped_at = time.monotonic()
    outage = stream.outage(fault, what)
    if restore is not None:
        restore()
    held_slices = rig.holdings()
    load_held = {n: s.spec.bandwidth_mbps for n, s in held_slices.items() if n.startswith(PREFIX)}
    refused = [a for a in ledger.attempts if a.outcome != "ok"]
    back = ledger.acks_between(undone_at, stopped_at)
    run = FaultRun(fault, what, round(longest_without_writes(ledger, fault_at, stopped_at), 3),
                   round(back[0] - undone_at, 3) if back else float("inf"),
                   sum(1 for a in ledger.attempts if a.outcome == "ok"), len(refused),
                   {c: sum(1 for a in refused if a.outcome == c) for c in sorted({a.outcome for a in refused})},
                   lost_acknowledged(ledger, load_held), made_twice(store_events(rig.etcd.url)),
                   ledger.unresolved, ledger.errors, outage.lost, outage.sent,
                   rig.tables_against_plan(held_slices))
    rig.clear_load()
    return run


def missed(run: FaultRun) -> list[str]:
    """What this run did not meet: nothing lost, twice, unresolved or wrong, no probe lost,
    tables as planned, and the fault's own goal (GOALS)."""
    out = [f"{len(x)} {label}" for x, label in ((run.lost, "lost"), (run.twice, "made twice"),
                                                 (run.unresolved, "unresolved"), (run.errors, "errors"),
                                                 (run.tables, "table differences")) if x]
    if run.probes_lost:
        out.append(f"{run.probes_lost} probes lost")
    if run.fault in GOALS:
        field, bound = GOALS[run.fault]
        if getattr(run, field) > bound:
            out.append(f"{field} {getattr(run, field):.2f} > {bound:g}")
    return out


def summarize(runs: list[FaultRun]) -> dict:
    """Per fault: repetitions, interruption and return of writes (p50, max), totals."""
    out = {}
    for fault in FAULTS:
        rows = [r for r in runs if r.fault == fault]
        if not rows:
            continue
        gaps, backs = [r.interrupted_s for r in rows], [r.back_after_undo_s for r in rows]
        out[fault] = {"repetitions": len(rows), "interrupted_s_p50": percentile(gaps, 50),
                      "interrupted_s_max": max(gaps), "back_after_undo_s_max": max(backs),
                      "acknowledged": sum(r.acknowledged for r in rows), "refused": sum(r.refused for r in rows),
                      "lost": sum(len(r.lost) for r in rows), "twice": sum(len(r.twice) for r in rows),
                      "probes_lost": sum(r.probes_lost for r in rows),
                      "probes_sent": sum(r.probes_sent for r in rows),
                      "tables_as_planned": sum(1 for r in rows if not r.tables),
                      "goal": "{} <= {:g} s".format(*GOALS[fault]) if fault in GOALS else None,
                      "missed": sorted({m for r in rows for m in missed(r)}),
                      "runs": [asdict(r) for r in rows]}
    return out


def format_summary(summary: dict) -> str:
    rows = [(f, s["repetitions"], f"{s['interrupted_s_p50']:.2f}", f"{s['interrupted_s_max']:.2f}",
             f"{s['back_after_undo_s_max']:.2f}", f"{s['acknowledged']}", f"{s['lost']}", f"{s['twice']}",
             f"{s['probes_lost']}/{s['probes_sent']}", f"{s['tables_as_planned']}/{s['repetitions']}",
             s["goal"] or "-", "; ".join(s["missed"]) or "ok") for f, s in summary.items()]
    return render_table(("fault", "reps", "no writes p50 s", "max s", "back after undo s", "acked", "lost",
                         "twice", "probes lost", "tables ok", "goal", ""), rows, rule=True)


def run_chaos_bench(reps: int, progress: Progress, faults: tuple[str, ...] = FAULTS,
                    work: Path = Path("results/chaos-work")) -> dict:
    """Every fault ``reps`` times on one rig; the summary (see :func:`summarize`). The
    controllers' and members' logs, data and ping records stay in ``work`` (emptied first
    if an earlier run made it; refused if something else is there)."""
    marker = work / ".slicing-chaos"
    if work.exists() and any(work.iterdir()):
        if not marker.exists():
            raise ValueError(f"{work} is not empty and not an earlier chaos run's: give another --work")
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    marker.touch()
    runs: list[FaultRun] = []
    with Rig(work, progress) as rig:
        for fault in faults:
            for i in range(reps):
                r = run_once(rig, fault, i)
                runs.append(r)
                progress(f"{fault} {i + 1}/{reps} ({r.what}): no writes for {r.interrupted_s:.2f} s, back "
                         f"{r.back_after_undo_s:.2f} s after undo; {r.acknowledged} acknowledged, "
                         f"{len(r.lost)} lost, {len(r.twice)} twice, {r.probes_lost}/{r.probes_sent} probes "
                         f"lost; tables {'as planned' if not r.tables else '; '.join(r.tables)}")
    return {"topology": TOPOLOGY, "controllers": 3, "etcd_members": 3, "repetitions": reps,
            "held_s": HELD_S, "stream_interval_ms": STREAM_INTERVAL_S * 1000, "work": str(work),
            "faults": summarize(runs)}
