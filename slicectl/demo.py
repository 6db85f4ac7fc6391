"""The main job (`sudo make demo`) and the time-to-connectivity benchmark.

Demo: start the controller, bring up japan-intercloud in Mininet with its switches
pointed at it, apply the example slices over gRPC, prove from the hosts themselves that
each slice connects its endpoints (both ways) and that nobody reaches a slice from
outside, print a table per slice with its time-to-connectivity next to the 10-minute
target of the original programme, draw the slices on a map (SVG), tear everything down.

Time-to-connectivity: from the CreateSlice call until every ordered endpoint pair has
exchanged a ping (every pair in parallel, each pinging again as soon as its last ping ends).
"""
from __future__ import annotations

import json
import random
import statistics
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import grpc
import yaml

from proto.convert import doc_to_spec
from proto.defaults import REPORT_PAGE, RESULTS_DIR, RUN_RECORD
from slicectl.failover import Bench, host_at
from slicectl.htmlreport import run_record, write as write_report
from slicectl.report import percentile, render_table
from slicectl.wanmap import write_map
from slicectl.launcher import ControllerProcess
from slicectl.targets import RECOVERY_TARGET_S, TTC_TARGET_S, against
from slicectl.verify import Options as VerifyOptions, format_table as verify_table, read_inventory, until_connected, verify
from slicectl.verifyreport import check_record
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from topologies import load

DISASTER_LINK = ("tokyo-ix", "osaka-ix")  # the busiest trunk of japan-intercloud
EXAMPLES = Path(__file__).resolve().parent.parent / "examples" / "japan"
Progress = Callable[[str], None]


@dataclass
class Outcome:
    name: str
    priority: int
    sites: list[str]
    state: str
    worst_delay_ms: float
    ttc_s: float | None
    pairs_ok: int
    pairs: int
    isolated: bool | None = None


def endpoint_pairs(wan, docs: list[dict]) -> list[tuple[object, str]]:
    """(host, address) for every ordered endpoint pair of the slices: the host at one
    endpoint and the address of another."""
    out = []
    for d in docs:
        eps = [(host_at(wan, e["site"], e["port"])[0], e["ip"]) for e in d["endpoints"]]
        out += [(eps[i][0], eps[j][1]) for i in range(len(eps)) for j in range(len(eps)) if i != j]
    return out


def time_to_connectivity(ctl: ControllerProcess, wan, doc: dict,
                         timeout_s: float = 60) -> tuple[pb.Slice, float | None, int, int]:
    """Create the slice; seconds until every ordered endpoint pair passes a ping."""
    started = time.monotonic()
    created = ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(doc)), timeout=30)
    pairs = endpoint_pairs(wan, [doc])
    elapsed, ok = until_connected(pairs, started, timeout_s)
    return created, elapsed, ok, len(pairs)


def all_pairs_pass(wan, docs: list[dict], timeout_s: float = 60) -> tuple[float | None, int, int]:
    """Every ordered endpoint pair of the slices passes a ping (seconds taken or None, ok, all)."""
    pairs = endpoint_pairs(wan, docs)
    seconds, ok = until_connected(pairs, time.monotonic(), timeout_s)
    return seconds, ok, len(pairs)


def set_link(wan, a: str, b: str, up: bool) -> None:
    """Administratively take both ends of the a—b link down (or up), as a cut fibre would."""
    wan.fault_link(a, b, "restore" if up else "cut")


def _crossing(ctl: ControllerProcess, docs: list[dict], site: str | None = None,
              link: tuple[str, str] | None = None) -> list[str]:
    """The slices whose tree crosses ``site`` or ``link`` now."""
    out = []
    for d in docs:
        tree = ctl.slices.GetSlice(pb.GetSliceRequest(name=d["name"]), timeout=10).tree
        if (site and any(site in (l.a, l.b) for l in tree)) or (link and any({l.a, l.b} == set(link) for l in tree)):
            out.append(d["name"])
    return out


def drill(ctl: ControllerProcess, wan, docs: list[dict], progress: Progress, work: Path) -> list[dict]:
    """The disaster drill, a story in four events, each measured from a 10 ms ping stream
    between two endpoints of a slice it touches (:mod:`slicectl.failover`): a trunk
    failing silently; the loss of a whole cloud, its lifeline endpoint re-homed to its
    standby; a cloud added to a live slice; an exchange drained for maintenance. Every
    endpoint pair of every slice must pass traffic again after each."""
    bench, rows = Bench(ctl, wan, work, progress), []
    by_name = {d["name"]: d for d in docs}

    def row(event: str, touched: list[str], outage, target_s: float) -> None:
        seconds, ok, total = all_pairs_pass(wan, docs)
        rows.append({"event": event, "touched": touched, "outage_s": outage.outage_s, "lost": outage.lost,
                     "sent": outage.sent, "target_s": target_s, "all_pairs": seconds is not None,
                     "pairs": f"{ok}/{total}"})
        progress(f"{event}: outage {outage.outage_s * 1000:.0f} ms ({outage.lost}/{outage.sent} probes lost); "
                 f"every endpoint pair passing: {'yes' if seconds is not None else f'NO ({ok}/{total})'}")

    a, b = DISASTER_LINK
    hit = _crossing(ctl, docs, link=DISASTER_LINK)
    progress(f"drill 1: trunk {a}—{b} fails silently (ports up, frames lost); slices on it: {', '.join(hit) or 'none'}")
    # the WAN as the demo runs it (BFD on): whichever notices first, BFD or the probes
    outage = bench.link_failure("silent", by_name[hit[0]] if hit else docs[0], "silent", link=DISASTER_LINK,
                                probes_only=False)
    row(f"trunk {a}—{b} silent", hit, outage, RECOVERY_TARGET_S)

    lifeline = next(d for d in docs if any("standby" in e for e in d["endpoints"]))
    index = next(i for i, e in enumerate(lifeline["endpoints"]) if "standby" in e)
    site, standby = lifeline["endpoints"][index]["site"], lifeline["endpoints"][index]["standby"]
    hit = _crossing(ctl, docs, site=site)
    progress(f"drill 2: cloud {site} destroyed; {lifeline['name']}'s endpoint there has its standby at "
             f"{standby['site']}; slices there: {', '.join(hit)}")
    outage = bench.site_loss(lifeline, index)
    row(f"cloud {site} lost, endpoint at standby {standby['site']}", hit, outage, RECOVERY_TARGET_S)

    grow = next((d for d in docs if d.get("protection") == "link"), docs[-1])
    used = {(e["site"], e["port"]) for d in docs for e in d["endpoints"]} | {
        (e["standby"]["site"], e["standby"]["port"]) for d in docs for e in d["endpoints"] if "standby" in e}
    extra = next((h.site, h.port) for h in wan.plan.hosts if not h.probe and (h.site, h.port) not in used
                 and h.site not in {e["site"] for e in grow["endpoints"]})
    progress(f"drill 3: scale-out: {grow['name']} grows to {extra[0]}")
    outage = bench.scale_out(grow, extra, shrink=False)
    row(f"scale-out: {grow['name']} adds {extra[0]}", [grow["name"]], outage, TTC_TARGET_S)

    d, site = next(((d, s) for d in docs if (s := bench.transit_site(d["name"]))), (None, None))
    if site is None:
        progress("drill 4 skipped: no slice crosses an exchange it could be routed around")
        return rows
    hit = _crossing(ctl, docs, site=site)
    progress(f"drill 4: exchange {site} drained for maintenance; slices crossing it: {', '.join(hit)}")
    outage = bench.drain(d, site)
    row(f"exchange {site} drained", hit, outage, RECOVERY_TARGET_S)
    return rows


def format_drill(rows: list[dict]) -> str:
    out = []
    for r in rows:
        outage = r["outage_s"]
        verdict = "met: no probe lost" if not outage else against(outage, r["target_s"])
        out.append((r["event"], ", ".join(r["touched"]) or "-", f"{outage * 1000:.0f} ms ({r['lost']}/{r['sent']})",
                    f"{r['target_s'] / 60:g} min", verdict, "yes" if r["all_pairs"] else f"NO ({r['pairs']})"))
    return render_table(("event", "slices touched", "outage (lost/sent)", "target", "verdict", "all pairs back"),
                        out, rule=True)


def load_examples(directory: Path = EXAMPLES) -> list[dict]:
    """The example specs, highest priority first (the order a lifeline deserves)."""
    docs = [yaml.safe_load(p.read_text()) for p in sorted(directory.glob("*.yaml"))]
    return sorted(docs, key=lambda d: -d.get("priority", 3))


def format_outcomes(outcomes: list[Outcome]) -> str:
    head = ("slice", "prio", "sites", "state", "worst delay", "pairs ok", "time to connectivity",
            "target", "isolated")
    rows = []
    for o in outcomes:
        ttc = "-" if o.ttc_s is None else f"{o.ttc_s:.2f} s ({against(o.ttc_s, TTC_TARGET_S)})"
        rows.append((o.name, o.priority, ",".join(o.sites), o.state, f"{o.worst_delay_ms:.2f} ms",
                     f"{o.pairs_ok}/{o.pairs}", ttc, f"{TTC_TARGET_S / 60:g} min",
                     {True: "yes", False: "NO", None: "-"}[o.isolated]))
    return render_table(head, rows, rule=True)


def run_demo(progress: Progress, out_dir: Path = Path(RESULTS_DIR)) -> int:
    from topologies.emulation.wan import SLA_TOLERANCE_OPTIONS, Wan

    out_dir.mkdir(parents=True, exist_ok=True)
    topo = load("japan-intercloud")
    docs = load_examples()
    with tempfile.TemporaryDirectory(prefix="slicing-demo-") as tmp:
        log = out_dir / "demo-controller.log"
        log.write_text("")
        progress(f"starting the controller (log: {log})")
        with ControllerProcess("japan-intercloud", Path(tmp) / "store.db", log,
                               options=SLA_TOLERANCE_OPTIONS) as ctl, \
                Wan(topo, controller=("127.0.0.1", ctl.of), progress=progress) as wan:
            took = ctl.wait_switches()
            progress(f"all {len(topo.sites)} switches connected to the controller in {took:.1f} s")
            outcomes = []
            for doc in docs:
                progress(f"creating slice {doc['name']} over gRPC and probing every endpoint pair")
                sites = sorted({e["site"] for e in doc["endpoints"]})
                try:
                    s, ttc, ok, total = time_to_connectivity(ctl, wan, doc)
                except grpc.RpcError as e:
                    progress(f"slice {doc['name']} refused: {e.code().name}: {e.details()}")
                    outcomes.append(Outcome(doc["name"], doc.get("priority", 3), sites,
                                            f"refused ({e.code().name})", 0.0, None, 0, 0))
                    continue
                outcomes.append(Outcome(doc["name"], doc.get("priority", 3), sites,
                                        pb.SliceState.Name(s.state).removeprefix("SLICE_STATE_").lower(),
                                        s.worst_delay_ms, ttc, ok, total))
            progress("slicectl verify: every endpoint pair (ICMP, TCP, round trip against the bound); "
                     "every host outside a slice pings and ARPs each of its endpoints")
            checks = verify(ctl.slices, ctl.topology_api, read_inventory(wan.inventory()),
                            [o.name for o in outcomes if o.ttc_s is not None], VerifyOptions(), progress)
            for o in outcomes:
                mine = [c for c in checks if c.slice == o.name and c.check.startswith("isolation")]
                o.isolated = all(c.ok for c in mine) if mine else None
            rows = drill(ctl, wan, [d for d, o in zip(docs, outcomes) if o.ttc_s is not None], progress, Path(tmp))
            slices = ctl.slices.ListSlices(pb.ListSlicesRequest()).slices
            png, svg = write_map(topo, slices, out_dir / "demo-map")
            progress(f"map of the slices written to {png} and {svg}")
    print(f"Slices on japan-intercloud (controller + Mininet; "
          f"target of the original programme: connectivity within {TTC_TARGET_S / 60:g} minutes)")
    print(format_outcomes(outcomes))
    print("\nslicectl verify on these slices (every pair both ways; isolation from every other host)")
    print(verify_table(checks))
    print(f"\nDisaster drill (outage: the longest gap in a 10 ms ping stream between two endpoints "
          f"of a touched slice; targets of the programme: disaster recovery {RECOVERY_TARGET_S / 60:g} min, "
          f"scale-out {TTC_TARGET_S / 60:g} min)")
    print(format_drill(rows))
    good = (all(o.ttc_s is not None and o.isolated for o in outcomes) and all(c.ok for c in checks)
            and all(r["all_pairs"] for r in rows))
    run = out_dir / RUN_RECORD
    run.write_text(json.dumps(run_record(topo.name, list(slices), [asdict(o) for o in outcomes], rows,
                                         [check_record(c) for c in checks], good), indent=2) + "\n")
    page = write_report(run, out_dir / REPORT_PAGE)[0]
    print(f"{'PASS' if good else 'FAIL'}: {sum(o.ttc_s is not None for o in outcomes)}/{len(outcomes)} "
          f"slices connected, {sum(bool(o.isolated) for o in outcomes)}/{len(outcomes)} isolated; "
          f"map: {out_dir / 'demo-map.png'}; report: {page} (run record: {run})")
    return 0 if good else 1


def run_ttc_bench(creations: int, seed: int, progress: Progress) -> dict:
    """Create, probe and delete ``creations`` random 2-3 cloud slices; p50/p99 of the
    time to connectivity."""
    from topologies.emulation.wan import Wan

    topo = load("japan-intercloud")
    rng = random.Random(seed)
    clouds = [s for s in topo.sites if s.kind == "cloud"]
    times, failures = [], 0
    with tempfile.TemporaryDirectory(prefix="slicing-ttc-") as tmp:
        with ControllerProcess("japan-intercloud", Path(tmp) / "store.db", Path(tmp) / "controller.log") as ctl, \
                Wan(topo, controller=("127.0.0.1", ctl.of), progress=progress) as wan:
            ctl.wait_switches()
            for i in range(creations):
                sites = rng.sample(clouds, rng.choice([2, 3]))
                eps = []
                for s in sites:
                    port = rng.randint(1, s.hosts)
                    h = next(h for h in wan.plan.hosts if h.site == s.name and h.port == port)
                    eps.append({"site": s.name, "port": port, "ip": h.address})
                doc = {"name": f"ttc-{i}", "tenant": "bench", "bandwidth_mbps": 5, "endpoints": eps}
                _s, ttc, _ok, _total = time_to_connectivity(ctl, wan, doc)
                if ttc is None:
                    failures += 1
                else:
                    times.append(ttc)
                ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name=doc["name"]), timeout=30)
                if (i + 1) % 10 == 0:
                    progress(f"{i + 1}/{creations} slices: median so far {statistics.median(times):.3f} s")
    return {"topology": topo.name, "creations": creations, "connected": len(times), "failed": failures,
            "samples_s": [round(t, 4) for t in times],
            "ttc_s": {"p50": percentile(times, 50), "p99": percentile(times, 99), "min": min(times, default=None),
                      "max": max(times, default=None)},
            "target_s": TTC_TARGET_S, "seed": seed}
