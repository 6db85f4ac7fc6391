"""Restoring waiting slices: a preempted slice is placed again, highest priority first,
when capacity it lacked comes back.

Placement depends only on which links have enough residual capacity (down links and
sites aside, which reset the memo), so a slice is tried again only if one of the links
too full for it when it last failed (its ``failed_at``) has been freed since and crossed
its threshold: with thousands waiting, a delete then costs a look at the links it freed
per waiting slice instead of thousands of placements.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Mapping

from slices.errors import Rejected
from slices.ledger import Ledger
from slices.placement import LinkKey
from slices.record import Event, EventKind, PREEMPTED

if TYPE_CHECKING:
    from slices.placer import Restorer
    from slices.state import Slice

NO_TAG = float("-inf")   # in a waiting slice's failed_at: that link had no tag left

# waiting slices tried per restoration task after a delete (~3 ms each at 200 sites): the
# controller spreads a long restoration over several tasks, requests served in between
RESTORE_BATCH = 20


def restore_waiting(slices: Mapping[str, "Slice"], ledger: Ledger, placer: "Restorer",
                    limit: int | None = None) -> tuple[list[Event], bool]:
    """Restore the preempted ones of ``slices`` that fit now, highest priority first, at
    most ``limit`` tried (all, without one). The events, and whether some were left for
    the next call."""
    events, tried = [], 0
    freed = ledger.take_freed()
    waiting = sorted((s for s in slices.values() if s.status == PREEMPTED),
                     key=lambda s: (-s.spec.priority, s.name))
    for s in waiting:
        if s.failed_at is not None and (freed.isdisjoint(s.failed_at) or not _crossed(ledger, s)):
            continue
        if limit is not None and tried >= limit:
            ledger.freed |= freed        # the rest are looked at next time
            return events, True
        tried += 1
        ev = try_restore(ledger, placer, s, EventKind.RESTORED)
        if ev:
            events.append(ev)
    return events, False


def try_restore(ledger: Ledger, placer: "Restorer", s: "Slice", kind: EventKind,
                otherwise: tuple[EventKind, str] | None = None) -> Event | None:
    """Place and book ``s`` as things are: a ``kind`` event; else remember what blocked
    it and return the ``otherwise`` event (kind, reason), if given, or None."""
    try:
        tree, backup = placer.place_pair(s.live_spec, ledger.residual)
        placer.book(s, tree, backup)
    except Rejected as e:
        s.failed_at = _blocked(ledger, s)
        if otherwise:
            s.reason = f"{otherwise[1]}; no room elsewhere: {e.reason}"
            return Event(otherwise[0], s.name, s.reason)
        return None
    s.failed_at = None
    unreserved = placer.reserve_standby(s, kind)
    return Event(kind, s.name, f"tree of {len(tree.edges)} links, worst delay {tree.worst_delay_ms:.2f} ms"
                 + (f"; {unreserved[0].reason}" if unreserved else ""))


def _needs(s: "Slice") -> tuple[float, ...]:
    b = s.spec.bandwidth_mbps
    return (b, 2 * b) if s.spec.protection != "none" else (b,)


def _blocked(ledger: Ledger, s: "Slice") -> dict[LinkKey, float]:
    """The links too full for ``s`` now, with their residual: what it waits on. A link
    with every tag in use is there as :data:`NO_TAG`, whatever its residual."""
    most = max(_needs(s))
    blocked = {k: r for k, r in ledger.residual.items() if r + 1e-9 < most}
    blocked.update(dict.fromkeys(ledger.tags.full, NO_TAG))
    return blocked


def _crossed(ledger: Ledger, s: "Slice") -> bool:
    """Whether a link ``s`` waits on has changed enough to try it again: past one of
    its needs in bandwidth, or a tag free where none was."""
    needs, full = _needs(s), ledger.tags.full
    return any(k not in full if old is NO_TAG else old + 1e-9 < n <= ledger.residual[k] + 1e-9
               for k, old in s.failed_at.items() for n in needs)


def forget_failures(slices: Mapping[str, "Slice"]) -> None:
    """Something came back (a link, a site, a drained site): every waiting slice is worth
    a try again, whatever it waited on."""
    for s in slices.values():
        s.failed_at = None
