"""The federation demo (`sudo make demo-federation`, `slicectl demo --federation`): three
operators, each with its own controller, and slices across them (issue 26)::

    east (Tokyo, Sendai, Sapporo) ══ Tokaido + second trunk ══ west (Nagoya, Osaka, Fukuoka)
         │ Tokyo-Seoul cable                                  │ Korea-Japan cable
         └────────────────── korea (Seoul, Busan) ────────────┘

It shows, in one sitting, what a tenant of the east domain gets when it asks for slices
whose endpoints are in other operators' networks, and measures each claim from the hosts:

1. time to connectivity: the same slices on the same WAN run by one controller (the
   baseline), then by three (the federation); p50, max and the ratio of the medians;
2. a lifeline slice Tokyo-Seoul over the Tokyo-Seoul cable, under a 10 ms ping stream, when
   that cable is cut: the outage, and that it now goes through western Japan;
3. west's controller killed with slices across west active: probes lost under a 10 ms
   stream; a new slice that needs west refused naming it; west restarted, every endpoint
   pair passes again and east watches west again;
4. isolation: hosts in no slice reach no slice's host, and no slice's host reaches them.

Every figure goes into ``results/demo-federation.json``; :mod:`slicectl.fedemoreport`
judges them against the goals (pure, tested) and prints the summary.
"""
from __future__ import annotations

import datetime
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import asdict
from pathlib import Path
from typing import Callable

import grpc

from proto.convert import doc_to_spec
from proto.defaults import RESULTS_DIR
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.failover import Stream
from slicectl.fedemoreport import all_met, format_summary, goals, ttc_summary
from slicectl.fedlab import FEDERATIONS, FederationLab, baseline_ttc, one_domain, pairs, time_to_connectivity
from slicectl.verifyhosts import until_connected

Progress = Callable[[str], None]
FED = FEDERATIONS / "japan-korea.yaml"
RECORD = "demo-federation.json"
REPO = Path(__file__).resolve().parent.parent
# Every one has an endpoint in east, the home domain (the tenant's own operator).
TTC_SLICES = [
    ("ttc-tokyo-osaka-busan", [("tokyo-dc", 1), ("west/osaka-dc", 1), ("korea/busan-dc", 1)]),
    ("ttc-sendai-nagoya", [("sendai-dc", 1), ("west/nagoya-dc", 1)]),
    ("ttc-tokyo-seoul", [("tokyo-dc", 2), ("korea/seoul-dc", 1)]),
    ("ttc-sapporo-fukuoka-seoul", [("sapporo-dc", 1), ("west/fukuoka-dc", 1), ("korea/seoul-dc", 2)]),
    ("ttc-sendai-osaka-busan", [("sendai-dc", 2), ("west/osaka-dc", 2), ("korea/busan-dc", 2)]),
]
MAX_SLICES = len(TTC_SLICES)
LIFELINE = [("tokyo-dc", 1), ("korea/seoul-dc", 1)]
LIFELINE_PRIORITY = 7            # above every default: the policies below grant it
BORDER = ("tokyo-ix", "seoul-ix")   # the Tokyo-Seoul cable
DETOUR = "west"                     # without it, Tokyo reaches Seoul through western Japan
STEADY = [("tokyo-dc", 2), ("west/osaka-dc", 1), ("korea/busan-dc", 1)]
KILLED = "west"
NEEDS_KILLED = [("sendai-dc", 1), ("west/nagoya-dc", 1)]
OUTSIDERS = [("sapporo-dc", 1), ("west/fukuoka-dc", 1), ("korea/seoul-dc", 2)]   # in no slice at the end
# east grants its tenant the lifeline's priority; west and korea grant it to east's parts
POLICIES = {"east": "tenants:\n  lifeline: {max_priority: 7}\n",
            "west": "tenants:\n  peer:east: {max_priority: 7}\n",
            "korea": "tenants:\n  peer:east: {max_priority: 7}\n"}


def _commit() -> str | None:
    """The commit the demo ran (None outside a git checkout, or git refusing the directory)."""
    try:
        r = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True,
                           timeout=10)
    except (OSError, subprocess.SubprocessError):
        return None
    return r.stdout.strip() or None if r.returncode == 0 else None


def _sites(doc: dict) -> list[str]:
    return [f"{e['site']}:{e['port']}" for e in doc["endpoints"]]


def _domains(s: pb.Slice) -> list[str]:
    return sorted(p.domain for p in s.parts)


def _wait_until(check: Callable[[], bool], timeout: float, every: float = 0.2) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(every)
    return bool(check())


def _policies(work: Path) -> dict[str, tuple[str, ...]]:
    """``--tenant-policy`` files per domain (the lifeline's priority is granted, not claimed)."""
    work.mkdir(parents=True, exist_ok=True)
    out = {}
    for domain, text in POLICIES.items():
        path = work / f"{domain}-policy.yaml"
        path.write_text(text)
        out[domain] = ("--tenant-policy", str(path))
    return out


def federation_ttc(lab: FederationLab, docs: list[dict], progress: Progress) -> list[float | None]:
    """Each slice created at east and timed until every endpoint pair pings, then deleted
    (as the baseline did)."""
    east, out = lab.home("east"), []
    for d in docs:
        try:
            created, seconds = time_to_connectivity(east, lab.wan, d)
        except grpc.RpcError as e:
            progress(f"federation: {d['name']} refused: {e.code().name}: {e.details()}")
            out.append(None)
            continue
        out.append(seconds)
        took = "did not connect within 60 s" if seconds is None else f"connected in {seconds:.2f} s"
        progress(f"federation: {d['name']} ({', '.join(_sites(d))}) {took}; parts in {', '.join(_domains(created))}")
        east.slices.DeleteSlice(pb.DeleteSliceRequest(name=d["name"]), timeout=30)
    return out


def border_cut(lab: FederationLab, progress: Progress) -> tuple[dict, dict]:
    """The lifeline Tokyo-Seoul, a 10 ms ping stream over it, the Tokyo-Seoul cable cut
    (and restored after): the outage, and the domains the slice crosses before and after."""
    east = lab.home("east")
    doc = lab.doc("lifeline", LIFELINE, priority=LIFELINE_PRIORITY)
    created, seconds = time_to_connectivity(east, lab.wan, doc)
    before = _domains(created)
    progress(f"lifeline ({', '.join(_sites(doc))}, priority {LIFELINE_PRIORITY}) connected in "
             f"{seconds if seconds is None else round(seconds, 2)} s through {', '.join(before)}; "
             f"10 ms ping stream Tokyo -> Seoul, then the Tokyo-Seoul cable is cut")
    stream = Stream(lab.host(*LIFELINE[0]), doc["endpoints"][1]["ip"], 6.0, lab.work / "lifeline-stream.txt")
    time.sleep(1.5)
    lab.wan.fault_link(*BORDER, "cut")
    try:
        outage = stream.outage("border cut", "—".join(BORDER))
    finally:
        lab.wan.fault_link(*BORDER, "restore")
    got = east.slices.GetSlice(pb.GetSliceRequest(name="lifeline"), timeout=10)
    after = _domains(got)
    progress(f"border {'—'.join(BORDER)} cut: outage {outage.outage_s * 1000:.0f} ms, {outage.lost}/{outage.sent} "
             f"probes lost; lifeline now through {', '.join(after)} ({got.reason or 'no reason given'}); "
             f"border restored")
    return doc, {"slice": "lifeline", "sites": _sites(doc), "priority": LIFELINE_PRIORITY, "border": "—".join(BORDER),
                 "ttc_s": seconds, "outage_s": outage.outage_s, "lost": outage.lost, "sent": outage.sent,
                 "domains_before": before, "domains_after": after, "via": DETOUR, "reason": got.reason}


def _refusal(lab: FederationLab) -> dict:
    """Ask east for a slice that needs the domain that is down; what it answers."""
    east = lab.home("east")
    doc = lab.doc("needs-west", NEEDS_KILLED)
    try:
        east.slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(doc)), timeout=60)
    except grpc.RpcError as e:
        return {"slice": doc["name"], "sites": _sites(doc), "code": e.code().name, "details": e.details()}
    east.slices.DeleteSlice(pb.DeleteSliceRequest(name=doc["name"]), timeout=30)   # not refused: not kept
    return {"slice": doc["name"], "sites": _sites(doc), "code": "OK", "details": ""}


def domain_down(lab: FederationLab, lifeline: dict | None, progress: Progress) -> tuple[dict, dict]:
    """A slice across west, a 10 ms ping stream over it, west's controller killed (-9): the
    probes lost; a slice needing west refused; west restarted: every endpoint pair of the
    slices passes, east watches west again."""
    east, killed = lab.home("east"), lab.home(KILLED)
    doc = lab.doc("steady", STEADY)
    created, seconds = time_to_connectivity(east, lab.wan, doc)
    progress(f"steady ({', '.join(_sites(doc))}) connected in {seconds if seconds is None else round(seconds, 2)} s "
             f"through {', '.join(_domains(created))}; 10 ms ping stream Tokyo -> Osaka, then {KILLED}'s "
             f"controller is killed (kill -9)")
    stream = Stream(lab.host(*STEADY[0]), lab.address(*STEADY[1]), 4.0, lab.work / "steady-stream.txt")
    time.sleep(1.0)
    killed.kill9()
    outage = stream.outage("domain down", f"{KILLED}'s controller killed")
    progress(f"{KILLED}'s controller down: {outage.lost}/{outage.sent} probes lost (longest gap "
             f"{outage.outage_s * 1000:.0f} ms); asking east for a slice that needs {KILLED}")
    refused = _refusal(lab)
    progress(f"{refused['slice']} ({', '.join(refused['sites'])}): {refused['code']}: {refused['details']}")
    restart_s = lab.restart(KILLED)
    watched = _wait_until(lambda: KILLED in {p.domain for p in east.topology_api.GetFederationStatus(
        pb.GetFederationStatusRequest(), timeout=10).peers if p.watching}, 15)
    check = pairs(lab.wan, doc) + (pairs(lab.wan, lifeline) if lifeline else [])
    back_s, ok = until_connected(check, time.monotonic(), timeout_s=15)
    progress(f"{KILLED} restarted (switches back in {restart_s:.1f} s); east watches {KILLED} again: "
             f"{'yes' if watched else 'NO'}; endpoint pairs of the slices passing: {ok}/{len(check)}")
    return doc, {"domain": KILLED, "slices": ["steady"] + (["lifeline"] if lifeline else []),
                 "stream": f"{STEADY[0][0]}:{STEADY[0][1]} -> {STEADY[1][0]}:{STEADY[1][1]}",
                 "ttc_s": seconds, "lost": outage.lost, "sent": outage.sent, "outage_s": outage.outage_s,
                 "refused": refused, "restart_s": restart_s, "watched_again": watched, "pairs_ok": ok,
                 "pairs": len(check), "pairs_back_s": back_s}


def isolation(lab: FederationLab, docs: list[dict], progress: Progress) -> dict:
    """Hosts in no slice ping every endpoint of ``docs``, and every endpoint pings them:
    none may pass (each tried for 3 s)."""
    tries = [(lab.host(s, p), e["ip"]) for s, p in OUTSIDERS for d in docs for e in d["endpoints"]]
    tries += [(lab.host(e["site"], e["port"]), lab.address(s, p)) for s, p in OUTSIDERS
              for d in docs for e in d["endpoints"]]
    _seconds, crossed = until_connected(tries, time.monotonic(), timeout_s=3)
    progress(f"isolation: {crossed}/{len(tries)} pings between {', '.join(f'{s}:{p}' for s, p in OUTSIDERS)} "
             f"(in no slice) and the slices' endpoints passed")
    return {"outsiders": [f"{s}:{p}" for s, p in OUTSIDERS], "slices": [d["name"] for d in docs],
            "tries": len(tries), "crossed": crossed}


def _step(record: dict, key: str, progress: Progress, run: Callable[[], object]):
    """Run one part of the demo; a part that fails is recorded (its goals then fail) and the
    demo goes on to the next part rather than leaving no figures at all."""
    try:
        return run()
    except (grpc.RpcError, RuntimeError, TimeoutError, OSError, StopIteration) as e:
        what = f"{e.code().name}: {e.details()}" if isinstance(e, grpc.RpcError) else f"{type(e).__name__}: {e}"
        progress(f"{key}: failed: {what}")
        record.setdefault("errors", {})[key] = what
        return None


def _federation_parts(lab: FederationLab, docs: list[dict], record: dict, progress: Progress) -> list:
    """Parts 1 (the federation's half) to 4 on the running federation; the baseline's times
    are in ``record`` already."""
    progress("part 1/4: the same slices with three controllers, one per domain (home: east)")
    fed = _step(record, "ttc", progress, lambda: federation_ttc(lab, docs, progress)) or [None] * len(docs)
    record["ttc"]["slices"] = [{**s, "federation_s": t} for s, t in zip(record["ttc"]["slices"], fed)]
    record["ttc"].update(ttc_summary([s["baseline_s"] for s in record["ttc"]["slices"]], fed))
    progress("part 2/4: a lifeline slice over the Tokyo-Seoul cable, and the cable cut")
    lifeline, record["border_cut"] = _step(record, "border_cut", progress,
                                           lambda: border_cut(lab, progress)) or (None, None)
    progress(f"part 3/4: {KILLED}'s controller killed under traffic, a slice needing it, {KILLED} restarted")
    steady, record["domain_down"] = _step(record, "domain_down", progress,
                                          lambda: domain_down(lab, lifeline, progress)) or (None, None)
    progress("part 4/4: isolation of the slices from hosts in none of them")
    active = [d for d in (lifeline, steady) if d]
    record["isolation"] = _step(record, "isolation", progress, lambda: isolation(lab, active, progress)) if active \
        else None
    return active


def _on_the_federation(lab: FederationLab, docs: list[dict], record: dict, progress: Progress) -> None:
    with lab:
        _federation_parts(lab, docs, record, progress)


def run_federation_demo(progress: Progress, out_dir: Path = Path(RESULTS_DIR), slices: int = 4) -> int:
    """The whole demo; 0 if every goal held, 1 otherwise (the run record says which)."""
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    record: dict = {"demo": "federation", "federation": "japan-korea", "file": str(FED.relative_to(REPO)),
                    "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                    "commit": _commit(), "home": "east"}
    logs = out_dir / "demo-federation-logs"
    with tempfile.TemporaryDirectory(prefix="slicing-fedemo-") as tmp:
        work = Path(tmp)
        lab = FederationLab(FED, work / "federation", domain_options=_policies(work / "federation"),
                            progress=progress)
        docs = [lab.doc(name, eps) for name, eps in TTC_SLICES[:slices]]
        record["ttc"] = {"slices": [{"name": d["name"], "sites": _sites(d)} for d in docs]}
        try:
            progress(f"part 1/4: time to connectivity of {len(docs)} slices across the domains, first on the same "
                     f"WAN with ONE controller for every switch (the baseline)")
            base = _step(record, "baseline", progress,
                         lambda: baseline_ttc(FED, work / "baseline", [one_domain(d) for d in docs], progress))
            record["ttc"]["slices"] = [{**s, "baseline_s": t} for s, t in
                                       zip(record["ttc"]["slices"], base or [None] * len(docs))]
            progress("starting one controller per domain (east, west, korea) and the federated WAN")
            _step(record, "federation", progress, lambda: _on_the_federation(lab, docs, record, progress))
        finally:
            _keep_logs(work, logs)
    record["elapsed_s"] = round(time.monotonic() - started, 1)
    record["goals"] = [asdict(g) for g in goals(record)]
    record["ok"] = all_met(record)
    path = out_dir / RECORD
    path.write_text(json.dumps(_rounded(record), indent=2, ensure_ascii=False) + "\n")
    print(format_summary(record))
    print(f"run record: {path}; controllers' logs: {logs}; {record['elapsed_s']:.0f} s")
    return 0 if record["ok"] else 1


def _rounded(value):
    """Seconds to the tenth of a millisecond: the record is read by people too."""
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def _keep_logs(work: Path, dest: Path) -> None:
    """The controllers' logs out of the scratch directory, for after the run."""
    dest.mkdir(parents=True, exist_ok=True)
    for log in work.rglob("*.log"):
        shutil.copy(log, dest / log.name)


__all__ = ["MAX_SLICES", "RECORD", "run_federation_demo"]
