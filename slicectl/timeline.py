"""``slicectl schedule``: the plan per link, from GetSchedule's answer - a table per link
(each slice's interval and Mbit/s, with the link's peak over it against capacity), the
same as JSON or YAML with the peaks added, and a plot (one lane per link, a bar per
booking stacked as the load builds up, coloured by the link's load, the lane's top the
capacity). The peaks are computed here by :mod:`slices.timeline` (pure), from exactly
what the caller was sent, so a tenant's peaks count its own slices only."""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import matplotlib

matplotlib.use("Agg")   # files only; no display needed
import matplotlib.dates as mdates  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
from google.protobuf import json_format  # noqa: E402
from matplotlib.colors import Normalize  # noqa: E402

from proto.convert import timestamp  # noqa: E402
from proto.intercloud.slicing.v1 import slicing_pb2 as pb  # noqa: E402
from slicectl.report import render_table  # noqa: E402
from slices.schedule import short_time  # noqa: E402
from slices.timeline import LinkTimeline, Span, calendar_of, default_range, link_timeline, stacked  # noqa: E402

HIDDEN_NOTE = "other tenants' bookings are not shown (their Mbit/s would tell what they booked)"
LOAD_COLOURS = plt.get_cmap("RdYlGn_r")


def _seconds(ts) -> float:
    return ts.ToNanoseconds() / 1e9


def spans_of(link: pb.LinkSchedule) -> list[Span]:
    return [Span(s.slice, s.tenant, _seconds(s.start), _seconds(s.end) if s.HasField("end") else math.inf,
                 s.mbps, s.priority, s.ahead) for s in link.spans]


def timelines(msg: pb.LinkSchedules) -> list[LinkTimeline]:
    since, until = _seconds(msg.since), _seconds(msg.until)
    return [link_timeline(l.a, l.b, l.bandwidth_mbps, spans_of(l), since, until) for l in msg.links]


def from_data(doc: dict) -> pb.LinkSchedules:
    """``slicectl schedule -o json``'s document back as the message (the peaks it adds are
    computed again)."""
    return json_format.ParseDict(doc, pb.LinkSchedules(), ignore_unknown_fields=True)


def as_data(msg: pb.LinkSchedules) -> dict:
    """The message as JSON data, each link and span with its peak (``peak_mbps``)."""
    doc = json_format.MessageToDict(msg, preserving_proto_field_name=True)
    since, until = _seconds(msg.since), _seconds(msg.until)
    for link, d in zip(msg.links, doc.get("links", [])):
        spans = spans_of(link)
        cal = calendar_of(spans)
        d["peak_mbps"] = cal.peak(since, until)
        for s, ds in zip(spans, d.get("spans", [])):
            ds["peak_mbps"] = cal.peak(max(s.t0, since), min(s.t1, until))
    return doc


def from_slices(topology, slices, now: float) -> pb.LinkSchedules:
    """What a run record's slices (``pb.Slice``) book on ``topology``'s links, in the
    form GetSchedule answers: bookings ahead (``scheduled``) over their schedule, the
    others from their start or creation until their end (or deleted); the range from
    ``now`` (or the first start, if earlier) to the last end. What the report draws when
    it has no ``slicectl schedule -o json`` file."""
    from slices.schedule import parse_time
    held: dict[frozenset, list[Span]] = {l.key: [] for l in topology.links}
    for s in slices:
        sch = s.spec.schedule
        start = parse_time(sch.start)[0] if sch.start else None
        end = parse_time(sch.end)[0] if sch.end else None
        t0 = start if start is not None else (_seconds(s.create_time) if s.HasField("create_time") else now)
        need: dict[frozenset, float] = {}
        for link in [*s.tree, *s.backup]:
            need[frozenset((link.a, link.b))] = need.get(frozenset((link.a, link.b)), 0.0) + s.spec.bandwidth_mbps
        for key, mbps in need.items():
            if key in held:
                held[key].append(Span(s.spec.name, s.spec.tenant, t0, end if end is not None else math.inf, mbps,
                                      s.spec.priority, s.state == pb.SLICE_STATE_SCHEDULED))
    every = [x for v in held.values() for x in v]
    since, until = default_range(every, min([now] + [x.t0 for x in every if x.ahead]))
    out = pb.LinkSchedules(topology=topology.name, since=timestamp(since), until=timestamp(until))
    for l in topology.links:
        m = out.links.add(a=l.a, b=l.b, bandwidth_mbps=l.bandwidth_mbps)
        for x in sorted(held[l.key], key=lambda x: (x.t0, x.slice)):
            span = m.spans.add(slice=x.slice, tenant=x.tenant, start=timestamp(x.t0), mbps=x.mbps,
                               priority=x.priority, ahead=x.ahead)
            if math.isfinite(x.t1):
                span.end.CopyFrom(timestamp(x.t1))
    return out


def _load(peak: float, capacity: float) -> str:
    return f"{peak:g} / {capacity:g} ({100 * peak / capacity:.0f}%)" if capacity else f"{peak:g}"


def text(msg: pb.LinkSchedules, wide: bool = False) -> str:
    """A table per link with something booked in the range (every link asked for by name)."""
    lines = [f"schedule of {msg.topology}, {short_time(_seconds(msg.since))} – {short_time(_seconds(msg.until))} UTC"]
    if msg.others_hidden:
        lines.append(HIDDEN_NOTE)
    empty = 0
    for t in timelines(msg):
        if not t.rows and len(msg.links) > 1:
            empty += 1
            continue
        lines += ["", f"link {t.name}: {t.capacity_mbps:g} Mbit/s, peak booked {_load(t.peak_mbps, t.capacity_mbps)}"]
        if not t.rows:
            lines.append("nothing booked in the range")
            continue
        rows = [(short_time(r.span.t0), "until deleted" if r.span.t1 == math.inf else short_time(r.span.t1),
                 r.span.slice, r.span.priority, f"{r.span.mbps:g}", _load(r.peak_mbps, t.capacity_mbps))
                + ((r.span.tenant, "booked ahead" if r.span.ahead else "today") if wide else ())
                for r in t.rows]
        lines.append(render_table(("FROM", "UNTIL", "SLICE", "PRIO", "MBIT/S", "PEAK BOOKED / CAPACITY")
                                  + (("TENANT", "KIND") if wide else ()), rows))
    if empty:
        lines += ["", f"{empty} link{'s' * (empty != 1)} with nothing booked in the range"]
    return "\n".join(lines)


def _when(t: float) -> datetime:
    return datetime.fromtimestamp(t, timezone.utc)


def figure(msg: pb.LinkSchedules):
    """One lane per link with something booked (every link asked for by name): a bar
    per slice from its start to its end, as tall as its share of the capacity, stacked
    on what is booked beneath it, coloured by the link's peak load over it."""
    since, until = _seconds(msg.since), _seconds(msg.until)
    shown = [t for t in timelines(msg) if t.rows or len(msg.links) == 1]
    height = 1.6 + 0.42 * max(len(shown), 1)
    fig, ax = plt.subplots(figsize=(11, height))
    norm, width = Normalize(0, 1), until - since
    for lane, t in enumerate(reversed(shown)):
        scale = 0.8 / t.capacity_mbps if t.capacity_mbps else 0.0
        ax.plot([_when(since), _when(until)], [lane + 0.8] * 2, color="#444", lw=0.6, ls="--")
        for row, below in stacked(t.rows):
            load = row.peak_mbps / t.capacity_mbps if t.capacity_mbps else 0.0
            x0 = mdates.date2num(_when(row.t0))
            ax.broken_barh([(x0, mdates.date2num(_when(row.t1)) - x0)], (lane + below * scale, row.span.mbps * scale),
                           facecolors=LOAD_COLOURS(norm(load)), edgecolors="white", linewidth=0.4)
            if (row.t1 - row.t0) > 0.12 * width and row.span.mbps * scale > 0.18:
                ax.text(_when((row.t0 + row.t1) / 2), lane + (below + row.span.mbps / 2) * scale, row.span.slice,
                        ha="center", va="center", fontsize=7, clip_on=True)
    ax.set_yticks([i + 0.4 for i in range(len(shown))])
    ax.set_yticklabels([f"{t.name} ({t.capacity_mbps:g})" for t in reversed(shown)], fontsize=8)
    ax.set_ylim(-0.2, max(len(shown), 1))
    ax.set_xlim(_when(since), _when(until))
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator(), tz=timezone.utc))
    ax.set_xlabel("UTC")
    ax.grid(axis="x", color="#ddd", lw=0.5)
    ax.set_title(f"Bookings per link on {msg.topology}, {short_time(since)} – {short_time(until)} UTC"
                 + ("\n(your slices only: " + HIDDEN_NOTE.split(" (")[0] + ")" if msg.others_hidden else ""),
                 fontsize=10)
    if not shown:
        ax.text(0.5, 0.5, "nothing booked in the range", transform=ax.transAxes, ha="center")
    bar = fig.colorbar(plt.cm.ScalarMappable(norm=norm, cmap=LOAD_COLOURS), ax=ax, pad=0.01, fraction=0.03)
    bar.set_label("peak booked / capacity", fontsize=8)
    fig.tight_layout()
    return fig


def save(msg: pb.LinkSchedules, path: str | Path) -> Path:
    """The plot as PNG or SVG, by the file's suffix."""
    path = Path(path)
    if path.suffix.lower() not in (".png", ".svg"):
        raise ValueError(f"{path}: the plot is written as .png or .svg")
    fig = figure(msg)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, format=path.suffix[1:].lower(), dpi=110)
    plt.close(fig)
    return path
