"""Checks every topology loader applies, whatever the file format."""
from __future__ import annotations

from topologies.errors import TopologyError
from topologies.model import Topology


def check_connected(topo: Topology) -> None:
    """Every site must be reachable from every other: a slice needs a path."""
    import networkx as nx

    g = topo.graph()
    if len(g) < 2 or nx.is_connected(g):
        return
    start = topo.sites[0].name
    cut = sorted(set(g) - nx.node_connected_component(g, start))
    raise TopologyError(
        f"sites not connected to '{start}': {', '.join(cut[:5])}{' ...' if len(cut) > 5 else ''}",
        field="links")
