"""Between the API's protobuf messages and slice specs, for client and server alike.

A spec travels as the same mapping the YAML form uses, so :func:`slices.spec.parse_spec`
validates API requests, YAML files and CLI input with one set of field paths and one set
of defaults. Nothing here coerces or drops anything:

* client side, :func:`doc_to_spec` validates a YAML/JSON document first (unknown fields,
  enum names, types, ranges) and builds the message from the frozen spec, so a typo
  never reaches the wire as something else;
* server side, :func:`spec_to_doc` leaves absent fields out (protobuf's zero values are
  "not given": port 0, vlan 0, ip "", priority unset, protection UNSPECIFIED) and passes
  enum numbers it does not know on for parse_spec to refuse; :func:`unknown_fields` finds
  fields the message carries that this version of the API does not define.
"""
from __future__ import annotations

from typing import Any

from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.protobuf.unknown_fields import UnknownFieldSet

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.spec import SliceSpec, parse_spec

PROTECTION_NAMES = {pb.PROTECTION_NONE: "none", pb.PROTECTION_LINK: "link",
                    pb.PROTECTION_SITE: "site", pb.PROTECTION_REGION: "region"}
PROTECTION_VALUES = {v: k for k, v in PROTECTION_NAMES.items()}
STATES = {"requested": pb.SLICE_STATE_REQUESTED, "active": pb.SLICE_STATE_ACTIVE,
          "degraded": pb.SLICE_STATE_DEGRADED, "preempted": pb.SLICE_STATE_PREEMPTED,
          "failed": pb.SLICE_STATE_FAILED, "deleted": pb.SLICE_STATE_DELETED,
          "scheduled": pb.SLICE_STATE_SCHEDULED}
STATE_NAMES = {v: k for k, v in STATES.items()}
SLA_STATES = {"measuring": pb.SLA_STATE_MEASURING, "within-bound": pb.SLA_STATE_WITHIN_BOUND,
              "violated": pb.SLA_STATE_VIOLATED}
SLA_STATE_NAMES = {v: k for k, v in SLA_STATES.items()}


def spec_to_doc(spec: pb.SliceSpec) -> dict[str, Any]:
    """A SliceSpec message as the spec mapping (absent fields left out, nothing guessed)."""
    doc: dict[str, Any] = {"name": spec.name, "tenant": spec.tenant, "endpoints": []}
    if spec.bandwidth_mbps:
        doc["bandwidth_mbps"] = spec.bandwidth_mbps
    if spec.HasField("max_latency_ms"):
        doc["max_latency_ms"] = spec.max_latency_ms
    if spec.HasField("priority"):
        doc["priority"] = spec.priority
    if spec.protection != pb.PROTECTION_UNSPECIFIED:
        # an enum number this version does not know stays a number: parse_spec refuses it
        doc["protection"] = PROTECTION_NAMES.get(spec.protection, spec.protection)
    if spec.allowed_regions:
        doc["allowed_regions"] = list(spec.allowed_regions)
    if spec.HasField("schedule"):
        doc["schedule"] = {k: v for k, v in (("start", spec.schedule.start), ("end", spec.schedule.end),
                                             ("duration", spec.schedule.duration)) if v}
    for e in spec.endpoints:
        ep: dict[str, Any] = {"site": e.site, "port": e.port or None}
        if e.ip:
            ep["ip"] = e.ip
        if e.vlan:
            ep["vlan"] = e.vlan
        if e.HasField("standby"):
            ep["standby"] = {"site": e.standby.site, "port": e.standby.port or None}
        # output-only fields sent in a request: refused by name, never ignored
        if e.location:
            ep["location"] = e.location
        if e.location_reason:
            ep["location_reason"] = e.location_reason
        doc["endpoints"].append(ep)
    return doc


def spec_message(spec: SliceSpec) -> pb.SliceSpec:
    """A validated spec as its message, every field explicit."""
    msg = pb.SliceSpec(name=spec.name, tenant=spec.tenant, bandwidth_mbps=spec.bandwidth_mbps,
                       priority=spec.priority, protection=PROTECTION_VALUES[spec.protection],
                       allowed_regions=list(spec.allowed_regions))
    if spec.max_latency_ms is not None:
        msg.max_latency_ms = spec.max_latency_ms
    if spec.schedule is not None:
        msg.schedule.SetInParent()
        for k, v in spec.schedule.to_dict().items():
            setattr(msg.schedule, k, v)
    for e in spec.endpoints:
        m = msg.endpoints.add(site=e.site, port=e.port, ip=e.ip or "", vlan=e.vlan or 0)
        if e.standby:
            m.standby.site, m.standby.port = e.standby.site, e.standby.port
    return msg


def doc_to_spec(doc: Any) -> pb.SliceSpec:
    """A spec document (YAML, JSON) as a message, after validating it as the server will
    (without the topology, which only the server has). Raises
    :class:`slices.errors.SpecError` with every problem and its field path."""
    return spec_message(parse_spec(doc))


def unknown_fields(msg: Message, path: str = "") -> list[tuple[str, str]]:
    """(field path, problem) for every field in ``msg`` (and the messages inside it) that
    this version of the API does not define: sent by a client built from another
    slicing.proto, or by hand. Silently ignoring them would mean something else."""
    out = [(path, f"unknown field number {f.field_number} (not in {msg.DESCRIPTOR.full_name}: "
                  "is the client built from another version of slicing.proto?)")
           for f in UnknownFieldSet(msg)]
    for fd, value in msg.ListFields():
        if fd.message_type is None:
            continue
        where = f"{path}.{fd.name}" if path else fd.name
        if fd.is_repeated:
            for i, item in enumerate(value):
                out += unknown_fields(item, f"{where}[{i}]")
        else:
            out += unknown_fields(value, where)
    return out


def timestamp(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(int(seconds * 1e9))
    return t
