"""Output that adds up (issue 29): the demo's fidelity lines each with a verdict and
arithmetic that holds as printed; verify's slowest pair read as what it is; JUnit times
that are the run's, not the sum of checks that ran in parallel; times against targets
with a verdict that can say "missed"."""
from __future__ import annotations

import math
import re
import xml.etree.ElementTree as ET

import pytest

from slicectl.demo import format_drill
from slicectl.report import fidelity_table
from slicectl.targets import against
from slicectl.verifyreport import Check, format_table, span_s, to_junit
from topologies.emulation.fidelity import delay_line, link_rtt, rtt_target, throughput_line


def sums_hold(line: str) -> bool:
    """Every "X = raw R - baseline B" in ``line`` holds to the printed digits."""
    found = re.findall(r"(-?[\d.]+) ms = raw (-?[\d.]+) - baseline (-?[\d.]+)", line)
    return bool(found) and all(abs(float(x) - (float(r) - float(b))) < 1e-9 for x, r, b in found)


def test_a_delay_line_adds_up_and_gives_its_verdict():
    # the example: a link of no delay whose baseline came out above the raw RTT
    rtt = link_rtt(0.774, 1.083)
    line = delay_line(3, 21, "seoul-dc", "seoul-ix", 0.0, rtt, 0.774, 1.083)
    assert rtt == -0.31 and sums_hold(line)
    assert line.startswith("delay [3/21] seoul-dc—seoul-ix: link RTT -0.31 ms = raw 0.77 - baseline 1.08")
    assert "below zero" in line and line.endswith("want ≤ 1.00: ok")
    far = delay_line(4, 21, "tokyo-ix", "seoul-ix", 6.95, link_rtt(16.5, 1.1), 16.5, 1.1)
    assert sums_hold(far) and far.endswith("want 13.90 ± 1.00: OFF TARGET")
    assert delay_line(5, 21, "a", "b", 1.0, None, None, 0.9).endswith("no reply; want 2.00 ± 1.00: OFF TARGET")
    assert rtt_target(0.0) == (-math.inf, 1.0) and rtt_target(6.95) == pytest.approx((12.9, 14.9))


def test_a_throughput_line_judges_throughput_alone():
    assert throughput_line(1, 2, "a", "b", 100, 95.12) == ("throughput [1/2] a—b: 95.1 of 100 Mbit/s (95%; want "
                                                          "90%-105%): ok")
    assert throughput_line(1, 2, "a", "b", 100, 50.0).endswith("OFF TARGET")
    assert throughput_line(1, 2, "a", "b", 1000, 500.0).endswith("not judged (above 100 Mbit/s)")
    assert throughput_line(1, 2, "a", "b", 100, None, "iperf3 failed: x").endswith("(iperf3 failed: x): OFF TARGET")


def test_the_fidelity_table_explains_a_link_rtt_below_zero():
    link = {"a": "seoul-dc", "b": "seoul-ix", "bandwidth_mbps": 100, "measured_mbps": 97.0, "delay_ms": 0.0,
            "measured_rtt_ms": -0.31, "raw_rtt_ms": 0.77, "baseline_rtt_ms": 1.08, "mechanism": "relay",
            "delay_ok": True, "bandwidth_ok": True, "ok": True, "error": ""}
    table = fidelity_table({"topology": "t", "delay_mechanism": "relay", "links": [link], "ok": True,
                            "duration_s": 1.0, "targets": {"rtt": "r", "bandwidth": "b"}})
    row = next(line for line in table.splitlines() if line.startswith("seoul-dc"))
    assert "-0.31" in row and "0.77" in row and "1.08" in row and row.rstrip().endswith("ok")
    assert "below zero" in table and "as printed" in table


def test_verify_names_the_slowest_pair_without_contradiction():
    cs = [Check("s", "rtt", f"p{i}", True, f"{fast:.2f} ms (fastest of 5; median {median:.2f} ms)", "<= 55 ms", 1.0)
          for i, (fast, median) in enumerate(((14.2, 18.0), (9.1, 9.5)))]
    row = next(line for line in format_table(cs).splitlines() if " rtt " in line)
    assert row.endswith("slowest pair: 14.20 ms (fastest of 5; median 18.00 ms)")
    assert "worst 14.20" not in format_table(cs)


def test_junit_times_are_the_runs_not_the_sum_of_parallel_checks():
    # twelve checks of 10 s each, run in parallel over 21 s
    checks = [Check("medical" if i % 2 else "retail", "icmp", f"pair {i}", True, "5/5 replies", ">= 4/5", 10.0,
                    ended=1000.0 + 10.0 + (i % 3) * 5.5) for i in range(12)]
    assert span_s(checks) == pytest.approx(21.0)
    root = ET.fromstring(to_junit(checks).split("\n", 1)[1])
    assert float(root.get("time")) == pytest.approx(21.0) and sum(c.seconds for c in checks) == 120.0
    for suite in root.iter("testsuite"):
        assert float(suite.get("time")) <= 21.0
        assert all(float(case.get("time")) == 10.0 for case in suite.iter("testcase"))


def test_times_against_targets_can_miss():
    assert against(0.1, 600) == "met: 6,000x faster"
    assert against(900, 600) == "MISSED: 1.5x the target"
    drill = format_drill([{"event": "trunk cut", "touched": ["a"], "outage_s": 2400.0, "lost": 9, "sent": 10,
                           "target_s": 1800.0, "all_pairs": True, "pairs": "2/2"},
                          {"event": "drain", "touched": [], "outage_s": 0.0, "lost": 0, "sent": 200,
                           "target_s": 1800.0, "all_pairs": True, "pairs": "2/2"}])
    assert "MISSED: 1.3x the target" in drill and "met: no probe lost" in drill and "verdict" in drill
