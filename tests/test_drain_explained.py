"""`site drain` explains itself (issue 29): every slice it moved and every slice it could
not move, each with what kept it there (a geo-fence whose detours all leave it, an
endpoint that hangs off the site alone, a protection the network cannot give without the
site, a preemption a drain may not make) — over the API and in `slicectl site drain`."""
from __future__ import annotations

from pathlib import Path

import yaml

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.cli import main
from slices.engine import SliceEngine
from slices.spec import parse_spec
from tests.harness import JAPAN, create, doc

EXAMPLES = sorted((Path(__file__).resolve().parent.parent / "examples" / "japan").glob("*.yaml"))


def examples(api) -> None:
    for path in EXAMPLES:
        create(api, yaml.safe_load(path.read_text()))


def test_drain_names_what_blocked_each_slice(api):
    examples(api)
    t = api.topology.DrainSite(pb.DrainSiteRequest(site="osaka-ix"))
    why = {e.slice: e.reason for e in t.events if e.kind == "drain-blocked"}
    assert set(why) == {"medical-lifeline", "gov-domestic", "retail-erp", "backup-sync"}
    assert all(r.startswith("no way around osaka-ix (still crossing it): ") for r in why.values())
    # the geo-fence, and where every detour would take the slice out of it
    assert "geo-fenced to JP" in why["gov-domestic"] and "crosses KR at seoul-ix" in why["gov-domestic"]
    # an endpoint site that hangs off the drained exchange alone; with standbys, what to do
    assert "osaka-dc reaches" in why["backup-sync"] and "only through osaka-ix" in why["backup-sync"]
    assert "drain osaka-dc first" in why["medical-lifeline"] and "drain" not in why["backup-sync"].split(":", 1)[1]
    # the protection the slice asks for, between the sites it cannot protect
    assert "link-disjoint backup" in why["retail-erp"] and "fukuoka-dc and seoul-dc" in why["retail-erp"]
    assert next(s for s in t.sites if s.name == "osaka-ix").drained
    assert not api.topology.GetTopology(pb.GetTopologyRequest()).events


def test_drain_lists_the_slices_it_moved(api):
    create(api, doc(name="across", endpoints=[{"site": "tokyo-dc", "port": 2}, {"site": "fukuoka-dc", "port": 2}]))
    t = api.topology.DrainSite(pb.DrainSiteRequest(site="osaka-ix"))
    assert [(e.slice, e.kind) for e in t.events] == [("across", "re-placed")]
    assert "site osaka-ix drained" in t.events[0].reason and t.events[0].time.seconds > 0
    assert not api.topology.DrainSite(pb.DrainSiteRequest(site="osaka-ix")).events   # drained already


def test_a_drain_that_would_preempt_names_whom():
    """The only way around osaka-ix to fukuoka (via seoul-ix) is full of a lower-priority
    slice: going around would preempt it, and a drain cuts nothing."""
    e = SliceEngine(JAPAN)

    def spec(name, eps, bw, priority):
        return parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": bw, "priority": priority,
                           "endpoints": [{"site": s, "port": p} for s, p in eps]}, JAPAN)
    e.admit(spec("low", [("tokyo-dc", 2), ("seoul-dc", 2)], 45, 0))       # tokyo-ix—seoul-ix: 5 of 50 left
    e.admit(spec("high", [("tokyo-dc", 1), ("fukuoka-dc", 1)], 10, 5))
    assert "osaka-ix" in e.slices["high"].tree.sites
    events = e.drain("osaka-ix")
    assert [(ev.slice, ev.kind, ev.reason) for ev in events] == [
        ("high", "drain-blocked", "no way around osaka-ix (still crossing it): going around it would preempt low, "
                                  "and a drain cuts nothing")]
    assert "osaka-ix" in e.slices["high"].tree.sites and e.slices["low"].status == "placed"


def test_site_drain_prints_every_slice_moved_and_blocked_not_the_topology(api, capsys):
    examples(api)
    create(api, doc(name="across", endpoints=[{"site": "sapporo-dc", "port": 2}, {"site": "tenjin-edge", "port": 1}],
                    bw=1))
    assert main(["site", "drain", "osaka-ix", "--server", api.addr]) == 0
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert lines[0] == ("site osaka-ix drained: 1 slice moved, 4 blocked (still crossing or served "
                        "at osaka-ix)")
    rows = {line.split()[0]: line.split()[1] for line in lines[3:]}
    assert rows == {"medical-lifeline": "BLOCKED", "gov-domestic": "BLOCKED", "retail-erp": "BLOCKED",
                    "backup-sync": "BLOCKED", "across": "re-placed"}
    assert "geo-fenced to JP" in out and "SITE  KIND" not in out
    assert main(["site", "undrain", "osaka-ix", "--server", api.addr, "-o", "json"]) == 0
    assert '"drained": true' not in capsys.readouterr().out


def test_site_drain_of_a_site_no_slice_uses(api, capsys):
    assert main(["site", "drain", "sapporo-ix", "--server", api.addr]) == 0
    assert capsys.readouterr().out.strip() == "site sapporo-ix drained: no slice used it"
