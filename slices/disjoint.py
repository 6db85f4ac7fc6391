"""Two disjoint paths at once, for a protected slice between two sites.

The engine places a primary tree first and then looks for a backup avoiding it. Between
two sites that order can fail although a disjoint pair exists: the least-delay path may
take the one link a second path needed (the "trap" of Suurballe's paper). Measured on Topology
Zoo WANs before this existed: 17 of 150 random protected pairs refused on Internet2, 8
on SINET, 5 on WIDE, 20 on a generated 200-site WAN - every one of them with a
disjoint pair (a flow of two found it). A minimum-cost flow of two units from one site
to the other, with each link (and, for site protection, each transit site) able to
carry one unit, finds the two paths of least total delay that share nothing - what
Suurballe's algorithm computes - and the engine falls back to it when the backup
search fails. Links and sites no backup can avoid (bridges, cut sites) may carry both.

Pure: the graph, the residual capacities and the constraints in, two trees out.
"""
from __future__ import annotations

from typing import Iterable, Mapping

import networkx as nx

from slices.errors import Rejected
from slices.placement import EPSILON, LinkKey, Tree, can_transit, link_key, tree_edge
from slices.spec import SliceSpec

IN, OUT = "in", "out"


def disjoint_pair(g: nx.Graph, spec: SliceSpec, residual: Mapping[LinkKey, float], *,
                  avoid_links: Iterable[LinkKey] = (), avoid_sites: Iterable[str] = (),
                  no_tags: Iterable[LinkKey] = (), shared_links: Iterable[LinkKey] = (),
                  shared_sites: Iterable[str] = (), sites_too: bool = False) -> tuple[Tree, Tree]:
    """The least-delay pair of paths joining ``spec``'s two sites that share no link but
    ``shared_links`` (with ``sites_too``, no transit site but ``shared_sites`` either),
    each within the latency bound, over links with the bandwidth and a free tag: the
    lower-delay path first (primary), then the other (backup). Rejected if there is none.
    A link both paths share is only offered, not checked: the caller checks it can hold
    both (twice the bandwidth, two tags)."""
    a, b = spec.sites
    need = spec.bandwidth_mbps
    avoid_links, avoid_sites, no_tags = set(avoid_links), set(avoid_sites), set(no_tags)
    shared_links, shared_sites = set(shared_links), set(shared_sites)
    allowed = set(spec.allowed_regions)

    def usable(x: str) -> bool:
        return x in (a, b) or can_transit(g, x, avoid_sites, set(), allowed)

    def node(x: str, side: str):   # with sites_too, a site is an arc from its IN to its OUT
        return (x, side) if sites_too else x

    flow = nx.DiGraph()
    for u, v, data in g.edges(data=True):
        key = link_key(u, v)
        if key in avoid_links or key in no_tags or residual[key] + EPSILON < need or not (usable(u) and usable(v)):
            continue
        # integral costs (network simplex), never zero: a zero-cost link could carry both
        # paths in opposite directions at no cost
        cost, units = int(data["delay_ms"] * 1000) + 1, 2 if key in shared_links else 1
        flow.add_edge(node(u, OUT), node(v, IN), capacity=units, weight=cost)
        flow.add_edge(node(v, OUT), node(u, IN), capacity=units, weight=cost)
    if sites_too:
        for x in {x for x, _side in flow.nodes}:
            flow.add_edge((x, IN), (x, OUT), capacity=2 if x in (a, b) or x in shared_sites else 1, weight=0)
    source, sink = node(a, OUT), node(b, IN)
    if source not in flow or sink not in flow:
        raise Rejected("protection", f"no disjoint pair of paths between {a} and {b}")
    flow.nodes[source]["demand"], flow.nodes[sink]["demand"] = -2, 2
    try:
        _cost, sent = nx.network_simplex(flow)
    except nx.NetworkXUnfeasible:
        raise Rejected("protection", f"no disjoint pair of paths between {a} and {b}") from None
    paths = sorted((_path(g, sent, source, sink, sites_too) for _ in range(2)),
                   key=lambda p: (p[0], len(p[1])))
    trees = []
    for delay, sites in paths:
        if spec.max_latency_ms is not None and delay > spec.max_latency_ms + EPSILON:
            raise Rejected("latency", f"the disjoint pair between {a} and {b} takes {delay:.1f} ms")
        trees.append(Tree(a, tuple(sorted(tree_edge(x, y) for x, y in zip(sites, sites[1:]))), delay,
                          tuple(sorted((a, b)))))
    return trees[0], trees[1]


def _path(g: nx.Graph, sent: dict, source, sink, sites_too: bool) -> tuple[float, list[str]]:
    """Follow one unit of ``sent`` from ``source`` to ``sink``, using it up: (delay, sites)."""
    here, sites = source, [source[0] if sites_too else source]
    while here != sink:
        there = next(n for n, units in sent[here].items() if units > 0)
        sent[here][there] -= 1
        site = there[0] if sites_too else there
        if site != sites[-1]:     # (a site's own IN -> OUT arc is not a step)
            sites.append(site)
        here = there
    delay = sum(g[x][y]["delay_ms"] for x, y in zip(sites, sites[1:]))
    return round(delay, 6), sites
