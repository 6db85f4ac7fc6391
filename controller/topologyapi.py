"""The gRPC TopologyService: the WAN as a caller may see it, drains and maintenance
windows, the bookings' timeline, and a federated domain's status. Thin, as the slice API
(controller.service) is: it converts and maps errors; the controller decides."""
from __future__ import annotations

import logging
import time
from concurrent import futures

from google.rpc import code_pb2, error_details_pb2

from controller.auth import Identity, caller
from controller.core import SliceController
from controller.fedapi import FederationRole, federation_status
from controller.readmodel import ReadModel
from controller.scheduleapi import link_schedules, schedule_request
from controller.statuses import abort, fail
from controller.store import StoreError
from proto.convert import timestamp
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
from slices.schedule import rfc3339

log = logging.getLogger("intercloud.api")


class TopologyService(pb_grpc.TopologyServiceServicer):
    def __init__(self, ctl: SliceController, reads: ReadModel, cluster=None, federation: FederationRole | None = None):
        self.ctl, self.reads, self.cluster, self.federation = ctl, reads, cluster, federation

    def GetFederationStatus(self, request, context):  # noqa: N802
        who = caller()
        if not who.admin:
            abort(context, code_pb2.PERMISSION_DENIED, f"the federation's status is for operators (admins); "
                  f"{who.name} acts for tenant {who.tenant!r}")
        if self.federation is None:
            abort(context, code_pb2.FAILED_PRECONDITION, "this controller is not a domain of a federation (start "
                  "it with --topology FEDERATION.yaml --domain NAME)")
        f = self.federation
        try:
            return federation_status(f.home, f.provider, f.addresses, who)
        except Exception as e:  # every error gets a status of its own: never UNKNOWN
            fail(context, e)

    def _topology(self, who: Identity) -> pb.Topology:
        """The WAN; a tenant's view counts only its own slices on each link, and its free
        capacity is the link's less the tenant's own bookings (others' are not its to see:
        README, Security)."""
        out = pb.Topology(name=self.reads.topology_name)
        for s in self.reads.sites():
            out.sites.add(name=s.name, kind=s.kind, region=s.region, lat=s.lat or 0.0, lon=s.lon or 0.0,
                          dpid=s.dpid, connected=s.connected, hosts=s.hosts, drained=s.drained, lost=s.lost,
                          role=s.role)
        for l in self.reads.links():
            out.links.add(a=l.a, b=l.b, bandwidth_mbps=l.bandwidth_mbps,
                          residual_mbps=l.residual_mbps if who.admin else l.residual_for(who.tenant),
                          delay_ms=l.delay_ms, up=l.up, slices=sum(1 for t in l.tenants if who.may_see(t)),
                          reason=l.reason)
        for wid, site, link, t0, t1, draining in self.reads.windows() if who.admin else ():
            out.windows.add(id=wid, site=site, a=link[0] if link else "", b=link[1] if link else "",
                            start=rfc3339(t0), end=rfc3339(t1), draining=draining)
        return out

    def _site_change(self, context, site: str, change):
        who = caller()
        if not who.admin:
            abort(context, code_pb2.PERMISSION_DENIED, f"draining a site is for operators (admins); "
                   f"{who.name} acts for tenant {who.tenant!r}")
        if site and not self.reads.has_site(site):
            abort(context, code_pb2.NOT_FOUND, f"no site {site!r} in {self.reads.topology_name}",
                   error_details_pb2.ResourceInfo(resource_type="Site", resource_name=site))
        try:
            return self.ctl.call(lambda: self._changed(who, change(site)))
        except futures.TimeoutError:
            abort(context, code_pb2.DEADLINE_EXCEEDED, "the controller did not answer in time")
        except KeyError as e:   # no such link or maintenance window
            abort(context, code_pb2.NOT_FOUND, str(e.args[0]))
        except Exception as e:  # every error gets a status of its own: never UNKNOWN
            fail(context, e)

    def _changed(self, who: Identity, events) -> pb.Topology:
        """The topology after a drain or undrain, with what it did to each slice."""
        out = self._topology(who)
        now = timestamp(time.time())
        for e in events:
            out.events.add(slice=e.slice, kind=e.kind, reason=e.reason, time=now)
        return out

    def DrainSite(self, request, context):  # noqa: N802
        plan = lambda site: self.ctl.plan_window(site, None, request.start, request.end)[1]  # noqa: E731
        return self._site_change(context, request.site, plan if request.start or request.end else self.ctl.drain)

    def UndrainSite(self, request, context):  # noqa: N802
        cancel = lambda _site: self.ctl.cancel_window(request.window)  # noqa: E731
        return self._site_change(context, request.site, cancel if request.window else self.ctl.undrain)

    def DrainLink(self, request, context):  # noqa: N802
        r, link = request, (request.a, request.b)
        return self._site_change(context, "", lambda _: self.ctl.plan_window("", link, r.start, r.end)[1]
                                 if r.start or r.end else self.ctl.drain_link(*link))

    def UndrainLink(self, request, context):  # noqa: N802
        r = request
        return self._site_change(context, "", lambda _: self.ctl.cancel_window(r.window) if r.window
                                 else self.ctl.undrain_link(r.a, r.b))

    def GetTopology(self, request, context):  # noqa: N802
        who = caller()
        out = self.ctl.call(lambda: self._topology(who))
        if self.cluster is not None:
            try:
                for i in self.cluster.instances():
                    out.controllers.add(name=i.name, api=i.api, leader=i.leader, generation=i.generation)
            except StoreError as e:   # etcd away: the instances are unknown, the rest is still true
                log.warning("GetTopology: %s", e)
        return out

    def GetSchedule(self, request, context):  # noqa: N802
        who = caller()
        try:
            since, until, link = schedule_request(request, self.reads)
            return self.ctl.call(lambda: link_schedules(self.reads, who, since, until, link, time.time()))
        except Exception as e:  # every error gets a status of its own: never UNKNOWN
            fail(context, e, root="")


__all__ = ["TopologyService"]
