"""Prometheus metrics of a running controller, on ``--metrics ADDR`` (prometheus_client).

Two kinds: what happened, counted as it happens (flow-mods sent, barrier waits, API calls
by method and status, audit repairs, engine decision time, time to connectivity of new
slices); and what is, read at scrape time: from the owner (slices by state, switches
connected, links up, their free capacity and measured delay, each slice's measured delay
and SLA verdict) and from the switches (each slice's packets and bytes in at its
endpoints, and dropped above its reservation: two requests per switch per scrape). Names follow
Prometheus conventions: an ``intercloud_`` prefix, base units, ``_total`` on counters.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from controller.sla import MEASURING, VIOLATED

if TYPE_CHECKING:
    from controller.readmodel import ReadModel

_SLICE_COUNTERS = (
    ("ingress_packets", "ingress_packets", "Packets entering the slice at its endpoints"),
    ("ingress_bytes", "ingress_bytes", "Bytes entering the slice at its endpoints"),
    ("meter_dropped_packets", "dropped_packets", "Packets dropped above the slice's reservation (its meters)"),
)
# A slice's series are labelled by its id (GetSlice's ``id``), never its name or tenant:
# whoever can scrape sees no tenant's names (README: Security, what each party sees).
SLICE_LABEL = "slice_id"
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
        self.engine_seconds = Histogram("intercloud_engine_decision_seconds",
                                        "Time the engine took to decide a change (placement, repair, move)",
                                        buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1), registry=r)
        self.address_conflicts = Counter("intercloud_switch_address_conflicts_total",
                                         "Connections refused for claiming a site's dpid from another address "
                                         "than the one it is bound to (plaintext OpenFlow)", ["site"], registry=r)
        self.request_part_seconds = Histogram(
            "intercloud_request_part_seconds", "Where a client's request spends its time after the engine's "
            "decision: compile (plan and diff), push (switches: sends and barriers), store (write and commit)",
            ["part"], buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5), registry=r)
        self.push_round_seconds = Histogram(
            "intercloud_push_round_seconds", "One make-before-break round of a push, to every switch it "
            "touches: send (encoding and writing the messages and barriers), wait (for the last barrier replies)",
            ["part"], buckets=(0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5), registry=r)
        self.ttc_seconds = Histogram("intercloud_time_to_connectivity_seconds",
                                     "From a slice's creation request to every switch confirming its rules",
                                     buckets=(0.01, 0.05, 0.1, 0.5, 1, 5, 30, 60, 600), registry=r)

    def watch(self, reads: "ReadModel") -> None:
        """Report the state ``reads`` sees at every scrape (decisions and times to
        connectivity are timed by the controller itself: controller.pipeline.Timings)."""
        self.registry.register(_StateCollector(reads))

    def serve(self, host: str, port: int, tls: dict | None = None):
        """Serve /metrics on host:port (a daemon thread); the server, to shut down. With
        ``tls`` (``cert``, ``key``, ``client_ca`` file paths: the API's own), over HTTPS,
        and with ``client_ca`` only to scrapers with a certificate that CA signed: the
        metrics are protected as the API is (controller.main.metrics_tls)."""
        if not tls:
            server, _thread = start_http_server(port, addr=host, registry=self.registry)
            return server
        server, _thread = start_http_server(port, addr=host, registry=self.registry, certfile=tls["cert"],
                                            keyfile=tls["key"], client_cafile=tls.get("client_ca"),
                                            client_auth_required=bool(tls.get("client_ca")))
        return server


class _StateCollector(Collector):
    def __init__(self, reads: "ReadModel"):
        self.reads = reads

    def collect(self) -> Iterator[GaugeMetricFamily]:
        try:
            snap = self.reads.call(self._snapshot, timeout=SCRAPE_TIMEOUT_S)
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
        measured = GaugeMetricFamily("intercloud_link_measured_delay_seconds",
                                     "One-way delay of the link as its probes measure it", labels=["link"])
        for name, delay_ms in snap["link_delays"]:
            measured.add_metric([name], delay_ms / 1000)
        yield links
        yield free
        yield measured
        yield from self._slice_families(snap)

    def _slice_families(self, snap: dict) -> Iterator:
        delay = GaugeMetricFamily("intercloud_slice_delay_seconds", "Measured one-way delay of the slice's "
                                  "worst endpoint pair (in-band probes)", labels=[SLICE_LABEL])
        bound = GaugeMetricFamily("intercloud_slice_delay_bound_seconds", "The slice's latency bound",
                                  labels=[SLICE_LABEL])
        violated = GaugeMetricFamily("intercloud_slice_sla_violated", "1 while the slice's SLA is violated "
                                     "(over its bound, or probes lost), 0 within it", labels=[SLICE_LABEL])
        for number, sla, bound_ms in snap["sla"]:
            name = str(number)
            if bound_ms is not None:
                bound.add_metric([name], bound_ms / 1000)
            if sla is not None and sla.delay_ms is not None:
                delay.add_metric([name], sla.delay_ms / 1000)
            if sla is not None and sla.state != MEASURING:
                violated.add_metric([name], int(sla.state == VIOLATED))
        yield from (delay, bound, violated)
        counters = self.reads.all_counters()
        if counters is None:
            return
        families = {key: CounterMetricFamily(f"intercloud_slice_{what}", text, labels=[SLICE_LABEL])
                    for key, what, text in _SLICE_COUNTERS}
        for number, counts in counters.items():
            for key, family in families.items():
                family.add_metric([str(number)], counts[key])
        yield from families.values()

    def _snapshot(self) -> dict:
        r = self.reads
        links = r.links()
        return {"states": r.state_counts(),
                "sla": r.sla_bounds(),
                "link_delays": [(f"{l.a}—{l.b}", l.measured_delay_ms) for l in links
                                if l.measured_delay_ms is not None],
                "switches": [(s.name, int(s.connected)) for s in r.sites()],
                "links": [(f"{l.a}—{l.b}", int(l.up), l.residual_mbps * 1e6) for l in links]}
