"""A SliceSpec message built from a document without any client-side checks, as a raw
gRPC client (grpcurl, another language) would send it: for tests of the server's own
validation. Only what protobuf itself can carry gets through."""
from __future__ import annotations

from proto.convert import PROTECTION_VALUES
from proto.intercloud.slicing.v1 import slicing_pb2 as pb


def raw_spec(doc: dict) -> pb.SliceSpec:
    msg = pb.SliceSpec(name=doc.get("name", ""), tenant=doc.get("tenant", ""),
                       bandwidth_mbps=doc.get("bandwidth_mbps", 0.0),
                       allowed_regions=doc.get("allowed_regions", []))
    if doc.get("priority") is not None:
        msg.priority = doc["priority"]
    if doc.get("max_latency_ms") is not None:
        msg.max_latency_ms = doc["max_latency_ms"]
    protection = doc.get("protection")
    if protection is not None:
        msg.protection = protection if isinstance(protection, int) else PROTECTION_VALUES[protection]
    if doc.get("schedule") is not None:
        msg.schedule.SetInParent()
        for k, v in doc["schedule"].items():
            setattr(msg.schedule, k, v)
    for e in doc.get("endpoints", []):
        m = msg.endpoints.add(site=e.get("site", ""), port=e.get("port", 0), ip=e.get("ip", ""),
                              vlan=e.get("vlan", 0))
        if "standby" in e:
            m.standby.site, m.standby.port = e["standby"].get("site", ""), e["standby"].get("port", 0)
    return msg
