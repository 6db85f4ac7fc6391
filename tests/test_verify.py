"""`slicectl verify` without a network: the inventory contract, the verdicts, and the
outputs a CI system reads (JSON, JUnit XML parsed by junitparser, the table)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from junitparser import Failure, JUnitXml

from slicectl.verify import (Check, PingResult, VerifyError, format_table, load_inventory, ping_stats, rtt_limit_ms,
                             to_json, to_junit)

CHECKS = [Check("medical", "state", "controller", True, "active", "active"),
          Check("medical", "icmp", "tokyo-dc:1 -> osaka-dc:1 (10.0.2.1)", False, "0/5 replies", ">= 4/5", 2.5),
          Check("medical", "rtt", "tokyo-dc:1 -> osaka-dc:1 (10.0.2.1)", True, "12.50 ms", "<= 35 ms", 1.0),
          Check("medical", "isolation-arp", "outsider h2_2 (osaka-dc:2) -> tokyo-dc:1 (10.0.1.1)", True,
                "0 ARP replies", "0 ARP replies", 2.0),
          Check("", "ttc", "probe slice verify-ttc-1: a:1 <-> b:1", True, "0.150 s", "<= 600 s", 0.15)]


def write(tmp_path, doc) -> str:
    path = tmp_path / "inv.json"
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return str(path)


def test_inventory_hosts_and_how_to_enter_them(tmp_path):
    path = write(tmp_path, {"topology": "x", "rtt_tolerance_ms": 25, "hosts": [
        {"name": "h1", "site": "a", "port": 1, "ip": "10.0.0.1/8", "pid": 4242, "mac": "ignored"},
        {"site": "b", "port": 2, "ip": "10.0.0.2", "netns": "blue"},
        {"site": "c", "port": 3, "ip": "10.0.0.3", "exec": ["ssh", "root@c"]}]})
    inventory = load_inventory(path)
    h1, h2, h3 = inventory.hosts
    assert inventory.rtt_tolerance_ms == 25
    assert (h1.name, h1.where, h1.ip, h1.prefix) == ("h1", "a:1", "10.0.0.1", ("nsenter", "-t", "4242", "-n", "--"))
    assert h2.prefix == ("ip", "netns", "exec", "blue") and h2.name == "b:2"
    assert h3.prefix == ("ssh", "root@c") and h3.python == "python3"


@pytest.mark.parametrize("doc, message", [
    ("{not json", "the inventory is not JSON"),
    ({"hosts": {}}, "hosts: expected a list"),
    ({"hosts": [], "rtt_tolerance_ms": "5"}, "rtt_tolerance_ms: expected milliseconds"),
    ({"hosts": [{"site": "a", "port": "1", "ip": "10.0.0.1", "pid": 1}]}, "hosts[0].port: expected a whole number"),
    ({"hosts": [{"site": "a", "port": 1, "ip": "10.0.0.1"}]}, "hosts[0]: give exactly one of pid, netns, exec"),
    ({"hosts": [{"site": "a", "port": 1, "ip": "10.0.0.1", "pid": 1, "netns": "x"}]}, "got pid, netns"),
    ({"hosts": [{"site": "a", "port": 1, "ip": "10.0.0.1", "exec": "ssh a"}]}, "hosts[0].exec: expected a command"),
])
def test_a_wrong_inventory_is_refused_with_its_field(tmp_path, doc, message):
    with pytest.raises(VerifyError, match=None) as e:
        load_inventory(write(tmp_path, doc))
    assert message in str(e.value) and str(tmp_path) in str(e.value)


def test_verify_cli_refuses_a_wrong_inventory_before_calling_anyone(tmp_path):
    path = write(tmp_path, {"hosts": [{"site": "a"}]})
    r = subprocess.run([sys.executable, "-m", "slicectl.cli", "verify", "--inventory", path, "--server",
                        "127.0.0.1:1"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "hosts[0].port" in r.stderr and "Traceback" not in r.stderr


def test_ping_summary_and_rtt_limit():
    replies = "".join(f"64 bytes from 10.0.2.1: icmp_seq={i} ttl=64 time={t} ms\n"
                      for i, t in enumerate((48.2, 20.1, 21.5, 20.9), 1))   # the first one waited for ARP
    out = replies + ("5 packets transmitted, 4 received, 20% packet loss, time 801ms\n"
                     "rtt min/avg/max/mdev = 20.101/27.675/48.200/11.001 ms\n")
    assert ping_stats(out) == PingResult(4, 20.1, 21.2)
    assert ping_stats("2 packets transmitted, 0 received, 100% packet loss") == PingResult(0, None, None)
    assert rtt_limit_ms(15, 5) == 35


def test_junit_has_one_case_per_check_and_failures_with_measured_and_expected(tmp_path):
    path = tmp_path / "verify.xml"
    path.write_text(to_junit(CHECKS))
    xml = JUnitXml.fromfile(str(path))
    assert (xml.tests, xml.failures, xml.errors) == (5, 1, 0)
    suites = {s.name: s for s in xml}
    assert set(suites) == {"medical", "controller"} and suites["medical"].tests == 4
    failed = [c for c in suites["medical"] if c.result]
    assert len(failed) == 1 and failed[0].name == "icmp tokyo-dc:1 -> osaka-dc:1 (10.0.2.1)"
    (result,) = failed[0].result
    assert isinstance(result, Failure) and result.message == "measured 0/5 replies, expected >= 4/5"


def test_json_and_table_say_what_failed():
    doc = json.loads(to_json(CHECKS))
    assert (doc["ok"], doc["total"], doc["passed"], doc["failed"], doc["slices"]) == (False, 5, 4, 1, ["medical"])
    assert len(doc["results"]) == doc["total"] and "checks" not in doc   # counts and the list, not a count named checks
    assert doc["results"][1]["subject"] == "tokyo-dc:1 -> osaka-dc:1 (10.0.2.1)"
    table = format_table(CHECKS)
    assert "medical: icmp tokyo-dc:1 -> osaka-dc:1 (10.0.2.1): measured 0/5 replies, expected >= 4/5" in table
    assert table.rstrip().endswith("FAIL: 4/5 checks passed on 1 slice")
    assert "PASS: 4/4" in format_table([c for c in CHECKS if c.ok])
