"""The federation API's servicer (proto/intercloud/federation/v1): thin, as the slice API's
is. It converts messages, finds out which peer is calling and maps the provider's
exceptions to status codes in one table; the provider (controller.federation) decides.

The peer is the certificate's name when the API runs with mutual TLS (the same
credentials and :class:`controller.auth.Authenticator` as the slice API, so a peer's
certificate is issued like a tenant's), else the request's ``requester`` field (tests and
loopback labs)."""
from __future__ import annotations

import queue
from concurrent import futures

import grpc
from google.rpc import code_pb2

from controller.auth import ANYONE, caller
from controller.federation import FederationError, FederationProvider, Notice, Part
from controller.statuses import abort
from proto.intercloud.federation.v1 import federation_pb2 as fpb
from proto.intercloud.federation.v1 import federation_pb2_grpc as fpb_grpc
from slices.nsi import IllegalTransition

NOTICE_KINDS = {"reserve_timeout": fpb.NOTIFICATION_KIND_RESERVE_TIMEOUT,
                "state_change": fpb.NOTIFICATION_KIND_STATE_CHANGE, "error": fpb.NOTIFICATION_KIND_ERROR_EVENT}
WATCH_POLL_S = 0.5
WORKERS = 16


def _enum(prefix: str, value: str) -> int:
    """A state's proto value: ReserveHeld -> RESERVATION_STATE_HELD (the names follow NSI's)."""
    words = {"ReserveStart": "START", "ReserveChecking": "CHECKING", "ReserveHeld": "HELD",
             "ReserveCommitting": "COMMITTING", "ReserveFailed": "FAILED", "ReserveTimeout": "TIMEOUT",
             "ReserveAborting": "ABORTING", "PassedEndTime": "PASSED_END_TIME"}
    return getattr(fpb, f"{prefix}_{words.get(value, value.upper())}")


def connection_message(part: Part, now: float, outward) -> fpb.Connection:
    return fpb.Connection(
        connection_id=part.cid, global_id=part.global_id,
        reservation=_enum("RESERVATION_STATE", part.state.reservation.value),
        provision=_enum("PROVISION_STATE", part.state.provision.value),
        lifecycle=_enum("LIFECYCLE_STATE", part.state.lifecycle.value), committed=part.state.committed,
        hold_expires_in_s=max(0.0, part.expires - now) if part.expires is not None else 0.0,
        reason=outward(part.reason), bandwidth_mbps=part.spec.bandwidth_mbps,
        endpoints=[fpb.Stp(site=e.site, port=e.port, vlan=e.vlan or 0, addresses=[e.ip, *e.via] if e.ip else [])
                   for e in part.spec.endpoints])


class FederationService(fpb_grpc.FederationServiceServicer):
    def __init__(self, provider: FederationProvider):
        self.p = provider

    def _peer(self, requester: str) -> str:
        who = caller()
        return self.p.peer_of(requester, None if who is ANYONE else who.name)

    def _answer(self, context, fn):
        """``fn()``'s result, or the call aborted with the status its exception maps to."""
        try:
            return fn()
        except FederationError as e:
            abort(context, getattr(code_pb2, e.code), str(e))
        except IllegalTransition as e:
            abort(context, code_pb2.FAILED_PRECONDITION, self.p.outward(str(e)))

    def _conn(self, part: Part) -> fpb.Connection:
        return connection_message(part, self.p.clock(), self.p.outward)

    def GetView(self, request, context):
        def run():
            self._peer(request.requester)
            v = self.p.view()
            return fpb.View(domain=v.domain,
                            points=[fpb.Point(site=x.site, kind=x.kind, region=x.region) for x in v.points],
                            pairs=[fpb.PairOffer(a=x.a, b=x.b, bandwidth_mbps=x.bandwidth_mbps,
                                                 min_delay_ms=x.min_delay_ms) for x in v.pairs],
                            borders=[fpb.BorderOffer(name=b.name, site=b.site, port=b.port, free_mbps=b.free_mbps,
                                                     tags_in_use=list(b.tags),
                                                     up=b.up) for b in self.p.borders()])
        return self._answer(context, run)

    def Reserve(self, request, context):
        def run():
            peer = self._peer(request.requester)
            part = self.p.reserve(peer, request.global_id, [(e.site, e.port, e.vlan, tuple(e.addresses)) for e in request.endpoints],
                                  request.bandwidth_mbps, request.max_latency_ms or None, request.priority,
                                  list(request.allowed_regions), request.hold_timeout_s or None,
                                  schedule=(request.start_time or None, request.end_time or None))
            return self._conn(part)
        return self._answer(context, run)

    def _on(self, op, request, context):
        return self._answer(context, lambda: self._conn(op(self._peer(request.requester), request.connection_id)))

    def Commit(self, request, context):
        return self._on(self.p.commit, request, context)

    def Abort(self, request, context):
        return self._on(self.p.abort, request, context)

    def Provision(self, request, context):
        return self._on(self.p.provision, request, context)

    def Release(self, request, context):
        return self._on(self.p.release, request, context)

    def Terminate(self, request, context):
        return self._on(self.p.terminate, request, context)

    def Modify(self, request, context):
        return self._answer(context, lambda: self._conn(self.p.modify(
            self._peer(request.requester), request.connection_id,
            [(e.site, e.port, e.vlan, tuple(e.addresses)) for e in request.endpoints], request.max_latency_ms or None)))

    def Query(self, request, context):
        def run():
            parts = self.p.query(self._peer(request.requester), list(request.connection_ids))
            return fpb.QueryResponse(connections=[self._conn(p) for p in parts])
        return self._answer(context, run)

    def WatchNotifications(self, request, context):
        peer = self._answer(context, lambda: self._peer(request.requester))
        q = self.p.subscribe(peer)
        try:
            while context.is_active():
                try:
                    notice: Notice | None = q.get(timeout=WATCH_POLL_S)
                except queue.Empty:
                    continue
                if notice is None:   # the provider is closing
                    return
                msg = fpb.Notification(kind=NOTICE_KINDS[notice.kind], connection_id=notice.part.cid,
                                       text=notice.text, connection=self._conn(notice.part))
                if notice.stp is not None:
                    msg.stp.site, msg.stp.port = notice.stp
                yield msg
        finally:
            self.p.unsubscribe(peer, q)


def serve_federation(provider: FederationProvider, address: str, credentials: grpc.ServerCredentials | None = None,
                     authenticator=None) -> grpc.Server:
    """Start the federation API on ``address``; with ``credentials`` (client certificates
    required: controller.main's) and ``authenticator``, peers are known by certificate."""
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=WORKERS, thread_name_prefix="federation"),
                         interceptors=[authenticator] if authenticator else [])
    fpb_grpc.add_FederationServiceServicer_to_server(FederationService(provider), server)
    bound = (server.add_secure_port(address, credentials) if credentials is not None
             else server.add_insecure_port(address))
    if bound == 0:
        raise OSError(f"cannot listen for the federation API on {address}")
    server.start()
    return server
