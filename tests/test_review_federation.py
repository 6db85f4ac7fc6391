"""Adversarial review of issue 26 (federation): each test here names a defect found in
review; it fails on the code as reviewed and passes once the defect is fixed."""
import time

import grpc
import pytest

from controller.fedhome import FederatedRefusal, FederationHome
from controller.fedpeers import LocalDomain, PeerDomain
from proto.intercloud.federation.v1 import federation_pb2 as fpb
from tests.fedharness import FED, RunningDomain
from tests.test_federation_home import SLICE, fed, lit  # noqa: F401 (the fixture)


def wait_for(cond, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not cond() and time.monotonic() < deadline:
        time.sleep(0.02)
    return cond()


def test_review_home_reconciles_its_own_domain_part_after_a_lost_record(fed, tmp_path):
    """A home that dies after its parts are committed but before it saved its record
    (fedhome.create: the record is written only after provision) comes back not knowing
    the slice. Reconciliation terminates the peers' parts, but never the home domain's
    own part (fedfailures._watch never reconciles the local domain): its booking and its
    rules stay for ever, with no slice record anywhere."""
    home, domains = fed
    home.create(dict(SLICE))
    home.close()
    # the restarted home: same domains, a record from before the slice was saved
    peers = {n: PeerDomain(n, d.addr, "east") for n, d in domains.items() if n != "east"}
    again = FederationHome(FED, LocalDomain(domains["east"].provider), peers, records=tmp_path / "lost.json")
    again.start()
    try:
        assert wait_for(lambda: domains["west"].booked() == {} and domains["korea"].booked() == {})
        assert wait_for(lambda: domains["east"].booked() == {}), domains["east"].booked()
        assert lit(domains["east"]) == set()
    finally:
        again.close()


def test_review_a_slice_not_crossing_the_home_is_held_to_the_tenants_home_policy(fed):
    """The home domain's policy for its tenant (priority ceiling, slices, bandwidth) is
    checked only by the home's own part (LocalDomain reserve -> _check_policy). A slice
    whose endpoints are all in other domains has no home part, so a tenant limited to
    priority 3 at home gets a priority-5 slice (west grants peer:east 5)."""
    home, domains = fed
    with pytest.raises(FederatedRefusal) as e:
        home.create({"name": "sneaky", "tenant": "clinic", "bandwidth_mbps": 5, "priority": 5, "endpoints": [
            {"site": "west/osaka-dc", "port": 1, "ip": "10.8.0.1"},
            {"site": "west/nagoya-dc", "port": 1, "ip": "10.8.0.2"}]})
    assert e.value.code == "PERMISSION_DENIED"
    assert domains["west"].booked() == {}


@pytest.fixture
def east_sites(tmp_path):
    d = RunningDomain("east", tmp_path, policy={"tenants": {"peer:west": {"sites": ["tokyo-ix", "sendai-dc"]}}})
    yield d
    d.close()


def test_review_modify_is_held_to_the_peers_site_policy(east_sites):
    """FederationProvider.modify replaces a part's endpoints without _check_policy: a peer
    limited to sites tokyo-ix and sendai-dc reserves there, then moves its part onto
    sapporo-dc, which Reserve would refuse."""
    d = east_sites
    stp = lambda site, vlan=0: fpb.Stp(site=site, port=1, vlan=vlan)  # noqa: E731
    refused = None
    try:
        d.stub.Reserve(fpb.ReserveRequest(requester="west", global_id="g", bandwidth_mbps=5,
                                          endpoints=[stp("tokyo-ix", 7), stp("sapporo-dc")]))
    except grpc.RpcError as e:
        refused = e.code()
    assert refused == grpc.StatusCode.PERMISSION_DENIED   # Reserve enforces the sites
    c = d.stub.Reserve(fpb.ReserveRequest(requester="west", global_id="g", bandwidth_mbps=5,
                                          endpoints=[stp("tokyo-ix", 7), stp("sendai-dc")]))
    d.stub.Commit(fpb.ConnectionRequest(requester="west", connection_id=c.connection_id))
    with pytest.raises(grpc.RpcError) as e:
        d.stub.Modify(fpb.ModifyRequest(requester="west", connection_id=c.connection_id,
                                        endpoints=[stp("tokyo-ix", 7), stp("sapporo-dc")]))
    assert e.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert {e.site for e in d.ctl.call(lambda: d.ctl.engine.slices[c.connection_id].spec.endpoints)} == \
        {"tokyo-ix", "sendai-dc"}


def test_review_a_border_back_up_is_used_again(fed):
    """A border reported down goes into FederationHome.down_borders and never leaves it:
    border_up() has no caller, and a provider says nothing when a border port comes
    back. After one flap the home never routes over that border again."""
    home, domains = fed
    two = {**SLICE, "endpoints": SLICE["endpoints"][:2]}
    fs = home.create(dict(two))
    border = sorted(fs.tags)[0]
    b = next(x for x in FED.borders if x.name == border)
    port = next(p for (s, p), x in home._ports[b.a.domain].items() if x == b)
    d = domains[b.a.domain]
    d.ctl.call(lambda: d.ctl.port_changed(b.a.site, port, False))
    assert wait_for(lambda: border not in home.get("medical").tags)
    d.ctl.call(lambda: d.ctl.port_changed(b.a.site, port, True))
    time.sleep(0.5)
    home.delete("medical")
    again = home.create(dict(two, name="again"))
    assert border in again.tags, (border, again.tags)


def test_review_a_peer_cannot_install_unbounded_rules_through_via(tmp_path):
    """A border point's addresses (via) are not capped: one 1 Mbit/s part of a peer with
    20,000 addresses installs ~100,000 flow entries on this domain's switches. The home
    never sends more than one address per endpoint beyond a border (at most
    slices.spec.MAX_ENDPOINTS); anything longer should be refused INVALID_ARGUMENT."""
    from slices.spec import MAX_ENDPOINTS
    d = RunningDomain("east", tmp_path)
    try:
        many = [f"10.{a}.{b}.{c}" for a in range(1, 3) for b in range(256) for c in range(1, 40)][:20000]
        assert len(many) > MAX_ENDPOINTS
        with pytest.raises(grpc.RpcError) as e:
            d.stub.Reserve(fpb.ReserveRequest(requester="west", global_id="g", bandwidth_mbps=1, endpoints=[
                fpb.Stp(site="tokyo-ix", port=1, vlan=9, addresses=["10.0.0.1", *many]),
                fpb.Stp(site="sendai-dc", port=1, addresses=["10.0.0.2"])]), timeout=60)
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
        assert d.booked() == {}
    finally:
        d.close()
