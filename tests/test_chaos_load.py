"""The chaos benchmark's load and its ledger (slicectl.chaosload), against the API harness
and on made-up histories: what it calls lost, twice and interrupted must be right, or
the benchmark's zeros mean nothing."""
from __future__ import annotations

import time

import grpc

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.chaosload import (Attempt, Ledger, Load, longest_without_writes, lost_acknowledged,
                                made_twice)


def tagged(name: str, n: int) -> dict:
    return {"name": name, "tenant": "chaos", "bandwidth_mbps": 1,
            "endpoints": [{"site": s, "port": 2, "vlan": 100 + n} for s in ("tokyo-dc", "osaka-dc")]}


def test_the_load_creates_updates_and_deletes_and_its_ledger_matches_the_store(api):
    load = Load(api.addr, tagged, keep=2).start()
    time.sleep(1.5)
    ledger = load.stop()
    held = {s.spec.name: s.spec.bandwidth_mbps
            for s in api.slices.ListSlices(pb.ListSlicesRequest(), timeout=5).slices}
    ops = {a.op for a in ledger.attempts}
    assert ops == {"create", "update", "delete"}, ops
    assert not ledger.errors and not ledger.unresolved
    assert len(held) <= 3 and lost_acknowledged(ledger, held) == []
    assert any(a.op == "update" and a.outcome == "ok" for a in ledger.attempts)
    # the ledger sees a slice that vanished, one that came back, and a wrong bandwidth
    gone = next(n for n, b in ledger.acked.items() if b is not None)
    deleted = next(n for n, b in ledger.acked.items() if b is None)
    wrong = {**{n: b for n, b in held.items() if n != gone}, deleted: 1.0}
    changed = next(n for n in wrong if n != deleted)
    wrong[changed] += 5
    assert sorted(lost_acknowledged(ledger, wrong)) == sorted([
        f"{gone}: made (acknowledged) but missing", f"{deleted}: deleted (acknowledged) but still there",
        f"{changed}: {wrong[changed]:g} Mbit/s, acknowledged {ledger.acked[changed]:g}"])


def test_a_retry_that_meets_its_own_first_attempt_is_one_operation(api):
    """A create whose first attempt timed out but was made is acknowledged when retried
    (the API takes the same spec again as done; ALREADY_EXISTS after a failed attempt
    would count as done too): that is the operation done once. ALREADY_EXISTS on a first
    attempt is an error."""
    load = Load(api.addr, tagged)
    calls = []
    real = load._call

    def flaky(op, name, doc):
        calls.append(op)
        result = real(op, name, doc)
        if len(calls) == 1:   # made, but the answer lost
            raise _Error(grpc.StatusCode.DEADLINE_EXCEEDED)
        return result
    load._call = flaky
    assert load._write("create", "chaos-1", tagged("chaos-1", 1), 1)
    assert [a.outcome for a in load.ledger.attempts] == ["DEADLINE_EXCEEDED", "ok"]
    assert load.ledger.acked == {"chaos-1": 1} and not load.ledger.errors
    load._call = real
    other = {**tagged("chaos-1", 1), "bandwidth_mbps": 3}       # the same name, another slice
    assert not load._write("create", "chaos-1", other, 3)
    assert load.ledger.errors and "ALREADY_EXISTS" in load.ledger.errors[0]


class _Error(grpc.RpcError):
    def __init__(self, code):
        self._code = code

    def code(self):
        return self._code

    def details(self):
        return "made up"


def test_made_twice_counts_admissions_and_releases_of_the_loads_slices_only():
    events = [("chaos-1", "admitted"), ("chaos-1", "state"), ("chaos-1", "released"), ("chaos-2", "admitted"),
              ("chaos-2", "admitted"), ("existing", "admitted"), ("existing", "admitted")]
    assert made_twice(events) == ["chaos-2 admitted 2 times"]


def test_the_longest_time_without_writes_counts_from_the_fault_to_the_end():
    ledger = Ledger(attempts=[Attempt("create", "a", 0, t, "ok") for t in (9.5, 10.2, 13.0, 13.1)]
                    + [Attempt("create", "b", 10.3, 11.0, "UNAVAILABLE")])
    assert abs(longest_without_writes(ledger, 10.0, 14.0) - 2.8) < 1e-9    # 10.2 → 13.0
    assert abs(longest_without_writes(ledger, 10.0, 20.0) - 6.9) < 1e-9    # 13.1 → the end
    assert longest_without_writes(Ledger(), 1.0, 4.0) == 3.0
