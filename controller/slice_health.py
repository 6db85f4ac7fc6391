"""What the hosts and the probes tell the owner about slices that are placed: a host
using the wrong address at an endpoint, a slice's SLA verdict turning, links measured
slower than modelled. Runs on the owner thread."""
from __future__ import annotations

import logging
import time

from controller.model import Model
from controller.owner import Owner
from controller.pipeline import Pipeline
from controller.settings import CoreSettings
from controller.sla import VIOLATED, WITHIN, SlaStatus
from controller.states import EventKind
from controller.watchers import Published, Watchers

log = logging.getLogger("intercloud.controller")
ADDRESS_HOLD_S = 10.0        # a wrong address is reported until unseen this long


class SliceHealth:
    def __init__(self, model: Model, pipeline: Pipeline, owner: Owner, watchers: Watchers,
                 settings: CoreSettings):
        self.model, self.pipeline, self.owner = model, pipeline, owner
        self.watchers, self.settings = watchers, settings

    # -- endpoints' hosts ------------------------------------------------------------------------

    def endpoint_misaddressed(self, name: str, label: str, seen: str) -> None:
        """The host at endpoint ``label`` of ``name`` sent ARP from ``seen``, not the
        endpoint's address: it cannot communicate in the slice, which says so (degraded,
        naming both addresses) until that has not been seen for ADDRESS_HOLD_S."""
        if name not in self.model.engine.slices:
            return
        problems = self.model.address_problems.setdefault(name, {})
        new = problems.get(label, ("", 0))[0] != seen
        problems[label] = (seen, time.monotonic())
        if new:
            log.warning("slice %s: the host at %s uses %s, not the endpoint's address", name, label, seen)
            self.pipeline.refresh_states({}, [name])
            self.owner.later(ADDRESS_HOLD_S, lambda: self._address_seen_lately(name, label))

    def _address_seen_lately(self, name: str, label: str) -> None:
        problems = self.model.address_problems.get(name, {})
        if label not in problems:
            return
        if time.monotonic() - problems[label][1] < ADDRESS_HOLD_S:
            self.owner.later(ADDRESS_HOLD_S, lambda: self._address_seen_lately(name, label))
            return
        del problems[label]
        self.pipeline.refresh_states({}, [name])

    # -- live SLA (controller.sla) ------------------------------------------------------------

    def links_measured(self, measured: dict) -> None:
        """The links' one-way delays as the probes measure them: placements from now on
        use them (see :meth:`SliceEngine.set_link_delays`)."""
        for change in self.model.engine.set_link_delays(measured):
            log.info("link delay as measured: %s", change)

    def sla_turned(self, name: str, status: SlaStatus) -> None:
        """A slice's SLA verdict changed: tell the watchers; a slice whose bound is violated
        by slow links (not by lost probes) moves to a faster tree if the links' measured
        delays offer one that keeps its bound."""
        m = self.model
        if name not in m.engine.slices or status.state not in (WITHIN, VIOLATED):
            return
        if status.state == WITHIN and name not in m.sla_flagged:
            return   # the first verdict of a new slice: nothing was wrong
        (m.sla_flagged.add if status.state == VIOLATED else m.sla_flagged.discard)(name)
        kind = EventKind.SLA_VIOLATED if status.state == VIOLATED else EventKind.SLA_RESTORED
        st = m.states.get(name)
        (log.warning if status.state == VIOLATED else log.info)("slice %s: %s (%s)", name, kind, status.reason)
        self.watchers.publish([Published(name, kind, st.state if st else "", status.reason, time.time())])
        if (status.state == VIOLATED and not status.lost and status.delay_ms is not None
                and self.settings.reroute_on_sla):
            self.pipeline.transact(lambda: m.engine.reroute(name, status.delay_ms, f"SLA violated: {status.reason}"),
                                   request=False)
