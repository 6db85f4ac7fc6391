"""What the API (controller.service) and the metrics (controller.metrics) may see of a
controller: typed, immutable views built on the owner thread, never the engine's or the
controller's own maps (ONOS' IntentService.getIntents(), not another service's maps).

Every method must run on the owner thread (inside ``SliceController.call``), so a view is
one consistent moment of the model."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Callable

from controller.core import SliceController
from controller.schedules import active_at
from controller.sla import SlaStatus, not_judged_yet
from controller.states import SliceState
from slices.errors import UnknownSlice
from slices.record import PLACED, Placement
from slices.spec import SliceSpec
from slices.timeline import Span
from topologies.model import Topology


@dataclass(frozen=True)
class SliceView:
    """One slice: its placement record (frozen), its state, and what was measured of it."""

    record: Placement
    state: SliceState
    reason: str
    created: float | None       # None: never stored (its state was never worked out)
    updated: float | None
    sla: SlaStatus | None
    rates: tuple[float, float, float] | None   # ingress bit/s, dropped packets/s, over seconds

    @property
    def tenant(self) -> str:
        return self.record.spec.tenant


@dataclass(frozen=True)
class SliceSummary:
    """A slice in a listing: enough to filter on without building its whole view."""

    name: str
    tenant: str
    state: SliceState


@dataclass(frozen=True)
class SiteView:
    name: str
    kind: str
    region: str
    lat: float | None
    lon: float | None
    dpid: int
    hosts: int
    connected: bool
    drained: bool
    lost: bool
    role: str                   # the OpenFlow role its switch confirmed ("" alone)


@dataclass(frozen=True)
class LinkView:
    a: str
    b: str
    bandwidth_mbps: float
    residual_mbps: float
    delay_ms: float
    measured_delay_ms: float | None
    up: bool
    reason: str                 # why it is down ("" when up)
    tenants: tuple[str, ...]    # the tenant of each slice crossing it (one entry per slice)
    booked: tuple[tuple[str, float], ...] = ()   # (tenant, Mbit/s) each of those slices holds on it

    def residual_for(self, tenant: str) -> float:
        """The link's free capacity as ``tenant`` may be told it: its capacity less that
        tenant's own bookings (others' bookings are theirs to know; README: Security)."""
        return self.bandwidth_mbps - sum(mbps for t, mbps in self.booked if t == tenant)


class ReadModel:
    """``measurements``: controller.probing.Measurements (None: nothing measured);
    ``roles``: site -> the role its switch confirmed (a cluster's instance)."""

    def __init__(self, controller: SliceController, measurements=None, roles: Callable[[], dict] = dict):
        self._ctl, self._measured, self._roles = controller, measurements, roles

    def call(self, fn: Callable, timeout: float | None = None):
        """Run ``fn`` (which reads this model) on the owner thread."""
        return self._ctl.call(fn) if timeout is None else self._ctl.call(fn, timeout)

    @property
    def topology_name(self) -> str:
        return self._ctl.topology.name

    @property
    def topology(self) -> Topology:
        """The WAN as configured (immutable): sites, regions, links."""
        return self._ctl.topology

    def has_site(self, site: str) -> bool:
        return self._ctl.topology.has_site(site)

    def names(self) -> list[str]:
        return sorted(self._ctl.model.engine.slices)

    def _specs(self) -> dict[str, SliceSpec]:
        """Every slice's and booking's spec, by name."""
        e = self._ctl.model.engine
        return {**{n: b.spec for n, b in e.bookings.items()}, **{n: s.spec for n, s in e.slices.items()}}

    def _record(self, name: str) -> Placement:
        e = self._ctl.model.engine
        if name in e.bookings:
            return e.booking_record(name)
        return e.record(name)

    def summaries(self) -> list[SliceSummary]:
        """Every slice and booking ahead, by name."""
        states = self._ctl.model.states
        return [SliceSummary(n, spec.tenant, states[n].state if n in states else SliceState.REQUESTED)
                for n, spec in sorted(self._specs().items())]

    def active_at(self, t: float) -> set[str]:
        """The slices and bookings holding resources at wall time ``t`` (``slicectl list --at``)."""
        return active_at(self._ctl.model, t)

    def spans(self, now: float) -> dict[frozenset, list[Span]]:
        """What each slice and booking ahead holds on each link, over when (``slicectl
        schedule``): bookings over their interval, slices of today from their start (or
        creation, else ``now``) until their end (or deleted)."""
        e, states = self._ctl.model.engine, self._ctl.model.states
        out: dict[frozenset, list[Span]] = {l.key: [] for l in e.topology.links}
        for b in e.bookings.values():
            for k, mbps in b.need().items():
                out[k].append(Span(b.name, b.spec.tenant, b.t0, b.t1, mbps, b.spec.priority))
        for l in e.topology.links:
            for n, trees in sorted(e.ledger.holders(l.key).items()):
                s, st = e.slices[n], states.get(n)
                sch = s.spec.schedule
                t0 = sch.start if sch is not None and sch.start is not None else (st.created if st else now)
                t1 = sch.end if sch is not None and sch.end is not None else math.inf
                out[l.key].append(Span(n, s.spec.tenant, t0, t1, trees * s.spec.bandwidth_mbps,
                                       s.spec.priority, ahead=False))
        return out

    def sla_bounds(self) -> list[tuple[int, SlaStatus | None, float | None]]:
        """Every slice's SLA as last judged, beside its latency bound, by slice id (what
        the metrics label a slice with: its number tells a scraper no tenant's names)."""
        sla = self._measured.sla_status if self._measured is not None else {}
        return [(s.number, sla.get(n), s.spec.max_latency_ms)
                for n, s in sorted(self._ctl.model.engine.slices.items(), key=lambda i: i[1].number)]

    def specs_of(self, tenant: str) -> list[SliceSpec]:
        """Every slice spec ``tenant`` holds (placed or waiting): what its policy counts."""
        return [spec for spec in self._specs().values() if spec.tenant == tenant]

    def tenant_of(self, name: str) -> str | None:
        """Whose slice ``name`` is (None: no such slice)."""
        e = self._ctl.model.engine
        s = e.slices.get(name)
        b = e.bookings.get(name) if s is None else None
        return s.spec.tenant if s is not None else (b.spec.tenant if b is not None else None)

    def slice(self, name: str) -> SliceView:
        """UnknownSlice if there is none of that name."""
        e = self._ctl.model.engine
        if name not in e.slices and name not in e.bookings:
            raise UnknownSlice(name)
        record = self._record(name)
        st = self._ctl.model.states.get(name)
        m = self._measured
        return SliceView(record, st.state if st else SliceState.REQUESTED, st.reason if st else record.reason,
                         st.created if st else None, st.updated if st else None,
                         self._sla(record, st.updated if st else None),
                         m.slice_rates.get(record.number) if m is not None else None)

    def _sla(self, record: Placement, updated: float | None) -> SlaStatus | None:
        """The slice's SLA as last judged; "measuring" while SLA probes run and have not
        judged it yet (a slice whose endpoints are at one site has nothing to probe)."""
        m = self._measured
        if m is None:
            return None
        found = m.sla_status.get(record.name)
        if (found is None and m.sla_monitored and record.status == PLACED
                and len(set(record.live_spec.sites)) > 1):
            return not_judged_yet(record.spec.max_latency_ms, updated if updated is not None else time.time())
        return found

    def counter_sources(self, name: str) -> tuple[tuple[str, ...], int] | None:
        """Where a placed slice's counters are (its sites and its number), for
        :meth:`read_counters`; None for a slice not placed."""
        record = self._record(name)
        return (tuple(record.live_spec.sites), record.number) if record.status == PLACED else None

    def read_counters(self, sites: tuple[str, ...], number: int) -> dict[str, int]:
        """A slice's packet and byte counters summed over its switches, read now. Not on
        the owner thread (unlike the rest of this class): a switch slow to answer delays
        only the caller."""
        total: dict[str, int] = {}
        for site in sites:
            for k, v in self._ctl.wire.counters(site, number).items():
                total[k] = total.get(k, 0) + v
        return total

    def all_counters(self) -> dict[int, dict[str, int]] | None:
        """Every slice's counters by slice id, two requests per switch (None: the wire has none)."""
        counters = getattr(self._ctl.wire, "all_counters", None)
        if counters is None:
            return None
        ids = {s.number for s in self._ctl.model.engine.slices.values()}
        return {sid: c for sid, c in sorted(counters().items()) if sid in ids}

    def sites(self) -> list[SiteView]:
        e, connected, roles = self._ctl.model.engine, self._ctl.wire.connected_sites(), self._roles()
        return [SiteView(s.name, s.kind, s.region, s.lat, s.lon, s.dpid, s.hosts, s.name in connected,
                         s.name in e.drained, s.name in e.down_sites, roles.get(s.name, ""))
                for s in e.topology.sites]

    def links(self) -> list[LinkView]:
        e, reasons = self._ctl.model.engine, self._ctl.model.link_reasons
        delays = self._measured.link_delays_ms if self._measured is not None else {}
        views = []
        for l in e.topology.links:
            holders = e.ledger.holders(l.key)    # slice -> how many of its trees cross the link
            on = [e.slices[n] for n in sorted(holders)]
            views.append(LinkView(l.a, l.b, l.bandwidth_mbps, e.residual[l.key], l.delay_ms, delays.get(l.key),
                                  l.key not in e.down_links, reasons.get(l.key, "") if l.key in e.down_links else "",
                                  tuple(x.spec.tenant for x in on),
                                  tuple((x.spec.tenant, holders[x.name] * x.spec.bandwidth_mbps) for x in on)))
        return views

    def windows(self) -> list[tuple]:
        """Maintenance windows: (id, site, link sites, start, end, draining), by start."""
        m = self._ctl.maintenance
        return [(w.id, w.site, tuple(sorted(w.link or ())), w.t0, w.t1, w.id in m.draining)
                for w in sorted(self._ctl.model.engine.windows.values(), key=lambda w: (w.t0, w.id))]

    def state_counts(self) -> dict[SliceState, int]:
        counts: dict[SliceState, int] = {}
        for st in self._ctl.model.states.values():
            counts[st.state] = counts.get(st.state, 0) + 1
        return counts
