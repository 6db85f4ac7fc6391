"""Draining a site for maintenance or an approaching disaster: slices stop crossing it
where they can go around without cutting anything, endpoints there with a standby move to
it; undraining lets slices cross it again.

:class:`Drains` is mixed into :class:`slices.engine.SliceEngine`: it moves slices with
:func:`slices.repair.repair` and undoes a move that would preempt with the engine's
checkpoints. Every slice it cannot move is reported (``drain-blocked``) with what kept it
there, in words an operator can act on (:mod:`slices.drainwhy`).
"""
from __future__ import annotations

import networkx as nx

from slices import repair as failures
from slices.drainwhy import blocked_reason
from slices.ledger import Ledger
from slices.placement import LinkKey
from slices.preemption import victims_text
from slices.record import PLACED, Event, EventKind
from slices.restoration import forget_failures
from slices.state import Slice
from topologies.model import Topology


class Drains:
    topology: Topology
    graph: nx.Graph
    ledger: Ledger
    slices: dict[str, Slice]
    drained: set[str]
    down_sites: set[str]
    down_links: set[LinkKey]

    def drain(self, site: str) -> list[Event]:
        """Maintenance or an approaching disaster at ``site``: slices stop crossing it,
        endpoints there with a standby move to it; endpoints without one stay (said so)."""
        if not self.topology.has_site(site):
            raise KeyError(f"no site {site}")
        if site in self.drained:
            return []
        self.drained.add(site)
        why = f"site {site} drained"
        events = self.move_to_standby(site, why)
        stuck = {}
        for s in self.slices.values():
            held = [str(e) for i, e in enumerate(s.spec.endpoints) if e.site == site and i not in s.moved]
            if held:
                stuck[s.name] = held
        for name in sorted(stuck):
            events.append(Event(EventKind.DRAIN_BLOCKED, name, f"endpoint {', '.join(stuck[name])} has no standby: "
                                                       f"still served at {site}"))
        forget_failures(self.slices)
        touched = sorted((s for s in self.slices.values() if s.status == PLACED and s.name not in stuck
                          and any(site in t.sites for t in (s.tree, s.backup) if t is not None)),
                         key=lambda s: (-s.spec.priority, s.name))
        return events + self.move_off([s.name for s in touched], lambda t: site in t.sites, why,
                                      lambda name, tried: f"no way around {site} (still crossing it): "
                                                          f"{self._blocked_by(name, site, why, tried)}")

    def move_off(self, names: list[str], crosses, why: str, blocked) -> list[Event]:
        """Move each slice of ``names`` (in order) off the trees ``crosses`` picks, make
        before break. A drain cuts nothing: a slice with no way around (or that would
        preempt another to find one) stays as it was, reported DRAIN_BLOCKED with
        ``blocked(name, events its try made)``."""
        events: list[Event] = []
        for name in names:
            cp = self.checkpoint()
            moved = failures.repair(self.slices, self.ledger, self, crosses, why, only={name})
            if any(e.kind == EventKind.PREEMPTED for e in moved):
                self.rollback(cp)
                moved = [Event(EventKind.DRAIN_BLOCKED, name, blocked(name, moved))]
            events += moved
        return events

    def _blocked_by(self, name: str, site: str, why: str, tried: list[Event]) -> str:
        """What kept slice ``name`` on ``site``: the preemption moving it would take, or
        what the network lacks (:func:`slices.drainwhy.blocked_reason`)."""
        refused = next((e for e in tried if e.kind == EventKind.PREEMPTED and e.slice == name), None)
        if refused is None:
            victims = [self.slices[v] for v in sorted({e.slice for e in tried if e.kind == EventKind.PREEMPTED})]
            return (f"going around it would preempt {victims_text(self.slices[name].spec.tenant, victims)}, "
                    "and a drain cuts nothing")
        s = self.slices[name]
        return blocked_reason(self.graph, s.live_spec, site, refused.reason.removeprefix(f"{why}; no alternative: "),
                              avoid_sites=self.down_sites | (self.drained - {site} - set(s.live_spec.sites)),
                              avoid_links=self.down_links)

    def undrain(self, site: str) -> list[Event]:
        """The site may be crossed again; endpoints moved off it stay at their standbys
        until failed back (data now lives there)."""
        if site not in self.drained:
            return []
        self.drained.discard(site)
        return self.after_recovery()
