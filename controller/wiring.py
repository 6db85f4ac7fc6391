"""The composition root's one function: every part of a running controller built with its
collaborators and the one settings object, nothing configured afterwards. The os-ken app
(controller.app) is handed the result and only forwards OpenFlow events to it; tests
build the same thing around simulated switches."""
from __future__ import annotations

from dataclasses import dataclass

from controller.core import SliceController
from controller.endpoint_frames import EndpointFrames
from controller.leadership import Leadership
from controller.pipeline import Timings
from controller.probing import Probers
from controller.readmodel import ReadModel
from controller.settings import Settings
from controller.storage import StateStore
from controller.switches import SwitchChannels
from topologies.model import Topology


@dataclass(frozen=True)
class Wiring:
    topology: Topology
    channels: SwitchChannels      # the switches' connections: the owner's Wire
    controller: SliceController   # the owner of the model
    leadership: Leadership        # whether this instance acts on the network (clusters)
    probers: Probers              # link and SLA probes, echoes, counters
    frames: EndpointFrames        # DHCP and ARP from endpoints' hosts
    reads: ReadModel              # what the API and metrics may see

    def start(self) -> None:
        """The owner thread first (so no event is ever handled off it), then the probes
        and the election or the audits."""
        self.controller.start(audit_interval=None)
        self.probers.start()
        self.leadership.start()

    def close(self) -> None:
        self.probers.stop()
        self.leadership.stop()
        self.controller.stop()


def build(topology: Topology, store: StateStore, settings: Settings = Settings(), cluster=None,
          metrics=None) -> Wiring:
    """A controller for ``topology`` on ``store``; ``cluster``: this instance's
    controller.cluster.Cluster (None: alone); ``metrics``: controller.metrics.Metrics."""
    channels = SwitchChannels(topology, metrics, settings.switch_address_grace_s)
    timings = (Timings(metrics.engine_seconds.observe, metrics.ttc_seconds.observe,
                       lambda part, s: metrics.request_part_seconds.labels(part).observe(s))
               if metrics is not None else Timings())
    controller = SliceController(topology, store, channels, settings.core(), timings=timings,
                                 on_repair=metrics.audit_repairs.inc if metrics is not None else None)
    leadership = Leadership(cluster, channels, controller, settings.audit_interval_s)
    probers = Probers(topology, controller.ports, channels, settings, leadership.leads, leadership.tell,
                      lambda: controller.lookups.sla_targets, controller.link_verdict, controller.sla_turned,
                      controller.links_measured)
    frames = EndpointFrames(controller.lookups, settings.dhcp_lease_s, leadership.tell,
                            controller.endpoint_misaddressed)
    reads = ReadModel(controller, probers.measurements, leadership.roles)
    if metrics is not None:
        metrics.watch(reads)
    return Wiring(topology, channels, controller, leadership, probers, frames, reads)
