"""``slicectl report``: one self-contained HTML page about a run (the figures are inside
it as PNG data), for people who were not there: the map with every slice's tree, time to
connectivity as a CDF against the programme's 10-minute target, the outage of each
disaster scenario against the 30-minute recovery target, and per slice its state, bound,
measured round trip and verdict from ``slicectl verify``.

Input: the run record ``make demo`` writes (``results/demo-run.json``, see
:func:`run_record`), optionally with the benchmarks' JSON (``bench connectivity --json``,
``bench failover --json``) for larger samples, and the bookings per link over time
(``slicectl schedule -o json`` output, else the run record's own bookings ahead, if it
has any; :mod:`slicectl.timeline`). The figures are also written as PNG files
beside the page, so a README or a wiki can show them.
"""
from __future__ import annotations

import base64
import datetime
import html
import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed
import matplotlib.pyplot as plt  # noqa: E402
from google.protobuf import json_format  # noqa: E402

from proto.intercloud.slicing.v1 import slicing_pb2 as pb  # noqa: E402
from slicectl import timeline  # noqa: E402
from slicectl.jsonfiles import read_json  # noqa: E402
from slicectl.targets import RECOVERY_TARGET_S, TTC_TARGET_S  # noqa: E402
from slicectl.wanmap import map_figure  # noqa: E402
from topologies import load  # noqa: E402



class ReportError(Exception):
    """A run record or benchmark file that cannot be read: exit 2, nothing written."""


def run_record(topology: str, slices: list[pb.Slice], outcomes: list[dict], drill: list[dict],
               checks: list[dict], passed: bool) -> dict:
    """What a run leaves for the report: the slices as the controller had them, each
    slice's creation outcome (time to connectivity), the drill's rows, verify's checks."""
    return {"kind": "intercloud-slicing run", "topology": topology,
            "time": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "passed": passed, "ttc_target_s": TTC_TARGET_S, "recovery_target_s": RECOVERY_TARGET_S,
            "slices": [json_format.MessageToDict(s, preserving_proto_field_name=True) for s in slices],
            "outcomes": outcomes, "drill": drill, "verify": checks}


def read_object(path: str | Path, what: str) -> dict:
    doc = read_json(path, what, ReportError)
    if not isinstance(doc, dict):
        raise ReportError(f"{path}: the {what} is not a JSON object")
    return doc


def check_run(doc: dict, path: str) -> None:
    if doc.get("kind") != "intercloud-slicing run":
        raise ReportError(f"{path}: kind: not a run record (expected 'intercloud-slicing run', "
                          f"got {doc.get('kind')!r}); `make demo` writes one to results/demo-run.json")
    for key in ("topology", "slices", "outcomes", "drill", "verify"):
        if key not in doc:
            raise ReportError(f"{path}: {key}: missing")


# -- figures --------------------------------------------------------------------------------

def ttc_figure(samples: dict[str, list[float]], target_s: float):
    """CDF of time to connectivity per source of samples, the target as a red line."""
    fig, ax = plt.subplots(figsize=(8, 4.2), dpi=110)
    for label, values in samples.items():
        xs = sorted(values)
        if not xs:
            continue
        ys = [0.0] + [(i + 1) / len(xs) for i in range(len(xs))]
        ax.step([xs[0]] + xs, ys, where="post", linewidth=2, label=f"{label} (n={len(xs)}, max {xs[-1]:.2f} s)")
    ax.axvline(target_s, color="#d62728", linewidth=2, label=f"target: {target_s / 60:g} minutes")
    ax.set_xscale("log")
    ax.set_xlim(0.01, target_s * 3)
    ax.set_ylim(0, 1.02)
    ax.set_xlabel("time from CreateSlice to traffic between every endpoint pair (s, log scale)")
    ax.set_ylabel("share of slices")
    ax.set_title("Time to connectivity")
    ax.grid(color="#eeeeee", which="both", linewidth=0.5)
    ax.legend(loc="lower right", fontsize=8)
    return fig


def outage_figure(rows: list[tuple[str, float, float | None]], target_s: float):
    """Horizontal bars: outage (ms) per scenario, with its worst as a whisker where known."""
    fig, ax = plt.subplots(figsize=(8, 0.5 * len(rows) + 1.6), dpi=110)
    names = [r[0] for r in rows]
    values = [r[1] for r in rows]
    worst = [(r[2] - r[1]) if r[2] is not None else 0 for r in rows]
    ax.barh(range(len(rows)), values, xerr=[[0] * len(rows), worst], color="#1f77b4", capsize=3)
    for i, (v, w) in enumerate(zip(values, worst)):
        ax.annotate(f"{v:.0f} ms" + (f" (worst {v + w:.0f})" if w else ""), (v + w, i), xytext=(6, -3),
                    textcoords="offset points", fontsize=8)
    ax.set_yticks(range(len(rows)), names, fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("outage seen by a 10 ms ping stream (ms); whisker: worst repetition")
    ax.set_title(f"Outage per disaster scenario (target of the programme: {target_s / 60:g} minutes "
                 f"= {target_s * 1000:,.0f} ms)", fontsize=10)
    ax.grid(axis="x", color="#eeeeee", linewidth=0.5)
    return fig


def png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


# -- the page -------------------------------------------------------------------------------

def slice_rows(run: dict) -> list[tuple]:
    """Per slice: name, priority, state, bound, worst placed delay, the controller's live
    SLA verdict (measured one-way delay), worst RTT verify measured, verify's verdict
    (passed/all and what failed)."""
    checks: dict[str, list[dict]] = {}
    for c in run["verify"]:
        checks.setdefault(c["slice"], []).append(c)
    out = []
    for s in run["slices"]:
        spec = s.get("spec", {})
        name = spec.get("name", "?")
        mine = checks.get(name, [])
        rtts = [float(c["measured"].split()[0]) for c in mine if c["check"] == "rtt" and c["measured"][:1].isdigit()]
        failed = sorted({c["check"] for c in mine if not c["ok"]})
        verdict = ("not verified" if not mine else
                   f"{sum(c['ok'] for c in mine)}/{len(mine)} checks passed"
                   + (f"; FAILED: {', '.join(failed)}" if failed else ""))
        bound = spec.get("max_latency_ms")
        out.append((name, spec.get("priority", 3), s.get("state", "").removeprefix("SLICE_STATE_").lower(),
                    "-" if bound is None else f"{bound:g} ms", f"{s.get('worst_delay_ms', 0):.2f} ms",
                    _sla_text(s.get("sla", {})), f"{max(rtts):.2f} ms" if rtts else "-", verdict))
    return out


def _sla_text(sla: dict) -> str:
    """A slice's live SLA as the run record has it (Slice.sla as JSON)."""
    state = sla.get("state", "").removeprefix("SLA_STATE_").lower().replace("_", " ")
    if not state:
        return "not monitored"
    delay = sla.get("measured_delay_ms")
    return state + (f", {delay:.1f} ms" if delay is not None else "")


def _table(head: tuple, rows: list[tuple]) -> str:
    cells = "".join(f"<th>{html.escape(str(h))}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{cells}</tr></thead><tbody>{body}</tbody></table>"


def _img(data: bytes, alt: str) -> str:
    return f'<img alt="{html.escape(alt)}" src="data:image/png;base64,{base64.b64encode(data).decode()}">'


STYLE = """body{font-family:system-ui,sans-serif;max-width:60em;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0;font-size:0.9em}td,th{border:1px solid #ccc;padding:0.3em 0.6em;
text-align:left}th{background:#f4f4f4}img{max-width:100%}.pass{color:#2ca02c}.fail{color:#d62728}"""


def build(run: dict, ttc_bench: dict | None = None, failover: dict | None = None,
          schedule: dict | None = None) -> tuple[str, dict[str, bytes]]:
    """The page, and its figures by file name."""
    topo = load(run["topology"])
    slices = [json_format.ParseDict(s, pb.Slice(), ignore_unknown_fields=True) for s in run["slices"]]
    samples = {"demo slices": [o["ttc_s"] for o in run["outcomes"] if o.get("ttc_s") is not None]}
    probe = [c["seconds"] for c in run["verify"] if c["check"] == "ttc" and c["ok"]]
    if probe:
        samples["verify probe slice"] = probe
    if ttc_bench and ttc_bench.get("samples_s"):
        samples[f"bench connectivity ({ttc_bench.get('topology', '?')})"] = ttc_bench["samples_s"]
    outages = [(f"drill: {r['event']}", r["outage_s"] * 1000, None) for r in run["drill"]]
    for name, s in (failover or {}).get("scenarios", {}).items():
        outages.append((f"bench: {name} (p50 of {s['repetitions']})", s["outage_ms_p50"], s["outage_ms_max"]))
    figures = {"report-map.png": png(map_figure(topo, slices)),
               "report-ttc.png": png(ttc_figure(samples, run.get("ttc_target_s", TTC_TARGET_S)))}
    plan = _plan(topo, slices, schedule, run)
    if plan is not None:
        figures["report-schedule.png"] = png(timeline.figure(plan))
    if outages:
        figures["report-outage.png"] = png(outage_figure(outages, run.get("recovery_target_s", RECOVERY_TARGET_S)))
    failed = [c for c in run["verify"] if not c["ok"]]
    verdict = ('<p class="pass">PASS</p>' if run.get("passed") else '<p class="fail">FAIL</p>')
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(topo.name)} run report"
             f"</title><style>{STYLE}</style></head><body>",
             f"<h1>Slices on {html.escape(topo.name)}</h1>",
             f"<p>Run of {html.escape(run.get('time', '?'))}: {len(slices)} slices, "
             f"{len(run['verify'])} verify checks, {len(run['drill'])} drill events.</p>", verdict,
             "<h2>Slices: state, bound, measured, verdict</h2>",
             _table(("slice", "priority", "state", "one-way bound", "worst placed delay",
                     "controller SLA (one way, measured)", "worst RTT (min of 5)", "slicectl verify"),
                    slice_rows(run))]
    if failed:
        parts += ["<h3>Failed checks</h3>", _table(("slice", "check", "subject", "measured", "expected"),
                                                   [(c["slice"], c["check"], c["subject"], c["measured"],
                                                     c["expected"]) for c in failed])]
    parts += ["<h2>Map</h2>", _img(figures["report-map.png"], "map of the slices"),
              "<h2>Time to connectivity</h2>", _img(figures["report-ttc.png"], "time to connectivity CDF")]
    if outages:
        parts += ["<h2>Disasters</h2>", _img(figures["report-outage.png"], "outage per scenario"),
                  _table(("scenario", "outage ms", "worst ms", "slices touched / all pairs back"),
                         [(f"drill: {r['event']}", f"{r['outage_s'] * 1000:.0f}", "-",
                           f"{', '.join(r['touched']) or '-'} / {'yes' if r['all_pairs'] else 'NO'}")
                          for r in run["drill"]]
                         + [(f"bench: {n}", f"{s['outage_ms_p50']:.0f}", f"{s['outage_ms_max']:.0f}", "-")
                            for n, s in (failover or {}).get("scenarios", {}).items()])]
    if plan is not None:
        parts += ["<h2>Bookings per link over time</h2>", _img(figures["report-schedule.png"], "bookings per link"),
                  f"<pre>{html.escape(timeline.text(plan))}</pre>"]
    parts.append("</body></html>\n")
    return "\n".join(parts), figures


def _plan(topo, slices: list[pb.Slice], schedule: dict | None, run: dict) -> pb.LinkSchedules | None:
    """The timeline to show: the ``slicectl schedule -o json`` file's, else the run
    record's own bookings ahead (None: neither has any)."""
    if schedule is not None:
        return timeline.from_data(schedule)
    if not any(s.state == pb.SLICE_STATE_SCHEDULED for s in slices):
        return None
    when = datetime.datetime.fromisoformat(run["time"]).timestamp() if run.get("time") else 0.0
    return timeline.from_slices(topo, slices, when)


def write(run_path: str | Path, out: str | Path, ttc_path: str | None = None,
          failover_path: str | None = None, schedule_path: str | None = None) -> list[Path]:
    """Read the inputs, write the page and its figures; the paths written."""
    run = read_object(run_path, "run record")
    check_run(run, str(run_path))
    ttc = read_object(ttc_path, "connectivity benchmark") if ttc_path else None
    failover = read_object(failover_path, "failover benchmark") if failover_path else None
    schedule = read_object(schedule_path, "schedule (slicectl schedule -o json)") if schedule_path else None
    page, figures = build(run, ttc, failover, schedule)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    written = [out]
    out.write_text(page, encoding="utf-8")
    for name, data in figures.items():
        target = out.parent / name
        target.write_bytes(data)
        written.append(target)
    return written
