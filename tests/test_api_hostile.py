"""Requests a broken or hostile client sends: the answer is a clear status that fits in a
reply, and nothing happens that the client was told did not."""
from __future__ import annotations

import time

import grpc
import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from tests.rawspec import raw_spec
from controller.settings import CoreSettings
from tests.harness import Running, doc, error_of


def test_a_huge_unknown_name_is_not_found_with_the_name_cut_short(api):  # noqa: F811
    for call in (lambda: api.slices.GetSlice(pb.GetSliceRequest(name="x" * 16000)),
                 lambda: api.slices.DeleteSlice(pb.DeleteSliceRequest(name="x" * 16000))):
        e = error_of(call)
        assert e.code() == grpc.StatusCode.NOT_FOUND          # not RESOURCE_EXHAUSTED (metadata overflow)
        assert "(16000 characters)" in e.details() and len(e.details()) < 200


def test_a_body_that_is_not_the_message_is_invalid_argument(api):  # noqa: F811
    garbage = api.channel.unary_unary("/intercloud.slicing.v1.SliceService/CreateSlice")
    e = error_of(lambda: garbage(b"\xff\xff\xff\xff", timeout=10))
    assert e.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "not a valid CreateSlice request" in e.details()
    assert api.slices.ListSlices(pb.ListSlicesRequest()).slices == []


def test_a_request_whose_deadline_passes_while_queued_is_never_carried_out(api):  # noqa: F811
    api.ctl.post(lambda: time.sleep(1.5))                   # the owner is busy for 1.5 s
    e = error_of(lambda: api.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(doc())), timeout=0.5))
    assert e.code() == grpc.StatusCode.DEADLINE_EXCEEDED
    time.sleep(1.5)
    api.ctl.call(lambda: None)                              # everything queued has run
    assert "medical" not in api.ctl.engine.slices          # it was dropped, not done late
    assert api.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(doc())), timeout=30).state == \
        pb.SLICE_STATE_ACTIVE


@pytest.fixture
def api_quota_1(tmp_path):
    r = Running(tmp_path / "store.db", settings=CoreSettings(max_slices_per_tenant=1))
    yield r
    r.close()


def test_a_tenant_past_its_quota_is_refused_and_others_are_not(api_quota_1):
    api = api_quota_1
    create = api.slices.CreateSlice
    create(pb.CreateSliceRequest(spec=raw_spec(doc())), timeout=30)
    other = doc(name="second", endpoints=[{"site": "tokyo-dc", "port": 2}, {"site": "osaka-dc", "port": 2}])
    e = error_of(lambda: create(pb.CreateSliceRequest(spec=raw_spec(other)), timeout=30))
    assert e.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert "tenant 'mhlw' has 1 slices" in e.details() and "--max-slices-per-tenant 1" in e.details()
    assert set(api.ctl.engine.slices) == {"medical"}
    assert create(pb.CreateSliceRequest(spec=raw_spec({**other, "tenant": "acme"})), timeout=30).state == \
        pb.SLICE_STATE_ACTIVE
