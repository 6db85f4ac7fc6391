"""The federation demo's pure parts (`sudo make demo-federation`): its goals judged from a
made-up run record, the summary it prints and its command line. The demo's Mininet
behaviour is tested in tests/test_federation_mininet.py; not run twice here."""
from __future__ import annotations

import copy

import pytest

from slicectl.cli import build_parser
from slicectl.fedemoreport import all_met, format_summary, goals, ttc_summary

PASSING = {
    "federation": "japan-korea",
    "ttc": {"slices": [{"name": "a", "sites": ["tokyo-dc:1", "west/osaka-dc:1"], "baseline_s": 0.08,
                        "federation_s": 0.18},
                       {"name": "b", "sites": ["tokyo-dc:2", "korea/seoul-dc:1"], "baseline_s": 0.05,
                        "federation_s": 0.07}],
            **ttc_summary([0.08, 0.05], [0.18, 0.07])},
    "border_cut": {"border": "tokyo-ix—seoul-ix", "outage_s": 0.05, "lost": 5, "sent": 600,
                   "domains_before": ["east", "korea"], "domains_after": ["east", "korea", "west"], "via": "west"},
    "domain_down": {"domain": "west", "lost": 0, "sent": 400,
                    "refused": {"code": "UNAVAILABLE", "details": "domain west: unreachable"},
                    "pairs_ok": 8, "pairs": 8, "watched_again": True},
    "isolation": {"tries": 30, "crossed": 0},
}


def changed(path: str, value) -> dict:
    """PASSING with one field (``part.field`` or ``part.field.sub``) replaced."""
    record = copy.deepcopy(PASSING)
    *parents, last = path.split(".")
    node = record
    for p in parents:
        node = node[p]
    node[last] = value
    return record


def test_ttc_summary_gives_p50_max_and_the_ratio_of_medians():
    s = ttc_summary([0.1, 0.2, 0.3], [0.2, 0.3, 0.9])
    assert s["baseline"] == {"slices": 3, "connected": 3, "p50_s": 0.2, "max_s": 0.3}
    assert s["federation"]["max_s"] == 0.9 and s["ratio"] == pytest.approx(1.5)
    # a slice that never connected: no ratio over the survivors (it would flatter)
    assert ttc_summary([0.1, None], [0.2, 0.2])["ratio"] is None
    assert ttc_summary([0.1, 0.1], [0.2, None])["federation"]["connected"] == 1
    assert ttc_summary([], [])["ratio"] is None


def test_a_run_that_meets_every_goal_passes():
    assert all_met(PASSING)
    assert [g.met for g in goals(PASSING)] == [True] * 7
    text = format_summary(PASSING)
    assert "PASS: 7/7 goals met" in text and "MISSED" not in text
    assert "1.92x" in text and "<= 3x" in text            # medians 125 ms / 65 ms
    assert "50 ms (5/600 lost)" in text and "0/30 pings crossed" in text


@pytest.mark.parametrize("path, value, missed", [
    ("ttc.ratio", 3.2, "time to connectivity"),
    ("ttc.ratio", None, "time to connectivity"),            # a slice never connected
    ("border_cut.outage_s", 1.2, "cut: outage"),
    ("border_cut.domains_after", ["east", "korea"], "re-routed"),
    ("domain_down.lost", 1, "probes lost"),
    ("domain_down.refused.details", "no route for the slice", "refused naming it"),
    ("domain_down.pairs_ok", 7, "west back"),
    ("domain_down.watched_again", False, "west back"),
    ("isolation.crossed", 1, "isolation"),
    ("isolation.tries", 0, "isolation"),                     # nothing tried proves nothing
])
def test_each_goal_missed_fails_the_run_and_is_named(path, value, missed):
    record = changed(path, value)
    assert not all_met(record)
    failed = [g.name for g in goals(record) if not g.met]
    assert len(failed) == 1 and missed in failed[0], failed
    assert "FAIL: 6/7 goals met" in format_summary(record) and "MISSED" in format_summary(record)


def test_a_part_that_never_ran_is_a_goal_missed():
    record = {k: v for k, v in PASSING.items() if k != "domain_down"}
    assert not all_met(record)
    assert sum(not g.met for g in goals(record)) == 3
    assert "FAIL" in format_summary({})


def test_the_command_line():
    args = build_parser().parse_args(["demo", "--federation", "--slices", "3", "--out", "x"])
    assert args.federation and args.slices == 3 and args.out == "x"
    plain = build_parser().parse_args(["demo"])
    assert not plain.federation and plain.slices == 4       # `slicectl demo` as it was
    with pytest.raises(SystemExit):
        build_parser().parse_args(["demo", "--federation", "--slices", "9"])
