"""Which lower-priority slices make room for a higher one.

A slice that does not fit may displace slices of *strictly lower* priority. The set is
chosen greedily - on the links the new slice lacks capacity, lowest priority first (then
largest bandwidth) - and then pruned of any victim, highest priority first, whose
release turns out not to be needed. That keeps it small and spares higher priorities;
it is not guaranteed to be the smallest set possible (that is a knapsack problem).
"""
from __future__ import annotations

from collections import defaultdict
from typing import TYPE_CHECKING

from slices.placement import LinkKey, Tree
from slices.record import PLACED
from slices.spec import SliceSpec

if TYPE_CHECKING:
    from slices.engine import Slice, SliceEngine

EPSILON = 1e-9


def choose_victims(engine: "SliceEngine", spec: SliceSpec) -> tuple[list["Slice"], Tree, Tree | None]:
    """Lower-priority slices whose release lets ``spec`` fit, and where it then goes.
    Raises Rejected when even the release of every lower priority would not do."""
    ledger = engine.ledger
    # bookings of preempted slices are already gone, so every booking counts
    tree, backup = engine.place_pair(spec, ledger.if_lower_left(spec.priority))
    need: dict[LinkKey, float] = {}
    for t in (tree, backup):
        for key in t.links if t else ():
            need[key] = need.get(key, 0.0) + spec.bandwidth_mbps
    deficit = {k: n - ledger.residual[k] for k, n in need.items() if n - ledger.residual[k] > EPSILON}
    chosen: list["Slice"] = []
    # lowest priority first (then largest bandwidth), one priority at a time: the search
    # stops at the priority that covers the deficit, never sorting the slices above it
    for priority in range(spec.priority):
        if not deficit:
            break
        there = set().union(*(ledger.by_level[k][priority] for k in deficit))
        for s in sorted(map(engine.slices.__getitem__, there), key=lambda s: (-s.spec.bandwidth_mbps, s.name)):
            if not deficit:
                break
            if s.status != PLACED:
                continue
            helps = [k for k in deficit if s.name in ledger.by_level[k][priority]]
            if helps:
                chosen.append(s)
                for k in helps:
                    deficit[k] -= s.spec.bandwidth_mbps
                    if deficit[k] <= EPSILON:
                        del deficit[k]
    # prune: drop any victim (highest priority first) that is not needed after all
    freed = _freed(chosen)
    for s in sorted(chosen, key=lambda s: (-s.spec.priority, s.spec.bandwidth_mbps)):
        bw = s.spec.bandwidth_mbps
        links = s.booked_links()
        if all(ledger.residual[k] + freed[k] - bw + EPSILON >= n for k, n in need.items() if k in links):
            chosen = [v for v in chosen if v is not s]
            for k in links:
                freed[k] -= bw
    return chosen, tree, backup


def _freed(victims: list["Slice"]) -> dict[LinkKey, float]:
    """What releasing ``victims`` gives back on each link."""
    freed: dict[LinkKey, float] = defaultdict(float)
    for v in victims:
        for k in v.booked_links():
            freed[k] += v.spec.bandwidth_mbps
    return freed
