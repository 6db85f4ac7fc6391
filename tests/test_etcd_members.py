"""The cluster on a three-member etcd (a real raft cluster of Debian's etcd, on this
machine): every controller instance is given every member (``etcd://A,B,C``) and goes on
through another when its member dies; losing any one member, the etcd leader included,
interrupts writes only briefly and needs nobody. The bound here is generous (a shared
2-core machine); the figures are printed (`pytest -s`) and kept in README: 0.01-3.2 s,
etcd's own election of a new leader (1-2 s with its default timeouts) included. No
switches: the controller runs on simulated ones."""
from __future__ import annotations

import time

import pytest

from controller.core import SliceController
from controller.etcdstore import Etcd, parse_endpoints
from controller.main import join_cluster
from controller.store import StoreError
from slicectl.etcdlocal import EtcdCluster
from tests.fakewire import FakeWire
from tests.test_api_batch import many
from tests.test_cluster import wait_for
from topologies import load

JAPAN = load("japan-intercloud")
WRITE_GAP_S = 6.0   # generous: correctness, not speed (see the module text)


@pytest.fixture
def etcd3(tmp_path):
    with EtcdCluster(tmp_path / "etcd", members=3) as e:
        wait_for(lambda: e.leader() is not None, 10)
        yield e


class Writers:
    """Two controller instances on every member, joined as `slicectl controller --cluster`
    joins (controller.main.join_cluster), and a write through whichever leads."""

    def __init__(self, url: str):
        self.url, self.n = url, 0
        joined = [join_cluster(url, f"c{i}", f"127.0.0.1:{6000 + i}", "members") for i in range(2)]
        self.cs, self.stores = [c for c, _ in joined], {c.name: s for c, s in joined}
        self.ctls: dict[str, tuple[int, SliceController]] = {}   # name -> (generation it loaded at, owner)
        for c in self.cs:
            c.run()

    def write(self) -> bool:
        """One fenced write (two slices) by the instance that leads now; False if none can.
        As in a controller, the owner keeps its state between writes and loads it from
        etcd only when it starts leading at a new generation (controller.leadership)."""
        leader = next((c for c in self.cs if c.leading()), None)
        if leader is None:
            return False
        self.n += 1
        try:
            generation, ctl = self.ctls.get(leader.name, (0, None))
            if ctl is None or generation != leader.generation:
                ctl = SliceController(JAPAN, self.stores[leader.name], FakeWire([s.name for s in JAPAN.sites]))
                self.ctls[leader.name] = (leader.generation, ctl)
            ctl.create_many(many(2, prefix=f"w{self.n}", vlan=(100 + 2 * self.n) % 4000))
            return True
        except StoreError:
            return False

    def gap_after(self, fault) -> float:
        """Seconds from ``fault()`` until a write is accepted again."""
        assert wait_for(self.write, 10)
        fault()
        started = time.monotonic()
        wait_for(self.write, 15)
        return time.monotonic() - started

    def stop(self):
        for c in self.cs:
            c.stop()


def test_every_member_is_a_way_in():
    assert parse_endpoints("etcd://10.0.0.1:2379,[::1]:2380, h3:1") == [("10.0.0.1", 2379), ("::1", 2380),
                                                                       ("h3", 1)]
    for bad in ("etcd://a:1,", "etcd://a:1,b", "zk://a:1"):
        with pytest.raises(ValueError, match="HOST:PORT"):
            parse_endpoints(bad)


def test_losing_the_etcd_leader_or_the_member_in_use_interrupts_writes_briefly(etcd3):
    w = Writers(etcd3.url)
    try:
        first_member = etcd3.members[0]             # where every instance's requests go first
        victims = [etcd3.leader()]
        if victims[0] is not first_member:
            victims.append(first_member)
        gaps = []
        for victim in victims:
            gaps.append(w.gap_after(victim.kill))
            etcd3.restart(victim)
            wait_for(lambda: etcd3.leader() is not None, 10)
        print(f"writes interrupted for {', '.join(f'{g:.2f} s' for g in gaps)} (members killed: "
              f"{', '.join(v.name for v in victims)})")
        assert max(gaps) <= WRITE_GAP_S, gaps
    finally:
        w.stop()


def test_a_single_member_that_is_gone_is_named_with_every_member_tried(tmp_path):
    e = EtcdCluster(tmp_path / "etcd", members=2)      # never started: nothing listens
    with pytest.raises(StoreError, match=r"member 127\.0\.0\.1:\d+: cannot be reached.*member 127"):
        Etcd(e.url).revision()
