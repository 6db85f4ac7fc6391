"""CreateSlices: many slices in one request, all or nothing, against the real owner,
store and service with simulated switches (tests/fakewire.py). On Mininet, with real
switches: tests/test_batch_mininet.py."""
from __future__ import annotations

import grpc
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from controller.ofwire import canonical_entry
from controller.service import MAX_BATCH
from controller.store import Store
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.audit import audit
from slices.compiler import compile_plan
from tests.rawspec import raw_spec
from controller.settings import CoreSettings
from tests.harness import Running, create, doc, error_of

CLOUDS = ["tokyo-dc", "osaka-dc", "nagoya-dc", "fukuoka-dc", "sapporo-dc", "sendai-dc"]


def many(n: int, bw: float = 0.5, prefix: str = "batch", vlan: int = 100) -> list[dict]:
    """``n`` two-cloud slices on tagged endpoints (VLANs from ``vlan`` on), none sharing one."""
    return [{"name": f"{prefix}-{i}", "tenant": "acme", "bandwidth_mbps": bw,
             "endpoints": [{"site": CLOUDS[i % 6], "port": 1, "vlan": vlan + i},
                           {"site": CLOUDS[(i + 1 + i // 6 % 5) % 6], "port": 2, "vlan": vlan + i}]}
            for i in range(n)]


def batch(api, docs):
    return api.slices.CreateSlices(pb.CreateSlicesRequest(specs=[raw_spec(d) for d in docs]))


def violations(err) -> list[str]:
    status = rpc_status.from_call(err)
    out = []
    for d in status.details:
        if d.Is(error_details_pb2.BadRequest.DESCRIPTOR):
            b = error_details_pb2.BadRequest()
            d.Unpack(b)
            out += [v.field for v in b.field_violations]
    return out


def unchanged(api, tables, dump) -> bool:
    return ({x: dict(t) for x, t in api.wire.tables.items()} == tables and api.store.dump() == dump
            and audit(api.ctl.engine) == [])


def snapshot(api):
    return {x: dict(t) for x, t in api.wire.tables.items()}, api.store.dump()


def test_a_batch_creates_every_slice_in_one_push_in_the_requests_order(api):
    docs = many(60)
    pushes = len(api.wire.batches)
    out = batch(api, docs)
    assert [s.spec.name for s in out.slices] == [d["name"] for d in docs]
    assert all(s.state == pb.SLICE_STATE_ACTIVE for s in out.slices)
    assert len(api.wire.batches) == pushes + 1      # one round of rules and barriers
    assert set(api.wire.entries()) == {canonical_entry(e).key for entries in compile_plan(api.ctl.engine).values()
                                      for e in entries}
    assert len({s.id for s in out.slices}) == 60 and len({s.prefix for s in out.slices}) == 60
    assert len(api.store.load()) == 60


def test_a_batch_sent_again_changes_nothing_and_returns_the_same_slices(api):
    first = batch(api, many(10))
    tables, dump = snapshot(api)
    again = batch(api, many(10))
    assert [(s.id, s.prefix) for s in again.slices] == [(s.id, s.prefix) for s in first.slices]
    assert unchanged(api, tables, dump)
    create(api, doc())                           # a slice made alone is part of a batch naming it
    out = batch(api, [doc(), *many(12)])
    assert len(out.slices) == 13 and len(api.ctl.engine.slices) == 13


def test_one_refused_slice_fails_the_whole_batch_and_names_it(api):
    create(api, doc(name="existing", bw=1))
    tables, dump = snapshot(api)
    docs = many(20) + [doc(name="too-big", bw=99, endpoints=[{"site": "tokyo-dc", "port": 2, "vlan": 7},
                                                             {"site": "seoul-dc", "port": 1}])]
    err = error_of(lambda: batch(api, docs))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "slice too-big" in err.details()
    assert sorted(api.ctl.engine.slices) == ["existing"] and unchanged(api, tables, dump)


def test_invalid_specs_are_named_by_their_place_in_the_request(api):
    tables, dump = snapshot(api)
    docs = many(5)
    docs[2]["bandwidth_mbps"] = -1
    docs[4]["endpoints"][0]["site"] = "osaka-dcx"
    err = error_of(lambda: batch(api, docs))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert violations(err) == ["specs[2].bandwidth_mbps", "specs[4].endpoints[0].site"]
    twice = many(3) + many(1)
    err = error_of(lambda: batch(api, twice))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and violations(err) == ["specs[3].name"]
    assert "specs[0]" in err.details()
    assert not api.ctl.engine.slices and unchanged(api, tables, dump)


def test_an_empty_or_oversized_batch_is_invalid_argument(api):
    err = error_of(lambda: batch(api, []))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and violations(err) == ["specs"]
    huge = pb.CreateSlicesRequest(specs=[pb.SliceSpec(name="x")] * (MAX_BATCH + 1))
    err = error_of(lambda: api.slices.CreateSlices(huge))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and f"{MAX_BATCH:,}" in err.details()


def test_a_name_taken_with_another_spec_or_an_endpoint_taken_fails_the_whole_batch(api):
    create(api, doc(name="batch-3", bw=1, endpoints=[{"site": "tokyo-dc", "port": 1, "vlan": 7},
                                                     {"site": "osaka-dc", "port": 1, "vlan": 7}]))
    tables, dump = snapshot(api)
    err = error_of(lambda: batch(api, many(8)))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS and "batch-3" in err.details()
    taken = many(8, prefix="other")
    taken[5]["endpoints"][0] = {"site": "tokyo-dc", "port": 1, "vlan": 7}     # batch-3's
    err = error_of(lambda: batch(api, taken))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "slice other-5" in err.details()
    assert sorted(api.ctl.engine.slices) == ["batch-3"] and unchanged(api, tables, dump)


def test_a_switch_refusing_the_batchs_rules_undoes_all_of_it(api):
    tables, dump = snapshot(api)
    api.wire.refusing["osaka-dc"] = "OpenFlow error type 12 code 2"
    err = error_of(lambda: batch(api, many(12)))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "osaka-dc" in err.details()
    assert not api.ctl.engine.slices and unchanged(api, tables, dump)


def test_the_tenant_quota_counts_the_whole_batch(tmp_path):
    api = Running(tmp_path / "quota.db", settings=CoreSettings(max_slices_per_tenant=10))
    try:
        batch(api, many(6))
        err = error_of(lambda: batch(api, many(5, prefix="more", vlan=1000)))
        assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        assert "tenant 'acme' has 6 slices and asks for 5 more" in err.details()
        assert len(api.ctl.engine.slices) == 6
        batch(api, many(4, prefix="more", vlan=1000))
        assert len(api.ctl.engine.slices) == 10
    finally:
        api.close()


def test_a_batch_survives_a_restart(tmp_path):
    r = Running(tmp_path / "s.db")
    batch(r, many(25))
    before = {n: (s.number, str(s.prefix), s.addresses) for n, s in r.ctl.engine.slices.items()}
    r.close()
    again = Running(tmp_path / "s.db")
    try:
        assert {n: (s.number, str(s.prefix), s.addresses) for n, s in again.ctl.engine.slices.items()} == before
        assert {st.state for st in again.ctl.states.values()} == {"active"}
    finally:
        again.close()
    assert len(Store(tmp_path / "s.db").load()) == 25
