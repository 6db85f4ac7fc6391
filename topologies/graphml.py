"""Import Internet Topology Zoo GraphML into the model.

Zoo data (Knight et al., "The Internet Topology Zoo", IEEE JSAC 2011, CC BY 4.0) is
incomplete, so each gap gets a deliberate treatment and a warning naming what was guessed:

* **site names**: the node ``label`` made DNS-like (``New York`` -> ``new-york``); empty
  or repeated labels get the node id appended (``jgn2plus-12``).
* **kind**: internal PoPs become ``cloud`` sites (every PoP can host slice endpoints);
  external nodes (``Internal`` = 0: peers, customers) become ``edge`` sites.
* **region**: the node's ``Country``; when missing, the graph's ``GeoLocation``, else
  ``unknown``.
* **missing coordinates**: the spherical centroid of located neighbours, repeated
  outwards until no more can be placed; sites with no located neighbour stay unlocated.
* **delay**: from distance x route factor at 5 us/km; a link with an unlocated end gets
  the median delay of the located links (or ``default_delay_ms`` when there are none).
* **missing speeds**: the most common known speed in the file, else
  ``default_bandwidth_mbps``.
* **parallel edges**: merged into one link whose capacity is the sum of the members
  (a bundle); **self-loops** are dropped.
"""
from __future__ import annotations

import re
import statistics
from collections import Counter
from pathlib import Path
from xml.etree.ElementTree import ParseError

from topologies.errors import TopologyError
from topologies.checks import check_connected
from topologies.geo import DEFAULT_ROUTE_FACTOR, centroid, fibre_delay_ms, great_circle_km
from topologies.model import DEFAULT_HOSTS, Link, Site, Topology

ATTRIBUTION = ("Internet Topology Zoo, S. Knight et al., IEEE JSAC 29(9) 2011, "
               "CC BY 4.0 (topology-zoo.org)")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def _listing(items: list[str], limit: int = 6) -> str:
    more = f" and {len(items) - limit} more" if len(items) > limit else ""
    return ", ".join(items[:limit]) + more


def load_graphml(path: str | Path, *, route_factor: float = DEFAULT_ROUTE_FACTOR,
                 default_bandwidth_mbps: float = 1000.0, default_delay_ms: float = 5.0,
                 hosts_per_cloud: int = DEFAULT_HOSTS["cloud"],
                 hosts_per_edge: int = DEFAULT_HOSTS["edge"]) -> Topology:
    """Read a Topology Zoo GraphML file; see the module docstring for the treatments."""
    import networkx as nx

    path = Path(path)
    src = str(path)
    try:
        g = nx.read_graphml(path, force_multigraph=True)
    except (ParseError, nx.NetworkXError, OSError, ValueError, KeyError) as e:
        raise TopologyError(f"not a readable GraphML file: {e}", source=src) from None
    if g.number_of_nodes() == 0:
        raise TopologyError("graph has no nodes", source=src, field="graph")
    warnings: list[str] = []
    node_ids = sorted(g.nodes, key=lambda n: (len(str(n)), str(n)))
    names = _names(g, node_ids, warnings)
    coords = _coordinates(g, node_ids, names, warnings)
    sites = _sites(g, node_ids, names, coords, (hosts_per_cloud, hosts_per_edge), warnings)
    links = _links(g, names, coords, route_factor, default_bandwidth_mbps, default_delay_ms, warnings)
    name = _slug(str(g.graph.get("label") or g.graph.get("Network") or path.stem)) or path.stem
    topo = Topology(name=name, sites=tuple(sites), links=tuple(links), source=src,
                    description=f"Imported from {path.name}. {ATTRIBUTION}",
                    warnings=tuple(warnings))
    try:
        check_connected(topo)
    except TopologyError as e:
        raise e.with_source(src) from None
    return topo


def _names(g, node_ids: list, warnings: list[str]) -> dict[str, str]:
    """Site names from the node labels, made DNS-like; by node id where empty or repeated."""
    labels = {n: _slug(str(g.nodes[n].get("label", ""))) for n in node_ids}
    counts = Counter(labels.values())
    names: dict[str, str] = {}
    renamed = []
    for n in node_ids:
        base = labels[n] or "node"
        name = base if counts[base] == 1 and labels[n] else f"{base}-{n}"
        names[n] = name
        if name != base:
            renamed.append(name)
    if renamed:
        warnings.append(f"{len(renamed)} sites had an empty or repeated label and were named "
                        f"by node id: {_listing(renamed)}")
    return names


def _coordinates(g, node_ids: list, names: dict[str, str], warnings: list[str]) -> dict[str, tuple[float, float]]:
    """Each node's coordinates, given, else guessed from located neighbours, outwards."""
    coords: dict[str, tuple[float, float]] = {}
    for n in node_ids:
        d = g.nodes[n]
        if "Latitude" in d and "Longitude" in d:
            coords[n] = (float(d["Latitude"]), float(d["Longitude"]))
    guessed: list[str] = []
    progress = True
    while progress:
        progress = False
        for n in node_ids:
            if n in coords:
                continue
            located = [coords[m] for m in g.neighbors(n) if m in coords and m != n]
            if located:
                coords[n] = centroid(located)
                guessed.append(names[n])
                progress = True
    if guessed:
        warnings.append(f"{len(guessed)} sites had no coordinates; placed at the centroid of "
                        f"their located neighbours: {_listing(guessed)}")
    unlocated = [names[n] for n in node_ids if n not in coords]
    if unlocated:
        warnings.append(f"{len(unlocated)} sites have no coordinates and no located neighbour; "
                        f"left unlocated: {_listing(unlocated)}")
    return coords


def _sites(g, node_ids: list, names: dict[str, str], coords: dict[str, tuple[float, float]],
           hosts: tuple[int, int], warnings: list[str]) -> list[Site]:
    """A site per node: internal ones clouds, external ones edges, in their Country."""
    hosts_per_cloud, hosts_per_edge = hosts
    graph_region = str(g.graph.get("GeoLocation") or "unknown")
    sites = []
    externals = []
    no_region = []
    for index, n in enumerate(node_ids, start=1):
        d = g.nodes[n]
        internal = d.get("Internal", 1) != 0
        kind = "cloud" if internal else "edge"
        if not internal:
            externals.append(names[n])
        region = str(d.get("Country") or "").strip()
        if not region:
            region = graph_region
            no_region.append(names[n])
        lat, lon = coords.get(n, (None, None))
        sites.append(Site(name=names[n], kind=kind, lat=lat, lon=lon, region=region,
                          label=str(d.get("label", "")), dpid=index,
                          hosts=hosts_per_cloud if internal else hosts_per_edge))
    if externals:
        warnings.append(f"{len(externals)} external nodes (Internal=0) imported as edge sites: "
                        f"{_listing(externals)}")
    if no_region:
        warnings.append(f"{len(no_region)} sites have no Country; region set to '{graph_region}': "
                        f"{_listing(no_region)}")
    return sites


def _links(g, names: dict[str, str], coords: dict[str, tuple[float, float]], route_factor: float,
           default_bandwidth_mbps: float, default_delay_ms: float, warnings: list[str]) -> list[Link]:
    """A link per pair of joined nodes (parallel edges merged), speeds and delays filled."""
    bundles: dict[frozenset[str], list[dict]] = {}
    selfloops = []
    for u, v, d in g.edges(data=True):
        if u == v:
            selfloops.append(names[u])
            continue
        bundles.setdefault(frozenset((u, v)), []).append(d)
    if selfloops:
        warnings.append(f"{len(selfloops)} self-loops dropped at: {_listing(selfloops)}")
    known = [float(d["LinkSpeedRaw"]) / 1e6 for ds in bundles.values() for d in ds
             if d.get("LinkSpeedRaw")]
    fill_bw = Counter(known).most_common(1)[0][0] if known else default_bandwidth_mbps
    site_coords = {names[n]: c for n, c in coords.items()}
    located_delays = []
    raw_links = []
    missing_speed, merged = [], []
    for key in sorted(bundles, key=lambda k: sorted(names[n] for n in k)):
        u, v = sorted(key, key=lambda n: names[n])
        a, b = names[u], names[v]
        members = bundles[key]
        bw = 0.0
        for d in members:
            if d.get("LinkSpeedRaw"):
                bw += float(d["LinkSpeedRaw"]) / 1e6
            else:
                bw += fill_bw
                missing_speed.append(f"{a}—{b}")
        if len(members) > 1:
            merged.append(f"{a}—{b} x{len(members)}")
        distance = None
        if a in site_coords and b in site_coords:
            distance = great_circle_km(*site_coords[a], *site_coords[b])
            located_delays.append(fibre_delay_ms(distance, route_factor))
        label = "; ".join(sorted({str(d.get("LinkLabel", "")) for d in members} - {""}))
        raw_links.append((a, b, bw, distance, label))
    if missing_speed:
        warnings.append(f"{len(missing_speed)} links have no speed; set to {fill_bw:g} Mbit/s "
                        f"({'most common known speed' if known else 'default'}): "
                        f"{_listing(missing_speed)}")
    if merged:
        warnings.append(f"{len(merged)} parallel edge bundles merged, capacities summed: "
                        f"{_listing(merged)}")
    fill_delay = statistics.median(located_delays) if located_delays else default_delay_ms
    links = []
    guessed_delay = []
    for a, b, bw, distance, label in raw_links:
        if distance is None:
            links.append(Link(a, b, bw, round(fill_delay, 4), None, "guessed", label))
            guessed_delay.append(f"{a}—{b}")
        else:
            links.append(Link(a, b, bw, round(fibre_delay_ms(distance, route_factor), 4),
                              round(distance, 1), "distance", label))
    if guessed_delay:
        warnings.append(f"{len(guessed_delay)} links touch an unlocated site; delay set to "
                        f"{fill_delay:.2f} ms ({'median of located links' if located_delays else 'default'}): "
                        f"{_listing(guessed_delay)}")
    return links
