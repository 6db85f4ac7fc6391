"""Fuzzing the API (hypothesis): random slice specs and random request bytes against the
real service, owner and store (simulated switches). Every answer is a clean status -
never UNKNOWN or INTERNAL - no traceback reaches the log, a refused request changes
nothing, and the engine's invariants hold after every request.

Quick in `make test` (FUZZ_EXAMPLES, default 150 per test); `make fuzz` runs 10,000 of
each and prints the statuses seen."""
from __future__ import annotations

import logging
import os
import time
from collections import Counter

import grpc
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.audit import audit
from tests.rawspec import raw_spec
from tests.harness import JAPAN, Running

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "150"))
CLEAN = {grpc.StatusCode.OK, grpc.StatusCode.INVALID_ARGUMENT, grpc.StatusCode.NOT_FOUND,
         grpc.StatusCode.ALREADY_EXISTS, grpc.StatusCode.FAILED_PRECONDITION,
         grpc.StatusCode.RESOURCE_EXHAUSTED, grpc.StatusCode.PERMISSION_DENIED}
SITES = [s.name for s in JAPAN.sites]
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=not os.environ.get("FUZZ_EXAMPLES"),
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


class Tracebacks(logging.Handler):
    """Counts log records that carry a traceback."""

    def __init__(self):
        super().__init__(level=logging.DEBUG)
        self.count = 0

    def emit(self, record):
        if record.exc_info:
            self.count += 1


@pytest.fixture(scope="module")
def api(tmp_path_factory):
    r = Running(tmp_path_factory.mktemp("fuzz") / "store.db")
    # a standing slice, so updates, deletes and endpoints have something to collide with
    r.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(STANDING)))
    r.tracebacks = Tracebacks()
    logging.getLogger().addHandler(r.tracebacks)
    r.codes = Counter()
    r.started = time.monotonic()
    yield r
    logging.getLogger().removeHandler(r.tracebacks)
    print(f"\nfuzz: {sum(r.codes.values())} requests in {time.monotonic() - r.started:.1f} s: "
          + ", ".join(f"{c.name} {n}" for c, n in r.codes.most_common()))
    r.close()


text = st.text(max_size=70)
numbers = st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.sampled_from([0.0, 1.0, 5.0, 20.0, 1e12]))
wild_endpoint = st.fixed_dictionaries({
    "site": st.one_of(st.sampled_from(SITES + ["", "nowhere"]), text),
    "port": st.integers(0, 0xFFFFFFFF), "ip": st.one_of(st.just(""), st.sampled_from(["10.9.0.1", "300.1.1.1"]), text),
    "vlan": st.integers(0, 0xFFFFFFFF),
    "standby": st.one_of(st.none(), st.tuples(st.sampled_from(SITES + [""]), st.integers(0, 70000)))})
# plausible: real sites and ports, small numbers - so admission, preemption and protection run too
plausible_endpoint = st.fixed_dictionaries({
    "site": st.sampled_from(SITES), "port": st.integers(1, 2), "ip": st.just(""),
    "vlan": st.sampled_from([0, 0, 100]),
    "standby": st.one_of(st.none(), st.none(), st.tuples(st.sampled_from(SITES), st.integers(1, 2)))})
wild = st.fixed_dictionaries({
    "name": st.one_of(st.sampled_from(["standing", "fz-a", "fz-b", ""]), text),
    "tenant": st.one_of(st.just("t"), text), "bandwidth_mbps": numbers,
    "max_latency_ms": st.one_of(st.none(), numbers), "priority": st.one_of(st.none(), st.integers(0, 0xFFFFFFFF)),
    "protection": st.integers(0, 9), "allowed_regions": st.lists(st.one_of(st.just("JP"), text), max_size=3),
    "endpoints": st.lists(wild_endpoint, max_size=6)})
plausible = st.fixed_dictionaries({
    "name": st.sampled_from(["standing", "fz-a", "fz-b"]), "tenant": st.sampled_from(["t", "u"]),
    "bandwidth_mbps": st.sampled_from([1.0, 5.0, 20.0, 60.0, 200.0]),
    "max_latency_ms": st.one_of(st.none(), st.sampled_from([1.0, 8.0, 30.0])),
    "priority": st.one_of(st.none(), st.integers(0, 7)), "protection": st.integers(0, 4),
    "allowed_regions": st.one_of(st.just([]), st.just(["JP"]), st.just(["KR"])),
    "endpoints": st.lists(plausible_endpoint, min_size=2, max_size=4)})
specs = st.one_of(wild, plausible)


def message(doc: dict) -> pb.SliceSpec:
    msg = pb.SliceSpec(name=doc["name"], tenant=doc["tenant"], bandwidth_mbps=doc["bandwidth_mbps"],
                       protection=doc["protection"], allowed_regions=doc["allowed_regions"])
    if doc["priority"] is not None:
        msg.priority = doc["priority"]
    if doc["max_latency_ms"] is not None:
        msg.max_latency_ms = doc["max_latency_ms"]
    for e in doc["endpoints"]:
        m = msg.endpoints.add(site=e["site"], port=e["port"], ip=e["ip"], vlan=e["vlan"])
        if e["standby"]:
            m.standby.site, m.standby.port = e["standby"]
    return msg


def checked(api, call) -> grpc.StatusCode:
    """Make the request; assert its answer is clean, no traceback was logged, a refusal
    left the store as it was and the engine's invariants hold; undo what it created."""
    before, names, tracebacks = api.store.dump(), set(api.ctl.engine.slices), api.tracebacks.count
    try:
        call()
        code = grpc.StatusCode.OK
    except grpc.RpcError as e:
        code = e.code()
    api.codes[code] += 1
    assert code in CLEAN, code
    assert api.tracebacks.count == tracebacks
    if code != grpc.StatusCode.OK:
        assert api.store.dump() == before
    assert api.ctl.call(lambda: audit(api.ctl.engine)) == []
    for name in set(api.ctl.engine.slices) - names:   # every example starts from the same state
        api.ctl.call(lambda name=name: api.ctl.delete(name))
    return code


STANDING = {"name": "standing", "tenant": "t", "bandwidth_mbps": 5,
            "endpoints": [{"site": "tokyo-dc", "port": 1}, {"site": "osaka-dc", "port": 1}]}


@FUZZ
@given(doc=specs, update=st.booleans())
def test_random_specs_get_clean_answers_and_refusals_change_nothing(api, doc, update):
    request = pb.UpdateSliceRequest(spec=message(doc)) if update else pb.CreateSliceRequest(spec=message(doc))
    method = api.slices.UpdateSlice if update else api.slices.CreateSlice
    code = checked(api, lambda: method(request, timeout=30))
    if update and code == grpc.StatusCode.OK and doc["name"] == "standing":   # put it back as it was
        api.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(STANDING)), timeout=30)


METHODS = ["CreateSlice", "GetSlice", "ListSlices", "UpdateSlice", "DeleteSlice", "FailbackEndpoints",
           "GetTenantPolicy", "SetTenantPolicy"]


@FUZZ
@given(method=st.sampled_from(METHODS), body=st.binary(max_size=300))
def test_random_request_bytes_get_clean_answers(api, method, body):
    raw = api.channel.unary_unary(f"/intercloud.slicing.v1.SliceService/{method}")
    checked(api, lambda: raw(body, timeout=30))
