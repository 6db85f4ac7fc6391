"""The engine benchmark's command and the WAN generator it uses (figures are not judged
here: speed lives in the benchmark, `make bench-engine`)."""
import json

import networkx as nx

from slicectl.cli import main
from slicectl.bench import format_report
from topologies import load
from topologies.generate import generated_wan

KEYS = {"sites", "links", "slices_requested", "admitted", "rejected", "total_s", "per_slice_ms",
        "add_one_ms_p99", "delete_one_ms_p99", "rules_total", "rules_per_switch_max", "peak_rss_mb"}


def test_bench_engine_reports_every_figure(capsys):
    main(["bench", "engine", "--topology", "japan-intercloud", "--slices", "40", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert KEYS <= set(report)
    assert report["slices_requested"] == 40 and report["admitted"] + report["rejected"] == 40
    assert report["admitted"] > 0 and report["rules_total"] > 0
    assert set(report["per_slice_ms"]) >= {"p50", "p99"}
    assert report["scaling"]["slices"] == 4
    # every admission is counted once, by what it took
    kinds = report["by_kind"]
    assert sum(k["count"] for k in kinds.values()) == 40 and kinds["rejected"]["count"] == report["rejected"]
    assert sum(k["count"] for k in report["scaling"]["by_kind"].values()) == 4


def test_the_scarce_variant_runs_short_of_capacity(capsys):
    main(["bench", "engine", "--topology", "japan-intercloud", "--slices", "60", "--json"])
    plenty = json.loads(capsys.readouterr().out)
    main(["bench", "engine", "--topology", "japan-intercloud", "--slices", "60", "--capacity-scale", "0.1", "--json"])
    scarce = json.loads(capsys.readouterr().out)
    assert scarce["topology"] == "japan-intercloud-capacity-x0.1"
    assert scarce["rejected"] + scarce["preempted_at_end"] > plenty["rejected"] + plenty["preempted_at_end"]
    assert scarce["by_kind"]["rejected"]["count"] > plenty["by_kind"]["rejected"]["count"]
    # refusals by what refused them: a network a tenth the size runs out of bandwidth
    assert sum(scarce["rejected_by_constraint"].values()) == scarce["rejected"]
    assert scarce["rejected_by_constraint"].get("bandwidth", 0) > plenty["rejected_by_constraint"].get("bandwidth", 0)
    line = next(x for x in format_report(scarce).splitlines() if x.startswith("  admitted"))
    assert f"rejected {scarce['rejected']} (" in line and f"bandwidth {scarce['rejected_by_constraint']['bandwidth']}" in line
    assert main(["bench", "engine", "--topology", "japan-intercloud", "--capacity-scale", "0"]) == 2


def test_the_transport_option_overrides_the_topology_s(capsys):
    main(["bench", "engine", "--topology", "japan-intercloud", "--slices", "20", "--transport", "mpls", "--json"])
    mpls = json.loads(capsys.readouterr().out)
    assert mpls["topology"] == "japan-intercloud-mpls" and mpls["transport"] == "mpls" and mpls["admitted"] > 0
    main(["bench", "engine", "--topology", "japan-intercloud", "--slices", "20", "--json"])
    assert json.loads(capsys.readouterr().out)["transport"] == "vlan"


def test_bench_engine_bad_input_is_a_usage_error(capsys):
    assert main(["bench", "engine", "--topology", "generated:abc"]) == 2
    assert "generated:SITES" in capsys.readouterr().err
    assert main(["bench", "engine", "--topology", "japan-intercloud", "--endpoints-min", "5",
                 "--endpoints-max", "3"]) == 2


def test_generated_wans_are_connected_geographic_and_repeatable():
    t = generated_wan(200, seed=3)
    assert len(t.sites) == 200 and nx.is_connected(t.graph())
    assert t == generated_wan(200, seed=3) and t != generated_wan(200, seed=4)
    assert set(t.regions) == {"KR", "JP-WEST", "JP-CENTRAL", "JP-EAST"}
    g = t.graph()
    assert all(g.degree(s.name) == 1 for s in t.sites if s.kind == "edge")  # access, not transit
    assert all(l.delay_ms > 0 for l in t.links)
    assert load("generated:50:3").sites == generated_wan(50, 3).sites


def test_outage_is_the_longest_run_of_unanswered_probes():
    from slicectl.failover import Outage, format_summary, outage_of, summarize
    replies = "".join(f"64 bytes from 10.0.2.1: icmp_seq={n} ttl=64 time=5.1 ms\n"
                      for n in list(range(1, 11)) + list(range(14, 20)) + list(range(38, 41)))
    assert outage_of(replies, 40) == (0.18, 21, 40)       # 20..37 missing: 18 probes, 180 ms
    assert outage_of("", 5) == (0.05, 5, 5)
    runs = [Outage("silent", x, 1, 250, "a—b") for x in (0.2, 0.18, 0.6)]
    s = summarize(runs + [Outage("drain", 0.0, 0, 200, "x")])
    assert s["silent"]["outage_ms_p50"] == 200 and s["silent"]["outage_ms_max"] == 600
    assert s["silent"]["goal_ms"] == 500 and s["drain"]["goal_ms"] is None
    table = format_summary(s)
    assert "silent" in table and "met" in table and "drain" in table
    cuts = summarize([Outage("cut-unprotected", 0.03, 3, 250, "c—d"), Outage("cut-protected-one-end", 0.05, 5, 250, "a—b"),
                      Outage("cut-protected", 0.02, 2, 250, "a—e")])
    assert list(cuts) == ["cut-protected", "cut-protected-one-end", "cut-unprotected"]


def test_admissions_are_told_apart_by_what_they_took():
    from slicectl.bench import _kind
    from slices.engine import Event
    admitted, preempted = Event("admitted", "new", ""), Event("preempted", "old", "preempted by new")
    assert _kind([admitted]) == "plain"
    assert _kind([admitted, preempted]) == "preempting"
    assert _kind([admitted, preempted, Event("re-placed", "old2", "")]) == "preempting"
    assert _kind([]) == "rejected"
