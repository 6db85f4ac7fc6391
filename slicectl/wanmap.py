"""A picture of the slices: sites on a longitude/latitude map, every link in grey, each
slice's tree in its own colour (backup trees dashed), a legend, written as PNG and SVG
with matplotlib.

The map keeps distances honest at the WAN's latitude (one degree of longitude is
cos(latitude) of a degree of latitude). Sites without coordinates are drawn beside their
located neighbours, or in a row under the map if they have none, and are marked so.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only: no display needed (a lab VM or CI has none)
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.lines import Line2D  # noqa: E402

from topologies.model import Topology  # noqa: E402

COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
SITE_STYLE = {"cloud": ("o", "#333333", 8), "core": ("o", "#ffffff", 6), "edge": ("s", "#999999", 5)}
SITE_LAYER = {"core": 3, "edge": 4, "cloud": 5}   # a data centre stays visible over its exchange


def site_positions(topo: Topology) -> tuple[dict[str, tuple[float, float]], set[str]]:
    """(lon, lat) of every site, and the names of those whose position is made up."""
    pos = {s.name: (s.lon, s.lat) for s in topo.sites if s.located}
    guessed = set()
    lons = [p[0] for p in pos.values()] or [0.0]
    lats = [p[1] for p in pos.values()] or [0.0]
    span = max(max(lons) - min(lons), max(lats) - min(lats), 1.0)
    row = 0
    for s in topo.sites:
        if s.located:
            continue
        near = [pos[l.other(s.name)] for l in topo.links_of(s.name) if l.other(s.name) in pos]
        if near:
            lon = sum(p[0] for p in near) / len(near) + 0.04 * span
            lat = sum(p[1] for p in near) / len(near) - 0.04 * span
        else:
            lon, lat = min(lons) + 0.08 * span * row, min(lats) - 0.12 * span
            row += 1
        pos[s.name] = (lon, lat)
        guessed.add(s.name)
    return pos, guessed


def write_map(topo: Topology, slices, path: Path) -> list[Path]:
    """Draw ``slices`` on ``topo`` (:func:`map_figure`); write ``path`` with .png and .svg;
    return both paths."""
    fig = map_figure(topo, slices)
    out = []
    path = Path(path)
    with matplotlib.rc_context({"svg.fonttype": "none"}):  # text stays text in the SVG
        for suffix in (".png", ".svg"):
            target = path.with_suffix(suffix)
            fig.savefig(target, bbox_inches="tight")
            out.append(target)
    plt.close(fig)
    return out


def map_figure(topo: Topology, slices):
    """A matplotlib figure of ``slices`` (API Slice messages: spec.name,
    spec.bandwidth_mbps, spec.priority, tree, backup) on ``topo``."""
    pos, guessed = site_positions(topo)
    fig, ax = plt.subplots(figsize=(10, 8), dpi=110)
    mean_lat = sum(p[1] for p in pos.values()) / max(len(pos), 1)
    ax.set_aspect(1 / max(math.cos(math.radians(mean_lat)), 0.1))
    for l in topo.links:
        (x1, y1), (x2, y2) = pos[l.a], pos[l.b]
        ax.plot([x1, x2], [y1, y2], color="#cccccc", linewidth=5, zorder=1, solid_capstyle="round")
    handles = []
    step = 0.004 * max(1.0, max(p[0] for p in pos.values()) - min(p[0] for p in pos.values()))
    for i, s in enumerate(slices):
        colour = COLOURS[i % len(COLOURS)]
        offset = (i - (len(slices) - 1) / 2) * step  # side by side where trees share a link
        for links, style in ((s.tree, "-"), (s.backup, "--")):
            for l in links:
                (x1, y1), (x2, y2) = pos[l.a], pos[l.b]
                ax.plot([x1 + offset, x2 + offset], [y1 + offset, y2 + offset], color=colour,
                        linestyle=style, linewidth=2.2, zorder=2)
        handles.append(Line2D([], [], color=colour, linewidth=2.2,
                              label=f"{s.spec.name} ({s.spec.bandwidth_mbps:g} Mbit/s, priority {s.spec.priority})"))
    for site in topo.sites:
        marker, fill, size = SITE_STYLE.get(site.kind, ("o", "#ffffff", 6))
        x, y = pos[site.name]
        ax.plot([x], [y], marker=marker, markersize=size, markerfacecolor=fill, markeredgecolor="#333333",
                linestyle="none", zorder=SITE_LAYER.get(site.kind, 1))   # a fabric sits under its cloud
        if site.kind == "cloud" or site.name in guessed:
            ax.annotate(site.name + (" (no coordinates)" if site.name in guessed else ""), (x, y),
                        xytext=(6, 5), textcoords="offset points", fontsize=8, zorder=6)
    handles += [Line2D([], [], color="#555555", linestyle="--", label="backup tree"),
                *(Line2D([], [], marker=m, markersize=sz, markerfacecolor=f, markeredgecolor="#333333",
                         linestyle="none", label=f"{kind} site") for kind, (m, f, sz) in SITE_STYLE.items())]
    ax.legend(handles=handles, loc="best", fontsize=8, framealpha=0.9)
    ax.set_title(f"{topo.name}: slices and their trees")
    ax.set_xlabel("longitude (°)")
    ax.set_ylabel("latitude (°)")
    ax.grid(color="#eeeeee", linewidth=0.5)
    return fig
