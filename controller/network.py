"""What the network tells the owner: switches connecting and going, ports and links
changing, sites lost and back; and the audits that make every switch hold exactly the
plan. Runs on the owner thread (audits read switches on their own thread first)."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from controller.model import ABSENT, Model, SwitchProblem, Wire
from controller.ofwire import canonical_entry
from controller.owner import Owner
from controller.pipeline import Pipeline
from controller.settings import CoreSettings
from controller.settling import Settling
from slices.compiler import Changes, Plan, diff
from slices.rules import Entry
from topologies.fabric import cloud_of
from topologies.model import Topology
from topologies.ports import PortMap

log = logging.getLogger("intercloud.controller")


class NetworkEvents:
    def __init__(self, topology: Topology, ports: PortMap, model: Model, pipeline: Pipeline, wire: Wire,
                 owner: Owner, settings: CoreSettings, on_repair: Callable[[int], Any] | None = None):
        self.topology, self.ports, self.model, self.pipeline = topology, ports, model, pipeline
        self.wire, self.owner, self.settings = wire, owner, settings
        self.on_repair = on_repair             # entries an audit had to send (a metric)
        self._coming_up: dict = {}             # link -> token of the hold-down under way
        self.settling = Settling(settings.settle_s)
        self._reading = threading.Condition()
        self._reads_pending = 0                # reads by refresh() under way
        self._cloud_of = {s.name: c for s in topology.sites if (c := cloud_of(s))}
        self._fabrics = {c: (c, *sorted(x for x, cc in self._cloud_of.items() if cc == c))
                         for c in set(self._cloud_of.values())}   # cloud -> its border, spines, leaves

    def forget(self) -> None:
        """What the network told this instance goes (a new leader hears it again)."""
        self._coming_up = {}
        self.settling.forget()

    def switch_joined(self, site: str) -> None:
        """``site``'s switch (re)connected: its links may flap while its ports settle."""
        self.settling.joined(site)

    # -- switches ---------------------------------------------------------------------------

    def switch_connected(self, site: str) -> None:
        """A switch (re)connected: make it hold exactly the plan, touching nothing else.
        A site that was lost is back (its endpoints stay at their standbys until failed
        back: data lives there now). Its tables are read off the owner thread when reads
        wait for a switch (:meth:`refresh`)."""
        engine = self.model.engine
        if site in engine.down_sites:
            log.warning("site %s is back", site)
            self.pipeline.transact(lambda: engine.site_up(site), request=False)
        self.refresh(site)

    def ports_read(self, site: str, ports: dict[int, bool]) -> None:
        """``site``'s switch reported its ports' states as it connected: without probes,
        they are the truth about its links again (a link a forged or stale port status took
        down comes back once the port says up); with probes, the probes judge links."""
        if self.settings.links_by_probes:
            return
        for port, up in sorted(ports.items()):
            self.port_changed(site, port, up)

    def refresh(self, site: str, tries: int = 10) -> None:
        """Read ``site``'s switch and send it the difference with the plan. On the running
        owner, with a wire whose reads wait for switches (``reads_wait``), the read is made
        on a thread of its own and only the repair queues for the owner: a switch that is
        silent or slow delays its own repair, never the owner. A plan changed meanwhile
        means reading again (``tries`` times)."""
        if not (getattr(self.wire, "reads_wait", False) and self.owner.running and self.owner.on_owner_thread()):
            found = self.wire.read(site)
            if found is not None:
                self.reconcile(site, found)
            return
        with self._reading:
            self._reads_pending += 1

        def read() -> None:
            try:
                plan = self.model.plan
                found = self.wire.read(site)
                if found is not None:
                    self.owner.post(lambda: self._repair(site, found, plan, tries))
            finally:
                with self._reading:
                    self._reads_pending -= 1
                    self._reading.notify_all()
        threading.Thread(target=read, name=f"read-{site}", daemon=True).start()

    def _repair(self, site: str, found: list[Entry], plan: Plan, tries: int) -> None:
        if site not in self.wire.connected_sites():
            return
        if plan is self.model.plan:
            self.reconcile(site, found)
        elif tries > 1:
            self.refresh(site, tries - 1)
        else:
            log.info("switch %s: the plan kept changing while it was read; the next audit repairs it", site)

    def reads_done(self, timeout: float = 10.0) -> bool:
        """Wait until no read started by :meth:`refresh` is under way (tests, shutdown)."""
        with self._reading:
            return self._reading.wait_for(lambda: self._reads_pending == 0, timeout)

    def reconcile(self, site: str, found: list[Entry], read_against: Plan | None = None) -> None:
        """Send ``site`` the difference between what it holds (``found``) and the plan.
        ``read_against``: the plan when ``found`` was read off the owner thread; if the
        plan has changed since, nothing is sent (the next audit reads again)."""
        if read_against is not None and read_against is not self.model.plan:
            return
        wanted = [canonical_entry(e) for entries in self.model.plan.values() for e in entries if e.switch == site]
        changes = reconcile(found, wanted)
        if len(changes):
            log.info("switch %s: %d deletes, %d modifies, %d adds to match the plan", site,
                     len(changes.deletes), len(changes.modifies), len(changes.adds))
            if self.on_repair is not None:
                self.on_repair(len(changes))
        problems = self.pipeline.send(changes)
        if site not in problems:
            self.model.switch_problems.pop(site, None)   # it holds the plan now
        self.pipeline.refresh_states(problems, self.model.slices_at(site))

    def audit_switches(self) -> None:
        """Read every connected switch and send it only the difference with the plan, as
        ONOS's FlowRuleManager does: entries deleted by hand come back, foreign ones go,
        and slices left failed or degraded by a switch that refused or did not answer are
        tried again (their state follows what the switches now confirm). Called from the
        auditor thread, the switches are read there and only the repairs queue for the
        owner."""
        for site in sorted(self.wire.connected_sites()):
            if not self.owner.running or self.owner.on_owner_thread():
                self.switch_connected(site)
                continue
            # read off the owner thread: a switch slow to answer delays this audit, not requests
            plan = self.model.plan
            found = self.wire.read(site)
            if found is not None:
                self.owner.call(lambda site=site, found=found, plan=plan: self.reconcile(site, found, plan))

    def switch_confirmed(self, site: str, problem: SwitchProblem | None) -> None:
        """A switch that was not waited for (on probation: controller.probation) answered
        the barrier of its last push: its slices' states follow (active again, or failed
        with what it refused)."""
        if site not in self.wire.connected_sites():
            return
        if problem is None:
            self.model.switch_problems.pop(site, None)
        else:
            self.model.switch_problems[site] = problem
        self.pipeline.refresh_states({}, self.model.slices_at(site))

    def switch_disconnected(self, site: str) -> None:
        self.pipeline.refresh_states({site: SwitchProblem(ABSENT, "switch not connected")},
                                     self.model.slices_at(site))
        self._check_lost(site)

    def _check_lost(self, site: str) -> None:
        """A site is lost when its switch is unreachable *and* every link of it has
        failed: a lost control channel alone is not a disaster (fail-secure switches keep
        forwarding), nor is a cut link. Its endpoints with standbys move to them. A cloud
        with a fabric is lost as a whole when none of its switches answers and every link
        out of it has failed, whatever its inner links said before going: its leaves'
        links have no end outside it, so a cloud gone at once would otherwise never lose
        them. Sites lost together are one transaction."""
        lost = self._losses(site)
        if lost:
            self.pipeline.transact(lambda: self._lose(lost), request=False)

    def _losses(self, *sites: str) -> list[str]:
        """The sites lost now, alone or with their cloud, among or around ``sites``."""
        out: list[str] = []
        for site in sites:
            for x in self._cloud_lost(site) or ([site] if self._lost_alone(site) else []):
                if x not in self.model.engine.down_sites and x not in out:
                    out.append(x)
        return out

    def _lose(self, lost: list[str]) -> list:
        """Each of ``lost`` down in the engine (within the caller's transaction)."""
        if lost:
            log.warning("%s lost: %s", ", ".join(lost), "switch unreachable and every link down" if len(lost) == 1
                        else f"cloud {lost[0]} with its fabric: no switch answers, every link out of it down")
        return [e for x in lost for e in self.model.engine.site_down(x, "switch unreachable and every link down")]

    def _lost_alone(self, site: str) -> bool:
        links = [l.key for l in self.topology.links_of(site)]
        return (site not in self.wire.connected_sites() and bool(links)
                and all(k in self.model.engine.down_links for k in links))

    def _cloud_lost(self, site: str) -> list[str]:
        """Every site of ``site``'s cloud, its border first, if the cloud has a fabric and
        is lost as a whole; else nothing."""
        members = self._fabrics.get(self._cloud_of.get(site, site))
        if not members:
            return []
        inside, connected, down = set(members), self.wire.connected_sites(), self.model.engine.down_links
        out = [l.key for x in members for l in self.topology.links_of(x) if not {l.a, l.b} <= inside]
        if inside & connected or not out or not all(k in down for k in out):
            return []
        return list(members)

    # -- links ----------------------------------------------------------------------------------

    def port_changed(self, site: str, port: int, up: bool) -> None:
        """A link port changed state. Down is acted on at once; up only once the port has
        stayed up for ``hold_down_s`` (no flapping link pulls slices back and forth)."""
        neighbour = self.ports.neighbour_at(site, port)
        if neighbour is None:
            return
        key = frozenset((site, neighbour))
        if not up:
            self._coming_up.pop(key, None)
            self._link_down(site, neighbour, f"{site} port {port} down")
            return
        if key not in self.model.engine.down_links or key in self._coming_up or self.settings.links_by_probes:
            return
        if not self.settings.hold_down_s:
            self._link_up(site, neighbour)
            return
        stamp = self._coming_up[key] = object()
        self.owner.later(self.settings.hold_down_s, lambda: self._held_up(key, stamp, site, neighbour))

    def _held_up(self, key, stamp, site: str, neighbour: str) -> None:
        if self._coming_up.get(key) is not stamp:
            return  # it went down again meanwhile
        del self._coming_up[key]
        self._link_up(site, neighbour)

    def link_verdict(self, a: str, b: str, up: bool, reason: str) -> None:
        """The probes (controller.liveness) judged the a—b link up or down. A link that
        falls silent between two connected switches may be a switch that lost its rules
        (flows deleted by hand, a switch restarted behind the controller's back): both
        are audited at once rather than at the next periodic audit."""
        if up:
            self._link_up(a, b)
            return
        self._link_down(a, b, reason)
        for site in sorted({a, b} & self.wire.connected_sites()):
            self.refresh(site)

    def _link_down(self, a: str, b: str, reason: str) -> None:
        key, engine = frozenset((a, b)), self.model.engine
        if key in engine.down_links:
            if reason.startswith("miswired"):
                self.model.link_reasons[key] = reason   # the more useful word for the operator
            return
        self.model.link_reasons[key] = reason
        self._log_down(key, a, b, reason)
        # a site this link was the last of is lost in the same transaction: one push
        self.pipeline.transact(lambda: engine.link_down(a, b, reason) + self._lose(self._losses(a, b)),
                               request=False)

    def _log_down(self, key: frozenset, a: str, b: str, reason: str) -> None:
        """WARNING, unless a switch of the link has just connected (its ports settling,
        :mod:`controller.settling`): then INFO, and the WARNING only if the link is still
        down when the settling ends. A miswired link is never settling."""
        left = self.settling.left_s(a, b)
        if left <= 0 or reason.startswith("miswired"):
            log.warning("link %s—%s down: %s", a, b, reason)
            return
        log.info("link %s—%s not up yet: %s (its switches connected moments ago; a warning follows "
                 "if it is still down in %.0f s)", a, b, reason, left)
        self.settling.hold(key, reason)
        self.owner.later(left, lambda: self._settled(key, a, b))

    def _settled(self, key: frozenset, a: str, b: str) -> None:
        reason = self.settling.release(key)
        if reason is not None and key in self.model.engine.down_links:
            log.warning("link %s—%s down: %s (still down %g s after its switches connected)", a, b,
                        self.model.link_reasons.get(key, reason), self.settling.window_s)

    def _link_up(self, a: str, b: str) -> None:
        key, engine = frozenset((a, b)), self.model.engine
        self.settling.release(key)
        if key in engine.down_links:
            self.model.link_reasons.pop(key, None)
            log.info("link %s—%s up", a, b)
            self.pipeline.transact(lambda: engine.link_up(a, b), request=False)


def reconcile(found: list[Entry], wanted: list[Entry]) -> Changes:
    """What to send so a switch holding ``found`` holds exactly ``wanted``: entries that
    differ are replaced in place (a modify: same key, new content), foreign or stale ones
    are deleted, missing ones added; the rest is left alone."""
    have = {e.key: e for e in found}
    want = {e.key: e for e in wanted}
    stale = [e for k, e in have.items() if k not in want or want[k] != e]
    return diff({"switch": tuple(stale)}, {"switch": tuple(e for k, e in want.items()
                                                           if k not in have or have[k] != e)})
