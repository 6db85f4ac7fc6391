"""Keeping slices to their latency bound with measured delays (:mod:`controller.sla`):
placing with the links' measured one-way delays, and moving a slice measured too slow
onto a faster tree, make-before-break.

:class:`SlaReroutes` is mixed into :class:`slices.engine.SliceEngine`, whose graph
carries the delays and whose path caches depend on them.
"""
from __future__ import annotations

import networkx as nx

from slices.errors import Rejected
from slices.ledger import Ledger
from slices.placement import LinkKey, PathCache
from slices.record import Event, EventKind, PLACED
from topologies.model import Topology

REROUTE_GAIN_MS = 1.0   # a slice moves for its SLA only to a tree at least this much faster


class SlaReroutes:
    topology: Topology
    graph: nx.Graph
    ledger: Ledger
    paths: PathCache
    backup_paths: PathCache

    def set_link_delays(self, measured: dict[LinkKey, float]) -> list[str]:
        """Place from now on with these one-way delays (ms) where given, the model's
        elsewhere: a link measured slower than its distance says is no longer chosen for
        a bound it cannot keep. The links whose delay changed, as sentences."""
        changed = []
        for l in self.topology.links:
            delay = measured.get(l.key, l.delay_ms)
            edge = self.graph[l.a][l.b]
            if abs(edge["delay_ms"] - delay) > 1e-9:
                changed.append(f"{l.a}—{l.b} {edge['delay_ms']:.2f} → {delay:.2f} ms")
                edge["delay_ms"] = delay
        if changed:
            # their searches (and adjacency) were made with the old delays
            self.paths, self.backup_paths = PathCache(), PathCache(1)
        return changed

    def reroute(self, name: str, measured_ms: float, why: str) -> list[Event]:
        """Move slice ``name``, whose worst pair is measured at ``measured_ms``, onto the
        tree the current delays (:meth:`set_link_delays`) say is best, if that tree keeps
        its bound and beats the measurement; keeps the tags of links it keeps, so the
        switches get only the difference (make-before-break, like an update). No move, no
        event; never preempts."""
        s = self.get(name)
        if s.status != PLACED:
            return []
        cp = self.checkpoint()
        old_tags, old_backup_tags = dict(s.tags), dict(s.backup_tags)
        old_links = s.tree.links
        self.ledger.drop_all(s)
        try:
            tree, backup = self.place_pair(s.live_spec, self.ledger.residual)
            if tree.links == old_links or tree.worst_delay_ms >= measured_ms - REROUTE_GAIN_MS:
                raise Rejected("latency", "no better tree")
            self.book_with_standby(s, tree, backup, old_tags, old_backup_tags)
        except Rejected:
            self.rollback(cp)
            return []
        return [Event(EventKind.RE_ROUTED, name, f"{why}; now a tree of {len(tree.edges)} links, worst delay "
                      f"{tree.worst_delay_ms:.2f} ms with the links' measured delays")]
