"""The results of ``slicectl verify`` and the forms a person or a CI system reads them in:
a table, JSON, JUnit XML."""
from __future__ import annotations

import json
import re
import time
import xml.etree.ElementTree as ET
from dataclasses import asdict, dataclass, field

from slicectl.report import render_table
from slicectl.targets import TTC_TARGET_S


@dataclass
class Check:
    """One verdict: what was checked, what was measured, what was expected."""

    slice: str          # "" for checks of the controller as a whole (ttc)
    check: str          # state, icmp, tcp, rtt, throughput, isolation-unicast, isolation-arp, ttc
    subject: str        # the pair, the outsider and the endpoint, ...
    ok: bool
    measured: str
    expected: str
    seconds: float = 0.0
    # when the check ended (time.monotonic(): a check is made right after it measured);
    # checks run in parallel, so a run takes the span of its checks, not their sum
    ended: float = field(default_factory=time.monotonic, compare=False, repr=False)

    @property
    def line(self) -> str:
        """The check in one sentence, as failures are listed."""
        where = f"{self.slice}: " if self.slice else ""
        return f"{where}{self.check} {self.subject}: measured {self.measured}, expected {self.expected}"


def summary(checks: list[Check]) -> dict:
    """The overall verdict and counts, shared by the table and the JSON: ``total``,
    ``passed`` and ``failed`` count the checks that ``results`` lists."""
    failed = [c for c in checks if not c.ok]
    return {"ok": not failed, "total": len(checks), "passed": len(checks) - len(failed), "failed": len(failed),
            "slices": sorted({c.slice for c in checks if c.slice}), "seconds": round(span_s(checks), 3)}


def span_s(checks: list[Check]) -> float:
    """Wall-clock seconds from the start of the first check to the end of the last."""
    if not checks:
        return 0.0
    return max(c.ended for c in checks) - min(c.ended - c.seconds for c in checks)


def check_record(c: Check) -> dict:
    """One check as JSON records it (its monotonic end time means nothing outside this run)."""
    return {k: v for k, v in asdict(c).items() if k != "ended"}


def to_json(checks: list[Check]) -> str:
    """The summary and every check, for a program to read."""
    return json.dumps({**summary(checks), "ttc_target_s": TTC_TARGET_S, "results": list(map(check_record, checks))},
                      indent=2)


def format_table(checks: list[Check]) -> str:
    """One row per slice and kind of check (passed/all), then every failure on its own line."""
    groups: dict[tuple[str, str], list[Check]] = {}
    for c in checks:
        groups.setdefault((c.slice or "-", c.check), []).append(c)
    rows = []
    for (name, kind), cs in groups.items():
        passed = sum(c.ok for c in cs)
        worst = ""
        if kind in ("icmp", "rtt", "ttc", "throughput", "state") or len(cs) == 1:
            worst = cs[0].measured if len(cs) == 1 else _extreme(kind, cs)
        rows.append((name, kind, f"{passed}/{len(cs)}", "ok" if passed == len(cs) else "FAIL", worst))
    lines = [render_table(("SLICE", "CHECK", "PASSED", "RESULT", "MEASURED"), rows, rule=True)]
    failed = [c for c in checks if not c.ok]
    if failed:
        lines.append(f"\n{len(failed)} failed:")
        lines += [f"  {c.line}" for c in failed]
    s = summary(checks)
    lines.append(f"\n{'PASS' if s['ok'] else 'FAIL'}: {s['passed']}/{s['total']} checks passed "
                 f"on {len(s['slices'])} slice{'s' * (len(s['slices']) != 1)}")
    return "\n".join(lines)


def _extreme(kind: str, cs: list[Check]) -> str:
    """The worst measurement of a group: the slowest pair's RTT (its fastest ping, as it
    was judged), the fewest replies, the smallest throughput."""
    values = [(float(m.group()), c.measured) for c in cs if (m := re.match(r"[\d.]+", c.measured))]
    if not values:
        return cs[0].measured
    pick = min if kind in ("throughput", "icmp") else max
    if len(cs) == 1:
        return pick(values)[1]
    return ("slowest pair: " if kind == "rtt" else "worst ") + pick(values)[1]


def to_junit(checks: list[Check]) -> str:
    """JUnit XML: one test suite per slice (and one for the controller), one test case per
    check; a failed check is a <failure> with measured and expected. A case's time is its
    own; a suite's and the run's are the wall-clock span of their checks (which run in
    parallel: their sum would be several times the run)."""
    root = ET.Element("testsuites", name="slicectl verify", tests=str(len(checks)),
                      failures=str(sum(not c.ok for c in checks)), errors="0", time=f"{span_s(checks):.3f}")
    suites: dict[str, list[Check]] = {}
    for c in checks:
        suites.setdefault(c.slice or "controller", []).append(c)
    for name, cs in suites.items():
        suite = ET.SubElement(root, "testsuite", name=name, tests=str(len(cs)),
                              failures=str(sum(not c.ok for c in cs)), errors="0", skipped="0",
                              time=f"{span_s(cs):.3f}")
        for c in cs:
            case = ET.SubElement(suite, "testcase", classname=f"slicectl.verify.{name}",
                                 name=f"{c.check} {c.subject}", time=f"{c.seconds:.3f}")
            if not c.ok:
                failure = ET.SubElement(case, "failure", message=f"measured {c.measured}, expected {c.expected}",
                                        type=c.check)
                failure.text = c.line
    ET.indent(root)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode") + "\n"
