"""A link carries at most 4,093 slices (one VLAN id each, 2..4094): past that the engine
goes around it, refuses by name when it cannot, waits for a tag like for bandwidth,
and never half-books a slice. Filled for real, no patched limits: ~1 s per full link."""
import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from slices.audit import audit
from slices.engine import PLACED, PREEMPTED, SliceEngine
from slices.errors import Rejected
from slices.placement import link_key
from slices.resources import TAG_MAX, TAG_MIN
from slices.spec import parse_spec
from topologies.model import Link, Site, Topology

BIG = 1_000_000   # Mbit/s: tags run out long before bandwidth
TAGS = TAG_MAX - TAG_MIN + 1   # slices a link can carry


def _topology(name: str, sites: list[tuple[str, str, int]], links: list[tuple[str, str]]) -> Topology:
    return Topology(name=name, sites=tuple(Site(n, kind, 35.0, 139.0 + i / 10, "JP", hosts=hosts, dpid=i + 1)
                                           for i, (n, kind, hosts) in enumerate(sites)),
                    links=tuple(Link(a, b, BIG, 1.0) for a, b in links))


TRIANGLE = _topology("triangle", [("west", "cloud", 4), ("east", "cloud", 4), ("relay", "core", 0)],
                     [("west", "east"), ("west", "relay"), ("relay", "east")])
PAIR = _topology("pair", [("west", "cloud", 4), ("east", "cloud", 4)], [("west", "east")])
# west hangs off hub by one link (a bridge, shared by primary and backup), hub reaches
# east two ways
BRIDGED = _topology("bridged", [("west", "cloud", 4), ("hub", "cloud", 4), ("north", "core", 0),
                                ("south", "core", 0), ("east", "cloud", 4)],
                    [("west", "hub"), ("hub", "north"), ("north", "east"), ("hub", "south"), ("south", "east")])


def spec(topo: Topology, name: str, i: int, a: str = "west", b: str = "east", **kw):
    """Slice ``name`` between ``a`` and ``b``; ``i`` picks endpoints no other ``i`` uses."""
    port, vlan = 1 + i // 4000, 1 + i % 4000
    return parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": 1, **kw, "endpoints": [
        {"site": a, "port": port, "vlan": vlan}, {"site": b, "port": port, "vlan": vlan}]}, topo)


def fill(engine: SliceEngine, topo: Topology, n: int, a: str = "west", b: str = "east") -> None:
    for i in range(n):
        engine.admit(spec(topo, f"fill-{i}", i, a, b))


def books(engine: SliceEngine):
    return dict(engine.residual), engine.ledger.tags.in_use, set(engine.slices)


@pytest.fixture(scope="module")
def full_triangle():
    """The triangle with every tag of its direct west—east link in use."""
    e = SliceEngine(TRIANGLE)
    fill(e, TRIANGLE, TAGS)
    return e


@pytest.fixture
def triangle(full_triangle):
    cp = full_triangle.checkpoint()
    yield full_triangle
    assert audit(full_triangle) == []
    full_triangle.rollback(cp)


def test_a_link_with_every_tag_in_use_is_gone_around(triangle):
    direct = link_key("west", "east")
    assert all(s.tree.links == {direct} for s in triangle.slices.values())
    assert triangle.ledger.tags.full == {direct}
    triangle.admit(spec(TRIANGLE, "next", 5000))
    assert triangle.get("next").tree.links == {link_key("west", "relay"), link_key("relay", "east")}


def test_a_slice_waiting_for_a_tag_comes_back_when_one_is_freed(triangle):
    triangle.admit(spec(TRIANGLE, "around", 5000))
    events = triangle.link_down("relay", "east")
    assert [(e.kind, e.slice) for e in events] == [("preempted", "around")]
    assert triangle.get("around").status == PREEMPTED and "no tag left" in triangle.get("around").reason
    assert triangle.restore_waiting() == []            # nothing freed: not even tried
    triangle.release("fill-7")
    assert triangle.get("around").status == PLACED
    assert triangle.get("around").tree.links == {link_key("west", "east")}


def test_a_freed_tag_is_tried_by_the_waiting_slices_once_not_forever(triangle):
    for i in range(30):
        triangle.admit(spec(TRIANGLE, f"around-{i}", 5000 + i))
    triangle.link_down("relay", "east")
    waiting = sorted(n for n, s in triangle.slices.items() if s.status == PREEMPTED)
    assert len(waiting) == 30
    triangle.release("fill-7", restore=False)
    for tasks in range(1, 10):            # as the controller: RESTORE_BATCH at a time
        triangle.restore_waiting(limit=20)
        if not triangle.restore_pending:
            break
    assert tasks <= 2
    assert sum(triangle.get(n).status == PLACED for n in waiting) == 1
    assert triangle.restore_waiting(limit=20) == [] and not triangle.restore_pending


def test_with_no_tag_left_anywhere_a_slice_is_refused_by_link_and_nothing_changes():
    e = SliceEngine(PAIR)
    fill(e, PAIR, TAGS)
    before = books(e)
    with pytest.raises(Rejected) as err:
        e.admit(spec(PAIR, "one-too-many", 5000))        # the same priority: never preempts
    assert err.value.constraint == "tags"
    assert err.value.reason == "link east—west already carries 4093 slices: no tag left"
    assert books(e) == before and audit(e) == []


def test_a_lifeline_takes_the_tag_of_the_lowest_priority_which_waits_for_one():
    e = SliceEngine(PAIR)
    fill(e, PAIR, TAGS - 1)                                # priority 3
    e.admit(spec(PAIR, "cheap", 4999, priority=1))
    events = e.admit(spec(PAIR, "lifeline", 5000, priority=7))
    assert [(x.kind, x.slice) for x in events] == [("admitted", "lifeline"), ("preempted", "cheap")]
    assert e.get("lifeline").status == PLACED and e.get("cheap").status == PREEMPTED
    assert "no tag left" in e.get("cheap").reason and audit(e) == []
    e.release("fill-0")
    assert e.get("cheap").status == PLACED and audit(e) == []


def test_a_protected_slice_needs_two_tags_on_the_link_its_backup_shares():
    e = SliceEngine(BRIDGED)
    fill(e, BRIDGED, TAGS - 1, "west", "hub")     # one tag left on west—hub
    before = books(e)
    with pytest.raises(Rejected) as err:
        e.admit(spec(BRIDGED, "protected", 5000, protection="link"))
    assert err.value.constraint == "protection"
    assert "hub—west already carries 4093 slices: no tag left" in err.value.reason
    assert books(e) == before and audit(e) == []
    e.admit(spec(BRIDGED, "unprotected", 5001))             # the last tag: one tree fits
    assert e.get("unprotected").status == PLACED and link_key("west", "hub") in e.ledger.tags.full
    assert audit(e) == []


# Three clouds, every link a few tags short of full: random requests, deletes, failures
# and restorations around the limit keep every invariant, and a refusal changes nothing.
TRIO = _topology("trio", [("west", "cloud", 8), ("east", "cloud", 8), ("relay", "cloud", 8)],
                 [("west", "east"), ("west", "relay"), ("relay", "east")])
PAIRS = [("west", "east"), ("west", "relay"), ("relay", "east")]
LEFT = 2   # tags left on each link


@pytest.fixture(scope="module")
def nearly_full_trio():
    e = SliceEngine(TRIO)
    for n, (a, b) in enumerate(PAIRS):
        for i in range(TAGS - LEFT):
            e.admit(spec(TRIO, f"fill-{n}-{i}", n * 4100 + i, a, b))
    assert all(e.ledger.tags.free(link_key(a, b)) == LEFT for a, b in PAIRS)
    return e


@settings(max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=st.lists(st.tuples(st.sampled_from(["admit", "admit", "admit", "release", "down", "up", "restore"]),
                              st.integers(0, 2**32 - 1)), min_size=1, max_size=10))
def test_random_operations_around_the_tag_limit_keep_every_invariant(nearly_full_trio, ops):
    e = nearly_full_trio
    cp = e.checkpoint()
    try:
        for n, (kind, seed) in enumerate(ops):
            rng = random.Random(seed)
            if kind == "admit":
                a, b = rng.choice(PAIRS)
                before = books(e)
                try:
                    e.admit(spec(TRIO, f"new-{n}", 20_000 + n, a, b, priority=rng.randint(0, 7),
                                 protection=rng.choice(["none", "none", "link"])))
                except Rejected:
                    assert books(e) == before
            elif kind == "release":
                e.release(rng.choice(sorted(e.slices)), restore=rng.random() < 0.5)
            elif kind == "down":
                e.link_down(*rng.choice(PAIRS))
            elif kind == "up":
                e.link_up(*rng.choice(PAIRS))
            else:
                e.restore_waiting(limit=20)
        assert audit(e, rules=False) == [], ops     # (0.2 s at 12,000 slices: once an example)
    finally:
        e.rollback(cp)
