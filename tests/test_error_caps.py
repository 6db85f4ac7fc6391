"""Issue 25, "Why" row 4: an error must always fit gRPC's limits. A batch of 1,000 bad
specs used to fail with RESOURCE_EXHAUSTED "Stream removed" (its details, every problem
of every spec, exceeded the 16 KB header limit): the client could not see what was
wrong. Now: INVALID_ARGUMENT naming the first problems, which specs were wrong, and how
many problems there are in all; the slicectl client prints it."""
from __future__ import annotations

from google.rpc import error_details_pb2
from grpc_status import rpc_status

from controller.statuses import MAX_VIOLATIONS
from tests.harness import error_of
from tests.test_api_batch import batch, many, violations


def _bad(n: int) -> list[dict]:
    docs = many(n)
    for d in docs:
        d["bandwidth_mbps"] = -1                  # wrong in every spec
        d["endpoints"][0]["site"] = "atlantis"    # and twice
    return docs


def test_a_thousand_bad_specs_get_invalid_argument_with_the_first_problems_and_the_count(api):
    import grpc

    err = error_of(lambda: batch(api, _bad(1000)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, (err.code(), err.details())
    text = err.details()
    assert text.startswith("invalid slice spec: specs[0].bandwidth_mbps:"), text
    assert "2,000 problems in 1,000 specs" in text and "specs[0], specs[1]" in text, text
    assert len(text.encode()) < 2000
    fields = violations(err)
    assert MAX_VIOLATIONS >= len(fields) > 5 and fields[0] == "specs[0].bandwidth_mbps", fields
    status = rpc_status.from_call(err)
    assert len(status.SerializeToString()) < 8192          # well within the 16 KB of headers
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in status.details if d.Is(error_details_pb2.ErrorInfo.DESCRIPTOR))
    assert info.metadata["problems"] == "2000" and info.metadata["specs_wrong"] == "1000"
    assert api.ctl.call(lambda: dict(api.ctl.engine.slices)) == {}    # nothing changed


def test_a_few_bad_specs_are_all_named(api):
    docs = many(3)
    docs[1]["bandwidth_mbps"] = -1
    err = error_of(lambda: batch(api, docs))
    assert violations(err) == ["specs[1].bandwidth_mbps"]
    assert "problems in" not in err.details()


def test_the_client_prints_the_first_problems_and_the_count(api):
    from slicectl.client import ClientError, Server, call
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from tests.rawspec import raw_spec
    import pytest

    with pytest.raises(ClientError) as e:
        call(Server(api.addr), "CreateSlices", pb.CreateSlicesRequest(specs=[raw_spec(d) for d in _bad(1000)]))
    text = str(e.value)
    assert "specs[0].bandwidth_mbps" in text and "2,000 problems in 1,000 specs" in text, text
    assert len(text.splitlines()) < 40, text
