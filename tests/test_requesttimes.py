"""Where a request's time goes (slicectl.requesttimes), from the controller's histograms:
the controller's own Timings feed them, the bench reads the means between two scrapes."""
from __future__ import annotations

from prometheus_client import generate_latest

from controller.metrics import Metrics
from controller.pipeline import Timings
from controller.store import Store
from controller.core import SliceController
from slicectl.requesttimes import breakdown, parsed
from tests.fakewire import FakeWire
from tests.harness import JAPAN, doc


def test_the_parts_of_one_request_add_up_to_its_time_with_the_rest_as_other():
    m = Metrics()
    before = parsed(generate_latest(m.registry).decode())
    for _ in range(4):
        m.api_seconds.labels("CreateSlice", "OK").observe(0.050)
        m.engine_seconds.observe(0.002)
        for part, s in (("compile", 0.003), ("push", 0.030), ("store", 0.010)):
            m.request_part_seconds.labels(part).observe(s)
        for _round in range(2):
            m.push_round_seconds.labels("send").observe(0.001)
            m.push_round_seconds.labels("wait").observe(0.014)
    m.api_seconds.labels("CreateSlice", "NOT_FOUND").observe(9)    # failed calls are left out
    out = breakdown(before, parsed(generate_latest(m.registry).decode()), "CreateSlice")
    assert out["api"] == 50 and out["engine"] == 2 and out["push"] == 30 and out["store"] == 10
    assert out["other"] == 5 and out["rounds_per_request"] == 2
    assert out["push_send"] == 2 and out["push_wait"] == 28
    assert breakdown(before, before, "CreateSlice") == {}


def test_a_request_reports_its_compile_push_and_store_times(tmp_path):
    seen: list[str] = []
    wire = FakeWire([s.name for s in JAPAN.sites], True)
    store = Store(tmp_path / "s.db")
    ctl = SliceController(JAPAN, store, wire, timings=Timings(part_seconds=lambda part, s: seen.append(part)))
    for site in wire.connected:
        ctl.switch_connected(site)
    ctl.create(doc())
    assert seen == ["compile", "push", "store"]
    store.close()


def test_a_metrics_page_that_does_not_answer_leaves_the_figures_out():
    from slicectl.launcher import free_port
    from slicectl.requesttimes import scrape
    assert scrape(f"http://127.0.0.1:{free_port()}/metrics", timeout=1) == {}
    assert breakdown({}, {("x_count", ()): 1.0}, "CreateSlice") == {}
