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
from heapq import heappop, heappush
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


def adjacency(g: nx.Graph) -> dict[str, tuple[tuple[str, float, LinkKey], ...]]:
    """Every site's links as (neighbour, delay_ms, link key), in the graph's edge order
    (so searches break ties exactly as networkx's Dijkstra on the same graph would)."""
    adj: dict[str, list] = {n: [] for n in g}
    for u, v, d in g.edges(data=True):
        key = frozenset((u, v))
        adj[u].append((v, d["delay_ms"], key))
        adj[v].append((u, d["delay_ms"], key))
    return {n: tuple(links) for n, links in adj.items()}


class PathCache:
    """Shortest-path searches already made, per usable graph, over one topology graph.

    A usable graph is fixed by which links are too full for the request, what is
    avoided and which regions are allowed - not by the exact residual numbers - so on a
    network that is not near saturation consecutive placements see the same graph, and a
    search from a site is done once instead of once per slice. Holds the last ``graphs``
    usable graphs."""

    def __init__(self, graphs: int = 8):
        self.graphs = graphs
        self._entries: OrderedDict = OrderedDict()
        self._adjacency: tuple[nx.Graph, dict] | None = None

    def adjacency(self, g: nx.Graph) -> dict:
        if self._adjacency is None or self._adjacency[0] is not g:
            self._adjacency = (g, adjacency(g))
        return self._adjacency[1]

    def get(self, signature, build) -> "Usable":
        entry = self._entries.get(signature)
        if entry is None:
            entry = self._entries[signature] = build()
            while len(self._entries) > self.graphs:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(signature)
        return entry


class Usable:
    """The sites and links a placement may use - a filter over the topology's adjacency,
    not a copy (building a graph per state of a saturated network cost more than
    searching it) - with the searches made on it.

    Each search is Dijkstra's from one root that stops once the sites asked for are
    settled (or once nothing closer than a bound is left) and resumes where it stopped
    when a later placement asks for farther ones: on a 750-site WAN a slice's endpoints
    are usually settled long before the whole graph is."""

    __slots__ = ("adj", "sites", "blocked", "searches")

    def __init__(self, adj: dict, sites: frozenset, blocked: frozenset):
        self.adj, self.sites, self.blocked = adj, sites, blocked
        self.searches: dict[str, _Search] = {}

    def reach(self, root: str, targets: list[str], bound: float = float("inf")) -> "_Search | None":
        """The search from ``root`` with every target settled; None if some target is
        farther than ``bound`` or not reachable at all."""
        search = self.searches.get(root)
        if search is None:
            search = self.searches[root] = _Search(self.adj, self.sites, self.blocked, root)
        return search if search.settle(targets, bound) else None

    def spt(self, root: str) -> tuple[dict, dict]:
        """(distance, parent) of every site reachable from ``root``."""
        search = self.reach(root, list(self.adj)) or self.searches[root]
        return search.dist, search.parent


class _Search:
    """One resumable Dijkstra (networkx's, step for step: the same trees). It holds the
    filter, not its :class:`Usable`: no reference cycle, so a search dropped from the
    cache is freed at once even after gc.freeze (slices.memory) made it permanent."""

    __slots__ = ("adj", "sites", "blocked", "dist", "parent", "seen", "fringe", "counter")

    def __init__(self, adj: dict, sites: frozenset, blocked: frozenset, root: str):
        self.adj, self.sites, self.blocked = adj, sites, blocked
        self.dist: dict[str, float] = {}
        self.parent: dict[str, str] = {}
        self.seen = {root: 0.0}
        self.fringe = [(0.0, 0, root)]
        self.counter = 1

    def settle(self, targets: list[str], bound: float) -> bool:
        dist, seen, parent, fringe = self.dist, self.seen, self.parent, self.fringe
        adj, sites, blocked = self.adj, self.sites, self.blocked
        if any(dist.get(t, 0.0) > bound + EPSILON for t in targets):
            return False       # settled earlier, farther than the bound
        missing = [t for t in targets if t not in dist]
        while missing:
            if not fringe or fringe[0][0] > bound + EPSILON:
                return False
            d, _, v = heappop(fringe)
            if v in dist:
                continue
            dist[v] = d
            for u, delay, key in adj[v]:
                if u not in sites or key in blocked:
                    continue
                du = d + delay
                if u not in dist and (u not in seen or du < seen[u]):
                    seen[u] = du
                    heappush(fringe, (du, self.counter, u))
                    self.counter += 1
                    parent[u] = v
            if v in missing:
                missing = [t for t in missing if t not in dist]
        return True


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

    if len(terminals) == 1:
        return Tree(terminals[0], (), 0.0, (terminals[0], terminals[0]))
    cache = cache or PathCache(1)
    exceptions = frozenset(t for t in terminals if not transit_ok(t))
    signature = (frozenset(k for k, r in residual.items() if r + EPSILON < need),
                 frozenset(avoid_links), frozenset(avoid_sites), frozenset(avoid_regions),
                 frozenset(allowed), exceptions)
    sites = lambda: frozenset(n for n in g if n in exceptions or transit_ok(n))  # noqa: E731
    usable = cache.get(signature, lambda: Usable(cache.adjacency(g), sites(), signature[0] | signature[1]))
    best: Tree | None = None
    for root in terminals:
        # a lower bound first: the tree cannot beat the farthest terminal from its root
        search = usable.reach(root, terminals, best.worst_delay_ms if best is not None else float("inf"))
        if search is None:
            if best is None:
                break          # some endpoint is not reachable at all: no root can join them
            continue
        dist, parent = search.dist, search.parent
        edges = set()
        for t in terminals:
            while t != root:
                edges.add((parent[t], t))
                t = parent[t]
        worst, pair = _worst_pair(dist, parent, terminals)
        cand = Tree(root, tuple(sorted(edges)), round(worst, 6), pair)
        if best is None or (cand.worst_delay_ms, len(cand.edges)) < (best.worst_delay_ms, len(best.edges)):
            best = cand
    if best is None:
        # the same graph but for bandwidth: which constraint cut the endpoints apart
        structural = cache.get(("any bandwidth", *signature[1:]),
                               lambda: Usable(cache.adjacency(g), sites(), signature[1]))
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
