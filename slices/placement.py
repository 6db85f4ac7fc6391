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

from array import array
from collections import OrderedDict
from dataclasses import dataclass
from functools import cached_property
from itertools import compress
from typing import Iterable, Mapping

import networkx as nx
import numpy as np
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from slices.errors import Rejected
from slices.resources import no_tag_left, tags_per_link
from slices.spec import SliceSpec
from topologies.model import NON_TRANSIT_KINDS

LinkKey = frozenset  # frozenset({site_a, site_b})
# One object per link key and per tree edge, shared by every tree that uses it: a
# 750-site WAN at 10,000 slices holds ~350,000 tree links, each its own frozenset
# otherwise (~95 MB; measured with tracemalloc). Bounded by the links of the topologies.
_KEYS: dict = {}
_EDGES: dict = {}


def link_key(a: str, b: str) -> LinkKey:
    """The shared key of the a—b link."""
    key = frozenset((a, b))
    return _KEYS.setdefault(key, key)


def tree_edge(a: str, b: str) -> tuple[str, str]:
    """The shared (parent, child) edge a—b of a tree."""
    edge = (a, b)
    return _EDGES.setdefault(edge, edge)


EPSILON = 1e-9
INF = float("inf")


@dataclass(frozen=True)
class Tree:
    root: str
    edges: tuple[tuple[str, str], ...]        # (parent, child), away from the root
    worst_delay_ms: float                      # max one-way delay between endpoint sites
    worst_pair: tuple[str, str]

    @cached_property
    def links(self) -> frozenset:
        return frozenset(link_key(*e) for e in self.edges)

    # Computed when asked, not kept: a 750-site WAN at 10,000 slices held ~55 MB of
    # cached site sets and adjacency (tracemalloc), for questions asked once per compile.
    @property
    def sites(self) -> frozenset[str]:
        return frozenset(s for e in self.edges for s in e) or frozenset({self.root})

    def adjacency(self) -> dict[str, tuple[str, ...]]:
        """Each site of the tree -> its neighbours on the tree, sorted."""
        adj: dict[str, list] = {}
        for a, b in self.edges:
            adj.setdefault(a, []).append(b)
            adj.setdefault(b, []).append(a)
        return {x: tuple(sorted(n)) for x, n in adj.items()}


def _worst_pair(dist: list, parent: list, terminals: list[int]) -> tuple[float, tuple[int, int]]:
    """The two terminals farthest apart on the shortest-path tree given by ``parent``
    (site indices; a negative parent: the root): d(a, b) = d(a) + d(b) - 2 d(lowest
    common ancestor)."""
    ancestors = {}
    for t in terminals:
        chain, x = [t], t
        while parent[x] >= 0:
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
                worst, pair = d, (a, b)
    return worst, pair


class Network:
    """The topology graph as arrays for scipy's shortest paths: site indices, and every
    link's ends, delay and key."""

    def __init__(self, g: nx.Graph):
        self.names = list(g)
        self.index = {n: i for i, n in enumerate(self.names)}
        edges = list(g.edges(data=True))
        self.keys = [frozenset((u, v)) for u, v, _ in edges]
        self.link = {k: i for i, k in enumerate(self.keys)}
        self.u = np.array([self.index[u] for u, _, _ in edges], dtype=np.int32)
        self.v = np.array([self.index[v] for _, v, _ in edges], dtype=np.int32)
        self.delay = np.array([d["delay_ms"] for _, _, d in edges], dtype=float)
        # every link in both directions, by (from, to): a usable graph's sparse matrix is
        # a selection of these, built without sorting, searched as a directed graph
        # (scipy would otherwise transpose an undirected matrix on every search)
        rows, cols = np.concatenate([self.u, self.v]), np.concatenate([self.v, self.u])
        order = np.lexsort((cols, rows))
        self.rows, self.cols = rows[order], cols[order]
        self.entry_link = np.concatenate([np.arange(len(edges))] * 2)[order]
        self.entry_delay = self.delay[self.entry_link]


class PathCache:
    """Shortest-path trees already computed, per usable graph, over one topology graph.

    A usable graph is fixed by which links are too full for the request, what is
    avoided and which regions are allowed - not by the exact residual numbers - so on a
    network that is not near saturation consecutive placements see the same graph, and
    the tree from a site is computed once instead of once per slice. Holds the last
    ``graphs`` usable graphs."""

    def __init__(self, graphs: int = 8):
        self.graphs = graphs
        self._entries: OrderedDict = OrderedDict()
        self._network: tuple[nx.Graph, Network] | None = None
        self._sites: OrderedDict = OrderedDict()   # what is avoided -> the sites left to use

    def sites(self, key, build) -> frozenset:
        """The sites a placement may use, by what it avoids (which rarely changes)."""
        found = self._sites.get(key)
        if found is None:
            found = self._sites[key] = build()
            if len(self._sites) > 64:
                self._sites.popitem(last=False)
        return found

    def network(self, g: nx.Graph) -> Network:
        if self._network is None or self._network[0] is not g:
            self._network = (g, Network(g))
        return self._network[1]

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
    """The sites and links a placement may use, as a sparse matrix, with the
    shortest-path trees computed on it: scipy's Dijkstra (compiled), all the roots a
    placement needs in one call. In pure Python the searches were two thirds of the
    engine's time on a saturated 750-site WAN, where every placement sees a new usable
    graph (``slicectl bench engine``, profiled)."""

    __slots__ = ("net", "matrix", "trees")

    def __init__(self, net: Network, sites: frozenset, blocked: frozenset):
        ok = np.zeros(len(net.names), dtype=bool)
        ok[[net.index[n] for n in sites]] = True
        keep = ok[net.u] & ok[net.v]
        cut = [net.link[k] for k in blocked if k in net.link]
        keep[cut] = False
        n = len(net.names)
        self.net = net
        entries = keep[net.entry_link]
        indptr = np.zeros(n + 1, dtype=np.int32)
        np.cumsum(np.bincount(net.rows[entries], minlength=n), out=indptr[1:])
        # explicit zeros are links of no delay (sites in one place), not missing links
        self.matrix = csr_matrix((net.entry_delay[entries], net.cols[entries], indptr), shape=(n, n))
        self.trees: dict[str, tuple[array, array]] = {}   # root -> (distance, parent) by site index

    def tree(self, roots: list[str], root: str) -> tuple[array, array]:
        """(distance, parent index) of every site from ``root`` (inf and -1 where it cannot
        be reached); computed with every other root of ``roots`` not known yet."""
        if root not in self.trees:
            todo = [r for r in dict.fromkeys(roots) if r not in self.trees]
            idx = [self.net.index[r] for r in todo]
            dist, pred = dijkstra(self.matrix, directed=True, indices=idx, return_predecessors=True)
            for r, d, p in zip(todo, dist, pred.astype(np.int32)):
                # compact (8 and 4 bytes a site, not a Python object each), read like lists
                self.trees[r] = (array("d", d.tobytes()), array("i", p.tobytes()))
        return self.trees[root]


def can_transit(g: nx.Graph, site: str, avoid_sites: set[str], avoid_regions: set[str], allowed: set[str]) -> bool:
    """Whether a tree may pass through ``site``: not an ``edge`` site or a fabric's
    ``leaf`` (one with a single link cannot be transit anyway), not avoided, in an
    allowed region."""
    node = g.nodes[site]
    return ((node["kind"] not in NON_TRANSIT_KINDS or g.degree(site) < 2) and site not in avoid_sites
            and node["region"] not in avoid_regions and (not allowed or node["region"] in allowed))


def place(g: nx.Graph, spec: SliceSpec, residual: Mapping[LinkKey, float], *,
          avoid_links: Iterable[LinkKey] = (), avoid_sites: Iterable[str] = (),
          avoid_regions: Iterable[str] = (), need_mbps: float | None = None,
          no_tags: frozenset | set = frozenset(), cache: PathCache | None = None) -> Tree:
    """Best tree for ``spec``; :class:`Rejected` if none meets the constraints.
    ``no_tags``: links with no slice tag left, as unusable as full ones.
    ``cache`` (one per graph ``g``) saves recomputing shortest paths across calls."""
    need = spec.bandwidth_mbps if need_mbps is None else need_mbps
    terminals = list(spec.sites)
    allowed = set(spec.allowed_regions)
    avoid_links, avoid_sites, avoid_regions = set(avoid_links), set(avoid_sites), set(avoid_regions)

    def transit_ok(s: str) -> bool:
        return can_transit(g, s, avoid_sites, avoid_regions, allowed)

    if len(terminals) == 1:
        return Tree(terminals[0], (), 0.0, (terminals[0], terminals[0]))
    cache = cache or PathCache(1)
    exceptions = frozenset(t for t in terminals if not transit_ok(t))
    too_full = _too_full(residual, need)
    signature = (too_full | no_tags if no_tags else too_full,
                 frozenset(avoid_links), frozenset(avoid_sites), frozenset(avoid_regions),
                 frozenset(allowed), exceptions)
    sites = lambda: cache.sites(signature[2:], lambda: frozenset(  # noqa: E731
        n for n in g if n in exceptions or transit_ok(n)))
    usable = cache.get(signature, lambda: Usable(cache.network(g), sites(), signature[0] | signature[1]))
    names, index = usable.net.names, usable.net.index
    ends = [index[t] for t in terminals]
    best = None              # (worst delay, links, root index, parent, tree sites, worst pair)
    first: list | None = None
    for root in terminals:
        r = index[root]
        # lower bounds first: the tree cannot beat the farthest terminal from its root,
        # which is at least |d(first root, t) - d(first root, root)| away (triangle inequality)
        if best is not None and max(abs(first[t] - first[r]) for t in ends) > best[0] + EPSILON:
            continue
        dist, parent = usable.tree(terminals, root)
        far = max(dist[t] for t in ends)
        if far == INF:
            break              # some endpoint is not reachable at all: no root can join them
        if best is not None and far > best[0] + EPSILON:
            continue
        first = first or dist
        below = _branches(parent, ends, r)
        worst, pair = _worst_pair(dist, parent, ends)
        worst = round(worst, 6)
        if best is None or (worst, len(below)) < best[:2]:
            best = (worst, len(below), r, parent, below, pair)
    if best is None:
        # the same graph but for bandwidth: which constraint cut the endpoints apart
        structural = cache.get(("any bandwidth", *signature[1:]),
                               lambda: Usable(cache.network(g), sites(), signature[1]))
        raise _why_unreachable(g, spec, residual, need, no_tags, structural)
    worst, _n, r, parent, below, pair = best
    # only the winner becomes a Tree: its edges (parent, child) away from the root
    tree = Tree(names[r], tuple(sorted(tree_edge(names[parent[x]], names[x]) for x in below)), worst,
                tuple(sorted((names[pair[0]], names[pair[1]]))))
    if spec.max_latency_ms is not None and worst > spec.max_latency_ms + EPSILON:
        a, b = tree.worst_pair
        raise Rejected("latency", f"no tree within {spec.max_latency_ms:g} ms between {a} and {b}; "
                       f"best is {worst:.1f} ms")
    return tree


def _too_full(residual: Mapping[LinkKey, float], need: float) -> frozenset:
    """The links with less than ``need`` left (compared in numpy: this runs for every
    placement, over every link of the topology)."""
    left = np.fromiter(residual.values(), dtype=float, count=len(residual))
    return frozenset(compress(residual, (left + EPSILON < need).tolist()))


def _branches(parent: list, ends: list[int], root: int) -> list[int]:
    """The sites of the shortest-path tree (``parent``, site indices) joining ``ends`` to
    ``root``, root excepted: each is the child end of one tree link."""
    seen, out = {root}, []
    for t in ends:
        while t not in seen:
            seen.add(t)
            out.append(t)
            t = parent[t]
    return out


def _why_unreachable(g, spec, residual, need, no_tags, structural) -> Rejected:
    """Find the constraint that cut the endpoints apart, and say how close it came.
    ``structural``: the usable graph ignoring bandwidth, from the cache, so that a
    network full enough to refuse often explains itself cheaply."""
    terminals = list(spec.sites)
    root = terminals[0]
    names, index = structural.net.names, structural.net.index
    r = index[root]
    dist, parent = structural.tree([root], root)
    cut = [t for t in terminals if dist[index[t]] == INF]
    if cut:
        where = f" inside regions {list(spec.allowed_regions)}" if spec.allowed_regions else ""
        return Rejected("region" if spec.allowed_regions else "topology",
                        f"no path between {root} and {cut[0]}{where}")
    # reachable ignoring bandwidth: name the tightest link on the least-delay path
    short, tagless = [], []
    for t in terminals[1:]:
        x = index[t]
        while x != r:
            u, x = names[x], parent[x]
            key = link_key(u, names[x])
            free = residual[key]
            if free + EPSILON < need:
                short.append((free, *sorted((u, names[x]))))
            elif key in no_tags:
                tagless.append(key)
    if not short:
        return no_tag_left(min(tagless, key=sorted), tags_per_link(g.graph.get("transport", "vlan")))
    free, u, v = min(short)
    edge = g[u][v]
    return Rejected("bandwidth", f"link {edge['a']}—{edge['b']} has {free:g} of "
                    f"{edge['bandwidth_mbps']:g} Mbit/s free; {spec.name} needs {need:g}")
