"""What the slice API shows of the federation (issue 26): a slice across domains with its
parts, and a domain's federation status for its operator. Messages only: the home
(controller.fedhome) and the provider (controller.federation) decide."""
from __future__ import annotations

import time
from dataclasses import dataclass

from controller.auth import Identity
from controller.fedhome import FederationHome, FedSlice, window
from controller.federation import FederationProvider
from controller.namespaces import redacted, shown
from proto.convert import timestamp
from proto.intercloud.slicing.v1 import slicing_pb2 as pb

ACTIVE_PART = "Provisioned"


@dataclass(frozen=True)
class FederationRole:
    """What a controller started with ``--domain`` runs besides its own WAN: the provider
    answering peers, the home of its tenants' slices across domains, the peers' addresses."""

    provider: FederationProvider
    home: FederationHome
    addresses: dict[str, str]


def fed_slice_message(fs: FedSlice, who: Identity) -> pb.Slice:
    """The slice as ``who`` sees it: its spec as asked (endpoints as DOMAIN/SITE), ACTIVE
    when every part is provisioned, and each domain's part."""
    doc = fs.doc
    spec = pb.SliceSpec(name=shown(who, fs.name), tenant=fs.tenant, bandwidth_mbps=float(doc["bandwidth_mbps"]),
                        priority=int(doc.get("priority", 3)), allowed_regions=list(doc.get("allowed_regions") or []))
    if doc.get("max_latency_ms"):
        spec.max_latency_ms = float(doc["max_latency_ms"])
    for e in doc["endpoints"]:
        spec.endpoints.add(site=str(e["site"]), port=int(e["port"]), vlan=int(e.get("vlan") or 0),
                           ip=str(e.get("ip") or ""))
    if doc.get("schedule"):
        spec.schedule.SetInParent()
        for k, v in doc["schedule"].items():
            setattr(spec.schedule, k, v)
    start, _end = window(doc)
    active = fs.state == "active" and all(p.state == ACTIVE_PART for p in fs.parts.values())
    if start is not None and start > time.time() and fs.state == "active":
        state, reason = pb.SLICE_STATE_SCHEDULED, f"booked in {len(fs.parts)} domains from {doc['schedule']['start']}"
    else:
        state = pb.SLICE_STATE_ACTIVE if active else (pb.SLICE_STATE_DEGRADED if fs.state == "degraded"
                                                      else pb.SLICE_STATE_REQUESTED)
        reason = fs.reason or (f"active in {len(fs.parts)} domains" if active else "parts not all provisioned: "
                               + ", ".join(f"{d} {p.state}" for d, p in sorted(fs.parts.items())))
    msg = pb.Slice(spec=spec, state=state, reason=redacted(who, reason), worst_delay_ms=fs.worst_delay_ms,
                   create_time=timestamp(fs.created), update_time=timestamp(fs.updated))
    for d, p in sorted(fs.parts.items()):
        part = msg.parts.add(domain=d, connection_id=p.cid, state=p.state, max_latency_ms=p.max_latency_ms or 0.0,
                             base_delay_ms=p.base_delay_ms, reason=redacted(who, p.reason))
        for site, port, vlan, addresses in p.endpoints:
            part.endpoints.add(site=site, port=port, vlan=vlan, ip=addresses[0] if addresses else "")
    return msg


def federation_status(home: FederationHome, provider: FederationProvider, addresses: dict[str, str],
                      who: Identity) -> pb.FederationStatus:
    """Peers (reachable, watched), this domain's borders and offers, the parts it holds
    for peers (and for its own home), and the slices it is home of."""
    out = pb.FederationStatus(federation=provider.fed.name, domain=provider.domain)
    for name in sorted(home.peers):
        err = home.peer_errors.get(name, "")
        out.peers.add(domain=name, address=addresses.get(name, ""), reachable=not err, error=err,
                      watching=name in home.watching)
    links = {b.name: b for b in provider.fed.borders}
    for b in provider.borders():
        out.borders.add(name=b.name, site=b.site, port=b.port, bandwidth_mbps=links[b.name].bandwidth_mbps,
                        free_mbps=b.free_mbps, up=b.up and b.name not in home.down_borders,
                        delay_ms=links[b.name].delay_ms)
    for o in provider.view().pairs:
        out.offers.add(a=o.a, b=o.b, bandwidth_mbps=o.bandwidth_mbps, min_delay_ms=o.min_delay_ms)
    now = provider.clock()
    for p in provider.query_all():
        s = p.state
        if not p.booked:   # aborted, timed out or terminated: a record, no longer a reservation
            continue
        out.parts.add(connection_id=p.cid, peer=p.peer, global_id=p.global_id,
                      state=f"{s.reservation.value}/{s.provision.value}/{s.lifecycle.value}",
                      hold_expires_in_s=max(0.0, p.expires - now) if p.expires is not None else 0.0,
                      bandwidth_mbps=p.spec.bandwidth_mbps)
    for name in home.names():
        out.slices.append(fed_slice_message(home.get(name), who))
    return out


__all__ = ["FederationRole", "fed_slice_message", "federation_status"]
