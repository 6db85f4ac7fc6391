"""Which lower-priority slices make room for a higher one.

A slice that does not fit may displace slices of *strictly lower* priority: of its own
tenant at any priority, of other tenants only from CROSS_TENANT_PRIORITY up — a priority
a tenant has only when an admin grants it (controller.tenancy: tenants may use up to 3
unless their policy says more), so that no tenant can take another's capacity by
claiming a priority for itself. The set is
chosen greedily - on the links the new slice lacks capacity or a free tag, lowest
priority first (then largest bandwidth) - and then pruned of any victim, highest
priority first, whose release turns out not to be needed. That keeps it small and
spares higher priorities; it is not guaranteed to be the smallest set possible (that
is a knapsack problem).
"""
from __future__ import annotations

from collections import Counter, defaultdict
from typing import TYPE_CHECKING, Callable, Mapping

from slices.ledger import Ledger, tag_links
from slices.placement import LinkKey, Tree
from slices.record import PLACED
from slices.spec import SliceSpec

if TYPE_CHECKING:
    from slices.placer import PairPlacer
    from slices.state import Slice

EPSILON = 1e-9
CROSS_TENANT_PRIORITY = 4   # the lowest priority that may displace other tenants' slices


def may_displace(spec: SliceSpec, victim: "Slice") -> bool:
    """Whether ``spec`` may preempt ``victim`` (already of lower priority)."""
    return spec.priority >= CROSS_TENANT_PRIORITY or victim.spec.tenant == spec.tenant


def choose_victims(ledger: Ledger, slices: Mapping[str, "Slice"], placer: "PairPlacer",
                   spec: SliceSpec) -> tuple[list["Slice"], Tree, Tree | None]:
    """Lower-priority slices (of ``slices``, booked in ``ledger``) whose release lets
    ``spec`` fit, and where ``placer`` then puts it. Raises Rejected when even the
    release of every lower priority would not do."""
    # bookings of preempted slices are already gone, so every booking counts
    if spec.priority >= CROSS_TENANT_PRIORITY:
        room = ledger.if_lower_left(spec.priority)
    else:    # only its own tenant's lower slices can make room
        own = [s for s in slices.values() if s.status == PLACED and s.spec.priority < spec.priority
               and s.spec.tenant == spec.tenant]
        given = _freed(own)
        room = {k: left + given.get(k, 0.0) for k, left in ledger.residual.items()}
    tree, backup = placer.place_pair(spec, room, no_tags=_full_if_lower_left(ledger, slices, spec))
    trees_on = Counter(k for t in (tree, backup) if t for k in t.links)   # 2 where they share a link
    need = {k: n * spec.bandwidth_mbps for k, n in trees_on.items()}
    deficit = {k: n - ledger.residual[k] for k, n in need.items() if n - ledger.residual[k] > EPSILON}
    tag_deficit = {k: n - ledger.tags.free(k) for k, n in trees_on.items() if n > ledger.tags.free(k)}
    short_of_tags = bool(tag_deficit)
    chosen: list["Slice"] = []
    # lowest priority first (then largest bandwidth), one priority at a time: the search
    # stops at the priority that covers the deficit, never sorting the slices above it
    for priority in range(spec.priority):
        if not deficit and not tag_deficit:
            break
        there = set().union(*(ledger.by_level[k][priority] for k in (*deficit, *tag_deficit)))
        for s in sorted(map(slices.__getitem__, there), key=lambda s: (-s.spec.bandwidth_mbps, s.name)):
            if not deficit and not tag_deficit:
                break
            if s.status != PLACED or not may_displace(spec, s):
                continue
            helps = [k for k in deficit if s.name in ledger.by_level[k][priority]]
            tags = Counter(k for k in tag_links(s) if k in tag_deficit) if tag_deficit else {}
            if helps or tags:
                chosen.append(s)
                _cover(deficit, {k: s.spec.bandwidth_mbps for k in helps})
                _cover(tag_deficit, tags)
    # prune: drop any victim (highest priority first) that is not needed after all
    freed = _freed(chosen)
    freed_tags = Counter(k for v in chosen for k in tag_links(v)) if short_of_tags else Counter()
    for s in sorted(chosen, key=lambda s: (-s.spec.priority, s.spec.bandwidth_mbps)):
        bw = s.spec.bandwidth_mbps
        links = s.booked_links()
        own_tags = Counter(tag_links(s)) if short_of_tags else Counter()
        if all(ledger.residual[k] + freed[k] - bw + EPSILON >= n for k, n in need.items() if k in links) and \
                all(ledger.tags.free(k) + freed_tags[k] - own_tags[k] >= trees_on[k] for k in own_tags if k in trees_on):
            chosen = [v for v in chosen if v is not s]
            for k in links:
                freed[k] -= bw
            freed_tags.subtract(own_tags)
    return chosen, tree, backup


ANONYMOUS_WINNER = "preempted by a higher-priority slice"


def outranked_by(spec: SliceSpec, doing: str = "") -> Callable[["Slice"], str]:
    """Why a victim of ``spec`` (``doing`` something, e.g. " failing back") is preempted.
    A victim of another tenant is not told whose slice won (its name and priority are
    that tenant's business): only that a higher priority did."""
    return lambda v: (f"preempted by {spec.name}{doing} (priority {spec.priority} > {v.spec.priority})"
                      if v.spec.tenant == spec.tenant else ANONYMOUS_WINNER)


def preempting(spec: SliceSpec, victims: list["Slice"], lead: str = ", ") -> str:
    """What the winner's own event says of its victims: its own tenant's by name, other
    tenants' only counted (their names are not the winner's to know)."""
    return lead + "preempting " + victims_text(spec.tenant, victims) if victims else ""


def victims_text(tenant: str, victims: list["Slice"]) -> str:
    """``victims`` as ``tenant`` may be told of them: its own by name, others' counted."""
    own = [v.name for v in victims if v.spec.tenant == tenant]
    others = len(victims) - len(own)
    return ", ".join(own + ([f"{others} lower-priority slice{'s' if others > 1 else ''} of other tenants"]
                            if others else []))


def _cover(deficit: dict[LinkKey, float], given: Mapping[LinkKey, float]) -> None:
    """Take what a victim gives back off ``deficit``, forgetting the links it covers."""
    for k, amount in given.items():
        deficit[k] -= amount
        if deficit[k] <= EPSILON:
            del deficit[k]


def _full_if_lower_left(ledger: Ledger, slices: Mapping[str, "Slice"], spec: SliceSpec) -> set[LinkKey]:
    """The links that would still have every tag in use if every slice ``spec`` may
    displace left (one holding a tag there would free it)."""
    return {k for k in ledger.tags.full
            if not any((k in slices[n].tags or k in slices[n].backup_tags) and may_displace(spec, slices[n])
                       for level in ledger.by_level[k][:spec.priority] for n in level)}


def _freed(victims: list["Slice"]) -> dict[LinkKey, float]:
    """What releasing ``victims`` gives back on each link."""
    freed: dict[LinkKey, float] = defaultdict(float)
    for v in victims:
        for k in v.booked_links():
            freed[k] += v.spec.bandwidth_mbps
    return freed
