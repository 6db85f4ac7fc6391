"""The client side of ``slicectl``: apply, get, list, delete, watch, topology.

Talks to the controller's gRPC API (``--server``, default 127.0.0.1:50051). Output is a
table by default, ``-o wide`` a wider one, ``-o json`` or ``-o yaml`` for machines.
Errors print the server's message and, for invalid specs, one line per field path; a
call that never reached the API says why (slicectl.diagnose); exit codes: 0 ok, 1
refused (rejected, conflict, precondition, identity), 2 invalid input, 3 not found, 4
controller unreachable or unavailable.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import grpc
import yaml
from google.protobuf import json_format
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from proto.convert import STATE_NAMES, spec_message
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
from slicectl.report import render_table
from slicectl.slaview import sla_cell, sla_line
from slicectl.specfiles import SpecFileError, check_docs, read_spec_docs, spec_paths

EXIT_OK, EXIT_REFUSED, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_UNREACHABLE = 0, 1, 2, 3, 4
TIMEOUT_S = 60.0


class ClientError(Exception):
    def __init__(self, message: str, code: int):
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Server:
    """Where the controller's API is and how to prove who we are: TLS (``ca`` to check
    the server, ``cert``/``key`` for mutual TLS) and/or a bearer ``token``."""

    address: str                # HOST:PORT, or several, comma-separated (a cluster's instances)
    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    token: str | None = None
    token_source: str | None = None     # where the token came from, for messages: --token-file F

    def __str__(self) -> str:
        return self.address

    @property
    def addresses(self) -> list[str]:
        return [a.strip() for a in self.address.split(",") if a.strip()]

    def channel(self, address: str | None = None, options: tuple = ()) -> grpc.Channel:
        """A channel to ``address`` (default: the first of :attr:`addresses`), with gRPC
        channel ``options``."""
        address = address or self.addresses[0]
        if self.ca or self.cert:
            try:
                ca, cert, key = (Path(p).read_bytes() if p else None for p in (self.ca, self.cert, self.key))
            except OSError as e:
                raise ClientError(f"{e.filename}: {e.strerror}", EXIT_INVALID) from None
            channel = grpc.secure_channel(address, grpc.ssl_channel_credentials(ca, key, cert), options=options)
        else:
            channel = grpc.insecure_channel(address, options=options)
        if self.token:
            channel = grpc.intercept_channel(channel, _Bearer(self.token))
        return channel


class _Bearer(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Adds ``authorization: Bearer TOKEN`` to every call."""

    def __init__(self, token: str):
        self.token = token

    def _with_token(self, details):
        metadata = list(details.metadata or []) + [("authorization", f"Bearer {self.token}")]
        return _Details(details.method, details.timeout, metadata, details.credentials,
                        getattr(details, "wait_for_ready", None), getattr(details, "compression", None))

    def intercept_unary_unary(self, continuation, details, request):
        return continuation(self._with_token(details), request)

    def intercept_unary_stream(self, continuation, details, request):
        return continuation(self._with_token(details), request)


@dataclass(frozen=True)
class _Details(grpc.ClientCallDetails):
    method: str
    timeout: float | None
    metadata: list
    credentials: object
    wait_for_ready: object
    compression: object


def server_of(address: "str | Server") -> Server:
    return address if isinstance(address, Server) else Server(address)


def stub(server: "str | Server", kind=pb_grpc.SliceServiceStub):
    """A stub of ``kind`` for the server: over several addresses, a :class:`_Failover`."""
    server = server_of(server)
    if len(server.addresses) > 1:
        return _Failover(server, kind)
    return kind(server.channel())


def _not_leader(err: grpc.RpcError) -> tuple[bool, str]:
    """Whether ``err`` is a cluster follower's refusal of a write, and the leader it names."""
    status = rpc_status.from_call(err)
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.reason == "NOT_LEADER":
                return True, info.metadata.get("leader", "")
    return False, ""


# Over a cluster's instances, one that took the connection but answers nothing (frozen,
# hung, its machine stalled) is given up once a keep-alive ping (every second of silence
# during a call) goes unanswered for 2 s, as one that refuses is: the call fails
# UNAVAILABLE and moves to the next instance instead of waiting out its whole deadline
# (measured: 2-3 s, against the deadline before). gRPC's ping timeout, not
# keepalive_timeout, is what closes the connection in the gRPC this project locks. 2 s,
# not 1: a busy but live instance answers pings from gRPC's own threads, but two
# cores are shared. The controllers accept these pings (controller.service.KEEPALIVE_OPTIONS).
# A new connection to a frozen instance is given up after 2 s too (no HTTP/2 settings by
# then: gRPC's minimum connect timeout is otherwise 20 s), and an instance that failed is
# asked last for FAILED_LAST_S: the chaos benchmark's frozen leader cost every call its
# whole deadline when it came first in the list (7.4 s without writes, 3 s with this).
FAILOVER_OPTIONS = (("grpc.keepalive_time_ms", 1000), ("grpc.keepalive_timeout_ms", 2000),
                    ("grpc.http2.ping_timeout_ms", 2000), ("grpc.http2.max_pings_without_data", 0),
                    ("grpc.keepalive_permit_without_calls", 0), ("grpc.min_reconnect_backoff_ms", 2000))
FAILED_LAST_S = 5.0


class _Failover:
    """A stub over a cluster's instances: each unary call goes to the first that takes
    it. An instance that cannot be reached, or that does not lead and so refused a write
    (changing nothing), is skipped — to the leader it names, if it names one. Watch
    streams go to the leader (the instance that publishes the events)."""

    def __init__(self, server: Server, kind):
        self.server, self.kind = server, kind
        self._stubs: dict[str, Any] = {}
        self._failed: dict[str, float] = {}    # address -> when it last did not answer (monotonic)

    def _order(self) -> list[str]:
        """The instances, those that failed in the last FAILED_LAST_S last."""
        now = time.monotonic()
        return sorted(self.server.addresses, key=lambda a: now - self._failed.get(a, -FAILED_LAST_S) < FAILED_LAST_S)

    def _at(self, address: str):
        if address not in self._stubs:
            self._stubs[address] = self.kind(self.server.channel(address, FAILOVER_OPTIONS))
        return self._stubs[address]

    def __getattr__(self, method: str):
        if method == "WatchSlices":
            return self._watch

        def call(request, **kwargs):
            todo, tried, last = self._order(), set(), None
            while todo:
                address = todo.pop(0)
                if address in tried:
                    continue
                tried.add(address)
                try:
                    return getattr(self._at(address), method)(request, **kwargs)
                except grpc.RpcError as e:
                    refused, leader = _not_leader(e)
                    if e.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) and not refused:
                        self._failed[address] = time.monotonic()
                    if e.code() != grpc.StatusCode.UNAVAILABLE:
                        raise
                    last = e
                    if refused and leader:
                        todo.insert(0, leader)
            raise last
        return call

    def _watch(self, request, **kwargs):
        topology = _Failover(self.server, pb_grpc.TopologyServiceStub).GetTopology(pb.GetTopologyRequest(),
                                                                                   timeout=TIMEOUT_S)
        leader = next((c.api for c in topology.controllers if c.leader), self.server.addresses[0])
        return self._at(leader).WatchSlices(request, **kwargs)


def explain(err: grpc.RpcError, server: "str | Server") -> ClientError:
    """A gRPC error as a message a person can act on, and an exit code. A call that never
    reached the API (UNAVAILABLE without the controller's own details) is diagnosed:
    nothing listening, or which step of TLS failed (slicectl.diagnose)."""
    from slicectl.diagnose import diagnose, unauthenticated
    code, srv = err.code(), server_of(server)
    status = rpc_status.from_call(err)
    if code == grpc.StatusCode.UNAVAILABLE and _not_leader(err)[0]:
        return ClientError(err.details(), EXIT_UNREACHABLE)
    if code == grpc.StatusCode.UNAVAILABLE and status is None:
        whys = [diagnose(srv, a) for a in srv.addresses]
        if len(whys) == 1:
            return ClientError(whys[0] or err.details() or code.name, EXIT_UNREACHABLE)
        return ClientError("no instance took the call: " + "; ".join(
            f"{a}: {w or err.details()}" for a, w in zip(srv.addresses, whys)), EXIT_UNREACHABLE)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return ClientError(unauthenticated(srv), EXIT_REFUSED)
    lines, tail = [err.details() or code.name], ""
    for detail in status.details if status else ():
        if detail.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            br = error_details_pb2.BadRequest()
            detail.Unpack(br)
            lines = ["invalid slice spec:"] + [f"  {v.field}: {v.description}" for v in br.field_violations]
        elif detail.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
            info = error_details_pb2.ErrorInfo()
            detail.Unpack(info)
            if info.reason == "INVALID_SPEC":   # more problems than the reply lists
                tail = err.details().rpartition("… ")[2]
    if tail:
        lines.append(f"  … {tail}")
    exit_code = {grpc.StatusCode.INVALID_ARGUMENT: EXIT_INVALID, grpc.StatusCode.NOT_FOUND: EXIT_NOT_FOUND,
                 grpc.StatusCode.UNAVAILABLE: EXIT_UNREACHABLE}.get(code, EXIT_REFUSED)
    return ClientError("\n".join(lines), exit_code)


def _checked_specs(paths: tuple[str, ...]) -> list[tuple[str, Any]]:
    """(file, spec) of every document of the files, each checked here as the server would
    (unknown fields, enum names, types, ranges); if any is invalid, a ClientError naming
    every problem."""
    specs, problems = [], []
    try:
        paths = tuple(spec_paths(list(paths)))
    except SpecFileError as e:
        problems, paths = e.lines, ()
    for path in paths:
        try:
            specs += [(path, spec) for spec in check_docs(read_spec_docs(path))]
        except SpecFileError as e:
            problems += e.lines
    if problems:
        raise ClientError("invalid slice spec:\n" + "\n".join(f"  {line}" for line in problems),
                          EXIT_INVALID)
    return specs


def apply(server: str, *paths: str) -> list[pb.Slice]:
    """Create each slice of the files, in order, or update it if it exists. If any spec
    is invalid, nothing is sent."""
    specs = _checked_specs(paths)
    slices = stub(server)
    out = []
    for path, spec in specs:
        msg = spec_message(spec)
        try:
            try:
                out.append(slices.CreateSlice(pb.CreateSliceRequest(spec=msg), timeout=TIMEOUT_S))
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
                out.append(slices.UpdateSlice(pb.UpdateSliceRequest(spec=msg), timeout=TIMEOUT_S))
        except grpc.RpcError as e:
            err = explain(e, server)
            raise ClientError(f"{path}: slice {spec.name}: {err}", err.code) from None
    return out


def create_batch(server: str, *paths: str) -> list[pb.Slice]:
    """Create every slice of the files in one CreateSlices request: all of them or, if
    one is invalid, taken or refused, none (slices that exist with the same spec are left
    as they are)."""
    specs = _checked_specs(paths)
    try:
        return list(stub(server).CreateSlices(pb.CreateSlicesRequest(specs=[spec_message(s) for _p, s in specs]),
                                               timeout=TIMEOUT_S).slices)
    except grpc.RpcError as e:
        err = explain(e, server)
        raise ClientError(f"{', '.join(paths)}: no slice created: {err}", err.code) from None


def call(server: str, method: str, request, kind=pb_grpc.SliceServiceStub):
    try:
        return getattr(stub(server, kind), method)(request, timeout=TIMEOUT_S)
    except grpc.RpcError as e:
        raise explain(e, server) from None


def every_slice(list_slices: Callable[[pb.ListSlicesRequest], pb.ListSlicesResponse], page_size: int = 500,
                **fields: Any) -> list[pb.Slice]:
    """Every slice ListSlices answers, page by page; ``list_slices(request)`` makes the
    call (a stub's method with its timeout, or :func:`call`), ``fields`` filter it."""
    out, token = [], ""
    while True:
        page = list_slices(pb.ListSlicesRequest(page_size=page_size, page_token=token, **fields))
        out += page.slices
        token = page.next_page_token
        if not token:
            return out


def watch(server: str, name: str = "") -> Iterable[pb.SliceEvent]:
    try:
        yield from stub(server).WatchSlices(pb.WatchSlicesRequest(name=name))
    except grpc.RpcError as e:
        if e.code() != grpc.StatusCode.CANCELLED:
            raise explain(e, server) from None


# -- output ---------------------------------------------------------------------------------

def as_data(msg) -> Any:
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)


def render(data: Any, fmt: str) -> str:
    if fmt == "json":
        return json.dumps(data, indent=2)
    return yaml.safe_dump(data, sort_keys=False).rstrip()


def slice_rows(slices: Iterable[pb.Slice], wide: bool = False) -> str:
    """The slices, one row each; ``wide`` adds id, prefix, protection, bound and endpoints."""
    rows = []
    for s in slices:
        rows.append((s.spec.name, s.spec.tenant, STATE_NAMES.get(s.state, "?"), s.spec.priority,
                     f"{s.spec.bandwidth_mbps:g}", f"{s.worst_delay_ms:.2f}" if s.tree else "-",
                     sla_cell(s), ",".join(sorted({e.site for e in s.spec.endpoints})), s.reason)
                    + (_wide_cells(s) if wide else ()))
    return render_table(("NAME", "TENANT", "STATE", "PRIO", "MBIT/S", "DELAY MS", "SLA", "SITES", "REASON")
                        + (WIDE_SLICE_HEAD if wide else ()), rows)


WIDE_SLICE_HEAD = ("ID", "PREFIX", "PROTECTION", "BOUND MS", "TREE LINKS", "ENDPOINTS")


def _wide_cells(s: pb.Slice) -> tuple:
    """The columns ``-o wide`` adds to a slice's row."""
    return (s.id, s.prefix or "-", pb.Protection.Name(s.spec.protection).removeprefix("PROTECTION_").lower(),
            f"{s.spec.max_latency_ms:g}" if s.spec.HasField("max_latency_ms") else "-", len(s.tree),
            " ".join(f"{e.site}:{e.port}" + (f"={e.ip}" if e.ip else "") for e in s.endpoints) or "-")


def slice_detail(s: pb.Slice, wide: bool = False) -> str:
    lines = [slice_rows([s], wide), "", f"id {s.id}, prefix {s.prefix}, protection "
             f"{pb.Protection.Name(s.spec.protection).removeprefix('PROTECTION_').lower()}"]
    lines.append(render_table(("SITE", "PORT", "VLAN", "ADDRESS", "AT", "STANDBY", "WHY"),
                              [(e.site, e.port, e.vlan or "-", e.ip, e.location or "primary",
                                f"{e.standby.site}:{e.standby.port}" if e.HasField("standby") else "-",
                                e.location_reason) for e in s.endpoints]))
    if s.spec.HasField("schedule"):
        lines.append(f"schedule: from {s.spec.schedule.start or 'its creation'} "
                     f"until {s.spec.schedule.end or 'deleted'}")
    lines.append("tree:   " + (", ".join(f"{l.a}—{l.b}" for l in s.tree) or "-"))
    if s.backup:
        lines.append("backup: " + ", ".join(f"{l.a}—{l.b}" for l in s.backup))
    lines.append(sla_line(s.sla))
    st = s.stats
    lines.append(f"ingress: {st.ingress_packets} packets, {st.ingress_bytes} bytes; meter: "
                 f"{st.meter_packets} packets, {st.meter_dropped_packets} dropped above the reservation")
    if st.rate_interval_s:
        lines.append(f"now:    {st.ingress_bits_per_second / 1e6:.2f} Mbit/s in of {s.spec.bandwidth_mbps:g} "
                     f"reserved, {st.dropped_packets_per_second:.0f} packets/s dropped "
                     f"(over the last {st.rate_interval_s:.0f} s)")
    return "\n".join(lines)


def topology_rows(t: pb.Topology, wide: bool = False) -> str:
    """Sites, links and a cluster's instances; ``wide`` adds each site's hosts, position
    and switch role, and each link's share in use."""
    sites = render_table(("SITE", "KIND", "REGION", "DPID", "CONNECTED", "STATE")
                         + (("HOSTS", "LAT", "LON", "ROLE") if wide else ()),
                         [(s.name, s.kind, s.region, f"{s.dpid:#x}", "yes" if s.connected else "NO",
                           "LOST" if s.lost else "drained" if s.drained else "in use")
                          + ((s.hosts, f"{s.lat:.3f}", f"{s.lon:.3f}", s.role or "-") if wide else ())
                          for s in t.sites])
    links = render_table(("LINK", "MBIT/S", "FREE", "DELAY MS", "STATE", "SLICES", "WHY")
                         + (("USED %",) if wide else ()),
                         [(f"{l.a}—{l.b}", f"{l.bandwidth_mbps:g}", f"{l.residual_mbps:g}", f"{l.delay_ms:.3f}",
                           "up" if l.up else "DOWN", l.slices, l.reason)
                          + ((_used(l),) if wide else ()) for l in t.links])
    out = f"topology {t.name}\n\n{sites}\n\n{links}"
    if t.controllers:
        out += "\n\n" + render_table(("CONTROLLER", "API", "ROLE", "GENERATION"),
                                     [(c.name, c.api, "LEADER (MASTER)" if c.leader else "follower (SLAVE)",
                                       c.generation or "-") for c in t.controllers])
    return out


def _used(link: pb.LinkState) -> str:
    if not link.bandwidth_mbps:
        return "-"
    return f"{100 * (1 - link.residual_mbps / link.bandwidth_mbps):.0f}"
