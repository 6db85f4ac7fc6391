"""Why a drain could not move a slice off a site, in words that name what blocked it.

The placement's own refusal says which constraint failed as it saw the network (e.g.
"no path between fukuoka-dc and nagoya-dc"), not why: an operator needs to know that the
slice is geo-fenced and every way around the site leaves the fence, or that an endpoint
hangs off the drained site alone. These questions are asked of the topology graph with
the drained, lost and failed parts removed, so each answer is about the network as it
stands, not about capacity (which the refusal itself covers).
"""
from __future__ import annotations

from typing import Iterable

import networkx as nx

from slices.placement import LinkKey, can_transit
from slices.spec import SliceSpec


def blocked_reason(g: nx.Graph, spec: SliceSpec, site: str, refusal: str, *, avoid_sites: Iterable[str] = (),
                   avoid_links: Iterable[LinkKey] = ()) -> str:
    """Why ``spec`` (as served now) cannot go around drained ``site``: an endpoint cut
    off, a geo-fence every detour leaves, else the placement's ``refusal`` (bandwidth,
    latency, protection: it names the link or the bound)."""
    avoid = set(avoid_sites) | {site}
    terminals = sorted(set(spec.sites))
    apart = _apart(g, terminals, avoid, set(avoid_links), set())
    if apart:
        small, other = sorted(apart, key=len)
        return (f"{_names(small)} {'reaches' if len(small) == 1 else 'reach'} {_names(other)} only "
                f"through {site}" + _standby_hint(spec, small))
    allowed = set(spec.allowed_regions)
    if allowed and _apart(g, terminals, avoid, set(avoid_links), allowed):
        return _fence_text(g, spec, site, avoid, set(avoid_links), allowed)
    return refusal


def _usable(g: nx.Graph, terminals: list[str], avoid: set[str], allowed: set[str]) -> nx.Graph:
    """The graph a tree of ``terminals`` may use: transit sites by the placement's own rule."""
    keep = [n for n in g if n in terminals or can_transit(g, n, avoid, set(), allowed)]
    return g.subgraph(keep)


def _apart(g: nx.Graph, terminals: list[str], avoid: set[str], avoid_links: set,
           allowed: set[str]) -> tuple[list[str], list[str]] | None:
    """The terminals joined to the first one and the rest, if not all are joined."""
    usable = nx.Graph(_usable(g, terminals, avoid, allowed))
    usable.remove_edges_from(tuple(k) for k in avoid_links if len(k) == 2)
    reach = nx.node_connected_component(usable, terminals[0]) if terminals[0] in usable else {terminals[0]}
    rest = [t for t in terminals if t not in reach]
    return ([t for t in terminals if t in reach], rest) if rest else None


def _fence_text(g: nx.Graph, spec: SliceSpec, site: str, avoid: set[str], avoid_links: set,
                allowed: set[str]) -> str:
    """The geo-fence and where the shortest way around ``site`` would leave it."""
    terminals = sorted(set(spec.sites))
    usable = nx.Graph(_usable(g, terminals, avoid, set()))
    usable.remove_edges_from(tuple(k) for k in avoid_links if len(k) == 2)
    inside = _apart(g, terminals, avoid, avoid_links, allowed)
    a, b = inside[0][0], inside[1][0]
    path = nx.shortest_path(usable, a, b, weight="delay_ms")
    outside = [n for n in path if g.nodes[n]["region"] not in allowed]
    regions = sorted({g.nodes[n]["region"] for n in outside})
    fence = "/".join(sorted(allowed))
    return (f"geo-fenced to {fence}, and every path from {a} to {b} that avoids {site} leaves {fence}: "
            f"the shortest crosses {_names(regions)} at {_names(outside)}")


def _standby_hint(spec: SliceSpec, cut: list[str]) -> str:
    """How the operator can still move the slice: drain a cut-off endpoint site first
    when every endpoint there has a standby."""
    for s in cut:
        eps = [e for e in spec.endpoints if e.site == s]
        if eps and all(e.standby for e in eps):
            return f"; drain {s} first to move its endpoints to their standbys"
    return ""


def _names(items: list[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    return items[0] if len(items) == 1 else f"{', '.join(items[:-1])} and {items[-1]}"
