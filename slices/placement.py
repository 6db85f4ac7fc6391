"""Placement: a loop-free tree joining a slice's endpoint sites, within its constraints.

Pure: takes the topology graph, the residual capacity of each link and a spec; returns a
:class:`Tree` or raises :class:`Rejected` with the constraint that failed and the best
value the network could offer.

The tree is a least-delay *shortest-path tree* rooted at one of the endpoint sites: the
union of least-delay paths from the root to every other endpoint site (a tree, since
Dijkstra's predecessor graph is one). Every root is tried and the tree with the smallest
worst endpoint-to-endpoint delay wins (ties: fewer links). Unlike a minimum Steiner tree,
this bounds the worst pair directly, which is what ``max_latency_ms`` asks for.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Mapping

import networkx as nx

from slices.errors import Rejected
from slices.spec import SliceSpec

LinkKey = frozenset  # frozenset({site_a, site_b})
EPSILON = 1e-9


@dataclass(frozen=True)
class Tree:
    root: str
    edges: tuple[tuple[str, str], ...]        # (parent, child), away from the root
    worst_delay_ms: float                      # max one-way delay between endpoint sites
    worst_pair: tuple[str, str]

    @property
    def links(self) -> frozenset:
        return frozenset(frozenset(e) for e in self.edges)

    @property
    def sites(self) -> frozenset[str]:
        return frozenset(s for e in self.edges for s in e) or frozenset({self.root})

    def neighbours(self, site: str) -> list[str]:
        return sorted({b for a, b in self.edges if a == site} | {a for a, b in self.edges if b == site})


def _tree_delays(g: nx.Graph, tree_edges: list[tuple[str, str]], root: str,
                 terminals: list[str]) -> tuple[float, tuple[str, str]]:
    t = nx.Graph()
    t.add_node(root)
    for a, b in tree_edges:
        t.add_edge(a, b, delay_ms=g[a][b]["delay_ms"])
    worst, pair = 0.0, (terminals[0], terminals[0])
    for i, a in enumerate(terminals):
        dist = nx.single_source_dijkstra_path_length(t, a, weight="delay_ms")
        for b in terminals[i + 1:]:
            if dist[b] > worst + EPSILON:
                worst, pair = dist[b], (a, b)
    return worst, pair


def place(g: nx.Graph, spec: SliceSpec, residual: Mapping[LinkKey, float], *,
          avoid_links: Iterable[LinkKey] = (), avoid_sites: Iterable[str] = (),
          avoid_regions: Iterable[str] = (), need_mbps: float | None = None) -> Tree:
    """Best tree for ``spec``; :class:`Rejected` if none meets the constraints."""
    need = spec.bandwidth_mbps if need_mbps is None else need_mbps
    terminals = list(spec.sites)
    allowed = set(spec.allowed_regions)
    avoid_links, avoid_sites, avoid_regions = set(avoid_links), set(avoid_sites), set(avoid_regions)
    region = nx.get_node_attributes(g, "region")

    def site_ok(s: str) -> bool:
        if s in terminals:
            return True
        return (s not in avoid_sites and region[s] not in avoid_regions
                and (not allowed or region[s] in allowed))

    def weight(u, v, d):
        if not (site_ok(u) and site_ok(v)) or frozenset((u, v)) in avoid_links:
            return None
        return d["delay_ms"] if residual[frozenset((u, v))] + EPSILON >= need else None

    if len(terminals) == 1:
        return Tree(terminals[0], (), 0.0, (terminals[0], terminals[0]))
    best: Tree | None = None
    for root in terminals:
        dist, paths = nx.single_source_dijkstra(g, root, weight=weight)
        if any(t not in dist for t in terminals):
            continue
        edges = sorted({(p[k], p[k + 1]) for t in terminals for p in [paths[t]] for k in range(len(p) - 1)})
        worst, pair = _tree_delays(g, edges, root, terminals)
        cand = Tree(root, tuple(edges), round(worst, 6), pair)
        if best is None or (cand.worst_delay_ms, len(cand.edges)) < (best.worst_delay_ms, len(best.edges)):
            best = cand
    if best is None:
        raise _why_unreachable(g, spec, residual, need, site_ok, avoid_links)
    if spec.max_latency_ms is not None and best.worst_delay_ms > spec.max_latency_ms + EPSILON:
        a, b = best.worst_pair
        raise Rejected("latency", f"no tree within {spec.max_latency_ms:g} ms between {a} and {b}; "
                       f"best is {best.worst_delay_ms:.1f} ms")
    return best


def _why_unreachable(g, spec, residual, need, site_ok, avoid_links) -> Rejected:
    """Find the constraint that cut the endpoints apart, and say how close it came."""
    terminals = list(spec.sites)

    def structural(u, v, d):  # regions and exclusions, but any bandwidth
        if not (site_ok(u) and site_ok(v)) or frozenset((u, v)) in avoid_links:
            return None
        return d["delay_ms"]

    root = terminals[0]
    dist, paths = nx.single_source_dijkstra(g, root, weight=structural)
    cut = [t for t in terminals if t not in dist]
    if cut:
        where = f" inside regions {list(spec.allowed_regions)}" if spec.allowed_regions else ""
        return Rejected("region" if spec.allowed_regions else "topology",
                        f"no path between {root} and {cut[0]}{where}")
    # reachable ignoring bandwidth: name the tightest link on the least-delay path
    short = []
    for t in terminals[1:]:
        p = paths[t]
        for k in range(len(p) - 1):
            key = frozenset((p[k], p[k + 1]))
            if residual[key] + EPSILON < need:
                short.append((residual[key], p[k], p[k + 1]))
    free, u, v = min(short)
    edge = g[u][v]
    return Rejected("bandwidth", f"link {edge['a']}—{edge['b']} has {free:g} of "
                    f"{edge['bandwidth_mbps']:g} Mbit/s free; {spec.name} needs {need:g}")
