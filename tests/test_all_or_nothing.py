"""Every request happens completely or not at all - in the engine, the store and the
switches - whatever fails after validation: the compiler, a switch, the store. The
answer is a clean status (UNAVAILABLE or INTERNAL with a reason), never UNKNOWN, and a
retry once the cause is gone succeeds and is stored."""
from __future__ import annotations

import sqlite3

import grpc
import pytest

import controller.pipeline
import controller.store
from controller.core import SliceController
from controller.store import Store
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.compiler import plan_problems
from slices.audit import audit
from tests.rawspec import raw_spec
from tests.harness import JAPAN, create, doc, error_of


def snapshot(api) -> tuple:
    """Everything a request could change: engine, plan, states, store, switches."""
    e = api.ctl.engine
    engine = ({n: (s.number, str(s.prefix), s.status, s.tree, s.backup, dict(s.tags), dict(s.backup_tags),
                   dict(s.addresses), s.spec) for n, s in e.slices.items()},
              dict(e.residual), dict(e.endpoint_owner), e.tags.in_use, e.prefixes.in_use)
    return (engine, dict(api.ctl.plan), {n: (st.state, st.reason) for n, st in api.ctl.states.items()},
            api.store.dump(), {x: dict(t) for x, t in api.wire.tables.items()})


def assert_sound(api) -> None:
    assert audit(api.ctl.engine) == [] and plan_problems(api.ctl.plan) == []


UPDATE = doc(bw=30, endpoints=[{"site": "tokyo-dc", "port": 2}, {"site": "osaka-dc", "port": 1},
                               {"site": "sendai-dc", "port": 1}])
REQUESTS = {
    "create": lambda api: create(api, doc(name="fresh", endpoints=[{"site": "tokyo-dc", "port": 2},
                                                                   {"site": "fukuoka-dc", "port": 1}])),
    "update": lambda api: api.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(UPDATE))),
    "delete": lambda api: api.slices.DeleteSlice(pb.DeleteSliceRequest(name="medical")),
}


@pytest.mark.parametrize("request_kind", sorted(REQUESTS))
def test_a_compiler_failure_is_internal_and_changes_nothing(api, monkeypatch, request_kind):
    create(api, doc())
    before = snapshot(api)

    def broken(*args, **kwargs):
        raise TypeError("'<' not supported between instances of 'NoneType' and 'str'")
    monkeypatch.setattr(controller.pipeline, "recompile", broken)
    err = error_of(lambda: REQUESTS[request_kind](api))
    assert err.code() == grpc.StatusCode.INTERNAL and "nothing was changed" in err.details()
    assert "TypeError" in err.details()
    assert snapshot(api) == before
    monkeypatch.undo()
    REQUESTS[request_kind](api)  # the retry goes through, and is stored
    assert snapshot(api) != before and api.store.dump()[0] == snapshot(api)[3][0]
    assert_sound(api)


def _lock(path):
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")
    return lambda: other.close()


def _read_only(api):
    api.store.db.execute("PRAGMA query_only = ON")
    return lambda: api.store.db.execute("PRAGMA query_only = OFF")


STORE_FAULTS = {"locked by another process": lambda api, path: _lock(path),
                "read-only": lambda api, path: _read_only(api)}


@pytest.mark.parametrize("fault", sorted(STORE_FAULTS))
@pytest.mark.parametrize("request_kind", sorted(REQUESTS))
def test_a_store_that_cannot_be_written_is_unavailable_and_changes_nothing(api, tmp_path, fault, request_kind):
    create(api, doc())
    before = snapshot(api)
    sent = sum(api.wire.sent.values())
    release = STORE_FAULTS[fault](api, tmp_path / "store.db")
    try:
        err = error_of(lambda: REQUESTS[request_kind](api))
    finally:
        release()
    assert err.code() == grpc.StatusCode.UNAVAILABLE, err.details()
    assert "store" in err.details() and "nothing was changed" in err.details()
    assert snapshot(api) == before
    assert sum(api.wire.sent.values()) == sent  # the switches never saw it
    REQUESTS[request_kind](api)
    assert snapshot(api) != before
    assert_sound(api)


def test_the_double_owner_sequence_leaves_one_owner(api, tmp_path):
    """Once: create, a failing update that moves an endpoint off a port, a create on the
    port it would have freed, a restart - and two ACTIVE slices owned one port."""
    create(api, doc())                                              # medical owns tokyo-dc:1
    api.wire.refusing["tokyo-dc"] = "OpenFlow error type 1 code 2"
    err = error_of(lambda: REQUESTS["update"](api))                  # would move it to tokyo-dc:2
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "tokyo-dc refused" in err.details()
    del api.wire.refusing["tokyo-dc"]
    err = error_of(lambda: create(api, doc(name="intruder", priority=3, endpoints=[
        {"site": "tokyo-dc", "port": 1}, {"site": "nagoya-dc", "port": 1}])))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "belongs to slice medical" in err.details()
    assert_sound(api)
    tables = {x: dict(t) for x, t in api.wire.tables.items()}
    api.close()
    again = SliceController(JAPAN, Store(tmp_path / "store.db"), api.wire)
    assert sorted(again.engine.slices) == ["medical"] and again.restore_problems == []
    assert [e.port for e in again.engine.slices["medical"].spec.endpoints if e.site == "tokyo-dc"] == [1]
    assert audit(again.engine) == [] and plan_problems(again.plan) == []
    api.wire.batches.clear()
    for site in api.wire.tables:
        again.switch_connected(site)
    assert all(len(b) == 0 for b in api.wire.batches) and {x: dict(t) for x, t in api.wire.tables.items()} == tables
    again.store.close()


def test_a_store_holding_two_owners_of_one_port_restores_only_the_first(api, tmp_path):
    """A store written by an older version (or by hand) cannot bring the double owner back."""
    create(api, doc())
    row = api.store.db.execute("SELECT spec, placement FROM slices WHERE name = 'medical'").fetchone()
    api.store.db.execute("INSERT INTO slices VALUES ('copy', 99, ?, 'active', '', ?, 0, 0)",
                         (row[0].replace('"medical"', '"copy"'), row[1].replace('"number": 1', '"number": 2')))
    api.close()
    again = SliceController(JAPAN, Store(tmp_path / "store.db"), api.wire)
    assert sorted(again.engine.slices) == ["medical"]
    assert len(again.restore_problems) == 1 and "copy" in again.restore_problems[0]
    assert "belongs to slice medical" in again.restore_problems[0]
    assert audit(again.engine) == []
    again.store.close()


@pytest.mark.parametrize("request_kind", sorted(REQUESTS))
def test_a_store_failing_after_the_rules_went_out_takes_them_back(api, monkeypatch, request_kind):
    """A full disk shows only when the rows are written, after the switches got the rules."""
    create(api, doc())
    before = snapshot(api)
    sent = sum(api.wire.sent.values())

    def full(self, *args):
        raise sqlite3.OperationalError("database or disk is full")
    monkeypatch.setattr(controller.store.Transaction, "write", full)
    err = error_of(lambda: REQUESTS[request_kind](api))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "disk is full" in err.details()
    assert sum(api.wire.sent.values()) > sent  # the rules went out ...
    assert snapshot(api) == before             # ... and were taken back
    monkeypatch.undo()
    REQUESTS[request_kind](api)
    assert_sound(api)
