"""The SLA as `slicectl list` and `get` show it (issue 29): the measurement beside its
bound, and "measuring" - not "not monitored" - for a slice the probes have not judged
yet while the controller runs SLA probes."""
from __future__ import annotations

import pytest

from controller.probing import Measurements
from controller.readmodel import ReadModel
from controller.service import serve
from controller.sla import SlaStatus
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
from slicectl.launcher import free_port
from slicectl.slaview import sla_cell, sla_line
from tests.harness import create, doc


def shown(state, measured=None, bound=None) -> str:
    s = pb.Slice(spec=pb.SliceSpec(name="s"), sla=pb.SlaStatus(state=state))
    if bound is not None:
        s.spec.max_latency_ms = bound
    if measured is not None:
        s.sla.measured_delay_ms = measured
    return sla_cell(s)


@pytest.mark.parametrize("state, measured, bound, cell", [
    (pb.SLA_STATE_WITHIN_BOUND, 11.24, 15, "ok 11.2 ms ≤ 15 ms"),
    (pb.SLA_STATE_WITHIN_BOUND, 15.4, 15, "ok 15.4 ms (bound 15 ms + tolerance)"),
    (pb.SLA_STATE_WITHIN_BOUND, 3.0, None, "ok 3.0 ms (no bound)"),
    (pb.SLA_STATE_VIOLATED, 18.0, 15, "VIOLATED 18.0 ms > 15 ms"),
    (pb.SLA_STATE_VIOLATED, 9.0, 15, "VIOLATED (bound 15 ms)"),        # probes lost, or still clearing
    (pb.SLA_STATE_VIOLATED, None, None, "VIOLATED (probes lost)"),
    (pb.SLA_STATE_MEASURING, None, 15, "measuring (bound 15 ms)"),
    (pb.SLA_STATE_UNSPECIFIED, None, 15, "-"),
])
def test_the_sla_cell_puts_the_bound_beside_the_measurement(state, measured, bound, cell):
    assert shown(state, measured, bound) == cell


def test_a_placed_slice_not_judged_yet_is_measuring_while_sla_probes_run(api):
    """Right after apply the probes have not answered: `get` says measuring (since when,
    and why), not "not monitored (... without --sla-interval ...)"."""
    create(api, doc(max_latency_ms=15))
    create(api, doc(name="one-site", endpoints=[{"site": "sapporo-dc", "port": 1}, {"site": "sapporo-dc", "port": 2}]))
    measured = Measurements(sla_monitored=True)
    addr = f"127.0.0.1:{free_port()}"
    server = serve(api.ctl, addr, reads=ReadModel(api.ctl, measured))
    try:
        import grpc
        with grpc.insecure_channel(addr) as channel:
            stub = pb_grpc.SliceServiceStub(channel)
            got = stub.GetSlice(pb.GetSliceRequest(name="medical"))
            assert got.sla.state == pb.SLA_STATE_MEASURING and got.sla.since.seconds > 0
            assert sla_cell(got) == "measuring (bound 15 ms)"
            assert sla_line(got.sla).startswith("sla:    measuring since ") and "waiting for probe answers" in sla_line(got.sla)
            # one site: nothing to probe, so not monitored (and said why)
            alone = stub.GetSlice(pb.GetSliceRequest(name="one-site")).sla
            assert alone.state == pb.SLA_STATE_UNSPECIFIED and "one site" in sla_line(alone)
            # once judged, the verdict as measured
            measured.sla_status = {"medical": SlaStatus("within-bound", 11.24, ("osaka-dc", "tokyo-dc"), 15.0, 1.0,
                                                        "worst pair osaka-dc to tokyo-dc: 11.2 ms of 15 ms")}
            assert sla_cell(stub.GetSlice(pb.GetSliceRequest(name="medical"))) == "ok 11.2 ms ≤ 15 ms"
    finally:
        server.stop(0)
    # without SLA probes nothing is measuring: not monitored
    plain = api.slices.GetSlice(pb.GetSliceRequest(name="medical")).sla
    assert plain.state == pb.SLA_STATE_UNSPECIFIED and "--sla-interval" in sla_line(plain)
