"""The federation API, domain side: in-process domain controllers on simulated switches.
Reserve books dark (no rules), Commit keeps the hold from expiring, Provision installs the
rules, holds expire on their own, a peer above its policy is refused naming the rule, and
nothing internal to a domain crosses the API."""
import threading
import time

import grpc
import pytest

from proto.intercloud.federation.v1 import federation_pb2 as fpb
from slices.compiler import BASE_OWNER
from slices.fakenet import FakeNetwork, Frame
from tests.fedharness import FED, RunningDomain
from topologies.federation import border_ports

# east's border point is tokyo-ix; its first border port (to west/nagoya-ix) is port 1
EAST_BORDER = ("tokyo-ix", 1)


@pytest.fixture
def east(tmp_path):
    d = RunningDomain("east", tmp_path, policy={"tenants": {"peer:west": {"max_priority": 5, "max_slice_mbps": 40}}},
                      hold_s=60)
    yield d
    d.close()


def reserve(stub, bw=20, requester="west", site="sendai-dc", hold=0.0, priority=4, latency=0.0, vlan=0):
    """A part from east's border (tagged: ``vlan`` or 100) to ``site``'s first host (``vlan`` or untagged)."""
    return stub.Reserve(fpb.ReserveRequest(
        requester=requester, global_id="medical", bandwidth_mbps=bw, priority=priority, hold_timeout_s=hold,
        max_latency_ms=latency, endpoints=[fpb.Stp(site=EAST_BORDER[0], port=EAST_BORDER[1], vlan=vlan or 100),
                                           fpb.Stp(site=site, port=1, vlan=vlan)]))


def call(stub, op, cid, requester="west"):
    return getattr(stub, op)(fpb.ConnectionRequest(requester=requester, connection_id=cid))


def error(fn):
    with pytest.raises(grpc.RpcError) as e:
        fn()
    return e.value


def test_border_ports_follow_the_host_ports_in_file_order():
    assert border_ports(FED, "east") == {"tokyo-ix": {1: FED.borders[0], 2: FED.borders[1], 3: FED.borders[3]}}
    assert {s: list(p) for s, p in border_ports(FED, "west").items()} == \
        {"nagoya-ix": [1], "osaka-ix": [1], "fukuoka-ix": [1]}


def test_reserve_commit_provision_books_then_installs_the_part(east):
    before = east.residual()
    conn = reserve(east.stub)
    assert conn.reservation == fpb.RESERVATION_STATE_HELD and 59 < conn.hold_expires_in_s <= 60
    cid = conn.connection_id
    # booked on every link of the tree, and no rule of it anywhere
    assert east.booked() == {cid: 20}
    assert any(before[k] - v == 20 for k, v in east.residual().items())
    assert set(east.plan()) == {BASE_OWNER} and cid not in str(east.wire.entries())
    conn = call(east.stub, "Commit", cid)
    assert conn.reservation == fpb.RESERVATION_STATE_START and conn.committed
    assert set(east.plan()) == {BASE_OWNER}
    conn = call(east.stub, "Provision", cid)
    assert conn.provision == fpb.PROVISION_STATE_PROVISIONED
    plan = east.plan()
    assert cid in plan
    # the installed rules carry an ARP from Sendai's host to the border port, and only there
    net = FakeNetwork(east.topology, plan)
    address = east.ctl.call(lambda: dict(east.ctl.engine.slices[cid].addresses))
    border = next(a for e, a in address.items() if e.site == "tokyo-ix")
    out = net.send("sendai-dc", 1, Frame.arp_request(border, sender=address[next(e for e in address
                                                                                  if e.site == "sendai-dc")]))
    assert {(d.site, d.port) for d in out} == {EAST_BORDER}
    # Release removes the rules and keeps the booking; Terminate removes both
    call(east.stub, "Release", cid)
    assert set(east.plan()) == {BASE_OWNER} and east.booked() == {cid: 20}
    conn = call(east.stub, "Terminate", cid)
    assert conn.lifecycle == fpb.LIFECYCLE_STATE_TERMINATED
    assert east.booked() == {} and east.residual() == before
    assert error(lambda: call(east.stub, "Provision", cid)).code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_hold_not_committed_is_released_within_its_timeout(east):
    before = east.residual()
    notices = east.stub.WatchNotifications(fpb.WatchRequest(requester="west"))
    seen = []
    reader = threading.Thread(target=lambda: [seen.append(n) for n in notices], daemon=True)
    reader.start()
    conn = reserve(east.stub, hold=0.5)
    assert east.booked() == {conn.connection_id: 20}
    deadline = time.monotonic() + 0.5 + 1.0
    while east.booked() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert east.booked() == {} and east.residual() == before
    got = east.stub.Query(fpb.QueryRequest(requester="west")).connections
    assert [c.reservation for c in got] == [fpb.RESERVATION_STATE_TIMEOUT]
    # a commit after the timeout is refused; the requester's abort closes it
    err = error(lambda: call(east.stub, "Commit", conn.connection_id))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "ReserveTimeout does not accept commit" in err.details()
    assert call(east.stub, "Abort", conn.connection_id).reservation == fpb.RESERVATION_STATE_START
    time.sleep(0.2)
    notices.cancel()
    assert fpb.NOTIFICATION_KIND_RESERVE_TIMEOUT in [n.kind for n in seen]


def test_abort_releases_the_hold_at_once(east):
    before = east.residual()
    cid = reserve(east.stub).connection_id
    assert call(east.stub, "Abort", cid).reservation == fpb.RESERVATION_STATE_START
    assert east.booked() == {} and east.residual() == before
    assert error(lambda: call(east.stub, "Commit", cid)).code() == grpc.StatusCode.FAILED_PRECONDITION


def test_a_peer_above_its_policy_is_refused_naming_the_rule(east):
    err = error(lambda: reserve(east.stub, priority=6))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.details() == ("domain east: tenant peer:west may use priority up to 5, asked 6 (slice "
                             f"{err.details().split('(slice ')[1]}")
    err = error(lambda: reserve(east.stub, bw=50))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "up to 40 Mbit/s per slice, asked 50" in err.details()
    # korea has no entry: the default policy (priority up to 3)
    err = error(lambda: reserve(east.stub, requester="korea", priority=4))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED and "peer:korea may use priority up to 3" in err.details()
    assert east.booked() == {}


def test_unknown_requesters_other_peers_connections_and_early_provision_are_refused(east):
    assert error(lambda: reserve(east.stub, requester="mars")).code() == grpc.StatusCode.PERMISSION_DENIED
    assert error(lambda: reserve(east.stub, requester="east")).code() == grpc.StatusCode.PERMISSION_DENIED
    cid = reserve(east.stub).connection_id
    assert error(lambda: call(east.stub, "Commit", cid, requester="korea")).code() == grpc.StatusCode.NOT_FOUND
    err = error(lambda: call(east.stub, "Provision", cid))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "provision before a commit" in err.details()
    assert east.booked() == {cid: 20} and set(east.plan()) == {BASE_OWNER}


def test_a_refused_reserve_leaves_no_booking_no_rule_and_names_the_domain(east):
    err = error(lambda: reserve(east.stub, bw=30, site="sapporo-dc", latency=1))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.details() == ("domain east: max_latency_ms: 1 ms is below the physical minimum of 5.91 ms "
                             "between sapporo-dc and tokyo-ix")
    # two 40 Mbit/s parts fill both 50 Mbit/s routes to Sapporo; a third does not fit
    fillers = {reserve(east.stub, bw=40, site="sapporo-dc", vlan=v).connection_id for v in (10, 11)}
    err = error(lambda: reserve(east.stub, bw=40, site="sapporo-dc", vlan=12))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and err.details().startswith("domain east refuses: bandwidth")
    assert east.booked() == {f: 40 for f in fillers} and set(east.plan()) == {BASE_OWNER}
    assert len(east.stub.Query(fpb.QueryRequest(requester="west")).connections) == 2


def test_a_switch_missing_at_provision_installs_nothing_and_keeps_the_part_released(east):
    cid = reserve(east.stub).connection_id
    call(east.stub, "Commit", cid)
    east.wire.connected.discard("sendai-dc")
    err = error(lambda: call(east.stub, "Provision", cid))
    assert err.code() == grpc.StatusCode.UNAVAILABLE and "sendai-dc" in err.details()
    got = east.stub.Query(fpb.QueryRequest(requester="west", connection_ids=[cid])).connections[0]
    assert got.provision == fpb.PROVISION_STATE_RELEASED and set(east.plan()) == {BASE_OWNER}


def test_nothing_internal_to_the_domain_crosses_the_api(east):
    """Every request, answer, error and notification of a session with east, including
    refusals whose engine reasons name east's links: no internal site of east appears."""
    internal = {s.name for s in FED.domain("east").topology.sites} - {"tokyo-dc", "sendai-dc", "sapporo-dc",
                                                                       "tokyo-ix"}
    assert internal == {"sendai-ix", "sapporo-ix"}
    stub = east.stub
    notices = stub.WatchNotifications(fpb.WatchRequest(requester="west"))
    reader = threading.Thread(target=lambda: [None for _ in notices], daemon=True)
    reader.start()
    view = stub.GetView(fpb.GetViewRequest(requester="west"))
    assert {p.site for p in view.points} == {"tokyo-dc", "sendai-dc", "sapporo-dc", "tokyo-ix"}
    cid = reserve(stub, bw=30, site="sapporo-dc").connection_id
    for op in ("Commit", "Provision", "Release"):
        call(stub, op, cid)
    stub.Query(fpb.QueryRequest(requester="west"))
    reserve(stub, bw=30, site="sapporo-dc", vlan=10)
    for bad in (lambda: reserve(stub, bw=35, site="sapporo-dc", vlan=11),  # no room: the engine names links
                lambda: reserve(stub, bw=20, site="sapporo-dc", latency=3),  # too tight for any path
                lambda: reserve(stub, site="sendai-ix"),                      # an internal site, named by the peer
                lambda: reserve(stub, site="sendai-dx")):                     # a typo the parser would correct
        error(bad)
    call(stub, "Terminate", cid)
    time.sleep(0.3)
    notices.cancel()
    text = east.recorder.text()
    assert "Reserve" in text and "WatchNotifications <-" in text and "(internal)" in text
    answers = [m for m in east.recorder.seen if " <- " in m.split("\n")[0]]
    assert len(answers) >= 12
    # only the requests the peer itself wrote may name them
    assert [m for m in answers if any(name in m for name in internal)] == []


def test_a_restarted_domain_releases_the_parts_whose_records_it_lost(tmp_path):
    """The connection records are in memory: a domain that restarts drops the dark parts
    its store still holds, so a hold never outlives the run that granted it."""
    first = RunningDomain("east", tmp_path)
    cid = reserve(first.stub, priority=3).connection_id
    assert first.booked() == {cid: 20}
    first.close()                          # no abort: as if the process died
    again = RunningDomain("east", tmp_path)
    try:
        assert again.booked() == {}
        assert again.stub.Query(fpb.QueryRequest(requester="west")).connections == []
    finally:
        again.close()


def test_a_hold_that_preempted_gives_the_capacity_back_when_aborted(east):
    """A Reserve may preempt the domain's lower priorities (up to the peer's granted one);
    its abort places them again, as a deleted slice's capacity does."""
    east.ctl.call(lambda: east.ctl.create({"name": "bulk", "tenant": "local", "bandwidth_mbps": 90, "priority": 0,
                                           "endpoints": [{"site": "tokyo-dc", "port": 1},
                                                         {"site": "sendai-dc", "port": 2}]}))
    cid = reserve(east.stub, bw=20).connection_id
    status = lambda: east.ctl.call(lambda: east.ctl.engine.slices["bulk"].status)  # noqa: E731
    assert status() == "preempted"
    call(east.stub, "Abort", cid)
    deadline = time.monotonic() + 5
    while status() != "placed" and time.monotonic() < deadline:
        time.sleep(0.05)
    assert status() == "placed"


def test_a_border_port_needs_a_tag(east):
    """A border port carries every slice crossing that border: a part untagged there would
    take the whole wire."""
    err = error(lambda: east.stub.Reserve(fpb.ReserveRequest(
        requester="west", global_id="g", bandwidth_mbps=5,
        endpoints=[fpb.Stp(site=EAST_BORDER[0], port=EAST_BORDER[1]), fpb.Stp(site="sendai-dc", port=1)])))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "endpoints[0].vlan" in err.details()
    assert east.booked() == {}
