"""Reports for people: one table renderer for every client command, report and benchmark,
and the percentile they quote."""
from __future__ import annotations

from typing import Iterable, Sequence

from topologies.emulation.relay import REFERENCE_DELAY_MS


def render_table(head: Sequence, rows: Iterable[Sequence], *, rule: bool = False) -> str:
    """Columns as wide as their widest cell, two spaces apart; ``rule``: a line of dashes
    under the header."""
    rows = [tuple(map(str, r)) for r in rows]
    head = tuple(map(str, head))
    widths = [max(len(x) for x in col) for col in zip(head, *rows)]
    line = lambda cells: "  ".join(c.ljust(w) for c, w in zip(cells, widths)).rstrip()  # noqa: E731
    return "\n".join([line(head), *([line(["-" * w for w in widths])] if rule else []), *map(line, rows)])


def percentile(values: Iterable[float], q: float) -> float | None:
    """The ``q``-th percentile (nearest rank on the sorted values); None when there are none."""
    ordered = sorted(values)
    if not ordered:
        return None
    return ordered[min(len(ordered) - 1, int(round(q / 100 * (len(ordered) - 1))))]


def _number(v: float | None, digits: int = 2) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def fidelity_table(report: dict) -> str:
    """The WAN check's report (topologies.emulation.fidelity.run_check) as a table."""
    head = ("link", "Mbit/s", "measured", "delay ms", "2xdelay", "link RTT", "raw RTT",
            "baseline", "mechanism", "result")
    rows = []
    for r in report["links"]:
        bw = "ok" if r["bandwidth_ok"] else ("n/j" if r["bandwidth_ok"] is None else "BW OFF")
        verdict = "ok" if r["ok"] else ", ".join(
            x for x in ("RTT OFF" if not r["delay_ok"] else "", bw if bw == "BW OFF" else "",
                        r["error"]) if x)
        if r["ok"] and r["bandwidth_ok"] is None:
            verdict = "ok (bw not judged >100)"
        rows.append((f"{r['a']} — {r['b']}", f"{r['bandwidth_mbps']:g}", _number(r["measured_mbps"], 1),
                     f"{r['delay_ms']:.3f}", f"{2 * r['delay_ms']:.2f}", _number(r["measured_rtt_ms"]),
                     _number(r["raw_rtt_ms"]), _number(r["baseline_rtt_ms"]), r["mechanism"], verdict))
    out = [f"Fidelity of {report['topology']} (delay by {report['delay_mechanism']}; "
           f"targets: RTT {report['targets']['rtt']}, TCP {report['targets']['bandwidth']})",
           render_table(head, rows, rule=True)]
    n_ok = sum(r["ok"] for r in report["links"])
    out.append("link RTT = raw RTT - baseline, as printed (raw: min RTT across the link; baseline: min RTT of "
               f"the same probe path with the link at a {REFERENCE_DELAY_MS:g} ms reference delay, less "
               f"2 x {REFERENCE_DELAY_MS:g} ms: the measuring path's own latency)")
    if any(r["measured_rtt_ms"] is not None and r["measured_rtt_ms"] < 0 for r in report["links"]):
        out.append("a link RTT below zero: a link of (almost) no delay, where the measuring path's noise is "
                   "larger than the link; where 2 x delay is within the slack of zero, only the upper bound is judged")
    out.append(f"{n_ok}/{len(rows)} links within target; "
               f"{'PASS' if report['ok'] else 'FAIL'} in {report['duration_s']} s")
    return "\n".join(out)
