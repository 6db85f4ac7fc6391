"""How ``slicectl list`` and ``get`` show a slice's live SLA: the measurement beside the
bound it is judged against, so "ok 11.2 ms" never stands alone, and a slice the probes
have not judged yet reads "measuring", not "not monitored"."""
from __future__ import annotations

from proto.intercloud.slicing.v1 import slicing_pb2 as pb


def sla_cell(s: pb.Slice) -> str:
    """The SLA column: verdict, measured worst one-way delay and the bound ('-' when not
    monitored). Within the bound only by the controller's tolerance, it says so."""
    sla = s.sla
    bound = s.spec.max_latency_ms if s.spec.HasField("max_latency_ms") else None
    if sla.state == pb.SLA_STATE_UNSPECIFIED:
        return "-"
    if sla.state == pb.SLA_STATE_MEASURING:
        return "measuring" + (f" (bound {bound:g} ms)" if bound is not None else "")
    measured = sla.measured_delay_ms if sla.HasField("measured_delay_ms") else None
    if sla.state == pb.SLA_STATE_VIOLATED:
        if measured is not None and bound is not None and measured > bound:
            return f"VIOLATED {measured:.1f} ms > {bound:g} ms"
        return "VIOLATED" + (f" (bound {bound:g} ms)" if bound is not None else " (probes lost)")
    if measured is None:
        return "ok"
    if bound is None:
        return f"ok {measured:.1f} ms (no bound)"
    if measured > bound:
        return f"ok {measured:.1f} ms (bound {bound:g} ms + tolerance)"
    return f"ok {measured:.1f} ms ≤ {bound:g} ms"


def sla_line(sla: pb.SlaStatus) -> str:
    """``slicectl get``'s SLA line: verdict since when, and why."""
    if sla.state == pb.SLA_STATE_UNSPECIFIED:
        return ("sla:    not monitored (the controller runs without --sla-interval, the slice is not placed, "
                "or all its endpoints are at one site)")
    since = sla.since.ToDatetime().strftime("%Y-%m-%d %H:%M:%S UTC")
    state = pb.SlaState.Name(sla.state).removeprefix("SLA_STATE_").lower().replace("_", " ")
    return f"sla:    {state} since {since}: {sla.reason}"
