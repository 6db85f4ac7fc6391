"""What the owner thread changes, in one place: the engine's decisions, the rule plan the
switches must hold, each slice's status, and what the network told us. Only the owner
thread writes it (controller.owner); everything else reads the typed views of
controller.readmodel."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from controller.states import SliceStatus
from slices.compiler import Changes, Plan
from slices.engine import SliceEngine
from slices.rules import Entry

ABSENT, REFUSED, UNCONFIRMED = "not-connected", "refused", "unconfirmed"


@dataclass(frozen=True)
class SwitchProblem:
    """Why a switch did not confirm a push: ``kind`` is ABSENT (not connected), REFUSED
    (it answered with an OpenFlow error) or UNCONFIRMED (no barrier reply in time)."""

    kind: str
    detail: str

    def __str__(self) -> str:
        return self.detail


class Wire(Protocol):
    """The switches, as the owner sees them: os-ken's (controller.switches) or simulated."""

    def connected_sites(self) -> set[str]: ...

    def push(self, changes: Changes) -> dict[str, SwitchProblem]:
        """Send the changes (per switch, in order) and a barrier to every switch involved;
        return {site: problem} for switches that did not confirm them."""

    def read(self, site: str) -> list[Entry] | None:
        """What the switch holds now, as rule-plan entries (None if not connected)."""

    def counters(self, site: str, slice_id: int) -> dict[str, int]:
        """Packet/byte counters of a slice's ingress flows and meter on one switch."""


@dataclass
class Model:
    engine: SliceEngine
    plan: Plan = field(default_factory=dict)
    states: dict[str, SliceStatus] = field(default_factory=dict)
    # switches that did not confirm their last changes, until they hold the plan again: a
    # slice across one is not active, whatever later pushes elsewhere confirm
    switch_problems: dict[str, SwitchProblem] = field(default_factory=dict)
    link_reasons: dict = field(default_factory=dict)          # link -> why it is down
    # slice -> endpoint label -> (the address its host uses instead, last seen)
    address_problems: dict[str, dict[str, tuple[str, float]]] = field(default_factory=dict)
    sla_flagged: set[str] = field(default_factory=set)       # slices whose SLA violation was announced

    def reset(self, engine: SliceEngine) -> None:
        """Everything forgotten, ``engine`` in place of the old one (a reload from the store:
        the parts that hold this model keep holding it)."""
        fresh = Model(engine)
        for name in vars(fresh):
            setattr(self, name, getattr(fresh, name))

    def slices_at(self, site: str) -> list[str]:
        """The slices whose trees (primary or backup) cross ``site``."""
        return sorted(n for n, s in self.engine.slices.items() if s.tree is not None and
                      (site in s.tree.sites or (s.backup is not None and site in s.backup.sites)))
