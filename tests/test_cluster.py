"""The cluster on a real etcd (Debian's etcd-server, started here on free ports): one
leader at a time, a follower taking over when the leader leaves or dies, fenced writes
(a deposed leader writes nothing), and the owner's state surviving in etcd as it does in
SQLite. No switches: the controller runs on simulated ones (tests/fakewire.py). On
Mininet, with a leader killed under traffic: tests/test_cluster_mininet.py."""
from __future__ import annotations

import time

import pytest

from controller.cluster import LEASE_TTL_S, Cluster
from controller.core import SliceController
from controller.etcdstore import Etcd, EtcdStore
from controller.store import StoreError
from slicectl.etcdlocal import EtcdProcess
from tests.fakewire import FakeWire
from tests.test_api_batch import many
from topologies import load

JAPAN = load("japan-intercloud")


@pytest.fixture(scope="module")
def etcd(tmp_path_factory):
    with EtcdProcess(tmp_path_factory.mktemp("etcd")) as e:
        yield e


@pytest.fixture
def prefix(request):
    return f"/test/{request.node.name}/"


def members(etcd, prefix, n=3):
    out = []
    for i in range(n):
        c = Cluster(Etcd(etcd.url), prefix, f"c{i}", f"127.0.0.1:{5000 + i}")
        c.start()
        out.append(c)
    return out


def wait_for(predicate, timeout=10.0):
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        value = predicate()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"not within {timeout} s")


def leaders(cs):
    return [c for c in cs if c.leading()]


def test_one_leader_among_three_and_every_instance_listed(etcd, prefix):
    cs = members(etcd, prefix)
    try:
        wait_for(lambda: leaders(cs))
        time.sleep(0.5)
        assert len(leaders(cs)) == 1
        seen = cs[2].instances()
        assert sorted(i.name for i in seen) == ["c0", "c1", "c2"]
        assert [i.name for i in seen if i.leader] == [leaders(cs)[0].name]
        assert seen[0].leader and seen[0].generation == leaders(cs)[0].generation
    finally:
        for c in cs:
            c.stop()


def test_a_follower_takes_over_with_a_higher_generation_when_the_leader_leaves_or_dies(etcd, prefix):
    cs = members(etcd, prefix)
    try:
        first = wait_for(lambda: leaders(cs))[0]
        gone = time.monotonic()
        first.stop()                                   # leaves: revokes its lease
        second = wait_for(lambda: leaders([c for c in cs if c is not first]))[0]
        assert time.monotonic() - gone < 1.5
        assert second.generation > first.leader_generation
        gone = time.monotonic()
        second._stop.set()                             # dies: its lease is no longer kept alive
        third = wait_for(lambda: leaders([c for c in cs if c not in (first, second)]))[0]
        assert time.monotonic() - gone < LEASE_TTL_S + 1.5
        assert third.generation > second.generation
        assert [i.name for i in third.instances()] == [third.name]    # the dead one's lease expired
    finally:
        for c in cs:
            c.stop()


def test_a_deposed_leader_cannot_write_the_store(etcd, prefix):
    cs = members(etcd, prefix, 2)
    try:
        old = wait_for(lambda: leaders(cs))[0]
        store = EtcdStore(Etcd(etcd.url), prefix, fence=old.fence, leading=lambda: True)
        ctl = SliceController(JAPAN, store, FakeWire([s.name for s in JAPAN.sites]))
        ctl.create_many(many(3))
        old._stop.set()                                # paused, say: its lease runs out
        new = wait_for(lambda: leaders([c for c in cs if c is not old]))[0]
        before = store.dump()
        with pytest.raises(StoreError, match="another controller leads"):
            ctl.create_many(many(2, prefix="late", vlan=500))
        assert store.dump() == before and sorted(ctl.engine.slices) == [f"batch-{i}" for i in range(3)]
        assert not old.leading()                       # it knows it may not lead any more
        fresh = SliceController(JAPAN, EtcdStore(Etcd(etcd.url), prefix, fence=new.fence),
                                FakeWire([s.name for s in JAPAN.sites]))
        assert sorted(fresh.engine.slices) == [f"batch-{i}" for i in range(3)]
    finally:
        for c in cs:
            c.stop()


def test_the_owners_state_survives_in_etcd_as_in_sqlite(etcd, prefix):
    store = EtcdStore(Etcd(etcd.url), prefix)
    ctl = SliceController(JAPAN, store, FakeWire([s.name for s in JAPAN.sites]))
    ctl.create_many(many(300))                         # one transaction of 300 slices and their events
    ctl.delete("batch-7")
    ctl.update({**many(300)[8], "bandwidth_mbps": 2})
    before = {n: (s.number, str(s.prefix), s.addresses, s.tree) for n, s in ctl.engine.slices.items()}
    again = SliceController(JAPAN, EtcdStore(Etcd(etcd.url), prefix), FakeWire([s.name for s in JAPAN.sites]))
    assert {n: (s.number, str(s.prefix), s.addresses, s.tree) for n, s in again.engine.slices.items()} == before
    assert again.engine.slices["batch-8"].spec.bandwidth_mbps == 2
    events = store.events(5000)
    assert [e[1:3] for e in events[-3:]] == [("batch-7", "released"), ("batch-8", "updated"), ("batch-8", "state")]
    assert sum(1 for e in events if e[2] == "state" and e[3] == "active") == 301


def test_a_wrong_cluster_address_is_one_clear_error():
    with pytest.raises(ValueError, match="etcd://HOST:PORT"):
        Etcd("http//nowhere")
    c = Cluster(Etcd("etcd://127.0.0.1:9", timeout=0.5), "/x/", "a", "127.0.0.1:1")
    with pytest.raises(StoreError, match="etcd at etcd://127.0.0.1:9"):
        c.start()


def test_a_controller_given_an_unreachable_cluster_stops_with_one_line(tmp_path):
    import subprocess
    import sys
    r = subprocess.run([sys.executable, "-m", "slicectl.cli", "controller", "--topology", "two-clouds",
                        "--cluster", "etcd://127.0.0.1:9", "--grpc", "127.0.0.1:0", "--openflow", "127.0.0.1:0",
                        "--metrics", "off"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert r.stderr.strip() == "slicectl: error: etcd at etcd://127.0.0.1:9: cannot be reached (ConnectionFailedError)"


def test_a_leader_is_elected_again_after_etcd_restarts_on_its_data(tmp_path):
    """etcd stopped (SIGTERM, as for an upgrade or a reboot) for longer than the lease, then
    started on its data: it keeps the leader key and renews the lease bound to it, so
    without the stale key's release no instance would ever lead again (every write
    NOT_LEADER). Writes are accepted again within 5 s."""
    with EtcdProcess(tmp_path / "etcd") as e:
        prefix = "/restart/"
        cs = members(e, prefix)
        try:
            before = wait_for(lambda: leaders(cs))[0].generation
            e.stop()
            time.sleep(LEASE_TTL_S + 3)
            assert leaders(cs) == []                   # nobody leads without etcd
            e.start()
            back = time.monotonic()
            leader = wait_for(lambda: leaders(cs), timeout=5.0)[0]
            store = EtcdStore(Etcd(e.url), prefix, fence=leader.fence, leading=leader.leading)
            ctl = SliceController(JAPAN, store, FakeWire([s.name for s in JAPAN.sites]))
            ctl.create_many(many(2, prefix="after-restart", vlan=700))
            took = time.monotonic() - back
            assert took < 5.0, f"writes accepted again only {took:.1f} s after etcd came back"
            # the same instance resumes at its generation (nobody led meanwhile), or another
            # leads at a higher one: either way the switches accept its role requests
            assert leader.generation >= before
            time.sleep(1.0)
            assert len(leaders(cs)) == 1
        finally:
            for c in cs:
                c.stop()


def test_a_controller_restarted_at_once_after_a_crash_gets_its_name_back(etcd):
    """Found by the chaos benchmark: every controller kill -9 and started again at once
    → "--name c0: an instance of that name is in the cluster already" (its previous run
    is registered until its lease expires). It waits out that lease, then joins."""
    from controller.main import join_cluster

    crashed = Cluster(Etcd(etcd.url), "/intercloud-slicing/two-clouds/", "c9", "127.0.0.1:5999")
    crashed.join()            # registered on a lease nobody renews: what kill -9 leaves behind
    started = time.monotonic()
    cluster, _store = join_cluster(etcd.url, "c9", "127.0.0.1:5998", "two-clouds")
    try:
        assert time.monotonic() - started <= LEASE_TTL_S + 1.5
        assert [i.api for i in cluster.instances() if i.name == "c9"] == ["127.0.0.1:5998"]
    finally:
        cluster.stop()


def test_a_name_a_live_instance_has_is_refused(etcd):
    from controller.main import join_cluster

    alive = Cluster(Etcd(etcd.url), "/intercloud-slicing/two-clouds/", "c8", "127.0.0.1:5997")
    alive.join()
    alive.run()
    try:
        with pytest.raises(ValueError, match=r"in the cluster already \(at 127.0.0.1:5997\) and alive"):
            join_cluster(etcd.url, "c8", "127.0.0.1:5996", "two-clouds")
    finally:
        alive.stop()


def _give_up_one_write(store):
    """The next transaction is held back, as by a frozen member, and reported timed out
    (the caller cannot know whether it was written); returns what was held."""
    from controller.etcdstore import EtcdError

    held, real = [], store.etcd.txn

    def lost(compare, success, failure=()):
        held.append((compare, success))
        store.etcd.txn = real
        raise EtcdError(f"etcd at {store.etcd.url}: the request timed out")
    store.etcd.txn = lost
    return held


def test_a_write_given_up_on_and_applied_late_changes_nothing(etcd, prefix):
    """Found by issue 24's fault tests: a write that timed out at a frozen member was
    applied when it woke, after later writes, and a deleted slice came back. Now the late
    write finds the store's HEAD moved and does nothing."""
    store = EtcdStore(Etcd(etcd.url), prefix)
    ctl = SliceController(JAPAN, store, FakeWire([s.name for s in JAPAN.sites]))
    held = _give_up_one_write(store)
    with pytest.raises(StoreError, match="timed out"):
        ctl.create_many(many(1, prefix="late", vlan=700))
    ctl.create_many(many(1, prefix="late", vlan=700))      # the client's retry
    ctl.delete("late-0")
    applied, _rev, _ = store.etcd.txn(*held[0])               # the frozen member wakes up
    assert not applied
    assert [s.name for s in EtcdStore(Etcd(etcd.url), prefix).load()] == []


def test_a_write_applied_late_before_the_next_makes_the_leader_load_again(etcd, prefix):
    """The other order: the write given up on lands before the next one. The store holds
    a slice this controller does not know; its next write is refused (nothing written)
    and it is told to give up leading, so that the state is loaded again."""
    diverged = []
    store = EtcdStore(Etcd(etcd.url), prefix, diverged=diverged.append)
    ctl = SliceController(JAPAN, store, FakeWire([s.name for s in JAPAN.sites]))
    held = _give_up_one_write(store)
    with pytest.raises(StoreError, match="timed out"):
        ctl.create_many(many(1, prefix="late", vlan=700))
    assert store.etcd.txn(*held[0])[0]                       # applied after all
    with pytest.raises(StoreError, match="changed under this controller"):
        ctl.create_many(many(1, prefix="next", vlan=800))
    assert diverged and "applied late" in diverged[0]
    assert [s.name for s in EtcdStore(Etcd(etcd.url), prefix).load()] == ["late-0"]
