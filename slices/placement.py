"""Placement: a loop-free tree joining a slice's endpoint sites, within its constraints.

Pure: takes the topology graph, the residual capacity of each link and a spec; returns a
:class:`Tree` or raises :class:`Rejected` with the constraint that failed and the best
value the network could offer.

The tree is a least-delay *shortest-path tree* rooted at one of the endpoint sites: the
union of least-delay paths from the root to every other endpoint site (a tree, since
Dijkstra's predecessor graph is one). Every root is tried and the tree with the smallest
worst endpoint-to-endpoint delay wins (ties: fewer links). Unlike a minimum Steiner tree,
this bounds the worst pair directly, which is what ``max_latency_ms`` asks for.

``edge`` sites are user access: a tree ends at one but never passes through it.
"""
from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
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

    @cached_property
    def links(self) -> frozenset:
        return frozenset(frozenset(e) for e in self.edges)

    @cached_property
    def sites(self) -> frozenset[str]:
        return frozenset(s for e in self.edges for s in e) or frozenset({self.root})

    @cached_property
    def _adjacent(self) -> dict[str, list[str]]:
        adj: dict[str, set] = {}
        for a, b in self.edges:
            adj.setdefault(a, set()).add(b)
            adj.setdefault(b, set()).add(a)
        return {x: sorted(n) for x, n in adj.items()}

    def neighbours(self, site: str) -> list[str]:
        return self._adjacent.get(site, [])


def _worst_pair(dist: dict, parent: dict, terminals: list[str]) -> tuple[float, tuple[str, str]]:
    """The two terminals farthest apart on the shortest-path tree given by ``parent``:
    d(a, b) = d(a) + d(b) - 2 d(lowest common ancestor)."""
    ancestors = {}
    for t in terminals:
        chain, x = [t], t
        while x in parent:
            x = parent[x]
            chain.append(x)
        ancestors[t] = chain
    worst, pair = 0.0, (terminals[0], terminals[0])
    for i, a in enumerate(terminals):
        up_a = set(ancestors[a])
        for b in terminals[i + 1:]:
            lca = next(x for x in ancestors[b] if x in up_a)
            d = dist[a] + dist[b] - 2 * dist[lca]
            if d > worst + EPSILON:
                worst, pair = d, tuple(sorted((a, b)))
    return worst, pair


def usable_graph(g: nx.Graph, site_ok, link_ok) -> nx.Graph:
    """The links a placement may use, as a plain graph weighted by ``delay_ms``: filtered
    once, so Dijkstra runs without a Python callback per edge."""
    h = nx.Graph()
    h.add_nodes_from(n for n in g if site_ok(n))
    h.add_edges_from((u, v, {"delay_ms": d["delay_ms"]}) for u, v, d in g.edges(data=True)
                     if site_ok(u) and site_ok(v) and link_ok(u, v))
    return h


class PathCache:
    """Shortest-path trees already computed, per usable graph.

    A usable graph is fixed by which links are too full for the request, what is
    avoided and which regions are allowed - not by the exact residual numbers - so on a
    network that is not near saturation consecutive placements see the same graph, and a
    Dijkstra from a site is done once instead of once per slice. Holds the last
    ``graphs`` usable graphs (a few MB each at 200 sites)."""

    def __init__(self, graphs: int = 8):
        self.graphs = graphs
        self._entries: OrderedDict = OrderedDict()

    def get(self, signature, build) -> "Usable":
        entry = self._entries.get(signature)
        if entry is None:
            entry = self._entries[signature] = Usable(build())
            while len(self._entries) > self.graphs:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(signature)
        return entry


class Usable:
    """A usable graph with what was learnt about it: shortest-path trees by root, and
    which sites are connected at all (a slice whose endpoints are not is refused
    without a single Dijkstra: what a network full enough to refuse often asks)."""

    __slots__ = ("graph", "trees", "_component")

    def __init__(self, graph: nx.Graph):
        self.graph, self.trees, self._component = graph, {}, None

    def spt(self, root: str) -> tuple[dict, dict]:
        return _spt(self.graph, root, self.trees)

    def connected(self, sites: list[str]) -> bool:
        if self._component is None:
            self._component = {n: i for i, part in enumerate(nx.connected_components(self.graph)) for n in part}
        parts = {self._component.get(s) for s in sites}
        return len(parts) == 1 and None not in parts


def _spt(h: nx.Graph, root: str, trees: dict) -> tuple[dict, dict]:
    """(distance, parent) of every site reachable from ``root`` in ``h``, memoised."""
    if root not in trees:
        dist, paths = nx.single_source_dijkstra(h, root, weight="delay_ms")
        trees[root] = (dist, {n: p[-2] for n, p in paths.items() if len(p) > 1})
    return trees[root]


def place(g: nx.Graph, spec: SliceSpec, residual: Mapping[LinkKey, float], *,
          avoid_links: Iterable[LinkKey] = (), avoid_sites: Iterable[str] = (),
          avoid_regions: Iterable[str] = (), need_mbps: float | None = None,
          cache: PathCache | None = None) -> Tree:
    """Best tree for ``spec``; :class:`Rejected` if none meets the constraints.
    ``cache`` (one per graph ``g``) saves recomputing shortest paths across calls."""
    need = spec.bandwidth_mbps if need_mbps is None else need_mbps
    terminals = list(spec.sites)
    allowed = set(spec.allowed_regions)
    avoid_links, avoid_sites, avoid_regions = set(avoid_links), set(avoid_sites), set(avoid_regions)
    nodes = g.nodes

    def transit_ok(s: str) -> bool:  # (an edge site with one link cannot be transit anyway)
        node = nodes[s]
        return ((node["kind"] != "edge" or g.degree(s) < 2) and s not in avoid_sites
                and node["region"] not in avoid_regions and (not allowed or node["region"] in allowed))

    def site_ok(s: str) -> bool:
        return s in terminals or transit_ok(s)

    def link_ok(u, v) -> bool:
        key = frozenset((u, v))
        return key not in avoid_links and residual[key] + EPSILON >= need

    if len(terminals) == 1:
        return Tree(terminals[0], (), 0.0, (terminals[0], terminals[0]))
    signature = (frozenset(k for k, r in residual.items() if r + EPSILON < need),
                 frozenset(avoid_links), frozenset(avoid_sites), frozenset(avoid_regions),
                 frozenset(allowed), frozenset(t for t in terminals if not transit_ok(t)))
    usable = (cache or PathCache(1)).get(signature, lambda: usable_graph(g, site_ok, link_ok))
    best: Tree | None = None
    for root in terminals if usable.connected(terminals) else ():
        dist, parent = usable.spt(root)
        edges = set()
        for t in terminals:
            while t != root:
                edges.add((parent[t], t))
                t = parent[t]
        edges = sorted(edges)
        # a lower bound first: the tree cannot beat the farthest terminal from its root
        if best is not None and max(dist[t] for t in terminals) > best.worst_delay_ms + EPSILON:
            continue
        worst, pair = _worst_pair(dist, parent, terminals)
        cand = Tree(root, tuple(edges), round(worst, 6), pair)
        if best is None or (cand.worst_delay_ms, len(cand.edges)) < (best.worst_delay_ms, len(best.edges)):
            best = cand
    if best is None:
        # the same graph but for bandwidth: which constraint cut the endpoints apart
        structural = (cache or PathCache(1)).get(
            ("any bandwidth", *signature[1:]),
            lambda: usable_graph(g, site_ok, lambda u, v: frozenset((u, v)) not in avoid_links))
        raise _why_unreachable(g, spec, residual, need, structural)
    if spec.max_latency_ms is not None and best.worst_delay_ms > spec.max_latency_ms + EPSILON:
        a, b = best.worst_pair
        raise Rejected("latency", f"no tree within {spec.max_latency_ms:g} ms between {a} and {b}; "
                       f"best is {best.worst_delay_ms:.1f} ms")
    return best


def _why_unreachable(g, spec, residual, need, structural) -> Rejected:
    """Find the constraint that cut the endpoints apart, and say how close it came.
    ``structural``: the usable graph ignoring bandwidth, from the cache, so that a
    network full enough to refuse often explains itself cheaply."""
    terminals = list(spec.sites)
    root = terminals[0]
    dist, parent = structural.spt(root)
    cut = [t for t in terminals if t not in dist]
    if cut:
        where = f" inside regions {list(spec.allowed_regions)}" if spec.allowed_regions else ""
        return Rejected("region" if spec.allowed_regions else "topology",
                        f"no path between {root} and {cut[0]}{where}")
    # reachable ignoring bandwidth: name the tightest link on the least-delay path
    short = []
    for t in terminals[1:]:
        while t != root:
            u, t = t, parent[t]
            if residual[frozenset((u, t))] + EPSILON < need:
                short.append((residual[frozenset((u, t))], *sorted((u, t))))
    free, u, v = min(short)
    edge = g[u][v]
    return Rejected("bandwidth", f"link {edge['a']}—{edge['b']} has {free:g} of "
                    f"{edge['bandwidth_mbps']:g} Mbit/s free; {spec.name} needs {need:g}")
