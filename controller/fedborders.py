"""A domain's border ports, as its provider (controller.federation) sees them (issue 26):
what each border has free at this end, refusing a part a border cannot carry, and telling
the parts' requesters when a border port goes down. A mixin of
:class:`controller.federation.FederationProvider`, whose controller, ports and parts it uses."""
from __future__ import annotations

import logging
import threading

from slices.abstract import BorderOffer
from slices.errors import Rejected
from slices.spec import SliceSpec

log = logging.getLogger("intercloud.federation")


class BorderWatch:
    def borders(self) -> list[BorderOffer]:
        """Per border link of this domain: Mbit/s not yet taken by parts crossing it here,
        whether its port is up, and the tags in use on its wire (the home picks a tag
        neither end uses, as NSI's label ranges do). Border names are the federation
        file's: public."""
        def compute() -> list[BorderOffer]:
            used = self._border_use()
            tags: dict[tuple[str, int], set[int]] = {}
            for s in self.ctl.engine.slices.values():
                for e in s.spec.endpoints:
                    if e.port in self.ports.get(e.site, {}) and e.vlan:
                        tags.setdefault((e.site, e.port), set()).add(e.vlan)
            return [BorderOffer(b.name, site, port, round(b.bandwidth_mbps - used.get((site, port), 0.0), 6),
                                (site, port) not in self.down_ports, tuple(sorted(tags.get((site, port), ()))))
                    for site, ports in sorted(self.ports.items()) for port, b in sorted(ports.items())]
        return self.ctl.call(compute)

    def _border_use(self, skip: str = "") -> dict[tuple[str, int], float]:
        """(owner thread) Mbit/s booked per border port by the slices ending on it."""
        used: dict[tuple[str, int], float] = {}
        for name, s in self.ctl.engine.slices.items():
            if name == skip:
                continue
            for e in s.spec.endpoints:
                if e.port in self.ports.get(e.site, {}):
                    used[(e.site, e.port)] = used.get((e.site, e.port), 0.0) + s.spec.bandwidth_mbps
        return used

    def _check_borders(self, spec: SliceSpec, skip: str = "") -> None:
        """(owner thread) Rejected if a border link ``spec`` ends on is down or lacks the
        bandwidth (each side accounts the border's use by its own parts)."""
        used = self._border_use(skip)
        for e in spec.endpoints:
            b = self.ports.get(e.site, {}).get(e.port)
            if b is None:
                continue
            if (e.site, e.port) in self.down_ports:
                raise Rejected("border", f"border {b.name} is down")
            free = b.bandwidth_mbps - used.get((e.site, e.port), 0.0)
            if free + 1e-9 < spec.bandwidth_mbps:
                raise Rejected("bandwidth", f"border {b.name} has {free:g} of {b.bandwidth_mbps:g} Mbit/s free, "
                               f"asked {spec.bandwidth_mbps:g}")

    # -- border ports ----------------------------------------------------------------------------

    def _port_changed(self, site: str, port: int, up: bool) -> None:
        """(owner thread) An access port changed state; a border port's parts are told,
        off the owner thread (the provider's lock may be held by a call waiting on it)."""
        if port not in self.ports.get(site, {}):
            return
        key = (site, port)
        if up == (key not in self.down_ports):
            return
        (self.down_ports.discard if up else self.down_ports.add)(key)
        crossing = [p for p in self.ctl.engine.slices.values()
                    if any((e.site, e.port) == key for e in p.spec.endpoints)]
        names = [p.spec.name for p in crossing]
        border = self.ports[site][port].name
        log.warning("border %s %s at %s port %d: %d parts cross it", border, "up" if up else "down", site, port,
                    len(names))
        if not up:
            threading.Thread(target=self._border_lost, args=(key, border, names), daemon=True,
                             name="federation-border").start()

    def _border_lost(self, key: tuple[str, int], border: str, names: list[str]) -> None:
        with self._lock:
            parts = [self.parts[n] for n in names if n in self.parts]
        for part in parts:
            self._notify("error", part, f"border {border} down: {part.cid} cannot cross it", stp=key)
