"""A picture of the slices: sites on a lat/lon map, every link in grey, each slice's tree
in its own colour (backup trees dashed). Plain SVG, no plotting library."""
from __future__ import annotations

from html import escape
from pathlib import Path

from topologies.model import Topology

COLOURS = ("#d62728", "#1f77b4", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#e377c2", "#17becf")
WIDTH, HEIGHT, MARGIN = 900, 700, 60


def write_map(topo: Topology, slices, path: Path) -> Path:
    """``slices``: API Slice messages (spec.name, tree, backup)."""
    located = [s for s in topo.sites if s.located]
    lats = [s.lat for s in located]
    lons = [s.lon for s in located]
    lat0, lat1, lon0, lon1 = min(lats), max(lats), min(lons), max(lons)
    scale = min((WIDTH - 2 * MARGIN) / max(lon1 - lon0, 1e-6), (HEIGHT - 2 * MARGIN) / max(lat1 - lat0, 1e-6))

    def xy(site: str) -> tuple[float, float]:
        s = topo.site(site)
        return MARGIN + (s.lon - lon0) * scale, HEIGHT - MARGIN - (s.lat - lat0) * scale

    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
           f'font-family="sans-serif" font-size="11">',
           '<rect width="100%" height="100%" fill="white"/>',
           f'<text x="{MARGIN}" y="24" font-size="16">{escape(topo.name)}: slices and their trees</text>']
    for l in topo.links:
        if topo.site(l.a).located and topo.site(l.b).located:
            (x1, y1), (x2, y2) = xy(l.a), xy(l.b)
            out.append(f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="#ccc" stroke-width="6"/>')
    for i, s in enumerate(slices):
        colour = COLOURS[i % len(COLOURS)]
        offset = (i - len(slices) / 2) * 2.5  # side by side where trees share a link
        for links, dash in ((s.tree, ""), (s.backup, ' stroke-dasharray="6,4"')):
            for l in links:
                (x1, y1), (x2, y2) = xy(l.a), xy(l.b)
                out.append(f'<line x1="{x1 + offset:.1f}" y1="{y1 + offset:.1f}" x2="{x2 + offset:.1f}" '
                           f'y2="{y2 + offset:.1f}" stroke="{colour}" stroke-width="2.5"{dash}/>')
        out.append(f'<rect x="{WIDTH - 250}" y="{40 + 18 * i}" width="14" height="10" fill="{colour}"/>'
                   f'<text x="{WIDTH - 230}" y="{49 + 18 * i}">{escape(s.spec.name)} '
                   f'({s.spec.bandwidth_mbps:g} Mbit/s, prio {s.spec.priority})</text>')
    for s in located:
        x, y = xy(s.name)
        fill = {"cloud": "#333", "core": "#fff", "edge": "#999"}[s.kind]
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{6 if s.kind == "cloud" else 4}" fill="{fill}" stroke="#333"/>')
        if s.kind == "cloud":
            out.append(f'<text x="{x + 8:.1f}" y="{y - 6:.1f}">{escape(s.name)}</text>')
    out.append(f'<text x="{MARGIN}" y="{HEIGHT - 16}" fill="#666">dark: cloud, white: core, grey: edge; '
               f'dashed: backup tree</text></svg>')
    path.write_text("\n".join(out) + "\n")
    return path
