"""Group commit of one-by-one CreateSlice calls (controller.owner.Grouped,
SliceController.create_each): calls that come while the owner is busy are created
together - an engine decision each, one push, one store transaction - and each is still
answered with its own outcome; a failed one fails alone and leaves nothing behind."""
from __future__ import annotations

import threading
import time

import grpc

from controller.ofwire import canonical_entry
from controller.owner import Grouped, Owner
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.audit import audit
from slices.compiler import plan_problems
from tests.harness import create, doc


def tagged(name: str, vlan: int, port: int = 1, sites=("tokyo-dc", "osaka-dc")) -> dict:
    return doc(name=name, bw=1, endpoints=[{"site": s, "port": port, "vlan": vlan} for s in sites])


def blocked(owner: Owner):
    """Hold the owner thread until the returned event is set."""
    release, holding = threading.Event(), threading.Event()

    def hold():
        holding.set()
        release.wait(10)
    owner.post(hold)
    assert holding.wait(5)
    return release


def test_calls_that_come_while_the_owner_is_busy_run_as_one_group():
    owner = Owner()
    owner.start()
    groups = []

    def run(items):
        groups.append(list(items))
        return [ValueError(f"no {i}") if i == 3 else i * 10 for i in items]
    g = Grouped(owner, run)
    try:
        assert g.call(7) == 70 and groups == [[7]]          # an idle owner: a group of one, at once
        release = blocked(owner)
        out = {}

        def one(i):
            try:
                out[i] = g.call(i)
            except ValueError as e:
                out[i] = str(e)
        threads = [threading.Thread(target=one, args=(i,)) for i in range(5)]
        for t in threads:
            t.start()
        deadline = time.monotonic() + 5
        while len(g._waiting) < 5 and time.monotonic() < deadline:
            time.sleep(0.01)
        release.set()
        for t in threads:
            t.join(5)
        assert sorted(groups[1]) == [0, 1, 2, 3, 4] and len(groups) == 2
        assert out == {0: 0, 1: 10, 2: 20, 3: "no 3", 4: 40}  # each its own outcome, the error to its caller only
    finally:
        owner.stop()


def test_a_group_is_one_push_and_one_store_transaction(api):
    pushes = len(api.wire.batches)
    names = api.ctl.call(lambda: api.ctl.create_each([tagged(f"g{i}", 100 + i) for i in range(6)]))
    assert names == [f"g{i}" for i in range(6)]
    assert len(api.wire.batches) == pushes + 1
    assert {n: st.state for n, st in api.ctl.states.items()} == {f"g{i}": "active" for i in range(6)}
    assert sorted(r[0] for r in api.store.dump()[0]) == names
    assert audit(api.ctl.engine) == [] and plan_problems(api.ctl.plan) == []


def test_one_refused_in_a_group_fails_alone_and_leaves_nothing(api):
    # g1 asks for the port g0 takes (same site, port and VLAN): the group is undone, then each on its own
    docs = [tagged("g0", 100), tagged("g1", 100, sites=("tokyo-dc", "nagoya-dc")), tagged("g2", 102)]
    out = api.ctl.call(lambda: api.ctl.create_each(docs))
    assert out[0] == "g0" and out[2] == "g2" and isinstance(out[1], Exception), out
    assert set(api.ctl.engine.slices) == {"g0", "g2"} and set(api.ctl.states) == {"g0", "g2"}
    assert sorted(r[0] for r in api.store.dump()[0]) == ["g0", "g2"]
    held = {e for t in api.wire.tables.values() for e in t.values()}
    assert held == {canonical_entry(e) for entries in api.ctl.plan.values() for e in entries}  # none of g1
    assert audit(api.ctl.engine) == [] and plan_problems(api.ctl.plan) == []


def test_a_switch_refusing_a_groups_rules_fails_only_the_slices_it_carries(api):
    api.wire.refusing["sapporo-dc"] = "OFPET_FLOW_MOD_FAILED"
    docs = [tagged("g0", 100), tagged("g1", 101, sites=("tokyo-dc", "sapporo-dc")), tagged("g2", 102)]
    out = api.ctl.call(lambda: api.ctl.create_each(docs))
    assert out[0] == "g0" and out[2] == "g2" and "refused" in str(out[1]), out
    assert set(api.ctl.engine.slices) == {"g0", "g2"}
    assert sorted(r[0] for r in api.store.dump()[0]) == ["g0", "g2"]
    held = {e for t in api.wire.tables.values() for e in t.values()}
    assert held == {canonical_entry(e) for entries in api.ctl.plan.values() for e in entries}


def test_concurrent_create_slice_calls_are_answered_each_after_a_shared_push(api):
    release = blocked(api.ctl.owner)
    pushes = len(api.wire.batches)
    answers, errors = {}, {}

    def one(i):
        try:
            answers[i] = create(api, tagged(f"c{i}", 200 + i) if i != 4 else tagged("c0", 999))
        except grpc.RpcError as e:
            errors[i] = e.code()
    threads = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.0)            # every call waiting for the owner (a slow start only splits the group)
    release.set()
    for t in threads:
        t.join(10)
    # "c0" asked twice with different specs: one of the two gets ALREADY_EXISTS, the other its slice
    assert errors in ({0: grpc.StatusCode.ALREADY_EXISTS}, {4: grpc.StatusCode.ALREADY_EXISTS}), errors
    assert all(a.state == pb.SLICE_STATE_ACTIVE for a in answers.values()) and len(answers) == 7
    assert len(api.wire.batches) - pushes < 7     # shared pushes (one, unless the calls came late)
    assert sorted(r[0] for r in api.store.dump()[0]) == sorted({f"c{i}" for i in range(8) if i != 4})
