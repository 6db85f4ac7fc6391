"""What the engine decided for one slice, frozen: the compiler compiles it, the store
saves it, a restarted engine adopts it. Nothing outside the engine sees its mutable state."""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum
from functools import cached_property

from slices.placement import LinkKey, Tree
from slices.spec import Endpoint, SliceSpec

PLACED, PREEMPTED = "placed", "preempted"
BOOKED = "booked"   # a booking ahead (slices.booking): no id, prefix, addresses nor rules yet


class EventKind(str, Enum):
    """What happened to a slice: the engine's decisions, and what the controller adds
    (its state worked out again, its SLA judged). A ``str`` enum: its value is what the
    store keeps and WatchSlices sends."""

    ADMITTED = "admitted"
    BOOKED = "booked"                 # admitted ahead: resources held over its schedule
    STARTED = "started"               # the controller: a booking reached its start and got its rules
    ENDED = "ended"                   # the controller: a slice reached its schedule's end (deleted)
    UPDATED = "updated"
    RELEASED = "released"
    PREEMPTED = "preempted"
    RE_PLACED = "re-placed"
    RESTORED = "restored"
    RE_ROUTED = "re-routed"
    SWITCHED_TO_BACKUP = "switched-to-backup"
    BACKUP_LOST = "backup-lost"
    PROTECTED = "protected"
    ENDPOINT_MOVED = "endpoint-moved"
    FAILED_BACK = "failed-back"
    STANDBY_UNRESERVED = "standby-unreserved"
    STANDBY_UNAVAILABLE = "standby-unavailable"
    DRAIN_BLOCKED = "drain-blocked"
    STATE = "state"                   # the controller: a slice's state or reason changed
    SLA_VIOLATED = "sla-violated"     # the controller: measured over its bound
    SLA_RESTORED = "sla-restored"     # the controller: back within it

    def __str__(self) -> str:
        return self.value


@dataclass(frozen=True)
class Event:
    kind: EventKind
    slice: str
    reason: str

    def __str__(self) -> str:
        return f"{self.slice}: {self.kind} ({self.reason})"


@dataclass(frozen=True)
class Placement:
    """A slice as placed: its spec, id, prefix, endpoint addresses, trees and per-link
    tags. ``status`` is PLACED (trees booked, rules due), PREEMPTED (waiting, no trees) or
BOOKED (a booking ahead: number 0, prefix "", addresses "", trees and tags held over its
schedule only, no rules);
    ``reason`` says why it is where it is."""

    spec: SliceSpec
    number: int                                       # in every cookie, meter and group id
    prefix: str                                       # e.g. 10.128.0.0/24
    addresses: tuple[tuple[Endpoint, str], ...]       # every endpoint with its address
    status: str = PLACED
    reason: str = ""
    tree: Tree | None = None
    backup: Tree | None = None
    tags: tuple[tuple[LinkKey, int], ...] = ()        # on the primary tree's links
    backup_tags: tuple[tuple[LinkKey, int], ...] = ()
    # endpoints (by index in spec.endpoints) now at their standby, and why
    moved: tuple[tuple[int, str], ...] = ()
    # the tree reserved for each site whose endpoints have standbys, were it lost
    standby_trees: tuple[tuple[str, Tree], ...] = ()
    # booked, no rules: a federation part not provisioned (slices.state.Slice.dark)
    dark: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @cached_property
    def address(self) -> dict[Endpoint, str]:
        return dict(self.addresses)

    @cached_property
    def tag(self) -> dict[LinkKey, int]:
        return dict(self.tags)

    @cached_property
    def backup_tag(self) -> dict[LinkKey, int]:
        return dict(self.backup_tags)

    @cached_property
    def live_spec(self) -> SliceSpec:
        """The spec as the network serves it now: moved endpoints at their standbys."""
        return live_spec(self.spec, dict(self.moved))

    @cached_property
    def live_addresses(self) -> tuple[tuple[Endpoint, str], ...]:
        """Every endpoint where it is now, with its address."""
        moved = dict(self.moved)
        return tuple((e.on_standby() if i in moved else e, a)
                     for i, (e, a) in enumerate(self.addresses))


def live_spec(spec: SliceSpec, moved: dict[int, str]) -> SliceSpec:
    """``spec`` with the endpoints of index in ``moved`` at their standbys."""
    if not moved:
        return spec
    return replace(spec, endpoints=tuple(e.on_standby() if i in moved else e for i, e in enumerate(spec.endpoints)))
