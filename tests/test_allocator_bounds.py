"""Every allocator with a bound, at its bounds: the first and the last valid value come
out, exhaustion is refused by name, and a reserved value never comes out.

VLAN ids are 12 bits: 0 (no tag) and 4095 are reserved by 802.1Q, and 1 is the default
VLAN, so a slice tag is 2..4094 on each link: 4,093 of them. The numbers are written out
here, not taken from slices.resources, so that a wrong bound there is caught."""
from __future__ import annotations

from dataclasses import replace

import pytest
from netaddr import IPNetwork

from slices.audit import audit
from slices.engine import SliceEngine
from slices.errors import Rejected
from slices.resources import IndexAllocator, PrefixPool, TagSpace
from slices.rules import MAX_SLICE_ID, meter_id, slice_cookie
from slices.spec import MIN_BANDWIDTH_MBPS, parse_spec
from topologies import load

LINK = frozenset(("a", "b"))
FIRST_TAG, LAST_TAG, TAG_COUNT = 2, 4094, 4093
RESERVED_TAGS = (0, 1, 4095)
TWO_CLOUDS = load("two-clouds")


def _spec(name: str, vlan: int):
    return parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": MIN_BANDWIDTH_MBPS,
                       "endpoints": [{"site": "tokyo-dc", "port": 1, "vlan": vlan},
                                     {"site": "osaka-dc", "port": 1, "vlan": vlan}]}, TWO_CLOUDS)


def test_a_link_has_4093_tags():
    assert TagSpace.SIZE == TAG_COUNT
    assert TagSpace().free(LINK) == TAG_COUNT


def test_the_tag_space_of_a_link_is_2_to_4094_and_then_refused_by_name():
    tags = TagSpace()
    given = [tags.allocate(LINK) for _ in range(TAG_COUNT)]
    assert given[0] == FIRST_TAG and given[-1] == LAST_TAG
    assert sorted(given) == list(range(FIRST_TAG, LAST_TAG + 1))   # each once, nothing reserved
    assert tags.free(LINK) == 0 and LINK in tags.full and LINK in tags.scarce
    with pytest.raises(Rejected, match="already carries 4093 slices: no tag left") as e:
        tags.allocate(LINK)
    assert e.value.constraint == "tags"
    assert tags.in_use == TAG_COUNT            # the refusal took nothing


def test_a_freed_tag_is_given_again_and_only_it():
    tags = TagSpace()
    for _ in range(TAG_COUNT):
        tags.allocate(LINK)
    tags.release(LINK, LAST_TAG)
    assert LINK not in tags.full and tags.free(LINK) == 1
    assert tags.allocate(LINK) == LAST_TAG
    with pytest.raises(Rejected):
        tags.allocate(LINK)


@pytest.mark.parametrize("tag", RESERVED_TAGS + (-1, 4096))
def test_a_reserved_or_out_of_range_tag_cannot_be_taken(tag):
    tags = TagSpace()
    assert not tags.take(LINK, tag)
    assert tags.free(LINK) == TAG_COUNT


@pytest.mark.parametrize("tag", (FIRST_TAG, LAST_TAG))
def test_the_first_and_last_tag_can_be_taken_once(tag):
    tags = TagSpace()
    assert tags.take(LINK, tag) and not tags.take(LINK, tag)
    assert tags.free(LINK) == TAG_COUNT - 1


def test_the_index_allocator_gives_low_to_high_then_none():
    alloc = IndexAllocator(5, 7)
    assert [alloc.allocate() for _ in range(4)] == [5, 6, 7, None]
    assert alloc.in_use == 3
    assert not alloc.take(4) and not alloc.take(8)
    alloc.release(7)
    assert alloc.take(7) and alloc.allocate() is None


def test_the_prefix_pool_gives_first_to_last_prefix_then_refuses_by_name():
    pool = PrefixPool("10.128.0.0/22", 24)
    got = [pool.allocate() for _ in range(4)]
    assert [str(p) for p in got] == ["10.128.0.0/24", "10.128.1.0/24", "10.128.2.0/24", "10.128.3.0/24"]
    with pytest.raises(Rejected, match=r"address pool 10.128.0.0/22 has no free /24 left") as e:
        pool.allocate()
    assert e.value.constraint == "addresses" and pool.in_use == 4
    assert not pool.take(IPNetwork("10.128.4.0/24"))     # just outside
    pool.release(got[-1])
    assert pool.allocate() == got[-1]


def test_the_engine_refuses_a_slice_when_its_prefix_pool_is_exhausted_and_changes_nothing():
    engine = SliceEngine(TWO_CLOUDS, prefix_pool="10.128.0.0/23", prefix_len=24)
    engine.admit(_spec("one", 1))
    engine.admit(_spec("two", 2))
    before = dict(engine.residual)
    with pytest.raises(Rejected, match="no free /24 left"):
        engine.admit(_spec("three", 3))
    assert sorted(engine.slices) == ["one", "two"] and engine.residual == before and audit(engine) == []


def test_slice_ids_start_at_1_and_end_at_max_slice_id():
    engine = SliceEngine(TWO_CLOUDS)
    engine.admit(_spec("first", 1))
    assert engine.slices["first"].number == 1
    last = replace(engine.record("first"), spec=_spec("last", 2), number=MAX_SLICE_ID,
                   prefix="10.128.5.0/24", addresses=())
    last = replace(last, addresses=tuple((e, f"10.128.5.{i + 1}") for i, e in enumerate(last.spec.endpoints)),
                   tags=(), backup_tags=(), tree=None, status="preempted")
    assert engine.adopt(last).number == MAX_SLICE_ID
    for bad in (0, MAX_SLICE_ID + 1):
        with pytest.raises(ValueError, match="slice id .* is taken or out of range"):
            SliceEngine(TWO_CLOUDS).adopt(replace(last, number=bad))
    # the ids at both ends make distinct, valid cookies and meters
    assert slice_cookie(1) != slice_cookie(MAX_SLICE_ID) and meter_id(1) != meter_id(MAX_SLICE_ID)


def test_the_engine_refuses_a_slice_when_slice_ids_are_exhausted_and_changes_nothing():
    engine = SliceEngine(TWO_CLOUDS)
    engine._numbers = IndexAllocator(1, 2)    # two ids instead of 16.7 million
    engine.admit(_spec("one", 1))
    engine.admit(_spec("two", 2))
    before = (dict(engine.residual), engine.prefixes.in_use)
    with pytest.raises(Rejected, match="no slice id left") as e:
        engine.admit(_spec("three", 3))
    assert e.value.constraint == "ids"
    assert sorted(engine.slices) == ["one", "two"] and (dict(engine.residual), engine.prefixes.in_use) == before
    engine.release("one")
    engine.admit(_spec("three", 3))
    assert engine.slices["three"].number == 1 and audit(engine) == []


def test_a_link_full_of_slices_hands_out_every_tag_once_and_refuses_the_next():
    """Through the engine: a link between two clouds, filled (4,093 tiny slices)."""
    topo = load("two-clouds")
    topo = replace(topo, sites=tuple(replace(s, hosts=4093 if s.kind == "cloud" else 0) for s in topo.sites),
                   links=tuple(replace(l, bandwidth_mbps=1000) for l in topo.links))  # room for 4,093 at the floor
    engine = SliceEngine(topo)
    link = frozenset(("tokyo-ix", "osaka-ix"))
    spec = lambda name, port: parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": MIN_BANDWIDTH_MBPS,   # noqa: E731
                                          "endpoints": [{"site": "tokyo-dc", "port": port},
                                                        {"site": "osaka-dc", "port": port}]}, topo)
    engine.prefixes = PrefixPool("10.0.0.0/8", 30)
    for i in range(TAG_COUNT):
        engine.admit(spec(f"s{i}", i + 1))
    tags = sorted(s.tags[link] for s in engine.slices.values())
    assert tags == list(range(FIRST_TAG, LAST_TAG + 1))
    with pytest.raises(Rejected) as e:
        engine.admit(parse_spec({"name": "one-too-many", "tenant": "t", "bandwidth_mbps": MIN_BANDWIDTH_MBPS,
                                 "endpoints": [{"site": "tokyo-dc", "port": 1, "vlan": 7},
                                               {"site": "osaka-dc", "port": 1, "vlan": 7}]}, topo))
    assert e.value.constraint == "tags" and "4093 slices" in e.value.reason
