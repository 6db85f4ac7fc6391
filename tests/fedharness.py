"""In-process domain controllers of a federation on simulated switches (tests/fakewire.py),
each with its federation API on a free port, and a recorder of every message that
crosses that API (requests, answers, errors, notifications)."""
from __future__ import annotations

from pathlib import Path

import grpc
import yaml

from controller.core import SliceController
from controller.federation import FederationProvider
from controller.fedservice import serve_federation
from controller.store import Store
from controller.tenancy import TenantPolicy
from proto.intercloud.federation.v1 import federation_pb2_grpc as fpb_grpc
from slicectl.processes import free_port
from tests.fakewire import FakeWire
from topologies.federation import domain_topology, load_federation

FED = load_federation(Path(__file__).resolve().parent.parent / "topologies" / "federations" / "japan-korea.yaml")


class Recorder(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """Every message crossing the API, as text: what was sent, what came back."""

    def __init__(self):
        self.seen: list[str] = []

    def intercept_unary_unary(self, continuation, details, request):
        self.seen.append(f"{details.method} -> {request}")
        outcome = continuation(details, request)
        try:
            self.seen.append(f"{details.method} <- {outcome.result()}")
        except grpc.RpcError as e:
            self.seen.append(f"{details.method} <- {e.code()} {e.details()}")
        return outcome

    def intercept_unary_stream(self, continuation, details, request):
        self.seen.append(f"{details.method} -> {request}")
        stream = continuation(details, request)
        recorder = self

        class Recorded:
            def __iter__(self):
                try:
                    for m in stream:
                        recorder.seen.append(f"{details.method} <- {m}")
                        yield m
                except grpc.RpcError as e:
                    if e.code() != grpc.StatusCode.CANCELLED:   # the test's own cancel() ends it
                        raise

            def cancel(self):
                stream.cancel()
        return Recorded()

    def text(self) -> str:
        return "\n".join(self.seen)


class RunningDomain:
    """Domain ``name`` of the example federation: its controller, provider and API."""

    def __init__(self, name: str, tmp_path, policy: dict | None = None, hold_s: float = 60.0):
        self.name = name
        self.topology = domain_topology(FED, name)
        self.wire = FakeWire([s.name for s in self.topology.sites])
        self.store = Store(tmp_path / f"{name}.db")
        self.ctl = SliceController(self.topology, self.store, self.wire)
        self.ctl.start()
        self.ctl.start_audits(None)   # as a leading instance: bookings ahead start and end on time
        for site in sorted(self.wire.connected):
            self.ctl.call(lambda site=site: self.ctl.switch_connected(site))
        tenant_policy = None
        if policy is not None:
            path = tmp_path / f"{name}-policy.yaml"
            path.write_text(yaml.safe_dump(policy))
            tenant_policy = TenantPolicy(self.topology, path)
        self.provider = FederationProvider(self.ctl, FED, name, tenant_policy, hold_s=hold_s)
        self.provider.start()
        self.addr = f"127.0.0.1:{free_port()}"
        self.server = serve_federation(self.provider, self.addr)
        self.recorder = Recorder()
        self.channel = grpc.intercept_channel(grpc.insecure_channel(self.addr), self.recorder)
        self.stub = fpb_grpc.FederationServiceStub(self.channel)

    def booked(self) -> dict:
        """The engine's slices with what they hold (owner thread)."""
        return self.ctl.call(lambda: {n: s.spec.bandwidth_mbps for n, s in self.ctl.engine.slices.items()})

    def residual(self) -> dict:
        return self.ctl.call(lambda: dict(self.ctl.engine.residual))

    def plan(self) -> dict:
        return self.ctl.call(lambda: dict(self.ctl.plan))

    def close(self):
        self.channel.close()
        self.server.stop(0)
        self.provider.close()
        self.ctl.stop()
        self.store.close()


class HomeApi:
    """East's slice API (gRPC) serving ``home``, as `slicectl controller --domain east` does:
    ``slices`` and ``topology`` stubs; ``close()`` when done."""

    def __init__(self, home, east: RunningDomain):
        from controller.fedapi import FederationRole
        from controller.service import serve
        from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
        addr = f"127.0.0.1:{free_port()}"
        self.server = serve(east.ctl, addr, federation=FederationRole(east.provider, home, {"west": "w", "korea": "k"}))
        self.channel = grpc.insecure_channel(addr)
        self.slices, self.topology = pb_grpc.SliceServiceStub(self.channel), pb_grpc.TopologyServiceStub(self.channel)

    def close(self) -> None:
        self.channel.close()
        self.server.stop(0)
