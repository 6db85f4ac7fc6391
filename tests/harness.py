"""The one API harness: the real owner thread, store and gRPC service on a free port, every
switch of japan-intercloud simulated (tests/fakewire.py). The ``api`` fixture
(tests/conftest.py) is one of these; tests that need other settings make their own."""
from __future__ import annotations

import grpc
import pytest

from controller.core import SliceController
from controller.service import serve
from controller.settings import CoreSettings
from controller.store import Store
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
from slicectl.launcher import free_port
from tests.fakewire import FakeWire
from tests.rawspec import raw_spec
from topologies import load

JAPAN = load("japan-intercloud")


class Running:
    """``credentials`` and ``authenticator`` (controller.main.api_security) secure the API;
    a secured harness has no plaintext stubs of its own (clients bring their certificates).
    ``policy``: the tenant policy (controller.tenancy.TenantPolicy; None: the default).
    ``topology``: japan-intercloud unless given."""

    def __init__(self, store_path, connected=True, settings: CoreSettings = CoreSettings(),
                 credentials=None, authenticator=None, policy=None, topology=JAPAN):
        self.wire = FakeWire([s.name for s in topology.sites], connected)
        self.store = Store(store_path)
        self.ctl = SliceController(topology, self.store, self.wire, settings)
        self.ctl.start()
        for site in self.wire.connected:  # as controller.app does when a switch connects
            self.ctl.call(lambda site=site: self.ctl.switch_connected(site))
        self.addr = f"127.0.0.1:{free_port()}"
        self.server = serve(self.ctl, self.addr, credentials=credentials, authenticator=authenticator,
                            policy=policy)
        self.channel = grpc.insecure_channel(self.addr) if credentials is None else None
        if self.channel is not None:
            self.slices = pb_grpc.SliceServiceStub(self.channel)
            self.topology = pb_grpc.TopologyServiceStub(self.channel)

    def close(self):
        if self.channel is not None:
            self.channel.close()
        self.server.stop(0)
        self.ctl.stop()
        self.store.close()


def doc(name="medical", bw=20, **kw):
    d = {"name": name, "tenant": "mhlw", "bandwidth_mbps": bw, "priority": 7,
         "endpoints": [{"site": "tokyo-dc", "port": 1}, {"site": "osaka-dc", "port": 1},
                       {"site": "sendai-dc", "port": 1}]}
    d.update(kw)
    return d


def create(api, d):
    return api.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(d)))


def error_of(call):
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value
