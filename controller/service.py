"""The gRPC API: SliceService and TopologyService, plus health and reflection.

Handlers only translate: request → spec mapping → one call on the owner thread →
response. Errors map to the codes a gRPC user expects, with google.rpc details:
INVALID_ARGUMENT + BadRequest (one field violation per problem, with its path),
NOT_FOUND, ALREADY_EXISTS, FAILED_PRECONDITION (a switch the slice needs is not
connected, an endpoint taken), RESOURCE_EXHAUSTED + ErrorInfo (reason = the engine's
constraint, metadata = its sentence) and QuotaFailure, so a client can tell a full
network from gRPC's own flow control. A rejected request changes nothing: the engine
decides before anything is written.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Callable
from concurrent import futures

import grpc
from google.rpc import code_pb2, error_details_pb2
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from controller.auth import ANYONE, Identity, caller
from controller.core import CALL_TIMEOUT_S, SliceController
from controller.fedapi import FederationRole, fed_slice_message
from controller.fedhome import FederationHome
from controller.readmodel import ReadModel
from controller.interceptors import _Decoding, _LeaderOnly, _Timed
from controller.topologyapi import TopologyService
from controller.owner import Grouped
from controller.namespaces import full_name, own_doc, own_tenant, redacted, redacted_error, shown, visible
from controller.policyapi import get_policy, set_policy
from controller.statuses import DOMAIN, Expired, abort, fail
from controller.tenancy import TenantPolicy, check
from proto.defaults import MAX_BATCH, MAX_WATCHES, MAX_WATCHES_PER_CLIENT
from proto.convert import SLA_STATES, STATES, spec_message, spec_to_doc, timestamp, unknown_fields
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
from slices.record import PLACED
from slices.errors import SpecError, UnknownSlice
from slices.schedule import parse_time
from slices.spec import parse_spec

log = logging.getLogger("intercloud.api")
DEFAULT_PAGE, MAX_PAGE = 100, 1000
UNARY_WORKERS = 32      # server threads no watch stream can take
WATCH_POLL_S = 5.0      # a watch stream checks its client is still there this often
# Clients of a cluster ping every second during a call, to give up on an instance that
# is frozen (slicectl.client.FAILOVER_OPTIONS); gRPC's default answers pings more often
# than every 5 minutes without data with GOAWAY ("too_many_pings"), which would cut calls.
KEEPALIVE_OPTIONS = [("grpc.http2.min_ping_interval_without_data_ms", 500), ("grpc.http2.max_ping_strikes", 0),
                     ("grpc.keepalive_permit_without_calls", 1)]


def slice_message(reads: ReadModel, name: str, stats: bool = False, who: Identity = ANYONE) -> pb.Slice:
    """The API view of one slice as ``who`` sees it (its name in ``who``'s namespace; call
    on the owner thread)."""
    view = reads.slice(name)
    p = view.record
    msg = pb.Slice(spec=spec_message(p.spec), state=STATES.get(view.state, 0), reason=redacted(who, view.reason),
                   id=p.number, prefix=p.prefix)
    msg.spec.name = shown(who, p.spec.name)
    moved = dict(p.moved)
    for i, (e, address) in enumerate(p.addresses):
        at = e.on_standby() if i in moved else e
        m = msg.endpoints.add(site=at.site, port=at.port, ip=address, vlan=e.vlan or 0,
                              location="standby" if i in moved else "primary",
                              location_reason=moved.get(i, ""))
        if e.standby:
            m.standby.site, m.standby.port = e.standby.site, e.standby.port
    if p.tree is not None:
        msg.tree.extend(pb.Link(a=a, b=b) for a, b in p.tree.edges)
        msg.worst_delay_ms = p.tree.worst_delay_ms
    if p.backup is not None:
        msg.backup.extend(pb.Link(a=a, b=b) for a, b in p.backup.edges)
    if view.created is not None:
        msg.create_time.CopyFrom(timestamp(view.created))
        msg.update_time.CopyFrom(timestamp(view.updated))
    sla = view.sla
    if sla is not None and p.status == PLACED:
        msg.sla.CopyFrom(pb.SlaStatus(state=SLA_STATES[sla.state], reason=sla.reason, since=timestamp(sla.since)))
        if sla.delay_ms is not None:
            msg.sla.measured_delay_ms = sla.delay_ms
            msg.sla.worst_pair.CopyFrom(pb.Link(a=sla.pair[0], b=sla.pair[1]))
    if stats and p.status == PLACED:   # the counters are added off the owner thread (GetSlice)
        rate = view.rates
        if rate is not None:   # negative after a counter reset (rules reinstalled): not a rate
            msg.stats.ingress_bits_per_second = max(0.0, rate[0])
            msg.stats.dropped_packets_per_second = max(0.0, rate[1])
            msg.stats.rate_interval_s = rate[2]
    return msg


class SliceService(pb_grpc.SliceServiceServicer):
    def __init__(self, ctl: SliceController, reads: ReadModel, watches: "WatchLimits | None" = None,
                 policy: TenantPolicy | None = None, home: "FederationHome | None" = None):
        self.ctl, self.reads = ctl, reads
        self.watches = watches or WatchLimits()
        self.policy = policy or TenantPolicy(reads.topology)
        self.home = home   # slices across domains (controller.fedhome); None: this domain only
        # CreateSlice calls that come while the owner is busy are created together
        self._creates = Grouped(ctl.owner, self._create_group)

    def _federated(self, context, who: Identity, name: str) -> str | None:
        """The full name of the slice across domains ``who`` calls ``name``, if it is one
        ``who`` may see; None otherwise (then it is an ordinary slice, or none)."""
        if self.home is None:
            return None
        full = self._run(context, lambda: full_name(self.reads, who, name))
        try:
            fs = self.home.get(full)
        except UnknownSlice:   # none, or deleted a moment ago
            return None
        return full if who.may_see(fs.tenant) else None

    def _across(self, context, fn):
        """``fn()`` (the home's work: calls to other domains, off the owner thread), its
        errors as statuses."""
        try:
            return fn()
        except Exception as e:  # every error gets a status of its own: never UNKNOWN
            fail(context, redacted_error(caller(), e))

    def _police(self, who: Identity, docs: list[dict]) -> None:
        """PolicyDenied (PERMISSION_DENIED) if a tenant's specs ask for more than its policy
        grants (controller.tenancy); admins grant, so they are not held to it. A spec that
        does not parse is left to the controller, which names every problem of it."""
        if who.admin:
            return
        try:
            specs = [parse_spec(d, self.reads.topology) for d in docs]
        except SpecError:
            return
        check(self.policy.limits(who.tenant), who.tenant, specs, self.reads.specs_of(who.tenant),
              self.reads.topology)

    def _run(self, context, fn, root: str = "spec", grouped: "Grouped | None" = None):
        """Run ``fn`` on the owner thread within the call's deadline: a request still
        waiting for its turn when the deadline passes is not started at all; one that
        outlives it completes, and the slice's state tells how. With ``grouped``, ``fn``
        goes to it (group commit) instead of on its own."""
        remaining = context.time_remaining()
        deadline = None if remaining is None else time.monotonic() + remaining

        def within_deadline():
            if deadline is not None and time.monotonic() >= deadline:
                raise Expired("the deadline passed while the request waited its turn; nothing was done")
            return fn()
        timeout = CALL_TIMEOUT_S if remaining is None else max(0.0, min(CALL_TIMEOUT_S, remaining))
        try:
            if grouped is not None:
                return grouped.call(within_deadline, timeout)
            return self.ctl.call(within_deadline, timeout=timeout)
        except futures.TimeoutError:
            abort(context, code_pb2.DEADLINE_EXCEEDED, "the controller did not answer within the deadline; a "
                   "request already under way completes (GetSlice or WatchSlices shows its outcome), one not "
                   "yet started is dropped")
        except Exception as e:  # every error gets a status of its own: never UNKNOWN
            fail(context, redacted_error(caller(), e), root)

    def _spec_doc(self, request, context) -> dict:
        """The request's spec as a document; INVALID_ARGUMENT if the message carries fields
        this API does not define (they would otherwise be dropped without a word)."""
        problems = unknown_fields(request)
        if problems:
            fail(context, SpecError([(p.removeprefix("spec").lstrip("."), d) for p, d in problems]))
        return spec_to_doc(request.spec)

    def CreateSlice(self, request, context):  # noqa: N802 (gRPC's names)
        doc, who = self._spec_doc(request, context), caller()
        if self.home is not None and self.home.is_federated(doc):
            owned = self._run(context, lambda: own_doc(self.reads, who, own_tenant(who, doc)))
            exists = lambda n: self.ctl.call(lambda: self.reads.tenant_of(n) is not None)  # noqa: E731
            return self._across(context, lambda: fed_slice_message(
                self.home.create(owned, exists, police=not who.admin), who))

        def create():   # the doc to create, then (created) its answer
            spec = own_doc(self.reads, who, own_tenant(who, doc))   # a name of its namespace
            self._police(who, [spec])
            return spec, lambda name: slice_message(self.reads, name, who=who)
        return self._run(context, create, grouped=self._creates)

    def _create_group(self, calls: list) -> list:
        """CreateSlice calls that waited together (owner thread): each one's spec checked
        on its own, the slices created together (SliceController.create_each), each
        one's answer or error."""
        outcomes: list = [None] * len(calls)
        asked = []
        for i, call in enumerate(calls):
            try:
                asked.append((i, *call()))
            except Exception as e:   # that caller's own error
                outcomes[i] = e
        made = self.ctl.create_each([doc for _i, doc, _answer in asked])
        for (i, _doc, answer), name in zip(asked, made):
            try:
                outcomes[i] = name if isinstance(name, Exception) else answer(name)
            except Exception as e:
                outcomes[i] = e
        return outcomes

    @staticmethod
    def _batch(context, request, field: str) -> None:
        """INVALID_ARGUMENT unless the batch holds 1 to MAX_BATCH items in ``field`` and
        no field this API does not define."""
        n = len(getattr(request, field))
        if not 0 < n <= MAX_BATCH:
            abort(context, code_pb2.INVALID_ARGUMENT, f"a batch holds 1 to {MAX_BATCH:,} {field}, this one {n:,}",
                  error_details_pb2.BadRequest(field_violations=[error_details_pb2.BadRequest.FieldViolation(
                      field=field, description=f"{n:,} {field}, not 1..{MAX_BATCH:,}")]))
        problems = unknown_fields(request)
        if problems:
            fail(context, SpecError(problems), root="")

    def CreateSlices(self, request, context):  # noqa: N802
        self._batch(context, request, "specs")
        docs, who = [spec_to_doc(s) for s in request.specs], caller()

        def create():
            owned = [own_doc(self.reads, who, own_tenant(who, d)) for d in docs]
            self._police(who, owned)
            return pb.CreateSlicesResponse(slices=[slice_message(self.reads, n, who=who)
                                                   for n in self.ctl.create_many(owned)])
        return self._run(context, create, root="")

    def UpdateSlice(self, request, context):  # noqa: N802
        doc, who = self._spec_doc(request, context), caller()
        if self._federated(context, who, str(doc.get("name", ""))):
            abort(context, code_pb2.FAILED_PRECONDITION, "a slice across domains cannot be updated yet: delete it "
                  "and create it again")

        def update():
            spec = own_tenant(who, doc)
            spec = {**spec, "name": visible(self.reads, who, spec.get("name", ""))}
            self._police(who, [spec])
            return slice_message(self.reads, self.ctl.update(spec), who=who)
        return self._run(context, update)

    def GetSlice(self, request, context):  # noqa: N802
        who = caller()
        across = self._federated(context, who, request.name)
        if across:
            return self._across(context, lambda: fed_slice_message(self.home.get(across), who))
        def read():
            name = visible(self.reads, who, request.name)
            return slice_message(self.reads, name, stats=True, who=who), self.reads.counter_sources(name)
        msg, sources = self._run(context, read)
        if sources is not None:   # read here, not on the owner: a slow switch delays this call only
            msg.stats.MergeFrom(pb.SliceStats(**self.reads.read_counters(*sources), collected=timestamp(time.time())))
        return msg

    def DeleteSlice(self, request, context):  # noqa: N802
        who = caller()
        across = self._federated(context, who, request.name)
        if across:
            self._across(context, lambda: self.home.delete(across))
            return pb.DeleteSliceResponse()
        self._run(context, lambda: self.ctl.delete(visible(self.reads, who, request.name)))
        return pb.DeleteSliceResponse()

    def DeleteSlices(self, request, context):  # noqa: N802
        self._batch(context, request, "names")
        names, who = list(request.names), caller()
        across = next((n for n in names if self._federated(context, who, n)), None)
        if across:
            abort(context, code_pb2.FAILED_PRECONDITION, f"slice {across[:100]} is across domains: delete it "
                  "with DeleteSlice")
        self._run(context, lambda: self.ctl.delete_many([visible(self.reads, who, n) for n in names]), root="")
        return pb.DeleteSlicesResponse()

    def ListSlices(self, request, context):  # noqa: N802
        size, who = request.page_size or DEFAULT_PAGE, caller()
        if not 0 < size <= MAX_PAGE:
            abort(context, code_pb2.INVALID_ARGUMENT, f"page_size must be 1..{MAX_PAGE}",
                   error_details_pb2.BadRequest(field_violations=[error_details_pb2.BadRequest.FieldViolation(
                       field="page_size", description=f"{request.page_size} is not in 1..{MAX_PAGE}")]))

        at, why = parse_time(request.at) if request.at else (None, "")
        if why:
            fail(context, SpecError([("at", why)]), root="")
        shown_across = [fs for fs in (self.home.find(n) for n in self.home.names()) if fs is not None] \
            if self.home is not None else []   # a slice deleted meanwhile is left out
        across = {fs.name: fed_slice_message(fs, who) for fs in shown_across if who.may_see(fs.tenant)}

        def page():
            active = self.reads.active_at(at) if at is not None else None
            names = {v.name for v in self.reads.summaries()
                     if v.name > request.page_token and who.may_see(v.tenant)
                     and (not request.tenant or v.tenant == request.tenant)
                     and (not request.state or STATES.get(v.state) == request.state)
                     and (active is None or v.name in active)}
            names = sorted((names - set(across)) | {n for n, m in across.items() if n > request.page_token
                                                    and (not request.tenant or m.spec.tenant == request.tenant)
                                                    and (not request.state or m.state == request.state)})
            out = pb.ListSlicesResponse(slices=[across[n] if n in across else slice_message(self.reads, n, who=who)
                                                for n in names[:size]])
            if len(names) > size:
                out.next_page_token = names[size - 1]
            return out
        return self._run(context, page)

    def FailbackEndpoints(self, request, context):  # noqa: N802
        who = caller()
        return self._run(context, lambda: slice_message(
            self.reads, self.ctl.failback(visible(self.reads, who, request.name), request.site), who=who))

    def GetTenantPolicy(self, request, context):  # noqa: N802
        return self._here(context, lambda: get_policy(self.policy, caller(), request))

    def SetTenantPolicy(self, request, context):  # noqa: N802
        return self._here(context, lambda: set_policy(self.policy, caller(), request))

    @staticmethod
    def _here(context, fn):
        """``fn()`` on the handler's thread (it needs nothing of the owner's), every error
        with a status of its own: never UNKNOWN."""
        try:
            return fn()
        except Exception as e:
            fail(context, e)

    def WatchSlices(self, request, context):  # noqa: N802
        who = caller()
        client = who.name if who is not ANYONE else context.peer().rsplit(":", 1)[0]
        refused = self.watches.enter(client)
        if refused:
            abort(context, code_pb2.RESOURCE_EXHAUSTED, refused,
                   error_details_pb2.ErrorInfo(reason="WATCH_LIMIT", domain=DOMAIN, metadata={"detail": refused}),
                   error_details_pb2.QuotaFailure(violations=[
                       error_details_pb2.QuotaFailure.Violation(subject=client, description=refused)]))
        q = self.ctl.subscribe()
        context.add_callback(lambda: q.put_nowait(None))   # cancelled: stop waiting at once
        try:
            while context.is_active():
                try:
                    item = q.get(timeout=WATCH_POLL_S)
                except queue.Empty:
                    continue
                if item is None:
                    break
                name = shown(who, item.slice)
                if (request.name and request.name not in (name, item.slice)) or not who.may_see(item.tenant):
                    continue
                yield pb.SliceEvent(slice=name, kind=item.kind, state=STATES.get(item.state, 0),
                                    reason=redacted(who, item.reason), time=timestamp(item.time))
        finally:
            self.ctl.unsubscribe(q)
            self.watches.leave(client)


class WatchLimits:
    """Open WatchSlices streams, in total and per client (its identity, else its address).
    Each stream holds a server thread while open; the pool has one per allowed stream
    plus UNARY_WORKERS, so unary calls and health checks always find a thread."""

    def __init__(self, total: int = MAX_WATCHES, per_client: int = MAX_WATCHES_PER_CLIENT):
        if total < 1 or per_client < 1:
            raise ValueError("watch limits must be >= 1")
        self.total, self.per_client = total, per_client
        self._open: dict[str, int] = {}
        self._lock = threading.Lock()

    def enter(self, client: str) -> str:
        """Count a new stream of ``client``; the reason it is refused, or "" if not."""
        with self._lock:
            if sum(self._open.values()) >= self.total:
                return (f"too many open watch streams: {self.total} on this controller "
                        "(--max-watches); close some or use one stream for every slice")
            if self._open.get(client, 0) >= self.per_client:
                return (f"too many open watch streams for {client[:100]}: {self.per_client} per client "
                        "(--max-watches-per-client); one stream can watch every slice")
            self._open[client] = self._open.get(client, 0) + 1
            return ""

    def open(self) -> int:
        with self._lock:
            return sum(self._open.values())

    def leave(self, client: str) -> None:
        with self._lock:
            self._open[client] -= 1
            if not self._open[client]:
                del self._open[client]


def serve(ctl: SliceController, address: str, api_seconds=None,
          credentials: grpc.ServerCredentials | None = None, authenticator=None,
          watches: WatchLimits | None = None, cluster=None, leads: Callable[[], bool] | None = None,
          reads: ReadModel | None = None, policy: TenantPolicy | None = None,
          federation: FederationRole | None = None) -> grpc.Server:
    """Start the API on ``address`` (host:port) with health and reflection; with
    ``api_seconds`` (a labelled prometheus_client Histogram), time every call; with
    ``credentials``, over TLS; with ``authenticator`` (controller.auth), every call but
    health checks and reflection must say who it is; ``watches``: the limits on open
    watch streams (:class:`WatchLimits`); ``cluster`` (controller.cluster.Cluster) and
    ``leads`` (whether this instance may change the network now): writes only on the
    leader, and GetTopology lists the instances; ``reads``: what the API may see of the
    controller (built on ``ctl`` if not given); ``policy``: what each tenant may use
    (controller.tenancy; the default policy if not given); ``federation``: this domain's
    role in a federation (controller.fedapi), None when it is not one."""
    watches = watches or WatchLimits()
    reads = reads or ReadModel(ctl)
    interceptors = [i for i in (_Timed(api_seconds) if api_seconds is not None else None, authenticator,
                                _LeaderOnly(cluster, leads) if cluster is not None else None, _Decoding()) if i]
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=watches.total + UNARY_WORKERS,
                                                    thread_name_prefix="grpc"),
                         interceptors=interceptors, options=KEEPALIVE_OPTIONS)
    home = federation.home if federation is not None else None
    pb_grpc.add_SliceServiceServicer_to_server(SliceService(ctl, reads, watches, policy, home), server)
    pb_grpc.add_TopologyServiceServicer_to_server(TopologyService(ctl, reads, cluster, federation), server)
    health_servicer = health.HealthServicer()
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    names = [pb.DESCRIPTOR.services_by_name[n].full_name for n in ("SliceService", "TopologyService")]
    for n in ["", *names]:
        health_servicer.set(n, health_pb2.HealthCheckResponse.SERVING)
    reflection.enable_server_reflection([*names, health.SERVICE_NAME, reflection.SERVICE_NAME], server)
    bound = (server.add_secure_port(address, credentials) if credentials is not None
             else server.add_insecure_port(address))
    if bound == 0:
        raise OSError(f"cannot listen for gRPC on {address}")
    server.start()
    return server

