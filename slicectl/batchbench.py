"""`slicectl bench batch`: many slices on the emulated japan-intercloud with real switches,
created one CreateSlice at a time and then with CreateSlices, in the same run; deleted
one DeleteSlice at a time after the first, with DeleteSlices after the second.

A benchmark, not a test (needs root): it reports slices/s of each way and their ratio.
Each phase starts from an empty controller and ends when the controller has answered
every request, which it does only after every switch confirmed the rules with a barrier
reply; a slice is counted only if its answer says ACTIVE. Between the phases every slice
is deleted (timed too). Where a request's time goes comes from the controller's own
histograms (slicectl.requesttimes). To show the rules really forward, three of the slices are
untagged two-cloud slices between Mininet hosts, pinged after each phase; the switches'
flow counts after each phase must be equal (the same slices, the same rules).

Link liveness comes from port status alone here (the WAN's BFD and the controller's link
probes are off): one ovs-vswitchd emulates all 18 switches on two cores, and tens of
thousands of flow changes stall it for longer than BFD's 150 ms detection time, so every
link "failed" after ~300 slices (measured), which real switches, each with its own CPU
and BFD in hardware, would not see.

Load: ``slices`` two- or three-cloud slices on tagged endpoints (a VLAN of their own on a
random host port of each cloud), the least a meter enforces (0.064 Mbit/s) each, so that
capacity never refuses one.
"""
from __future__ import annotations

import random
import subprocess
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable

from proto.convert import doc_to_spec
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.demo import all_pairs_pass
from slicectl.launcher import ControllerProcess
from slicectl.requesttimes import breakdown, scrape
from slices.spec import MIN_BANDWIDTH_MBPS
from topologies import load

Progress = Callable[[str], None]
SEQUENTIAL, BATCHED = "one by one", "batched"
PROBE_PAIRS = (("tokyo-dc", "osaka-dc"), ("nagoya-dc", "fukuoka-dc"), ("sapporo-dc", "sendai-dc"))


def tagged_docs(topo, n: int, seed: int) -> list[dict]:
    """``n`` slice specs on the topology's clouds, every endpoint a VLAN of its own."""
    rng = random.Random(seed)
    clouds = [s for s in topo.sites if s.kind == "cloud" and s.hosts]
    vlans = iter(range(2, 4095))
    docs = []
    for i in range(n):
        vlan = next(vlans, None)
        if vlan is None:
            raise ValueError(f"at most 4,093 slices: one VLAN each (asked for {n})")
        docs.append({"name": f"bulk-{i}", "tenant": f"tenant-{i % 20}", "bandwidth_mbps": MIN_BANDWIDTH_MBPS,
                     "endpoints": [{"site": s.name, "port": rng.randint(1, s.hosts), "vlan": vlan}
                                   for s in rng.sample(clouds, rng.choice([2, 3]))]})
    return docs


def probe_docs(wan) -> list[dict]:
    """Untagged two-cloud slices between the first hosts of :data:`PROBE_PAIRS`."""
    docs = []
    for a, b in PROBE_PAIRS:
        ends = [next(h for h in wan.plan.hosts if h.site == s and h.port == 1) for s in (a, b)]
        docs.append({"name": f"probe-{a}-{b}", "tenant": "bench", "bandwidth_mbps": 1,
                     "endpoints": [{"site": h.site, "port": h.port, "ip": h.address} for h in ends]})
    return docs


def flows_per_switch(wan) -> dict[str, int]:
    """Flow entries in each switch of the WAN (by switch name), as Open vSwitch counts them."""
    out = {}
    for s in wan.plan.switches:
        text = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-aggregate", s.name],
                              capture_output=True, text=True, check=True).stdout
        out[s.name] = int(text.split("flow_count=")[1].split()[0])
    return out


def flow_count(wan) -> int:
    """Flow entries in every switch of the WAN, as Open vSwitch counts them."""
    return sum(flows_per_switch(wan).values())


def create_one_by_one(ctl: ControllerProcess, docs: list[dict], progress: Progress,
                      timeout: float = 60) -> list[pb.Slice]:
    """One CreateSlice per spec, in order; the answers."""
    out = []
    for i, d in enumerate(docs):
        out.append(ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(d)), timeout=timeout))
        if (i + 1) % 250 == 0:
            progress(f"  {i + 1}/{len(docs)} created one by one")
    return out


def _concurrent(ctl: ControllerProcess, docs: list[dict], clients: int, progress: Progress) -> list[pb.Slice]:
    """``clients`` clients at once, each creating its share of ``docs`` one CreateSlice at a
    time (the controller creates the calls that wait together: group commit)."""
    out: list = [None] * len(docs)

    def client(k: int) -> None:
        for i in range(k, len(docs), clients):
            out[i] = ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(docs[i])), timeout=60)
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(client, range(clients)))
    progress(f"  {len(docs)}/{len(docs)} created one by one by {clients} clients at once")
    return out


def create_batched(ctl: ControllerProcess, docs: list[dict], size: int, progress: Progress,
                   timeout: float = 120) -> list[pb.Slice]:
    """CreateSlices of up to ``size`` specs each, in order; the answers."""
    out = []
    for i in range(0, len(docs), size):
        chunk = docs[i:i + size]
        out += ctl.slices.CreateSlices(pb.CreateSlicesRequest(specs=[doc_to_spec(d) for d in chunk]),
                                       timeout=timeout).slices
        progress(f"  {len(out)}/{len(docs)} created in requests of up to {size}")
    return out


def _delete_sequential(ctl: ControllerProcess, docs: list[dict], progress: Progress) -> None:
    for i, d in enumerate(docs):
        ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name=d["name"]), timeout=60)
        if (i + 1) % 250 == 0:
            progress(f"  {i + 1}/{len(docs)} deleted one by one")


def _delete_batched(ctl: ControllerProcess, docs: list[dict], size: int, progress: Progress) -> None:
    for i in range(0, len(docs), size):
        ctl.slices.DeleteSlices(pb.DeleteSlicesRequest(names=[d["name"] for d in docs[i:i + size]]), timeout=120)
        progress(f"  {min(i + size, len(docs))}/{len(docs)} deleted in requests of up to {size}")


def _phase(name: str, create: Callable[[], list[pb.Slice]], delete: Callable[[], None], ctl, wan, docs, probes,
           progress) -> dict:
    progress(f"{name}: creating {len(docs)} slices")
    before = scrape(ctl.metrics_url)
    started = time.monotonic()
    made = create()
    seconds = time.monotonic() - started
    parts = breakdown(before, scrape(ctl.metrics_url), "CreateSlices" if name == BATCHED else "CreateSlice")
    active = sum(1 for s in made if s.state == pb.SLICE_STATE_ACTIVE)
    _took, ok, pairs = all_pairs_pass(wan, probes, timeout_s=20)
    flows = flow_count(wan)
    progress(f"{name}: {len(made)} slices in {seconds:.2f} s ({len(made) / seconds:,.0f}/s), {active} ACTIVE, "
             f"probe pairs {ok}/{pairs}, {flows:,} flow entries; deleting them")
    started = time.monotonic()
    delete()
    deleted_s = time.monotonic() - started
    progress(f"{name}: {len(docs)} slices deleted in {deleted_s:.2f} s ({len(docs) / deleted_s:,.0f}/s)")
    return {"slices": len(made), "seconds": round(seconds, 3), "slices_per_s": round(len(made) / seconds, 1),
            "active": active, "probe_pairs_ok": ok, "probe_pairs": pairs, "flow_entries": flows,
            "delete_seconds": round(deleted_s, 3), "deletes_per_s": round(len(docs) / deleted_s, 1),
            "breakdown_ms": parts}


def run_batch_bench(slices: int, batch: int, seed: int, progress: Progress, prefix: str | None = None,
                    clients: int = 1) -> dict:
    """Create ``slices`` slices one by one, delete them, create them again in requests of
    ``batch``; the figures of both phases and the speed-up. With ``clients`` > 1, in
    between: the same slices created one by one by that many clients at once, deleted
    with DeleteSlices."""
    from topologies.emulation.wan import Wan

    topo = load("japan-intercloud")
    with tempfile.TemporaryDirectory(prefix="slicing-batch-") as tmp:
        with ControllerProcess("japan-intercloud", Path(tmp) / "store.db", Path(tmp) / "controller.log",
                               ("--no-probes",)) as ctl, \
                Wan(topo, controller=("127.0.0.1", ctl.of), progress=progress, bfd=False, prefix=prefix) as wan:
            ctl.wait_switches()
            probes = probe_docs(wan)
            docs = probes + tagged_docs(topo, slices - len(probes), seed)
            base = flow_count(wan)
            one = _phase(SEQUENTIAL, lambda: create_one_by_one(ctl, docs, progress),
                         lambda: _delete_sequential(ctl, docs, progress), ctl, wan, docs, probes, progress)
            together = _phase(f"{clients} clients", lambda: _concurrent(ctl, docs, clients, progress),
                              lambda: _delete_batched(ctl, docs, batch, progress), ctl, wan, docs, probes,
                              progress) if clients > 1 else None
            many = _phase(BATCHED, lambda: create_batched(ctl, docs, batch, progress),
                          lambda: _delete_batched(ctl, docs, batch, progress), ctl, wan, docs, probes, progress)
            left = flow_count(wan)
    return {"topology": topo.name, "slices": slices, "batch": batch, "seed": seed,
            "switches": len(topo.sites), "flow_entries_empty": base, "flow_entries_after_deletes": left,
            "sequential": one, "batched": many, "clients": clients, "concurrent": together,
            "speedup": round(one["seconds"] / many["seconds"], 1) if many["seconds"] else None,
            "delete_speedup": round(one["delete_seconds"] / many["delete_seconds"], 1)
            if many["delete_seconds"] else None}


def format_report(r: dict) -> str:
    lines = [f"{r['slices']:,} slices on {r['topology']} ({r['switches']} switches, real Open vSwitch):"]
    for key, label in _phases(r):
        p = r[key]
        lines.append(f"  {label:<34} {p['seconds']:7.2f} s  {p['slices_per_s']:8,.0f} slices/s  "
                     f"{p['active']:,} ACTIVE  probes {p['probe_pairs_ok']}/{p['probe_pairs']}  "
                     f"{p['flow_entries']:,} flow entries  (deleted in {p['delete_seconds']:.1f} s, "
                     f"{p['deletes_per_s']:,.0f}/s)")
    lines.append(f"  batched is {r['speedup']}x faster to create, {r['delete_speedup']}x faster to delete "
                 "(DeleteSlices)")
    for key, label in _phases(r, ("one CreateSlice", "one CreateSlice of {} clients", "one CreateSlices")):
        if r[key]["breakdown_ms"]:
            lines.append(f"  {label}, mean ms: " + ", ".join(f"{k} {v}" for k, v in r[key]["breakdown_ms"].items()))
    return "\n".join(lines)


def _phases(r: dict, labels=("one CreateSlice each", "{} clients, one CreateSlice each",
                              "CreateSlices of up to {}")) -> list[tuple[str, str]]:
    """(key, label) of each phase the run had."""
    out = [("sequential", labels[0])]
    if r.get("concurrent"):
        out.append(("concurrent", labels[1].format(r["clients"])))
    return out + [("batched", labels[2].format(f"{r['batch']:,}"))]


def healthy(r: dict) -> bool:
    """Every slice ACTIVE and every probe pair passing in every phase, the same rules after
    each, and none left after the deletes."""
    phases = [r[key] for key, _label in _phases(r)]
    return (all(p["active"] == r["slices"] and p["probe_pairs_ok"] == p["probe_pairs"] for p in phases)
            and len({p["flow_entries"] for p in phases}) == 1
            and r["flow_entries_after_deletes"] == r["flow_entries_empty"])
