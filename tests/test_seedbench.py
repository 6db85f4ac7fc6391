"""The seed benchmark's parts that need no Mininet (issue 28 item 2): the seed-scale WAN, and
a placement dry run of the whole load in the engine, in process - so a live run never
starts on a load that cannot fit (tags on a link, VLANs on a port, standby trees)."""
from __future__ import annotations

from collections import Counter

import pytest

from slicectl.seedload import LOST_CLOUD, STANDBY_CLOUD, expected_rehomes, lost_sites, make_load
from slices.engine import PLACED, SliceEngine
from slices.spec import MAX_VLAN, parse_spec
from topologies import builtin_names, load
from topologies.fabric import cloud_of

TOPO = load("seed-scale")


@pytest.fixture(scope="module")
def seed_load():
    return make_load(TOPO)


def test_the_wan_has_twelve_fabric_clouds_and_a_modest_switch_count():
    assert "seed-scale" in builtin_names()
    clouds = [s.name for s in TOPO.sites if s.kind == "cloud"]
    assert len(clouds) >= 12
    for c in clouds:
        fabric = [s for s in TOPO.sites if cloud_of(s) == c]
        assert sorted(s.kind for s in fabric) == ["leaf", "leaf", "spine", "spine"], c
        assert sum(s.hosts for s in fabric) == 4
    assert 60 <= len(TOPO.sites) <= 80
    assert all(s.lat is not None for s in TOPO.sites)
    assert len(lost_sites(TOPO)) == 5


def test_the_load_is_the_programmes_scale_with_a_vlan_per_endpoint_on_each_port(seed_load):
    docs = seed_load.slices
    assert len(docs) >= 3000 and seed_load.endpoints >= 10_000
    taken = Counter()
    for d in docs + seed_load.probes + [seed_load.rehome_probe]:
        clouds = {e["site"].rsplit(".", 1)[0] for e in d["endpoints"]}
        assert 2 <= len(clouds) <= 3 or d["tenant"] == "bench"
        for e in d["endpoints"]:
            taken[(e["site"], e["port"], e["vlan"])] += 1
            if "standby" in e:
                s = e["standby"]
                assert s["site"].startswith(STANDBY_CLOUD[e["site"].rsplit(".", 1)[0]] + ".")
                taken[(s["site"], s["port"], e["vlan"])] += 1
    assert max(taken.values()) == 1                  # one VLAN id per endpoint on a (site, port)
    assert max(v for _s, _p, v in taken) <= MAX_VLAN
    assert len({(s, p) for s, p, _v in taken}) == 48  # spread over every leaf host port
    assert len(expected_rehomes(docs, lost_sites(TOPO))) >= 500


def test_every_slice_fits_in_the_engine(seed_load):
    """The dry run: every spec parses and is placed, none preempted, no link out of tags."""
    engine = SliceEngine(TOPO)
    docs = seed_load.slices + seed_load.probes + [seed_load.rehome_probe]
    for d in docs:
        engine.admit(parse_spec(d, TOPO))
    assert len(engine.slices) == len(docs)
    assert all(s.status == PLACED for s in engine.slices.values())
    on_link = Counter(k for s in engine.slices.values() for k in s.tree.links)
    assert max(on_link.values()) < 4093
    # the lost cloud's endpoints all have their standby in another cloud
    lost = [e for d in seed_load.slices for e in d["endpoints"] if e["site"] in lost_sites(TOPO)]
    assert lost and all("standby" in e and not e["standby"]["site"].startswith(LOST_CLOUD) for e in lost)


def test_a_slice_counts_as_re_homed_once_every_endpoint_moved_and_it_is_active_again():
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl.seedbench import rehome_times

    active, failed = pb.SLICE_STATE_ACTIVE, pb.SLICE_STATE_FAILED
    events = [("a", "state", active, 99.0),                  # before the loss: ignored
              ("a", "state", failed, 100.5),
              ("a", "endpoint-moved", 0, 101.0),
              ("a", "state", active, 101.5),                 # one of its two endpoints moved: not yet
              ("a", "endpoint-moved", active, 102.0),        # both moved, and active
              ("b", "endpoint-moved", 0, 103.0),
              ("b", "state", active, 104.0),
              ("c", "endpoint-moved", active, 101.0)]        # not expected
    assert rehome_times(events, {"a": 2, "b": 1, "d": 1}, since=100.0) == [2.0, 4.0]
