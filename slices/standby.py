"""Standby endpoints (disaster recovery across clouds): the tree a slice would need were a
site with standby endpoints lost, reserved ahead; moving endpoints to their standbys
when their site goes; failing them back.

:class:`StandbyMoves` is mixed into :class:`slices.engine.SliceEngine`: it places with
the engine's pair placement, books through its ledger, and uses its all-or-nothing
checkpoints for a failback.
"""
from __future__ import annotations

from slices.errors import Rejected
from slices.ledger import Ledger
from slices.placement import LinkKey, Tree, place
from slices.preemption import outranked_by
from slices.record import Event, EventKind, PLACED, live_spec
from slices.state import Slice


class StandbyMoves:
    ledger: Ledger
    slices: dict[str, Slice]
    down_links: set[LinkKey]
    down_sites: set[str]
    drained: set[str]

    def standby_trees_for(self, s: Slice) -> dict[str, Tree]:
        """For each site where ``s`` has endpoints with standbys (still at their primary),
        the tree ``s`` would need were that site lost: those endpoints at their standbys,
        the site avoided, within the bound and regions, fitting the capacity left once
        ``s``'s own trees are given back. Raises Rejected when one does not fit."""
        bw = s.spec.bandwidth_mbps
        given_back = dict(self.residual)
        for t in (s.tree, s.backup):
            for key in t.links if t else ():
                given_back[key] += bw
        for key in s.standby_links:
            given_back[key] += bw
        trees = {}
        with_standby = [(i, e) for i, e in enumerate(s.spec.endpoints) if e.standby and i not in s.moved]
        for site in sorted({e.site for _i, e in with_standby}):
            moved = dict(s.moved) | {i: "" for i, e in with_standby if e.site == site}
            scenario = live_spec(s.spec, moved)
            names = ", ".join(str(e) for _i, e in with_standby if e.site == site)
            down = [x for x in scenario.sites if x in self.down_sites]
            if down:
                raise Rejected("standby", f"the standby site {down[0]} (for {names}) is down")
            try:
                trees[site] = place(self.graph, scenario, given_back, avoid_links=self.down_links,
                                    avoid_sites=self._avoided_sites(scenario) | {site},
                                    no_tags=self.ledger.tags.full, cache=self.paths)
            except Rejected as e:
                raise Rejected("standby", f"no room to recover {names} at standby were {site} lost: "
                               f"{e.reason}", structural=e.structural) from None
        return trees

    def reserve_standby(self, s: Slice, why: str) -> list[Event]:
        """Reserve ``s``'s standby trees again after it moved (best effort: a failure
        leaves it unreserved and says so)."""
        if not any(e.standby for e in s.spec.endpoints) or s.status != PLACED:
            return []
        try:
            self.ledger.hold_standby(s, self.standby_trees_for(s))
        except Rejected as e:
            self.ledger.drop_standby(s)
            return [Event(EventKind.STANDBY_UNRESERVED, s.name, f"{why}; {e.reason}")]
        return []

    def book_with_standby(self, s: Slice, tree: Tree, backup: Tree | None, prefer: dict,
                          prefer_backup: dict) -> None:
        """Book ``s`` on ``tree`` and ``backup``, keeping the tags of ``prefer`` and
        ``prefer_backup`` where it can, and reserve its standby trees, if it has standbys."""
        self.book(s, tree, backup, prefer, prefer_backup)
        if any(e.standby for e in s.spec.endpoints):
            self.ledger.hold_standby(s, self.standby_trees_for(s))

    def move_to_standby(self, site: str, why: str) -> list[Event]:
        """Every endpoint at ``site`` that has a standby is served there from now on."""
        events = []
        for s in sorted(self.slices.values(), key=lambda s: (-s.spec.priority, s.name)):
            for i, e in enumerate(s.spec.endpoints):
                if e.site != site or not e.standby or i in s.moved:
                    continue
                if e.standby.site in self.down_sites:
                    events.append(Event(EventKind.STANDBY_UNAVAILABLE, s.name, f"{e}: {why}, and its standby "
                                        f"{e.standby.site} is down too"))
                    continue
                s.moved[i] = why
                events.append(Event(EventKind.ENDPOINT_MOVED, s.name, f"{e} now at its standby {e.standby} "
                                    f"(same address): {why}"))
        return events

    def failback(self, name: str, site: str | None = None) -> list[Event]:
        """Move the endpoints of slice ``name`` that are at their standbys (those of
        ``site`` only, if given) back to their primaries. All or nothing: Rejected when
        a primary site is still down or drained, or the slice does not fit there."""
        s = self.get(name)
        back = sorted(i for i in s.moved if site is None or s.spec.endpoints[i].site == site)
        if not back:
            raise Rejected("failback", f"no endpoint of {name}{' at ' + site if site else ''} is on its standby")
        for i in back:
            e = s.spec.endpoints[i]
            if e.site in self.down_sites or e.site in self.drained:
                raise Rejected("site", f"{e.site} is {'down' if e.site in self.down_sites else 'drained'}: "
                               f"{e} cannot go back yet")
        cp = self.checkpoint()
        s = self.slices[name]
        try:
            old_tags, old_backup_tags = dict(s.tags), dict(s.backup_tags)
            self.ledger.drop_all(s)
            for i in back:
                del s.moved[i]
            victims, tree, backup = self.place_or_preempt(s.live_spec)
            self.preempt(victims, outranked_by(s.spec, " failing back"))
            self.book_with_standby(s, tree, backup, old_tags, old_backup_tags)
        except Rejected:
            self.rollback(cp)
            raise
        moved = ", ".join(str(s.spec.endpoints[i]) for i in back)
        return ([Event(EventKind.FAILED_BACK, name, f"{moved} back at the primary; tree of {len(tree.edges)} links")]
                + self.replace_victims(victims) + self.restore_waiting())
