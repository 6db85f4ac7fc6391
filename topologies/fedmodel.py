"""A federation as plain, frozen data (issue 26): domains, each a :class:`Topology`, and the
border links between them. :mod:`topologies.federation` reads and checks the file; the
engine's routing across domains (slices.interdomain) needs only this data, no loader."""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from topologies.model import Topology


@dataclass(frozen=True, order=True)
class BorderPoint:
    """A site of one domain where a border link lands (NSI's service termination point,
    without its VLAN labels yet)."""

    domain: str
    site: str

    def __str__(self) -> str:
        return f"{self.domain}/{self.site}"


@dataclass(frozen=True)
class BorderLink:
    a: BorderPoint
    b: BorderPoint
    bandwidth_mbps: float
    delay_ms: float
    distance_km: float | None = None
    label: str = ""

    @property
    def name(self) -> str:
        return f"{self.a}—{self.b}"

    def end_in(self, domain: str) -> BorderPoint | None:
        return self.a if self.a.domain == domain else self.b if self.b.domain == domain else None

    def other(self, point: BorderPoint) -> BorderPoint:
        return self.b if point == self.a else self.a


@dataclass(frozen=True)
class Domain:
    name: str
    topology: Topology


@dataclass(frozen=True)
class Federation:
    name: str
    domains: tuple[Domain, ...]
    borders: tuple[BorderLink, ...]
    source: str = ""
    description: str = ""

    @cached_property
    def _by_name(self) -> dict[str, Domain]:
        return {d.name: d for d in self.domains}

    def domain(self, name: str) -> Domain:
        return self._by_name[name]

    def has_domain(self, name: str) -> bool:
        return name in self._by_name

    def border_points(self, domain: str) -> tuple[BorderPoint, ...]:
        """The sites of ``domain`` where border links land, each once, sorted."""
        return tuple(sorted({b.end_in(domain) for b in self.borders if b.end_in(domain)}))

    def borders_of(self, domain: str) -> tuple[BorderLink, ...]:
        return tuple(b for b in self.borders if b.end_in(domain))
