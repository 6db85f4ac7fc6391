"""The gRPC API against the real owner, store and service, with simulated switches
(tests/fakewire.py): error codes and details, idempotency, pagination, watch, health,
reflection, restart from the store. End-to-end tests on Mininet: test_controller_mininet."""
from __future__ import annotations

import threading
import time

import grpc
import pytest
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc
from grpc_status import rpc_status

from tests.rawspec import raw_spec
from controller.core import SliceController
from controller.settings import CoreSettings
from controller.ofwire import canonical_entry
from controller.store import Store
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.compiler import compile_plan
from slices.rules import Rule
from slices.audit import audit

from tests.harness import JAPAN, Running, create, doc, error_of


def test_create_places_installs_and_reports_active(api):
    s = create(api, doc(max_latency_ms=15))
    assert s.state == pb.SLICE_STATE_ACTIVE and s.id > 0 and len(s.tree) >= 3
    assert {e.site for e in s.endpoints} == {"tokyo-dc", "osaka-dc", "sendai-dc"}
    assert all(e.ip for e in s.endpoints)
    assert set(api.wire.entries()) == {canonical_entry(e).key for entries in compile_plan(api.ctl.engine).values()
                                      for e in entries}
    got = api.slices.GetSlice(pb.GetSliceRequest(name="medical"))
    assert got.spec == s.spec and got.state == pb.SLICE_STATE_ACTIVE


def test_create_is_idempotent_and_a_different_spec_is_already_exists(api):
    a = create(api, doc())
    sent = sum(api.wire.sent.values())
    b = create(api, doc())
    assert (a.id, a.prefix) == (b.id, b.prefix) and sum(api.wire.sent.values()) == sent
    err = error_of(lambda: create(api, doc(bw=30)))
    assert err.code() == grpc.StatusCode.ALREADY_EXISTS


INVALID = [
    ("unknown site", {"endpoints": [{"site": "osaka-dcx", "port": 1}, {"site": "tokyo-dc", "port": 1}]}, "spec.endpoints[0].site"),
    ("negative bandwidth", {"bandwidth_mbps": -5}, "spec.bandwidth_mbps"),
    ("zero bandwidth", {"bandwidth_mbps": 0}, "spec.bandwidth_mbps"),
    ("duplicate endpoint", {"endpoints": [{"site": "tokyo-dc", "port": 1}, {"site": "tokyo-dc", "port": 1}]}, "spec.endpoints[1]"),
    ("port not on switch", {"endpoints": [{"site": "tokyo-dc", "port": 9}, {"site": "osaka-dc", "port": 1}]}, "spec.endpoints[0].port"),
    ("port zero", {"endpoints": [{"site": "tokyo-dc", "port": 0}, {"site": "osaka-dc", "port": 1}]}, "spec.endpoints[0].port"),
    ("core site has no access port", {"endpoints": [{"site": "tokyo-ix", "port": 1}, {"site": "osaka-dc", "port": 1}]}, "spec.endpoints[0].port"),
    ("bound below physical minimum", {"max_latency_ms": 1}, "spec.max_latency_ms"),
    ("negative bound", {"max_latency_ms": -1}, "spec.max_latency_ms"),
    ("unknown region", {"allowed_regions": ["MARS"]}, "spec.allowed_regions[0]"),
    ("endpoint outside allowed regions", {"allowed_regions": ["KR"]}, "spec.endpoints[0].site"),
    ("region twice", {"allowed_regions": ["JP", "JP"]}, "spec.allowed_regions"),
    ("priority above 7", {"priority": 9}, "spec.priority"),
    ("empty name", {"name": ""}, "spec.name"),
    ("name with capitals", {"name": "Medical"}, "spec.name"),
    ("name too long", {"name": "x" * 64}, "spec.name"),
    ("empty tenant", {"tenant": ""}, "spec.tenant"),
    ("one endpoint", {"endpoints": [{"site": "tokyo-dc", "port": 1}]}, "spec.endpoints"),
    ("no endpoints", {"endpoints": []}, "spec.endpoints"),
    ("bad ip", {"endpoints": [{"site": "tokyo-dc", "port": 1, "ip": "10.0.0.300"}, {"site": "osaka-dc", "port": 1}]}, "spec.endpoints[0].ip"),
    ("loopback ip", {"endpoints": [{"site": "tokyo-dc", "port": 1, "ip": "127.0.0.1"}, {"site": "osaka-dc", "port": 1}]}, "spec.endpoints[0].ip"),
    ("same ip twice", {"endpoints": [{"site": "tokyo-dc", "port": 1, "ip": "10.9.0.1"}, {"site": "osaka-dc", "port": 1, "ip": "10.9.0.1"}]}, "spec.endpoints[1].ip"),
    ("vlan above 4094", {"endpoints": [{"site": "tokyo-dc", "port": 1, "vlan": 5000}, {"site": "osaka-dc", "port": 1}]}, "spec.endpoints[0].vlan"),
    ("empty site", {"endpoints": [{"site": "", "port": 1}, {"site": "osaka-dc", "port": 1}]}, "spec.endpoints[0].site"),
    # these once got UNKNOWN after changing the controller's memory (issue 7)
    ("same port tagged and untagged", {"endpoints": [{"site": "tokyo-dc", "port": 1},
                                                     {"site": "tokyo-dc", "port": 1, "vlan": 7}]}, "spec.endpoints[1]"),
    ("infinite bandwidth", {"bandwidth_mbps": float("inf")}, "spec.bandwidth_mbps"),
    ("1e308 bandwidth", {"bandwidth_mbps": 1e308}, "spec.bandwidth_mbps"),
    ("meter rate over 32 bits", {"bandwidth_mbps": 5e6}, "spec.bandwidth_mbps"),
    ("single-site slice beyond any link", {"bandwidth_mbps": 1e6, "endpoints": [
        {"site": "tokyo-dc", "port": 1}, {"site": "tokyo-dc", "port": 2}]}, "spec.bandwidth_mbps"),
    ("unknown protection value", {"protection": 99}, "spec.protection"),
    ("infinite bound", {"max_latency_ms": float("inf")}, "spec.max_latency_ms"),
    # issue 27: the one validator judges a schedule against the controller's clock
    ("schedule time without a timezone", {"schedule": {"start": "2027-06-01T10:00:00"}}, "spec.schedule.start"),
    ("schedule ending before its start", {"schedule": {"start": "2027-06-01T10:00:00Z",
                                                       "end": "2027-06-01T09:00:00Z"}}, "spec.schedule.end"),
    ("schedule starting in the past", {"schedule": {"start": "2020-06-01T10:00:00Z"}}, "spec.schedule.start"),
]


@pytest.mark.parametrize("kind,change,field", INVALID, ids=[x[0] for x in INVALID])
def test_invalid_specs_are_invalid_argument_with_the_field_path_and_change_nothing(api, kind, change, field):
    create(api, doc(name="existing"))
    before, sent = api.store.dump(), sum(api.wire.sent.values())
    d = doc(name="fresh")
    d.update(change)
    err = error_of(lambda: create(api, d))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT, err.details()
    status = rpc_status.from_call(err)
    br = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(br)
    assert field in [v.field for v in br.field_violations], br
    assert api.store.dump() == before and sum(api.wire.sent.values()) == sent
    assert sorted(api.ctl.engine.slices) == ["existing"]


def test_rejection_is_resource_exhausted_with_the_engines_reason(api):
    create(api, doc(name="big", bw=60, priority=7))
    before = api.store.dump()
    err = error_of(lambda: create(api, doc(name="more", bw=60, priority=7,
                                           endpoints=[{"site": "tokyo-dc", "port": 2}, {"site": "sapporo-dc", "port": 1}])))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    info = error_details_pb2.ErrorInfo()
    assert any(d.Unpack(info) for d in rpc_status.from_call(err).details)
    assert info.domain == "intercloud.slicing.v1" and info.reason == "BANDWIDTH"
    assert "Mbit/s free" in info.metadata["detail"]
    assert api.store.dump() == before


def test_not_found_and_taken_endpoint(api):
    assert error_of(lambda: api.slices.GetSlice(pb.GetSliceRequest(name="nope"))).code() == grpc.StatusCode.NOT_FOUND
    assert error_of(lambda: api.slices.DeleteSlice(pb.DeleteSliceRequest(name="nope"))).code() == grpc.StatusCode.NOT_FOUND
    create(api, doc())
    err = error_of(lambda: create(api, doc(name="other")))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "already belongs" in err.details()


def test_switch_not_connected_is_failed_precondition(tmp_path):
    r = Running(tmp_path / "s.db", connected=False)
    try:
        err = error_of(lambda: create(r, doc()))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "not connected" in err.details()
        assert r.store.dump()[0] == []
    finally:
        r.close()


def test_update_touches_only_what_changed(api):
    create(api, doc(bw=20))
    api.wire.sent.clear()
    s = api.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(doc(bw=30))))
    assert s.spec.bandwidth_mbps == 30 and s.state == pb.SLICE_STATE_ACTIVE
    # only the meters change: same tree, same tags, same addresses
    assert set(op for op, _site in api.wire.sent) == {"modify"}
    assert sum(api.wire.sent.values()) == 3  # one meter at each endpoint site


def test_delete_removes_every_entry_of_the_slice(api):
    s = create(api, doc())
    api.slices.DeleteSlice(pb.DeleteSliceRequest(name="medical"))
    assert not [e for e in api.wire.entries().values() if e.cookie & 0xFFFFFFFF == s.id]
    assert error_of(lambda: api.slices.GetSlice(pb.GetSliceRequest(name="medical"))).code() == grpc.StatusCode.NOT_FOUND


def test_list_pages_and_filters(api):
    for i in range(5):
        create(api, doc(name=f"s{i}", bw=1, tenant="a" if i % 2 else "b",
                        endpoints=[{"site": "tokyo-dc", "port": 1, "vlan": 10 + i}, {"site": "osaka-dc", "port": 1, "vlan": 10 + i}]))
    names, token = [], ""
    while True:
        page = api.slices.ListSlices(pb.ListSlicesRequest(page_size=2, page_token=token))
        names += [s.spec.name for s in page.slices]
        token = page.next_page_token
        if not token:
            break
    assert names == [f"s{i}" for i in range(5)]
    only_a = api.slices.ListSlices(pb.ListSlicesRequest(tenant="a"))
    assert [s.spec.name for s in only_a.slices] == ["s1", "s3"]
    active = api.slices.ListSlices(pb.ListSlicesRequest(state=pb.SLICE_STATE_PREEMPTED))
    assert list(active.slices) == []
    err = error_of(lambda: api.slices.ListSlices(pb.ListSlicesRequest(page_size=5000)))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_watch_streams_state_changes_with_reasons(api):
    seen, ready = [], threading.Event()

    def watch():
        stream = api.slices.WatchSlices(pb.WatchSlicesRequest())
        ready.set()
        for ev in stream:
            seen.append(ev)
            if ev.kind == "released":
                stream.cancel()
                return

    t = threading.Thread(target=watch)
    t.start()
    ready.wait(5)
    import time
    time.sleep(0.3)
    create(api, doc())
    api.slices.DeleteSlice(pb.DeleteSliceRequest(name="medical"))
    t.join(10)
    kinds = [e.kind for e in seen]
    assert "admitted" in kinds and "released" in kinds
    assert any(e.state == pb.SLICE_STATE_ACTIVE for e in seen)
    assert all(e.reason and e.time.seconds for e in seen)


def test_topology_health_and_reflection(api):
    create(api, doc())
    t = api.topology.GetTopology(pb.GetTopologyRequest())
    assert len(t.sites) == len(JAPAN.sites) and all(s.connected for s in t.sites)
    used = [l for l in t.links if l.slices]
    assert used and all(l.residual_mbps == l.bandwidth_mbps - 20 for l in used)
    health = health_pb2_grpc.HealthStub(api.channel)
    assert health.Check(health_pb2.HealthCheckRequest(service="intercloud.slicing.v1.SliceService")).status == \
        health_pb2.HealthCheckResponse.SERVING
    refl = reflection_pb2_grpc.ServerReflectionStub(api.channel)
    reply = next(refl.ServerReflectionInfo(iter([reflection_pb2.ServerReflectionRequest(list_services="")])))
    names = {s.name for s in reply.list_services_response.service}
    assert {"intercloud.slicing.v1.SliceService", "intercloud.slicing.v1.TopologyService"} <= names


def test_restart_restores_every_slice_and_changes_no_rule(tmp_path):
    r = Running(tmp_path / "s.db")
    create(r, doc())
    create(r, doc(name="gov", bw=5, priority=6, allowed_regions=["JP"], protection="link",
                  endpoints=[{"site": "tokyo-dc", "port": 2}, {"site": "fukuoka-dc", "port": 1}]))
    create(r, doc(name="gone", bw=1, endpoints=[{"site": "nagoya-dc", "port": 1}, {"site": "osaka-dc", "port": 2}]))
    r.slices.DeleteSlice(pb.DeleteSliceRequest(name="gone"))
    tables = {s: dict(t) for s, t in r.wire.tables.items()}
    before = {n: (s.number, str(s.prefix), s.tags, s.backup_tags, s.addresses) for n, s in r.ctl.engine.slices.items()}
    r.close()  # the switches keep their tables (fail-secure); a new controller starts
    again = SliceController(JAPAN, Store(tmp_path / "s.db"), r.wire)
    after = {n: (s.number, str(s.prefix), s.tags, s.backup_tags, s.addresses) for n, s in again.engine.slices.items()}
    assert after == before
    r.wire.batches.clear()
    for site in r.wire.tables:
        again.switch_connected(site)
    assert all(len(b) == 0 for b in r.wire.batches) and {s: dict(t) for s, t in r.wire.tables.items()} == tables
    assert {n: st.state for n, st in again.states.items()} == {"medical": "active", "gov": "active"}


def test_a_switch_refusing_a_requests_rules_undoes_it_everywhere(api):
    create(api, doc(name="existing"))
    before, tables = api.store.dump(), {x: dict(t) for x, t in api.wire.tables.items()}
    api.wire.refusing["osaka-dc"] = "OpenFlow error type 12 code 2"
    err = error_of(lambda: create(api, doc(endpoints=[{"site": "tokyo-dc", "port": 2},
                                                      {"site": "osaka-dc", "port": 2}])))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "osaka-dc" in err.details()
    assert "nothing was changed" in err.details()
    assert api.store.dump() == before and sorted(api.ctl.engine.slices) == ["existing"]
    assert {x: dict(t) for x, t in api.wire.tables.items()} == tables
    assert audit(api.ctl.engine) == []


def test_a_missing_switch_degrades_a_slice_until_it_returns(api):
    create(api, doc())
    api.wire.connected.discard("sendai-dc")
    api.ctl.call(lambda: api.ctl.switch_disconnected("sendai-dc"))
    got = api.slices.GetSlice(pb.GetSliceRequest(name="medical"))
    assert got.state == pb.SLICE_STATE_DEGRADED and "sendai-dc" in got.reason
    api.wire.connected.add("sendai-dc")
    api.ctl.call(lambda: api.ctl.switch_connected("sendai-dc"))
    assert api.slices.GetSlice(pb.GetSliceRequest(name="medical")).state == pb.SLICE_STATE_ACTIVE


def test_a_link_going_down_re_places_the_slices_on_it(api):
    create(api, doc(name="medical"))
    s = api.ctl.engine.slices["medical"]
    a, b = next(sorted(k) for k in sorted(s.tree.links, key=sorted)
                if all(JAPAN.site(x).kind == "core" for x in k))  # not a data centre's only uplink
    port = api.ctl.ports.toward(a, b)
    api.ctl.call(lambda: api.ctl.port_changed(a, port, up=False))
    moved = api.slices.GetSlice(pb.GetSliceRequest(name="medical"))
    assert frozenset((a, b)) not in {frozenset((l.a, l.b)) for l in moved.tree}
    assert moved.state == pb.SLICE_STATE_ACTIVE
    # the switches now hold exactly the new plan
    assert set(api.wire.entries()) == {canonical_entry(e).key for entries in api.ctl.plan.values() for e in entries}
    topo = api.topology.GetTopology(pb.GetTopologyRequest())
    assert not next(l for l in topo.links if {l.a, l.b} == {a, b}).up
    api.ctl.call(lambda: api.ctl.port_changed(a, port, up=True))
    topo = api.topology.GetTopology(pb.GetTopologyRequest())
    assert next(l for l in topo.links if {l.a, l.b} == {a, b}).up


def test_losing_a_data_centres_only_uplink_preempts_until_it_returns(api):
    create(api, doc(name="medical"))
    port = api.ctl.ports.toward("osaka-dc", "osaka-ix")
    api.ctl.call(lambda: api.ctl.port_changed("osaka-dc", port, up=False))
    got = api.slices.GetSlice(pb.GetSliceRequest(name="medical"))
    assert got.state == pb.SLICE_STATE_PREEMPTED and "osaka-dc" in got.reason
    assert not [e for e in api.wire.entries().values() if e.cookie & 0xFFFFFFFF == got.id]
    api.ctl.call(lambda: api.ctl.port_changed("osaka-dc", port, up=True))
    assert api.slices.GetSlice(pb.GetSliceRequest(name="medical")).state == pb.SLICE_STATE_ACTIVE


def test_a_delete_answers_first_and_the_slices_it_freed_room_for_come_back_after(api):
    """Osaka's uplink is 100 Mbit/s: 30 low-priority slices of 3 wait behind a lifeline
    of 100; deleting it answers at once, and the waiting ones are placed again by the
    controller's own tasks, RESTORE_BATCH at a time, with their rules on the switches."""
    from slices.engine import RESTORE_BATCH
    for i in range(30):
        create(api, doc(name=f"low{i}", bw=3, priority=1, endpoints=[
            {"site": "tokyo-dc", "port": 2, "vlan": 10 + i}, {"site": "osaka-dc", "port": 2, "vlan": 10 + i}]))
    create(api, doc(name="life", bw=100, endpoints=[{"site": "nagoya-dc", "port": 1}, {"site": "osaka-dc", "port": 1}]))
    states = lambda: {s.spec.name: s.state for s in api.slices.ListSlices(pb.ListSlicesRequest()).slices}  # noqa: E731
    assert list(states().values()).count(pb.SLICE_STATE_PREEMPTED) == 30 and 30 > RESTORE_BATCH
    api.slices.DeleteSlice(pb.DeleteSliceRequest(name="life"))
    deadline = time.monotonic() + 10
    while pb.SLICE_STATE_PREEMPTED in states().values() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert set(states().values()) == {pb.SLICE_STATE_ACTIVE}
    api.ctl.call(lambda: None)
    ids = {api.ctl.engine.slices[f"low{i}"].number for i in range(30)}
    assert ids <= {e.cookie & 0xFFFFFFFF for e in api.wire.entries().values()}


def test_updates_survive_a_restart(tmp_path):
    r = Running(tmp_path / "s.db")
    create(r, doc())
    r.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(doc(bw=30))))  # state stays active
    r.close()
    again = SliceController(JAPAN, Store(tmp_path / "s.db"), r.wire)
    assert again.engine.slices["medical"].spec.bandwidth_mbps == 30


def test_the_audit_puts_back_entries_deleted_by_hand_and_touches_nothing_else(api):
    create(api, doc())
    tables = {x: dict(t) for x, t in api.wire.tables.items()}
    number = api.ctl.engine.slices["medical"].number
    osaka = api.wire.tables["osaka-dc"]
    for key in [k for k, e in osaka.items() if e.cookie & 0xFFFFFFFF == number][:3]:
        del osaka[key]                                  # as `ovs-ofctl del-flows` would
    stranger = Rule("osaka-dc", 0, 5, (("in_port", 9),), (("output", 1),), 0x1234)  # not ours
    osaka[stranger.key] = stranger
    api.wire.sent.clear()
    api.ctl.call(api.ctl.audit_switches)
    assert {x: dict(t) for x, t in api.wire.tables.items()} == tables
    assert set(site for _op, site in api.wire.sent) == {"osaka-dc"}   # nobody else was touched
    api.wire.sent.clear()
    api.ctl.call(api.ctl.audit_switches)                # nothing left to do
    assert sum(api.wire.sent.values()) == 0


def test_a_slice_failed_by_a_refusing_switch_recovers_at_the_next_audit(tmp_path):
    r = Running(tmp_path / "s.db")
    try:
        create(r, doc())
        s = r.ctl.engine.slices["medical"]
        a, b = next(tuple(sorted(k)) for k in sorted(s.tree.links, key=sorted)
                    if all(JAPAN.site(x).kind == "core" for x in k))
        r.wire.refusing["osaka-ix"] = "OpenFlow error type 5 code 1"   # e.g. a table full
        r.ctl.call(lambda: r.ctl.port_changed(a, r.ctl.ports.toward(a, b), up=False))
        got = r.slices.GetSlice(pb.GetSliceRequest(name="medical"))
        assert got.state == pb.SLICE_STATE_FAILED and "osaka-ix" in got.reason
        del r.wire.refusing["osaka-ix"]
        r.ctl.stop()
        r.ctl.start(audit_interval=0.2)                 # the periodic audit, no API call
        deadline = time.monotonic() + 10
        while r.slices.GetSlice(pb.GetSliceRequest(name="medical")).state != pb.SLICE_STATE_ACTIVE:
            assert time.monotonic() < deadline, "the audit did not retry the failed slice"
            time.sleep(0.1)
        assert set(r.wire.entries()) == {canonical_entry(e).key for es in r.ctl.plan.values() for e in es}
    finally:
        r.close()


def test_an_unrelated_link_down_and_up_sends_nothing_for_slices_that_do_not_use_it(api):
    """Once, a link down and up elsewhere rewrote 52 rules of a healthy protected slice."""
    create(api, doc(name="medical"))
    create(api, doc(name="retail", priority=4, protection="link", endpoints=[
        {"site": "tokyo-dc", "port": 2}, {"site": "fukuoka-dc", "port": 1}, {"site": "seoul-dc", "port": 1}]))
    create(api, doc(name="gov", priority=6, protection="link", endpoints=[
        {"site": "sapporo-dc", "port": 1}, {"site": "nagoya-dc", "port": 1}]))
    e = api.ctl.engine
    for link in JAPAN.links:
        users = [n for n, s in e.slices.items() if link.key in s.booked_links()]
        bystanders = {e.slices[n].number: n for n in e.slices if n not in users}
        if not bystanders or JAPAN.site(link.a).kind != "core" or JAPAN.site(link.b).kind != "core":
            continue
        api.wire.batches.clear()
        port = api.ctl.ports.toward(link.a, link.b)
        api.ctl.call(lambda: api.ctl.port_changed(link.a, port, up=False))
        api.ctl.call(lambda: api.ctl.port_changed(link.a, port, up=True))
        touched = sorted({bystanders[x.cookie & 0xFFFFFFFF] for b in api.wire.batches
                          for x in b.deletes + b.modifies + b.adds if x.cookie & 0xFFFFFFFF in bystanders})
        assert touched == [], f"{link.a}—{link.b} down and up touched {touched}, which do not use it"
    assert audit(e) == []


def test_a_change_waits_for_frames_on_the_old_tree_before_deleting_it(api):
    create(api, doc(endpoints=[{"site": "tokyo-dc", "port": 1}, {"site": "osaka-dc", "port": 1}]))
    before = api.ctl.engine.slices["medical"].tree.worst_delay_ms
    api.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(doc())))    # + sendai-dc
    assert api.wire.batches[-1].drain_s == pytest.approx(before / 1000 + 0.002)
    create(api, doc(name="fresh", endpoints=[{"site": "nagoya-dc", "port": 1}, {"site": "osaka-dc", "port": 2}]))
    assert api.wire.batches[-1].drain_s == 0.0                               # nothing was in flight


def test_a_link_is_used_again_only_after_it_stayed_up_for_the_hold_down(tmp_path):
    r = Running(tmp_path / "s.db", settings=CoreSettings(hold_down_s=0.3))
    try:
        create(r, doc())
        s = r.ctl.engine.slices["medical"]
        a, b = next(tuple(sorted(k)) for k in sorted(s.tree.links, key=sorted)
                    if all(JAPAN.site(x).kind == "core" for x in k))
        port, key = r.ctl.ports.toward(a, b), frozenset((a, b))
        r.ctl.call(lambda: r.ctl.port_changed(a, port, up=False))
        assert key in r.ctl.engine.down_links                      # down: at once
        r.ctl.call(lambda: r.ctl.port_changed(a, port, up=True))
        r.ctl.call(lambda: r.ctl.port_changed(a, port, up=False))   # a flap inside the hold-down
        time.sleep(0.5)
        r.ctl.call(lambda: None)
        assert key in r.ctl.engine.down_links                      # the flap did not bring it back
        r.ctl.call(lambda: r.ctl.port_changed(a, port, up=True))
        assert key in r.ctl.engine.down_links                      # not yet
        deadline = time.monotonic() + 5
        while key in r.ctl.call(lambda: set(r.ctl.engine.down_links)):
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        r.close()


def lose_site(api, site: str) -> None:
    """What controller.app reports when a site is destroyed: its switch gone, then the
    probes' verdict on every link of it."""
    api.wire.connected.discard(site)
    api.ctl.call(lambda: api.ctl.switch_disconnected(site))
    for l in JAPAN.links_of(site):
        api.ctl.call(lambda l=l: api.ctl.link_verdict(l.a, l.b, False, "3 probes unanswered"))


def test_a_lost_site_moves_endpoints_to_their_standbys_and_failback_brings_them_home(api):
    dr = doc(name="dr", endpoints=[{"site": "tokyo-dc", "port": 1},
                                   {"site": "osaka-dc", "port": 1, "ip": "10.0.2.1",
                                    "standby": {"site": "nagoya-dc", "port": 2}}])
    s = create(api, dr)
    assert [(e.site, e.location) for e in s.endpoints] == [("tokyo-dc", "primary"), ("osaka-dc", "primary")]
    assert s.endpoints[1].standby.site == "nagoya-dc" and s.spec.endpoints[1].standby.port == 2
    # a lost control channel alone (links still answering) is not a lost site
    api.wire.connected.discard("osaka-dc")
    api.ctl.call(lambda: api.ctl.switch_disconnected("osaka-dc"))
    assert api.slices.GetSlice(pb.GetSliceRequest(name="dr")).endpoints[1].location == "primary"
    api.wire.connected.add("osaka-dc")
    api.ctl.call(lambda: api.ctl.switch_connected("osaka-dc"))
    lose_site(api, "osaka-dc")
    got = api.slices.GetSlice(pb.GetSliceRequest(name="dr"))
    moved = got.endpoints[1]
    assert (moved.site, moved.port, moved.ip, moved.location) == ("nagoya-dc", 2, "10.0.2.1", "standby")
    assert "osaka-dc down" in moved.location_reason and "unreachable" in moved.location_reason
    assert got.state == pb.SLICE_STATE_ACTIVE, got.reason
    assert "osaka-dc" not in {x for l in got.tree for x in (l.a, l.b)}
    site = next(x for x in api.topology.GetTopology(pb.GetTopologyRequest()).sites if x.name == "osaka-dc")
    assert site.lost and not site.connected
    err = error_of(lambda: api.slices.FailbackEndpoints(pb.FailbackEndpointsRequest(name="dr")))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "osaka-dc is down" in err.details()
    # the site comes back: the endpoint stays on its standby until an operator moves it
    api.wire.connected.add("osaka-dc")
    api.ctl.call(lambda: api.ctl.switch_connected("osaka-dc"))
    for l in JAPAN.links_of("osaka-dc"):
        api.ctl.call(lambda l=l: api.ctl.link_verdict(l.a, l.b, True, "probes answered"))
    assert api.slices.GetSlice(pb.GetSliceRequest(name="dr")).endpoints[1].location == "standby"
    back = api.slices.FailbackEndpoints(pb.FailbackEndpointsRequest(name="dr", site="osaka-dc"))
    assert (back.endpoints[1].site, back.endpoints[1].location) == ("osaka-dc", "primary")
    assert api.wire.tables["osaka-dc"] and audit(api.ctl.engine) == []


def test_drain_and_undrain_a_site_over_the_api(api):
    create(api, doc(name="across", endpoints=[{"site": "tokyo-dc", "port": 2}, {"site": "fukuoka-dc", "port": 2}]))
    t = api.topology.DrainSite(pb.DrainSiteRequest(site="osaka-ix"))
    assert next(x for x in t.sites if x.name == "osaka-ix").drained
    tree = api.slices.GetSlice(pb.GetSliceRequest(name="across")).tree
    assert "osaka-ix" not in {x for l in tree for x in (l.a, l.b)}
    t = api.topology.UndrainSite(pb.UndrainSiteRequest(site="osaka-ix"))
    assert not next(x for x in t.sites if x.name == "osaka-ix").drained
    err = error_of(lambda: api.topology.DrainSite(pb.DrainSiteRequest(site="osaka-xi")))
    assert err.code() == grpc.StatusCode.NOT_FOUND
    err = error_of(lambda: api.slices.FailbackEndpoints(pb.FailbackEndpointsRequest(name="across")))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "standby" in err.details()
