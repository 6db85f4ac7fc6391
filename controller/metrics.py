"""Prometheus metrics of a running controller, on ``--metrics ADDR`` (prometheus_client).

Two kinds: what happened, counted as it happens (flow-mods sent, barrier waits, API calls
by method and status, audit repairs); and what is, read from the owner at scrape time
(slices by state, switches connected, links up and their free capacity). Names follow
Prometheus conventions: an ``intercloud_`` prefix, base units, ``_total`` on counters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from controller.core import SliceController

STATES = ("requested", "active", "degraded", "preempted", "failed")
SCRAPE_TIMEOUT_S = 5.0


class Metrics:
    """The controller's metrics, in a registry of their own (several controllers may run
    in one process under test)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.flow_mods = Counter("intercloud_openflow_entries_sent_total",
                                 "Flow, group and meter entries sent to switches, by operation",
                                 ["op"], registry=r)
        self.barrier_seconds = Histogram("intercloud_barrier_wait_seconds",
                                         "Time for a switch to confirm a batch of changes (barrier reply)",
                                         buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 3), registry=r)
        self.api_seconds = Histogram("intercloud_api_request_seconds", "gRPC requests by method and status",
                                     ["method", "code"], buckets=(0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30),
                                     registry=r)
        self.audit_repairs = Counter("intercloud_audit_repairs_total",
                                     "Entries sent to a switch to make it hold the plan again", registry=r)

    def watch(self, ctl: "SliceController") -> None:
        """Report ``ctl``'s state at every scrape."""
        self.registry.register(_StateCollector(ctl))

    def serve(self, host: str, port: int):
        """Serve /metrics on host:port (a daemon thread); the server, to shut down."""
        server, _thread = start_http_server(port, addr=host, registry=self.registry)
        return server


class _StateCollector(Collector):
    def __init__(self, ctl: "SliceController"):
        self.ctl = ctl

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            snap = self.ctl.call(self._snapshot, timeout=SCRAPE_TIMEOUT_S)
        except Exception:  # an owner too busy to answer: this scrape shows no state
            return
        slices = GaugeMetricFamily("intercloud_slices", "Slices by state", labels=["state"])
        for state in STATES:
            slices.add_metric([state], snap["states"].get(state, 0))
        yield slices
        switches = GaugeMetricFamily("intercloud_switch_connected", "1 if the site's switch is connected",
                                     labels=["site"])
        for site, up in snap["switches"]:
            switches.add_metric([site], up)
        yield switches
        links = GaugeMetricFamily("intercloud_link_up", "1 if the link is in use (up, not miswired)",
                                  labels=["link"])
        free = GaugeMetricFamily("intercloud_link_free_bits_per_second",
                                 "Capacity of the link not reserved by slices", labels=["link"])
        for name, up, residual in snap["links"]:
            links.add_metric([name], up)
            free.add_metric([name], residual)
        yield links
        yield free

    def _snapshot(self) -> dict:
        ctl, e = self.ctl, self.ctl.engine
        states: dict[str, int] = {}
        for st in ctl.states.values():
            states[st.state] = states.get(st.state, 0) + 1
        connected = ctl.wire.connected_sites()
        return {"states": states,
                "switches": [(s.name, int(s.name in connected)) for s in e.topology.sites],
                "links": [(f"{l.a}—{l.b}", int(l.key not in e.down_links), e.residual[l.key] * 1e6)
                          for l in e.topology.links]}
