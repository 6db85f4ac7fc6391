"""The domains a home controller talks to (issue 26), behind one interface: its own
domain through its provider in this process, every peer through the federation API.

The home's orchestration (controller.fedhome) reserves, commits, provisions, modifies and
terminates parts in every domain the same way; only these adapters know that one is a
method call and the others are gRPC calls with a deadline. Every failure becomes a
:class:`DomainError` naming the domain, with the status the domain gave."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Iterator

import grpc

from controller.federation import FederationError, FederationProvider, Notice
from proto.intercloud.federation.v1 import federation_pb2 as fpb
from proto.intercloud.federation.v1 import federation_pb2_grpc as fpb_grpc
from slices.abstract import AbstractView, BorderOffer, PairOffer, Point
from slices.nsi import IllegalTransition

CALL_TIMEOUT_S = 5.0     # a peer's answer to one call; longer: it is taken as down
VIEW_TIMEOUT_S = 2.0     # views are read before every request: a silent peer must not hold it up

Stp = tuple[str, int, int, tuple[str, ...]]   # site, port, VLAN (0: untagged), addresses reached there


class DomainError(Exception):
    """A domain refused or did not answer; ``code`` is the gRPC status name."""

    def __init__(self, domain: str, code: str, text: str):
        self.domain, self.code, self.text = domain, code, text
        super().__init__(text if text.startswith(f"domain {domain}") else f"domain {domain}: {text}")


@dataclass(frozen=True)
class PartState:
    """A part as its domain reports it."""

    cid: str
    endpoints: tuple[Stp, ...]
    state: str              # the NSI state that matters most: a lifecycle end, else provision, else reservation
    committed: bool
    reason: str = ""
    hold_expires_in_s: float = 0.0
    global_id: str = ""     # the requester's name for the slice (the home's: HOME:NAME, or NAME here)


def _state_text(reservation: str, provision: str, lifecycle: str) -> str:
    if lifecycle not in ("Created",):
        return lifecycle
    if provision != "Released":
        return provision
    return reservation


class LocalDomain:
    """The home's own domain: its provider, called in this process, for the tenant."""

    def __init__(self, provider: FederationProvider):
        self.p, self.name = provider, provider.domain

    def _run(self, fn: Callable):
        try:
            return fn()
        except FederationError as e:
            raise DomainError(self.name, e.code, str(e)) from None
        except IllegalTransition as e:
            raise DomainError(self.name, "FAILED_PRECONDITION", str(e)) from None

    def _state(self, part) -> PartState:
        s = part.state
        return PartState(part.cid, tuple((e.site, e.port, e.vlan or 0, (e.ip, *e.via) if e.ip else ())
                                         for e in part.spec.endpoints),
                         _state_text(s.reservation.value, s.provision.value, s.lifecycle.value), s.committed,
                         part.reason, global_id=part.global_id)

    def view(self) -> tuple[AbstractView, list[BorderOffer]]:
        return self._run(lambda: (self.p.view(), self.p.borders()))

    def reserve(self, tenant: str, name: str, endpoints: list[Stp], bandwidth_mbps: float,
                max_latency_ms: float | None, priority: int, regions: list[str] | None,
                schedule: tuple[str | None, str | None] = (None, None)) -> PartState:
        return self._state(self._run(lambda: self.p.reserve(self.name, name, endpoints, bandwidth_mbps, max_latency_ms,
                                                            priority, regions, tenant=tenant, name=name,
                                                            schedule=schedule)))

    def step(self, op: str, cid: str) -> PartState:
        return self._state(self._run(lambda: getattr(self.p, op)(self.name, cid)))

    def modify(self, cid: str, endpoints: list[Stp], max_latency_ms: float | None) -> PartState:
        return self._state(self._run(lambda: self.p.modify(self.name, cid, endpoints, max_latency_ms)))

    def query(self) -> list[PartState]:
        return [self._state(p) for p in self._run(lambda: self.p.query(self.name, []))]

    def notices(self, stop) -> Iterator[Notice]:
        """This domain's notices about the home's own parts, until ``stop`` is set."""
        import queue
        q = self.p.subscribe(self.name)
        try:
            while not stop.is_set():
                try:
                    notice = q.get(timeout=0.5)
                except queue.Empty:
                    continue
                if notice is None:
                    return
                yield notice
        finally:
            self.p.unsubscribe(self.name, q)


class PeerDomain:
    """A peer domain over the federation API; this domain is the requester."""

    def __init__(self, name: str, address: str, home: str, credentials: grpc.ChannelCredentials | None = None):
        self.name, self.address, self.home = name, address, home
        self.channel = (grpc.secure_channel(address, credentials) if credentials is not None
                        else grpc.insecure_channel(address))
        self.stub = fpb_grpc.FederationServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()

    def _call(self, method: str, request, timeout: float = CALL_TIMEOUT_S):
        try:
            return getattr(self.stub, method)(request, timeout=timeout)
        except grpc.RpcError as e:
            code = e.code()
            if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
                # the address is the operator's to see (federation status), not a tenant's
                raise DomainError(self.name, code.name, f"its controller does not answer ({code.name.lower()})") from None
            raise DomainError(self.name, code.name, e.details() or code.name) from None

    @staticmethod
    def _state(c: fpb.Connection) -> PartState:
        names = {"reservation": fpb.ReservationState.Name(c.reservation),
                 "provision": fpb.ProvisionState.Name(c.provision), "lifecycle": fpb.LifecycleState.Name(c.lifecycle)}
        nsi = {k: _nsi_name(v) for k, v in names.items()}
        return PartState(c.connection_id, tuple((e.site, e.port, e.vlan, tuple(e.addresses)) for e in c.endpoints),
                         _state_text(nsi["reservation"], nsi["provision"], nsi["lifecycle"]), c.committed, c.reason,
                         c.hold_expires_in_s, c.global_id)

    def view(self) -> tuple[AbstractView, list[BorderOffer]]:
        v = self._call("GetView", fpb.GetViewRequest(requester=self.home), VIEW_TIMEOUT_S)
        view = AbstractView(v.domain, tuple(Point(p.site, p.kind, p.region) for p in v.points),
                            tuple(PairOffer(p.a, p.b, p.bandwidth_mbps, p.min_delay_ms) for p in v.pairs))
        if v.domain != self.name:
            raise DomainError(self.name, "FAILED_PRECONDITION", f"{self.address} answers as domain {v.domain!r}")
        return view, [BorderOffer(b.name, b.site, b.port, b.free_mbps, b.up, tuple(b.tags_in_use))
                      for b in v.borders]

    def reserve(self, tenant: str, name: str, endpoints: list[Stp], bandwidth_mbps: float,
                max_latency_ms: float | None, priority: int, regions: list[str] | None,
                schedule: tuple[str | None, str | None] = (None, None)) -> PartState:
        return self._state(self._call("Reserve", fpb.ReserveRequest(
            requester=self.home, global_id=f"{self.home}:{name}", bandwidth_mbps=bandwidth_mbps,
            start_time=schedule[0] or "", end_time=schedule[1] or "",
            max_latency_ms=max_latency_ms or 0.0, priority=priority, allowed_regions=regions or [],
            endpoints=[_stp(e) for e in endpoints])))

    def step(self, op: str, cid: str) -> PartState:
        return self._state(self._call(op.capitalize(), fpb.ConnectionRequest(requester=self.home, connection_id=cid)))

    def modify(self, cid: str, endpoints: list[Stp], max_latency_ms: float | None) -> PartState:
        return self._state(self._call("Modify", fpb.ModifyRequest(
            requester=self.home, connection_id=cid, max_latency_ms=max_latency_ms or 0.0,
            endpoints=[_stp(e) for e in endpoints])))

    def query(self) -> list[PartState]:
        return [self._state(c) for c in self._call("Query", fpb.QueryRequest(requester=self.home)).connections]

    def watch(self):
        """The peer's notification stream for this domain (cancel() ends it)."""
        return self.stub.WatchNotifications(fpb.WatchRequest(requester=self.home))


def _stp(e: Stp) -> fpb.Stp:
    site, port, vlan, addresses = e
    return fpb.Stp(site=site, port=port, vlan=vlan, addresses=list(addresses))


def _nsi_name(enum_name: str) -> str:
    """RESERVATION_STATE_HELD -> ReserveHeld, PROVISION_STATE_PROVISIONED -> Provisioned (slices.nsi's values)."""
    prefix, _, word = enum_name.partition("_STATE_")
    words = {"START": "ReserveStart", "CHECKING": "ReserveChecking", "HELD": "ReserveHeld",
             "COMMITTING": "ReserveCommitting", "FAILED": "ReserveFailed" if prefix == "RESERVATION" else "Failed",
             "TIMEOUT": "ReserveTimeout", "ABORTING": "ReserveAborting", "PASSED_END_TIME": "PassedEndTime"}
    return words.get(word, word.capitalize())


__all__ = ["DomainError", "LocalDomain", "PartState", "PeerDomain", "Stp"]
