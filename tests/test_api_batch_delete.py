"""DeleteSlices: many slices deleted in one request, all or nothing, against the real owner,
store and service with simulated switches (tests/fakewire.py). On Mininet, with real
switches: tests/test_batch_mininet.py.

Not idempotent, like DeleteSlice: a name that is not (or no longer) a slice the caller may
see fails the whole request with NOT_FOUND naming it, so a client that sends a batch again
after a lost answer learns which slices are gone from the error, and nothing is deleted."""
from __future__ import annotations

import time

import grpc

from controller.ofwire import canonical_entry
from controller.service import MAX_BATCH
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.client import call
from slices.audit import audit
from slices.compiler import compile_plan
from tests.harness import Running, create, doc, error_of
from tests.test_api_batch import batch, many, snapshot, unchanged, violations
from tests.rawspec import raw_spec
from tests.test_security import Secured, certs, code_of  # noqa: F401 (certs: a fixture)


def tagged(name: str, tenant: str, vlan: int) -> pb.SliceSpec:
    return raw_spec({"name": name, "tenant": tenant, "bandwidth_mbps": 5,
                     "endpoints": [{"site": "tokyo-dc", "port": 1, "vlan": vlan},
                                   {"site": "osaka-dc", "port": 1, "vlan": vlan}]})


def delete(api, names):
    return api.slices.DeleteSlices(pb.DeleteSlicesRequest(names=names))


def consistent(api) -> bool:
    """The switches hold exactly the plan of the slices left, the store holds them, and
    the engine's books balance."""
    plan = {canonical_entry(e).key for entries in compile_plan(api.ctl.engine).values() for e in entries}
    return (set(api.wire.entries()) == plan and audit(api.ctl.engine) == []
            and sorted(r.name for r in api.store.load()) == sorted(api.ctl.engine.slices))


def test_a_batch_deletes_every_slice_in_one_push_and_one_store_transaction(api):
    batch(api, many(60))
    pushes, commits = len(api.wire.batches), []
    real = api.store.transaction
    api.store.transaction = lambda *a, **k: (commits.append(1), real(*a, **k))[1]
    try:
        delete(api, [f"batch-{i}" for i in range(0, 60, 2)])
    finally:
        api.store.transaction = real
    assert len(api.wire.batches) == pushes + 1 and len(commits) == 1
    assert sorted(api.ctl.engine.slices) == sorted(f"batch-{i}" for i in range(1, 60, 2))
    assert consistent(api)
    delete(api, [f"batch-{i}" for i in range(1, 60, 2)])
    assert not api.ctl.engine.slices and not api.store.load() and consistent(api)


def test_an_unknown_name_fails_the_whole_batch_naming_it_and_nothing_is_deleted(api):
    batch(api, many(10))
    tables, dump = snapshot(api)
    err = error_of(lambda: delete(api, ["batch-1", "batch-2", "nowhere", "batch-3"]))
    assert err.code() == grpc.StatusCode.NOT_FOUND and "nowhere" in err.details()
    assert len(api.ctl.engine.slices) == 10 and unchanged(api, tables, dump)
    # sent again after it succeeded: the names are gone, so NOT_FOUND, and still nothing else goes
    delete(api, ["batch-1", "batch-2"])
    tables, dump = snapshot(api)
    err = error_of(lambda: delete(api, ["batch-1", "batch-2", "batch-5"]))
    assert err.code() == grpc.StatusCode.NOT_FOUND and "batch-1" in err.details()
    assert len(api.ctl.engine.slices) == 8 and unchanged(api, tables, dump)


def test_a_name_twice_an_empty_or_an_oversized_batch_is_invalid_argument(api):
    batch(api, many(3))
    tables, dump = snapshot(api)
    err = error_of(lambda: delete(api, ["batch-0", "batch-1", "batch-0"]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and violations(err) == ["names[2]"]
    assert "names[0]" in err.details()
    err = error_of(lambda: delete(api, []))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and violations(err) == ["names"]
    err = error_of(lambda: delete(api, [f"x{i}" for i in range(MAX_BATCH + 1)]))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and f"{MAX_BATCH:,}" in err.details()
    assert len(api.ctl.engine.slices) == 3 and unchanged(api, tables, dump)


def test_a_switch_refusing_the_removals_undoes_the_whole_batch(api):
    batch(api, many(12))
    tables, dump = snapshot(api)
    api.wire.refusing["osaka-dc"] = "OpenFlow error type 12 code 2"
    err = error_of(lambda: delete(api, [f"batch-{i}" for i in range(12)]))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "osaka-dc" in err.details()
    assert len(api.ctl.engine.slices) == 12 and unchanged(api, tables, dump)


def test_slices_waiting_for_capacity_are_placed_again_after_the_batch(api):
    """Osaka's uplink is 100 Mbit/s: 20 low-priority slices of 3 wait behind two lifelines
    of 50; deleting both in one batch answers at once, and the waiting ones come back."""
    for i in range(20):
        create(api, doc(name=f"low{i}", bw=3, priority=1, endpoints=[
            {"site": "tokyo-dc", "port": 2, "vlan": 10 + i}, {"site": "osaka-dc", "port": 2, "vlan": 10 + i}]))
    for i, site in enumerate(("nagoya-dc", "fukuoka-dc")):
        create(api, doc(name=f"life{i}", bw=50, endpoints=[{"site": site, "port": 1},
                                                           {"site": "osaka-dc", "port": 1, "vlan": 500 + i}]))
    states = lambda: {s.spec.name: s.state for s in api.slices.ListSlices(pb.ListSlicesRequest()).slices}  # noqa: E731
    assert pb.SLICE_STATE_PREEMPTED in states().values()
    delete(api, ["life0", "life1"])
    deadline = time.monotonic() + 10
    while pb.SLICE_STATE_PREEMPTED in states().values() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(states().values()) == {pb.SLICE_STATE_ACTIVE} and len(states()) == 20
    api.ctl.call(lambda: None)
    assert consistent(api)


def test_the_batch_survives_a_restart(tmp_path):
    r = Running(tmp_path / "s.db")
    batch(r, many(20))
    delete(r, [f"batch-{i}" for i in range(15)])
    r.close()
    again = Running(tmp_path / "s.db")
    try:
        assert sorted(again.ctl.engine.slices) == sorted(f"batch-{i}" for i in range(15, 20))
    finally:
        again.close()


def test_a_tenant_deletes_its_own_names_only_and_anothers_is_as_absent_as_a_missing_one(tmp_path, certs):
    api = Secured(tmp_path, certs)
    try:
        acme, beta, ops = api.as_client("acme"), api.as_client("beta"), api.as_client("ops")
        for i in range(3):
            call(acme, "CreateSlice", pb.CreateSliceRequest(spec=tagged(f"erp-{i}", "acme", 10 + i)))
        call(beta, "CreateSlice", pb.CreateSliceRequest(spec=tagged("web", "beta", 20)))
        # beta naming acme's slice, bare or in full: NOT_FOUND, nothing deleted, nothing revealed
        assert code_of(beta, "DeleteSlices", pb.DeleteSlicesRequest(names=["web", "erp-0"])) == \
            "no slice named 'erp-0'"
        assert code_of(beta, "DeleteSlices", pb.DeleteSlicesRequest(names=["web", "acme/erp-0"])) == \
            "no slice named 'acme/erp-0'"
        assert len(api.ctl.engine.slices) == 4
        call(acme, "DeleteSlices", pb.DeleteSlicesRequest(names=["erp-0", "erp-2"]))   # its own, bare
        call(ops, "DeleteSlices", pb.DeleteSlicesRequest(names=["acme/erp-1", "beta/web"]))   # an admin: full
        assert not api.ctl.engine.slices
    finally:
        api.close()


def test_a_booking_ahead_is_cancelled_in_the_same_batch(api):
    batch(api, many(4))
    start = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 7200))
    create(api, doc(name="later", bw=1, schedule={"start": start, "duration": "PT1H"},
                    endpoints=[{"site": "tokyo-dc", "port": 1, "vlan": 900}, {"site": "osaka-dc", "port": 1, "vlan": 900}]))
    assert "later" in api.ctl.engine.bookings
    delete(api, ["later", "batch-0", "batch-1"])
    assert "later" not in api.ctl.engine.bookings and sorted(api.ctl.engine.slices) == ["batch-2", "batch-3"]
    assert consistent(api)
