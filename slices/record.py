"""What the engine decided for one slice, frozen: the compiler compiles it, the store
saves it, a restarted engine adopts it. Nothing outside the engine sees its mutable state."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from slices.placement import LinkKey, Tree
from slices.spec import Endpoint, SliceSpec

PLACED, PREEMPTED = "placed", "preempted"


@dataclass(frozen=True)
class Event:
    kind: str        # admitted, re-placed, preempted, restored, released, switched-to-backup, backup-lost
    slice: str
    reason: str

    def __str__(self) -> str:
        return f"{self.slice}: {self.kind} ({self.reason})"


@dataclass(frozen=True)
class Placement:
    """A slice as placed: its spec, id, prefix, endpoint addresses, trees and per-link
    tags. ``status`` is PLACED (trees booked, rules due) or PREEMPTED (waiting, no trees);
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
