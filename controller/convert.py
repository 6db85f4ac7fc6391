"""Between the API's protobuf messages and the engine's plain documents.

The spec travels as the same mapping the YAML form uses, so `slices.spec.parse_spec`
validates API requests, YAML files and CLI input alike (one set of field paths).
Protobuf defaults mean "not given": port 0, vlan 0, ip "" are absent fields.
"""
from __future__ import annotations

from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from proto.intercloud.slicing.v1 import slicing_pb2 as pb

PROTECTION_NAMES = {pb.PROTECTION_UNSPECIFIED: "none", pb.PROTECTION_NONE: "none",
                    pb.PROTECTION_LINK: "link", pb.PROTECTION_SITE: "site",
                    pb.PROTECTION_REGION: "region"}
PROTECTION_VALUES = {"none": pb.PROTECTION_NONE, "link": pb.PROTECTION_LINK,
                     "site": pb.PROTECTION_SITE, "region": pb.PROTECTION_REGION}
STATES = {"requested": pb.SLICE_STATE_REQUESTED, "active": pb.SLICE_STATE_ACTIVE,
          "degraded": pb.SLICE_STATE_DEGRADED, "preempted": pb.SLICE_STATE_PREEMPTED,
          "failed": pb.SLICE_STATE_FAILED, "deleted": pb.SLICE_STATE_DELETED}
STATE_NAMES = {v: k for k, v in STATES.items()}


def spec_to_doc(spec: pb.SliceSpec) -> dict[str, Any]:
    """A SliceSpec message as the spec mapping (absent fields left out)."""
    doc: dict[str, Any] = {"name": spec.name, "tenant": spec.tenant,
                           "bandwidth_mbps": spec.bandwidth_mbps, "priority": spec.priority,
                           "protection": PROTECTION_NAMES.get(spec.protection, spec.protection),
                           "endpoints": []}
    for e in spec.endpoints:
        ep: dict[str, Any] = {"site": e.site, "port": e.port}
        if e.ip:
            ep["ip"] = e.ip
        if e.vlan:
            ep["vlan"] = e.vlan
        doc["endpoints"].append(ep)
    if spec.HasField("max_latency_ms"):
        doc["max_latency_ms"] = spec.max_latency_ms
    if spec.allowed_regions:
        doc["allowed_regions"] = list(spec.allowed_regions)
    return doc


def doc_to_spec(doc: dict[str, Any]) -> pb.SliceSpec:
    """The spec mapping (e.g. from YAML) as a SliceSpec message. Unknown fields and wrong
    types are left for the server to report with their field paths."""
    msg = pb.SliceSpec(name=str(doc.get("name", "")), tenant=str(doc.get("tenant", "")))
    try:
        msg.bandwidth_mbps = float(doc.get("bandwidth_mbps", 0) or 0)
        if doc.get("max_latency_ms") is not None:
            msg.max_latency_ms = float(doc["max_latency_ms"])
        msg.priority = int(doc.get("priority", 3))
    except (TypeError, ValueError) as e:
        raise ValueError(f"bandwidth_mbps, max_latency_ms and priority must be numbers ({e})") from None
    msg.protection = PROTECTION_VALUES.get(doc.get("protection", "none"), pb.PROTECTION_UNSPECIFIED)
    msg.allowed_regions.extend(doc.get("allowed_regions") or [])
    for e in doc.get("endpoints") or []:
        msg.endpoints.add(site=str(e.get("site", "")), port=int(e.get("port", 0) or 0),
                          ip=str(e.get("ip") or ""), vlan=int(e.get("vlan") or 0))
    return msg


def timestamp(seconds: float) -> Timestamp:
    t = Timestamp()
    t.FromNanoseconds(int(seconds * 1e9))
    return t
