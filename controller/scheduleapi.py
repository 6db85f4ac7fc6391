"""GetSchedule (``slicectl schedule``, issue 27): what each link has booked over a time
range, as the caller may see it. A tenant sees its own slices (its names bare) and each
link's capacity; other tenants' bookings are left out altogether - even summed they would
tell it what the others booked, link by link, which GetTopology does not tell it either
(README: Security, what each party sees). An admin sees every slice by its full name."""
from __future__ import annotations

import math

from controller.auth import Identity
from controller.namespaces import shown
from controller.readmodel import ReadModel
from proto.convert import timestamp
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.errors import SpecError
from slices.schedule import parse_time
from slices.timeline import default_range


def schedule_request(request: pb.GetScheduleRequest, reads: ReadModel) -> tuple[float | None, float | None,
                                                                               frozenset | None]:
    """The range and link asked about; SpecError (field by field) if they make no sense."""
    problems, times = [], []
    for field in ("since", "until"):
        raw = getattr(request, field)
        t, why = parse_time(raw) if raw else (None, "")
        if why:
            problems.append((field, why))
        times.append(t)
    link = None
    if request.link_a or request.link_b:
        link = frozenset((request.link_a, request.link_b))
        if link not in {l.key for l in reads.topology.links}:
            problems.append(("link_a", f"no link {request.link_a}—{request.link_b} in {reads.topology_name}"))
    if not problems and None not in times and times[1] <= times[0]:
        problems.append(("until", "must be after since"))
    if problems:
        raise SpecError(problems)
    return times[0], times[1], link


def link_schedules(reads: ReadModel, who: Identity, since: float | None, until: float | None,
                   link: frozenset | None, now: float) -> pb.LinkSchedules:
    """Run on the owner thread: one consistent moment of the model."""
    spans = reads.spans(now)
    seen = {k: [s for s in v if who.may_see(s.tenant)] for k, v in spans.items() if link is None or k == link}
    since, until = default_range([s for v in seen.values() for s in v], now, since, until)
    out = pb.LinkSchedules(topology=reads.topology_name, since=timestamp(since), until=timestamp(until),
                           others_hidden=not who.admin)
    for l in reads.topology.links:
        if l.key not in seen:
            continue
        m = out.links.add(a=l.a, b=l.b, bandwidth_mbps=l.bandwidth_mbps)
        for s in sorted(seen[l.key], key=lambda s: (s.t0, s.slice)):
            if s.t0 < until and since < s.t1:
                span = m.spans.add(slice=shown(who, s.slice), tenant=s.tenant, start=timestamp(s.t0),
                                   mbps=s.mbps, priority=s.priority, ahead=s.ahead)
                if math.isfinite(s.t1):
                    span.end.CopyFrom(timestamp(s.t1))
    return out
