"""Draining a site for maintenance or an approaching disaster: slices stop crossing it
where they can go around without cutting anything, endpoints there with a standby move to
it; undraining lets slices cross it again.

:class:`Drains` is mixed into :class:`slices.engine.SliceEngine`: it moves slices with
:func:`slices.repair.repair` and undoes a move that would preempt with the engine's
checkpoints.
"""
from __future__ import annotations

from slices import repair as failures
from slices.ledger import Ledger
from slices.record import Event, EventKind, PLACED
from slices.restoration import forget_failures
from slices.state import Slice
from topologies.model import Topology


class Drains:
    topology: Topology
    ledger: Ledger
    slices: dict[str, Slice]
    drained: set[str]

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
        stuck = sorted({s.name for s in self.slices.values() for i, e in enumerate(s.spec.endpoints)
                        if e.site == site and i not in s.moved})
        for name in stuck:
            events.append(Event(EventKind.DRAIN_BLOCKED, name, f"an endpoint at {site} has no standby: still served there"))
        forget_failures(self.slices)
        touched = sorted((s for s in self.slices.values() if s.status == PLACED and s.name not in stuck
                          and any(site in t.sites for t in (s.tree, s.backup) if t is not None)),
                         key=lambda s: (-s.spec.priority, s.name))
        for s in touched:
            # a drain moves what can go around the site and cuts nothing: a slice with no
            # way around (or that would preempt another to find one) stays, and is reported
            cp = self.checkpoint()
            moved = failures.repair(self.slices, self.ledger, self, lambda t: site in t.sites, why, only={s.name})
            if any(e.kind == EventKind.PREEMPTED for e in moved):
                self.rollback(cp)
                moved = [Event(EventKind.DRAIN_BLOCKED, s.name, f"no way around {site}: still crossing it")]
            events += moved
        return events

    def undrain(self, site: str) -> list[Event]:
        """The site may be crossed again; endpoints moved off it stay at their standbys
        until failed back (data now lives there)."""
        if site not in self.drained:
            return []
        self.drained.discard(site)
        return self.after_recovery()
