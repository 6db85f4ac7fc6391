"""Switch port numbering, shared by the emulation and the rule compiler.

At each site's switch, ports ``1..hosts`` are access ports (where endpoints attach) and
inter-site links take the following ports in the order the topology lists them.
"""
from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from topologies.model import Topology


@dataclass(frozen=True)
class PortMap:
    topology: Topology

    @cached_property
    def _link_ports(self) -> dict[tuple[str, str], int]:
        next_port = {s.name: s.hosts + 1 for s in self.topology.sites}
        ports = {}
        for l in self.topology.links:
            ports[(l.a, l.b)] = next_port[l.a]
            ports[(l.b, l.a)] = next_port[l.b]
            next_port[l.a] += 1
            next_port[l.b] += 1
        return ports

    def toward(self, site: str, neighbour: str) -> int:
        """The port of ``site``'s switch on the link to ``neighbour``."""
        return self._link_ports[(site, neighbour)]

    def neighbour_at(self, site: str, port: int) -> str | None:
        for (a, b), p in self._link_ports.items():
            if a == site and p == port:
                return b
        return None

    def next_free(self, site: str) -> int:
        used = [p for (a, _b), p in self._link_ports.items() if a == site]
        return max(used, default=self.topology.site(site).hosts) + 1
