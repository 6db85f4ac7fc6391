"""What repair, preemption and restoration need of the engine, and nothing more.

They book and free through :class:`slices.ledger.Ledger` and read the slices they are
handed; the few placement decisions they cannot make alone they ask of a placer (the
:class:`slices.engine.SliceEngine` in practice, a stub in a test) through these
protocols, so none of them depends on the engine as a whole."""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Protocol

if TYPE_CHECKING:
    from slices.placement import LinkKey, Tree
    from slices.record import Event
    from slices.spec import SliceSpec
    from slices.state import Slice


class PairPlacer(Protocol):
    """Finds a primary tree (and a backup, if protected) that fits given residuals."""

    def place_pair(self, spec: SliceSpec, residual: dict[LinkKey, float],
                   no_tags: set[LinkKey] | None = None) -> tuple[Tree, Tree | None]: ...


class Booker(Protocol):
    """Books a slice onto trees found for it, with its standby reservations."""

    def book(self, s: Slice, tree: Tree, backup: Tree | None, prefer: dict | None = None,
             prefer_backup: dict | None = None, exact: bool = False) -> None: ...

    def reserve_standby(self, s: Slice, why: str) -> list[Event]: ...


class Restorer(PairPlacer, Booker, Protocol):
    """What restoring a waiting slice needs: placing it as things are, then booking it."""


class Repairer(Booker, Protocol):
    """What moving slices off a failure needs: placement under the preemption rules, the
    preemption itself, and new backups."""

    def place_or_preempt(self, spec: SliceSpec) -> tuple[list[Slice], Tree, Tree | None]: ...

    def preempt(self, victims: list[Slice], reason: Callable[[Slice], str]) -> None: ...

    def replace_victims(self, victims: list[Slice]) -> list[Event]: ...

    def backup_for(self, spec: SliceSpec, tree: Tree, residual: dict[LinkKey, float],
                   tree_tags_held: bool = False, no_tags: set[LinkKey] | None = None) -> Tree: ...
