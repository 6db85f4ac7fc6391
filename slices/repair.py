"""Failures: moving slices off a failed link or site, and protecting them again.

A slice hit on its primary tree fails over to its backup when the backup is intact (the
backup becomes the primary, a new backup is sought), else it is placed again under the
usual admission and preemption rules, or waits as preempted. A slice hit only on its
backup looks for a new one. When something comes back, slices whose backup had to share
links with the primary (nothing else existed then) try again for a disjoint one.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Mapping

from slices.errors import Rejected
from slices.ledger import Ledger
from slices.placement import Tree
from slices.preemption import ANONYMOUS_WINNER, preempting
from slices.record import Event, EventKind, PLACED, PREEMPTED

if TYPE_CHECKING:
    from slices.placer import Repairer
    from slices.state import Slice


def repair(slices: Mapping[str, "Slice"], ledger: Ledger, placer: "Repairer", hit: Callable[[Tree], bool],
           why: str, only: set[str] | None = None) -> list[Event]:
    """Move every placed slice of ``slices`` (of ``only``, if given) off what failed
    (``hit(tree)``: the tree uses it), highest priority first, booking in ``ledger``."""
    events: list[Event] = []
    affected = sorted((s for s in slices.values() if s.status == PLACED
                       and (only is None or s.name in only)
                       and (hit(s.tree) or (s.backup and hit(s.backup)))),
                      key=lambda s: (-s.spec.priority, s.name))
    for s in affected:
        if s.status != PLACED or not (hit(s.tree) or (s.backup and hit(s.backup))):
            continue  # preempted, or re-placed clear of the failure, earlier in this loop
        if hit(s.tree) and s.backup and not hit(s.backup):
            # fail over: the backup (already booked, tags and all) becomes the primary
            ledger.drop(s, "tree")
            s.tree, s.tags, s.backup, s.backup_tags = s.backup, s.backup_tags, None, {}
            events.append(Event(EventKind.SWITCHED_TO_BACKUP, s.name, why))
            events += new_backup(ledger, placer, s, why)
            continue
        if not hit(s.tree):  # only the backup was hit
            ledger.drop(s, "backup")
            events += new_backup(ledger, placer, s, why)
            continue
        ledger.drop_all(s)
        try:
            victims, tree, backup = placer.place_or_preempt(s.live_spec)
        except Rejected as e:
            s.status, s.reason = PREEMPTED, f"{why}; no alternative: {e.reason}"
            events.append(Event(EventKind.PREEMPTED, s.name, s.reason))
            continue
        placer.preempt(victims, lambda v, s=s: f"preempted by {s.name} after {why}"
                       if v.spec.tenant == s.spec.tenant else ANONYMOUS_WINNER)
        placer.book(s, tree, backup)
        events.append(Event(EventKind.RE_PLACED, s.name, why + preempting(s.spec, victims, lead="; ")))
        events += placer.reserve_standby(s, why)
        events += placer.replace_victims(victims)
    return events


def new_backup(ledger: Ledger, placer: "Repairer", s: "Slice", why: str, prefer: dict | None = None) -> list[Event]:
    """Book a backup for ``s`` (which has none now), or say it is unprotected."""
    residual = dict(ledger.residual)
    for key in s.tree.links:  # backup_for books the primary itself: hand it back
        residual[key] += s.spec.bandwidth_mbps
    try:
        backup = placer.backup_for(s.live_spec, s.tree, residual, tree_tags_held=True)
    except Rejected as e:
        return [Event(EventKind.BACKUP_LOST, s.name, f"{why}; unprotected until capacity returns: {e.reason}")]
    ledger.hold(s, "backup", backup, prefer)
    s.backup_shared = frozenset(s.tree.links & backup.links)
    return []


def improve_backups(slices: Mapping[str, "Slice"], ledger: Ledger, placer: "Repairer") -> list[Event]:
    """After a repair, backups that had to share links (or are missing) may now avoid
    them. A slice keeps its old backup, tags and all, unless the new one shares fewer
    links with the primary: an equally good alternative is no reason to rewrite rules."""
    events = []
    for s in sorted(slices.values(), key=lambda s: (-s.spec.priority, s.name)):
        if s.status != PLACED or s.spec.protection == "none" or (s.backup and not s.backup_shared):
            continue
        old, old_tags, old_shared = s.backup, dict(s.backup_tags), s.backup_shared
        ledger.drop(s, "backup")
        lost = new_backup(ledger, placer, s, "improving protection", prefer=old_tags)
        if not lost and (old is None or len(s.backup_shared) < len(old_shared)):
            events.append(Event(EventKind.PROTECTED, s.name, f"backup of {len(s.backup.edges)} links"
                                + shared_text(s.tree, s.backup)))
            continue
        if not lost:
            ledger.drop(s, "backup")
        if old is not None:
            ledger.hold(s, "backup", old, prefer=old_tags)
            s.backup_shared = old_shared
    return events


def shared_text(tree: Tree, backup: Tree) -> str:
    shared = sorted("—".join(sorted(k)) for k in set(tree.links) & set(backup.links))
    return f" (unprotectable single links shared: {', '.join(shared)})" if shared else ""
