"""What the OpenFlow side reads without a lock, rebuilt by the owner whenever placements
change: the SLA probes to send, and the endpoints by (slice id, site, port). Each is
replaced whole (never changed in place), so a reader sees one version or the next."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

from controller.sla import Target, targets_of
from slices.engine import SliceEngine


@dataclass(frozen=True)
class EndpointInfo:
    """What the OpenFlow side needs to answer an endpoint's DHCP and check its ARP."""

    slice: str
    label: str               # site:port[.vlan]
    address: str
    prefix: str
    vlan: int | None
    dhcp: bool               # no address given: the controller hands it out


class Lookups:
    def __init__(self) -> None:
        self.sla_targets: tuple[Target, ...] = ()
        self.endpoint_index: dict[tuple, tuple[EndpointInfo, ...]] = {}
        self._targets: dict[str, list[Target]] = {}
        self._endpoints: dict[str, dict[tuple, tuple[EndpointInfo, ...]]] = {}

    def clear(self) -> None:
        self._targets, self._endpoints = {}, {}

    def refresh(self, engine: SliceEngine, names: Iterable[str]) -> dict[str, str]:
        """Rebuild the entries of the named slices; {slice: tenant} of those that exist."""
        tenants = {}
        for name in names:
            if name in engine.slices:
                record = engine.record(name)
                tenants[name] = record.spec.tenant
                self._targets[name] = targets_of(record)
                at: dict[tuple, list[EndpointInfo]] = {}
                for e, address in record.live_addresses:
                    at.setdefault((record.number, e.site, e.port), []).append(
                        EndpointInfo(name, str(e), address, record.prefix, e.vlan, not e.ip))
                self._endpoints[name] = {k: tuple(v) for k, v in at.items()}
            else:
                self._targets.pop(name, None)
                self._endpoints.pop(name, None)
        self.sla_targets = tuple(t for ts in self._targets.values() for t in ts)
        self.endpoint_index = {k: v for eps in self._endpoints.values() for k, v in eps.items()}
        return tenants
