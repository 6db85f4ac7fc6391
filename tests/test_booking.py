"""Slices booked ahead (issue 27): bandwidth, tags and endpoints over time, priorities over
time, refusals that name the link and the interval, and the start."""
from datetime import datetime, timezone
from itertools import count

import pytest

from slices.audit import audit
from slices.engine import PLACED, SliceEngine
from slices.errors import Rejected
from slices.spec import parse_spec
from topologies import load

JAPAN = load("japan-intercloud")
NOW = datetime(2026, 12, 11, 12, 0, tzinfo=timezone.utc).timestamp()
H = 3600.0
VLANS = count(100)   # endpoints of different slices differ by VLAN unless a test says otherwise


def at(hours: float) -> str:
    """RFC 3339 of NOW + ``hours``."""
    return datetime.fromtimestamp(NOW + hours * H, timezone.utc).isoformat().replace("+00:00", "Z")


def spec(name, bw, start=None, end=None, priority=3, tenant="t", ports=(1, 1), sites=("tokyo-dc", "osaka-dc"),
         vlan=None):
    vlan = vlan or next(VLANS)
    doc = {"name": name, "tenant": tenant, "bandwidth_mbps": bw, "priority": priority,
           "endpoints": [{"site": s, "port": p, "vlan": vlan} for s, p in zip(sites, ports)]}
    if start is not None or end is not None:
        doc["schedule"] = {k: at(v) for k, v in (("start", start), ("end", end)) if v is not None}
    return parse_spec(doc, JAPAN, now=NOW)


@pytest.fixture
def engine():
    e = SliceEngine(JAPAN)
    yield e
    assert audit(e) == []


def frozen(e: SliceEngine):
    """Everything a booking may change, comparable."""
    return ({k: (c.times.tolist(), c.level.tolist()) for k, c in e.calendar.links.items()},
            {n: (b.status, b.tree, dict(b.tags)) for n, b in e.bookings.items()},
            e.ledger.tags.in_use, dict(e.ledger.residual), {n: s.status for n, s in e.slices.items()})


def test_overlapping_bookings_refused_naming_link_and_interval_then_moved_admitted(engine):
    # tokyo-dc has one 100 Mbit/s link to the network: two 60s cannot share an hour of it
    engine.book_ahead(spec("drill", 60, start=34, end=35), NOW)
    before = frozen(engine)
    with pytest.raises(Rejected) as e:
        engine.book_ahead(spec("backup", 60, start=34.5, end=36, ports=(2, 2)), NOW)
    assert str(e.value) == ("link osaka-dc—osaka-ix is full 2026-12-12T22:30–23:00 (60 of 100 Mbit/s booked); "
                            "backup needs 60")
    assert frozen(engine) == before                       # all or nothing
    engine.book_ahead(spec("backup", 60, start=35, end=36, ports=(2, 2)), NOW)   # back to back: the peak, not a sum
    assert sorted(engine.bookings) == ["backup", "drill"]
    assert engine.booked_at(NOW + 34.5 * H) == ["drill"] and engine.booked_at(NOW + 35 * H) == ["backup"]


def test_todays_slices_count_forever_and_respect_bookings(engine):
    engine.admit(spec("today", 30))
    engine.book_ahead(spec("later", 60, start=24, end=26, ports=(2, 2)), NOW)
    with pytest.raises(Rejected) as e:                  # 30 + 60 booked tomorrow: 10 left
        engine.admit(spec("greedy", 20, ports=(2, 1), sites=("tokyo-dc", "nagoya-dc")))
    assert e.value.constraint == "bandwidth"
    engine.admit(spec("modest", 10, ports=(2, 1), sites=("tokyo-dc", "nagoya-dc")))
    with pytest.raises(Rejected, match="is full"):      # and a booking sees today's slices
        engine.book_ahead(spec("more", 5, start=25, end=27, ports=(1, 2), sites=("tokyo-dc", "sendai-dc")), NOW)


def test_lifeline_booking_displaces_lower_booking_only_where_they_overlap(engine):
    engine.admit(spec("today", 30, priority=0, tenant="a"))
    engine.book_ahead(spec("low-tomorrow", 60, start=24, end=26, priority=1, tenant="a", ports=(2, 2)), NOW)
    engine.book_ahead(spec("low-later", 60, start=30, end=32, priority=1, tenant="a", ports=(2, 2)), NOW)
    events = engine.book_ahead(spec("lifeline", 70, start=25, end=27, priority=7, tenant="b",
                                    ports=(1, 1), sites=("tokyo-dc", "nagoya-dc")), NOW)
    assert [(e.kind, e.slice) for e in events] == [("booked", "lifeline"), ("preempted", "low-tomorrow")]
    assert engine.bookings["low-tomorrow"].status == "preempted"
    assert engine.bookings["low-later"].status == "scheduled"          # no overlap: untouched
    assert engine.slices["today"].status == PLACED                      # today's slices: untouched
    assert engine.bookings["low-tomorrow"].tree is None


def test_lower_priority_booking_cannot_displace(engine):
    engine.book_ahead(spec("high", 60, start=24, end=26, priority=5), NOW)
    with pytest.raises(Rejected, match="is full 2026-12-12T12:00–14:00"):
        engine.book_ahead(spec("low", 60, start=24, end=26, priority=2, ports=(2, 2)), NOW)


def test_tags_shared_by_bookings_that_do_not_overlap(engine):
    engine.book_ahead(spec("a", 1, start=24, end=25), NOW)
    engine.book_ahead(spec("b", 1, start=25, end=26, ports=(2, 2)), NOW)
    engine.book_ahead(spec("c", 1, start=24.5, end=25.5, ports=(2, 1), sites=("tokyo-dc", "nagoya-dc")), NOW)
    a, b, c = (engine.bookings[n] for n in "abc")
    link = next(iter(a.tree.links & b.tree.links & c.tree.links))
    assert a.tags[link] == b.tags[link] != c.tags[link]
    today = engine.admit(spec("today", 1, ports=(1, 2), sites=("tokyo-dc", "sendai-dc")))
    assert today and engine.slices["today"].tags[link] not in (a.tags[link], c.tags[link])


def test_endpoints_booked_over_time(engine):
    engine.book_ahead(spec("a", 1, start=24, end=25, vlan=7), NOW)
    with pytest.raises(Rejected, match=r"endpoint tokyo-dc:1.7 is booked by slice a 2026-12-12T12:00–12:30"):
        engine.book_ahead(spec("b", 1, start=23.5, end=24.5, ports=(1, 2), vlan=7), NOW)
    engine.book_ahead(spec("b", 1, start=25, end=26, ports=(1, 2), vlan=7), NOW)
    with pytest.raises(Rejected, match="booked ahead by slice a"):
        engine.admit(spec("today", 1, ports=(1, 2), sites=("tokyo-dc", "nagoya-dc"), vlan=7))


def test_cancel_and_activate(engine):
    engine.book_ahead(spec("a", 60, start=24, end=25), NOW)
    engine.book_ahead(spec("b", 30, start=24, end=25, ports=(2, 2)), NOW)
    engine.cancel_booking("b")
    assert "b" not in engine.bookings and engine.calendar.peak(next(iter(engine.bookings["a"].tree.links)),
                                                               -float("inf"), float("inf")) == 60
    engine.activate("a")
    assert engine.slices["a"].status == PLACED and not engine.bookings
    assert engine.ledger.tags.in_use == len(engine.slices["a"].tags)


def test_activate_is_all_or_nothing(engine):
    engine.book_ahead(spec("a", 60, start=24, end=25), NOW)
    engine.link_down("tokyo-dc", "tokyo-ix")
    before = frozen(engine)
    with pytest.raises(Rejected):
        engine.activate("a")
    assert frozen(engine) == before and "a" in engine.bookings


@pytest.mark.parametrize("order", [("first", "second"), ("second", "first")])
def test_back_to_back_bookings_fit_whichever_is_booked_first(engine, order):
    hours = {"first": (34, 35), "second": (35, 36)}
    for n in order:
        engine.book_ahead(spec(n, 60, *hours[n]), NOW)
    assert sorted(engine.bookings) == ["first", "second"]


def test_only_the_displaced_bookings_needed_are_displaced(engine):
    engine.book_ahead(spec("low-a", 40, start=24, end=26, priority=1), NOW)
    engine.book_ahead(spec("low-b", 20, start=24, end=26, priority=2), NOW)
    events = engine.book_ahead(spec("life", 50, start=25, end=26, priority=7), NOW)
    assert [(e.kind, e.slice) for e in events] == [("booked", "life"), ("preempted", "low-a")]
    assert engine.bookings["low-b"].status == "scheduled"


def test_a_booking_that_cannot_fit_even_displacing_changes_nothing(engine):
    engine.admit(spec("today", 30, priority=0))
    # booked 0.1, 0.1, 1.1 and dropped and held again largest first, the level would come
    # back as 1.3000000000000003, not 1.3: the calendar is put back, not recomputed
    for name, mbps in (("la", 0.1), ("lb", 0.1), ("lc", 1.1)):
        engine.book_ahead(spec(name, mbps, start=24, end=26, priority=1), NOW)
    before = frozen(engine)
    with pytest.raises(Rejected, match="is full 2026-12-12T12:00–14:00 \\(31.3 of 100 Mbit/s booked\\)"):
        engine.book_ahead(spec("life", 80, start=24, end=26, priority=3), NOW)   # drops its own lower ones to ask
    assert frozen(engine) == before


def test_below_priority_4_a_booking_displaces_only_its_own_tenants(engine):
    engine.book_ahead(spec("theirs", 50, start=24, end=26, priority=0, tenant="other"), NOW)
    engine.book_ahead(spec("mine", 30, start=24, end=26, priority=1, tenant="me"), NOW)
    with pytest.raises(Rejected, match="is full"):     # 50 is not its to take
        engine.book_ahead(spec("big", 60, start=25, end=26, priority=3, tenant="me"), NOW)
    events = engine.book_ahead(spec("mid", 40, start=25, end=26, priority=3, tenant="me"), NOW)
    assert [(e.kind, e.slice) for e in events] == [("booked", "mid"), ("preempted", "mine")]
    assert engine.bookings["theirs"].status == "scheduled"


def test_a_displaced_booking_not_needed_after_all_is_put_back(engine):
    # lowest priority first: "small" goes, then "large"; with "large" gone "small" fits again
    engine.book_ahead(spec("small", 10, start=24, end=26, priority=1), NOW)
    engine.book_ahead(spec("large", 60, start=24, end=26, priority=2), NOW)
    events = engine.book_ahead(spec("life", 45, start=24, end=25, priority=7), NOW)
    assert [(e.kind, e.slice) for e in events] == [("booked", "life"), ("preempted", "large")]
    assert engine.bookings["small"].status == "scheduled" and engine.bookings["small"].tree is not None


def test_a_booking_extended_or_shortened_against_the_calendar_all_or_nothing(engine):
    engine.book_ahead(spec("drill", 60, start=24, end=25, vlan=5), NOW)
    engine.book_ahead(spec("next", 50, start=26, end=27, ports=(2, 2)), NOW)
    before = frozen(engine)
    with pytest.raises(Rejected, match="is full 2026-12-12T14:00–14:30 \\(50 of 100 Mbit/s booked\\)"):
        engine.rebook(spec("drill", 60, start=24, end=26.5, vlan=5), NOW)      # into "next"
    assert frozen(engine) == before
    events = engine.rebook(spec("drill", 60, start=24, end=26, vlan=5), NOW)   # up to it: fits
    assert [(e.kind, e.slice) for e in events] == [("updated", "drill")]
    assert engine.bookings["drill"].t1 == NOW + 26 * H
    engine.rebook(spec("drill", 60, start=24, end=24.5, vlan=5), NOW)          # shortened
    assert engine.booked_at(NOW + 24.7 * H) == []
