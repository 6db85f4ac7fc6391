"""One slice as the engine holds it while deciding: mutable, unlike the frozen
:class:`slices.record.Placement` it hands out. The ledger books its trees, the engine and
its helpers (repair, preemption, restoration) change its status."""
from __future__ import annotations

from dataclasses import dataclass, field

from netaddr import IPNetwork

from slices.placement import LinkKey, Tree
from slices.record import PLACED, Placement, live_spec
from slices.spec import Endpoint, SliceSpec

@dataclass
class Slice:
    spec: SliceSpec
    number: int            # stable numeric id: in every cookie, meter and group of the slice
    prefix: IPNetwork
    addresses: dict[Endpoint, str]
    status: str = PLACED
    tree: Tree | None = None
    backup: Tree | None = None
    tags: dict[LinkKey, int] = field(default_factory=dict)         # primary tree links
    backup_tags: dict[LinkKey, int] = field(default_factory=dict)
    # links the backup shares with the primary because no backup could avoid them then
    backup_shared: frozenset = frozenset()
    reason: str = ""
    # the links too full for this (preempted) slice when placing it last failed, with their
    # residual then: see restore_waiting
    failed_at: dict | None = None
    moved: dict[int, str] = field(default_factory=dict)           # endpoint index -> why at standby
    standby_trees: dict[str, Tree] = field(default_factory=dict)  # site -> tree were it lost
    standby_links: frozenset = frozenset()                         # booked for those trees
    # booked but without rules: a federation peer's part, reserved or committed and not
    # provisioned yet (NSI: the data plane comes at Provision, the booking at Reserve)
    dark: bool = False

    @property
    def live_spec(self) -> SliceSpec:
        """The spec as the network serves it now: moved endpoints at their standbys."""
        return live_spec(self.spec, self.moved)

    @property
    def name(self) -> str:
        return self.spec.name

    def copy(self) -> "Slice":
        """A copy that shares only frozen parts (spec, trees, prefix) with this one. Every
        request checkpoints every slice (SliceEngine.checkpoint): the fields are copied
        as they are, without ``dataclasses.replace``'s trip through ``__init__`` (a
        quarter of its cost; at 1,000 slices that was 5 ms of each request)."""
        other = object.__new__(Slice)
        vars(other).update(vars(self))
        other.addresses, other.tags, other.backup_tags = dict(self.addresses), dict(self.tags), dict(self.backup_tags)
        other.moved, other.standby_trees = dict(self.moved), dict(self.standby_trees)
        if self.failed_at is not None:
            other.failed_at = dict(self.failed_at)
        return other

    def record(self) -> Placement:
        order = lambda kv: sorted(kv[0])  # noqa: E731 (links by their sites)
        return Placement(spec=self.spec, number=self.number, prefix=str(self.prefix),
                         addresses=tuple((e, self.addresses[e]) for e in self.spec.endpoints),
                         status=self.status, reason=self.reason, tree=self.tree, backup=self.backup,
                         tags=tuple(sorted(self.tags.items(), key=order)),
                         backup_tags=tuple(sorted(self.backup_tags.items(), key=order)),
                         moved=tuple(sorted(self.moved.items())),
                         standby_trees=tuple(sorted(self.standby_trees.items())), dark=self.dark)

    def booked_links(self) -> set[LinkKey]:
        links = set(self.tree.links) if self.tree else set()
        return links | (set(self.backup.links) if self.backup else set()) | set(self.standby_links)

