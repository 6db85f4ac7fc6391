"""A cluster's instance (controller.cluster) changes the network only while it leads:
it adopts the last leader's state, becomes MASTER of every switch with its generation,
audits them, and starts its audits; demoted, it stops and tells the switches it is SLAVE.
A follower keeps its model as the leader stored it, for reads and a quick take-over.
Alone (no cluster), an instance always leads."""
from __future__ import annotations

import logging
import threading
import time

from os_ken.ofproto import ofproto_v1_3

from controller.core import SliceController
from controller.switches import SwitchChannels

log = logging.getLogger("intercloud.openflow")
FOLLOW_S = 0.5             # how often a cluster's follower looks for changes in the shared state


class Leadership:
    def __init__(self, cluster, channels: SwitchChannels, controller: SliceController,
                 audit_interval: float | None):
        self.cluster, self.channels, self.controller = cluster, channels, controller
        self._audit_interval = audit_interval
        self._led = 0          # the generation whose take-over has completed; 0: not leading
        self._roles: dict[str, str] = {}   # site -> the role its switch last confirmed to us
        self._stop = threading.Event()
        self._follower: threading.Thread | None = None

    def start(self) -> None:
        """Join the election (a cluster's instance), or start auditing (alone)."""
        if self.cluster is None:
            self.controller.start_audits(self._audit_interval)
            return
        self.cluster.on_elected, self.cluster.on_demoted = self._elected, self._demoted
        self._follower = threading.Thread(target=self._follow, name="cluster-follow", daemon=True)
        self._follower.start()
        self.cluster.run()

    def stop(self) -> None:
        self._stop.set()
        if self.cluster is not None:
            self.cluster.stop()      # leaving: a follower takes over at once
        if self._follower is not None:
            self._follower.join(timeout=2)

    def switch_gone(self, site: str) -> None:
        self._roles.pop(site, None)

    def role_confirmed(self, site: str, role: int, ofp) -> None:
        self._roles[site] = {ofp.OFPCR_ROLE_MASTER: "master", ofp.OFPCR_ROLE_SLAVE: "slave"}.get(role, "equal")

    def leads(self) -> bool:
        """Whether this instance may change the network: it runs alone, or it is the
        cluster's leader, its lease alive, and its take-over complete."""
        return self.cluster is None or (self._led != 0 and self._led == self.cluster.generation
                                        and self.cluster.leading())

    def tell(self, fn) -> None:
        """Hand a switch event to the owner, if this instance acts on the network."""
        if self.leads():
            self.controller.post(fn)

    def send_role(self, dp) -> None:
        """A switch connecting to a cluster's instance learns its role: MASTER from the
        leader, SLAVE (which may not change it) from the others."""
        ofp = dp.ofproto
        if self.leads():
            dp.send_msg(dp.ofproto_parser.OFPRoleRequest(dp, ofp.OFPCR_ROLE_MASTER, self._led))
        elif self.cluster.leader_generation:
            dp.send_msg(dp.ofproto_parser.OFPRoleRequest(dp, ofp.OFPCR_ROLE_SLAVE, self.cluster.leader_generation))

    def _elected(self, generation: int) -> None:
        """This instance leads now (on the cluster's thread): adopt the state the last
        leader stored, become MASTER of every switch with the new generation (the old
        leader, if alive, is demoted by the switches themselves), then audit every switch
        — rules that are right are left alone — and learn which ports are down."""
        started = time.monotonic()
        self.controller.call(self.controller.reload, timeout=120)
        refused = self.channels.set_roles(ofproto_v1_3.OFPCR_ROLE_MASTER, generation, wait=True)
        if refused:
            log.error("switches %s did not confirm this leader as MASTER; their audit will retry",
                      ", ".join(sorted(refused)))
        self._led = generation
        for site, dp in dict(self.channels.dps).items():
            self.controller.post(lambda site=site: self.controller.switch_connected(site))
            ofp = dp.ofproto
            for no, port in (getattr(dp, "ports", {}) or {}).items():
                if port.state & ofp.OFPPS_LINK_DOWN or port.config & ofp.OFPPC_PORT_DOWN:
                    self.controller.post(lambda site=site, no=no: self.controller.port_changed(site, no, False))
        self.controller.start_audits(self._audit_interval)
        log.warning("took over as the cluster's leader (generation %d) in %.2f s: %d slices, %d switches MASTER",
                    generation, time.monotonic() - started, len(self.controller.engine.slices),
                    len(self.channels.dps) - len(refused))

    def _demoted(self, why: str) -> None:
        """This instance must not change the network any more: it stops auditing and
        tells the switches it is SLAVE now (if it still reaches them; the next leader's
        role request demotes it anyway)."""
        generation, self._led = self._led, 0
        self.controller.stop_audits()
        if generation:
            self.channels.set_roles(ofproto_v1_3.OFPCR_ROLE_SLAVE, generation, wait=False)

    def _follow(self) -> None:
        """A follower keeps its model as the leader stored it, for reads (any instance
        answers them) and a quick take-over: whenever etcd's revision moves, it reloads."""
        seen = None
        while not self._stop.wait(FOLLOW_S):
            if self.leads():
                seen = None
                continue
            self._claim_slave()
            try:
                revision = self.cluster.etcd.revision()
                if revision != seen:
                    self.controller.call(self.controller.reload, timeout=120)
                    seen = revision
            except Exception as e:   # etcd away or slow: the next round tries again
                log.warning("following the cluster's state: %s", e)

    def _claim_slave(self) -> None:
        """Ask to be SLAVE of every switch that has not confirmed it: a switch that
        connected before this follower knew of any leader got no role request then, and
        would keep it EQUAL (told everything, fenced by nothing)."""
        for site, dp in dict(self.channels.dps).items():
            if self._roles.get(site) != "slave":
                self.send_role(dp)

    def roles(self) -> dict[str, str]:
        """Site -> the OpenFlow role its switch confirmed to this instance ("master",
        "slave"), for the switches of a cluster's instance that answered a role request."""
        return dict(self._roles)

