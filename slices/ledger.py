"""One ledger for what slices hold on links: bandwidth and tags, booked and released
together, in one place (ONOS's ResourceService idea). Every other part of the engine asks
it; none changes residual capacity or tags by itself.

A slice holds a tree (its primary, ``tree``) and maybe a backup (``backup``); on each link
of each it holds its bandwidth and one tag from that link's tag space. Per link the ledger
also indexes which slices are there and how much each priority holds, so preemption can
ask "what if every lower priority left" in links x 8 steps rather than per slice.
"""
from __future__ import annotations

from collections import Counter
from operator import add
from typing import TYPE_CHECKING, Iterable

from slices.placement import LinkKey, Tree
from slices.resources import TagSpace, no_tag_left

if TYPE_CHECKING:
    from slices.state import Slice

TAGS_OF = {"tree": "tags", "backup": "backup_tags"}   # which tree -> the slice's tags of it


def tag_links(s: "Slice") -> list[LinkKey]:
    """The links ``s`` holds a tag on, once per tree (a link its primary and backup share
    is there twice)."""
    return [*s.tags, *s.backup_tags]


class Ledger:
    def __init__(self, capacity: dict[LinkKey, float], transport: str = "vlan"):
        self.capacity = dict(capacity)
        self.residual = dict(capacity)
        self.tags = TagSpace(transport)
        self.by_priority: dict[LinkKey, list[float]] = {k: [0.0] * 8 for k in capacity}
        # per link, per priority: the slices there, each with how many of its trees cross
        # the link (preemption looks at one priority at a time)
        self.by_level: dict[LinkKey, list[dict[str, int]]] = {k: [{} for _ in range(8)] for k in capacity}
        # links whose residual grew since the engine last looked (restore_waiting): only
        # a slice waiting on one of them can have become placeable
        self.freed: set[LinkKey] = set()

    def take_freed(self) -> set[LinkKey]:
        """The links freed since the last call, forgetting them."""
        freed, self.freed = self.freed, set()
        return freed

    def copy(self) -> "Ledger":
        other = Ledger.__new__(Ledger)
        other.capacity, other.residual, other.tags = self.capacity, dict(self.residual), self.tags.copy()
        other.by_priority = {k: list(v) for k, v in self.by_priority.items()}
        other.by_level = {k: [dict(names) for names in v] for k, v in self.by_level.items()}
        other.freed = set(self.freed)
        return other

    # -- booking ---------------------------------------------------------------------------

    def hold(self, s: "Slice", which: str, tree: Tree, prefer: dict | None = None, exact: bool = False) -> None:
        """Book ``tree`` as ``s``'s ``which`` ("tree" or "backup"): its bandwidth on every
        link and a tag per link - the one in ``prefer`` where it is free (an update or a
        re-protection keeps the tags of links it keeps, so their rules do not change),
        else a new one. ``exact``: the preferred tag or ValueError (restoring saved state
        must not renumber). Changes nothing and raises Rejected when a link has no tag left."""
        self.check_tags(tree)
        prefer = prefer or {}
        tags = {}
        for key in tree.links:
            self._charge(key, s, +1)
            tag = prefer.get(key)
            if tag is not None and self.tags.take(key, tag):
                tags[key] = tag
            elif exact:
                raise ValueError(f"tag {tag} on {'—'.join(sorted(key))} of {s.name} is taken or out of range")
            else:
                tags[key] = self.tags.allocate(key)
        setattr(s, which, tree)
        setattr(s, TAGS_OF[which], tags)

    def check_tags(self, *trees: Tree | None, freeing: Iterable["Slice"] = ()) -> None:
        """Rejected unless every link has a free tag for each of ``trees`` crossing it (a
        primary and its backup may share a link no backup can avoid), counting the tags
        the slices ``freeing`` would give back."""
        if all(self.tags.scarce.isdisjoint(t.links) for t in trees if t is not None):
            return   # every link has two tags or more left: enough for a primary and its backup
        need = Counter(k for t in trees if t is not None for k in t.links)
        freed = Counter(k for s in freeing for k in tag_links(s))
        for key, n in need.items():
            if self.tags.free(key) + freed[key] < n:
                raise no_tag_left(key, self.tags.SIZE)

    def drop(self, s: "Slice", which: str) -> None:
        """Give back what ``s``'s ``which`` tree holds (bandwidth and tags) and forget it."""
        tree, tags = getattr(s, which), getattr(s, TAGS_OF[which])
        for key in tree.links if tree else ():
            self._charge(key, s, -1)
            self.tags.release(key, tags[key])
        setattr(s, which, None)
        setattr(s, TAGS_OF[which], {})

    def drop_all(self, s: "Slice") -> None:
        self.drop(s, "tree")
        self.drop(s, "backup")
        self.drop_standby(s)

    def hold_standby(self, s: "Slice", trees: dict[str, Tree]) -> None:
        """Reserve ``s``'s bandwidth on the links its standby trees (one per site whose
        endpoints have standbys) use beyond its primary and backup: what it needs when
        such a site is lost and its primary is given back. No tags: they are taken when
        a standby tree is used."""
        self.drop_standby(s)
        links = frozenset(k for t in trees.values() for k in t.links) - s.booked_links()
        for key in links:
            self._charge(key, s, +1)
        s.standby_trees, s.standby_links = dict(trees), links

    def drop_standby(self, s: "Slice") -> None:
        for key in s.standby_links:
            self._charge(key, s, -1)
        s.standby_trees, s.standby_links = {}, frozenset()

    def _charge(self, key: LinkKey, s: "Slice", sign: int) -> None:
        """Book (+1) or free (-1) ``s``'s bandwidth on one link of one of its trees."""
        mbps = s.spec.bandwidth_mbps
        self.residual[key] -= sign * mbps
        if sign < 0:
            self.freed.add(key)
        self.by_priority[key][s.spec.priority] += sign * mbps
        on = self.by_level[key][s.spec.priority]
        count = on.get(s.name, 0) + sign
        if count:
            on[s.name] = count
        else:
            on.pop(s.name, None)

    # -- questions ---------------------------------------------------------------------------

    def holders(self, key: LinkKey) -> dict[str, int]:
        """The slices holding capacity on link ``key``, each with how many of its trees
        (primary, backup, standby) cross it."""
        return {name: n for level in self.by_level[key] for name, n in level.items()}

    def names_on(self, key: LinkKey) -> list[str]:
        return sorted(self.holders(key))

    def if_lower_left(self, priority: int) -> dict[LinkKey, float]:
        """Residual capacity of every link if every slice below ``priority`` left it."""
        if priority == 0:
            return dict(self.residual)
        # by_priority has the residual's keys in the same order (both made from capacity)
        lower = (sum(held[:priority]) for held in self.by_priority.values())
        return dict(zip(self.residual, map(add, self.residual.values(), lower)))
