"""Issue 27, the controller's side: slices booked ahead are served. A booking shows
``scheduled`` with no rules, becomes active at its start (rules pushed then) and is gone
at its end; it survives a restart between admission and start; a wall clock that steps
neither fires nor skips events wrongly; overlapping bookings are refused naming the link
and interval; the end can be moved; a booking can be cancelled; ``list --at`` shows what
holds resources at a time. The owner runs inline and the clock is fake, so each test says
exactly when things happen."""
from __future__ import annotations

import json
import re
import threading
import time

import grpc
import pytest
import yaml

from controller.core import SliceController
from controller.schedules import WallTimer
from controller.states import SliceState
from controller.store import Store
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.audit import audit
from slices.errors import Rejected, SpecError
from slices.schedule import parse_time, rfc3339
from tests.fakewire import FakeWire
from tests.harness import JAPAN, create, error_of

FULL = r"link (tokyo|osaka)-dc—(tokyo|osaka)-ix is full"   # the access link both bookings need
T0 = 1_900_000_000.0   # 2030-03-17T17:46:40Z: "now" for the fake clock


class Clock:
    """A wall clock the test sets."""

    def __init__(self, t: float = T0):
        self.t = t

    def __call__(self) -> float:
        return self.t


def spec(name="backup", start=T0 + 600, end=T0 + 1200, bw=60, port=1, **kw):
    d = {"name": name, "tenant": "mhlw", "bandwidth_mbps": bw,
         "endpoints": [{"site": "tokyo-dc", "port": port}, {"site": "osaka-dc", "port": port}]}
    sch = {}
    if start is not None:
        sch["start"] = rfc3339(start)
    if end is not None:
        sch["end"] = rfc3339(end)
    if sch:
        d["schedule"] = sch
    d.update(kw)
    return d


class Wire(FakeWire):
    """The simulated switches; :meth:`entries` tells only slices' rules (not each
    switch's own table-miss and base rules, which every switch holds from the start)."""

    def __init__(self, sites):
        super().__init__(sites)
        self.base: set = set()

    def entries(self):
        return {k: e for k, e in super().entries().items() if k not in self.base}


def controller(path, clock: Clock) -> tuple[SliceController, Wire, Store]:
    wire = Wire([s.name for s in JAPAN.sites])
    store = Store(path)
    ctl = SliceController(JAPAN, store, wire, clock=clock)
    bookings = dict(ctl.engine.bookings)
    for site in wire.connected:
        ctl.switch_connected(site)
    if not ctl.engine.slices and bookings == ctl.engine.bookings:
        wire.base = set(FakeWire.entries(wire))
    return ctl, wire, store


def state(ctl: SliceController, name: str) -> SliceState | None:
    st = ctl.model.states.get(name)
    return st.state if st else None


def kinds(store: Store, name: str) -> list[str]:
    return [k for _t, n, k, _s, _r in store.events() if n == name]


def test_a_booking_is_scheduled_without_rules_active_at_its_start_and_gone_at_its_end(tmp_path):
    clock = Clock()
    ctl, wire, store = controller(tmp_path / "s.db", clock)
    ctl.create(spec())
    assert state(ctl, "backup") == SliceState.SCHEDULED
    assert "backup" in ctl.engine.bookings and "backup" not in ctl.engine.slices
    assert not wire.entries(), "no rules before the start"
    assert ctl.schedules.next_at() == T0 + 600
    clock.t = T0 + 599.9
    ctl.schedules.tick()
    assert state(ctl, "backup") == SliceState.SCHEDULED and not wire.entries()
    clock.t = T0 + 600
    ctl.schedules.tick()
    assert state(ctl, "backup") == SliceState.ACTIVE
    assert wire.entries(), "rules pushed at the start"
    assert ctl.schedules.next_at() == T0 + 1200
    clock.t = T0 + 1200.2
    ctl.schedules.tick()
    assert "backup" not in ctl.engine.slices and state(ctl, "backup") is None
    assert not wire.entries(), "rules removed at the end"
    assert ctl.engine.ledger.residual == ctl.engine.ledger.capacity
    k = kinds(store, "backup")
    assert k.index("booked") < k.index("started") < k.index("ended")
    assert ctl.schedules.next_at() is None


def test_a_schedule_that_starts_now_is_admitted_at_once_and_ends_on_time(tmp_path):
    clock = Clock()
    ctl, wire, _store = controller(tmp_path / "s.db", clock)
    ctl.create(spec(start=None, end=None, schedule={"duration": "PT10M"}))
    assert state(ctl, "backup") == SliceState.ACTIVE and wire.entries()
    assert ctl.engine.slices["backup"].spec.schedule.end == T0 + 600   # resolved: stored absolute
    clock.t = T0 + 600
    ctl.schedules.tick()
    assert "backup" not in ctl.engine.slices and not wire.entries()


def test_a_restart_between_admission_and_start_keeps_the_booking_and_it_starts_on_time(tmp_path):
    clock = Clock()
    ctl, wire, store = controller(tmp_path / "s.db", clock)
    ctl.create(spec())
    before = ctl.engine.booking_record("backup")
    store.close()
    clock.t = T0 + 300
    ctl2, wire2, store2 = controller(tmp_path / "s.db", clock)
    assert ctl2.restore_problems == []
    assert state(ctl2, "backup") == SliceState.SCHEDULED
    assert ctl2.engine.booking_record("backup") == before          # same trees and tags
    assert ctl2.schedules.next_at() == T0 + 600
    # the calendar is back too: an overlapping booking on the same access link is refused
    with pytest.raises(Rejected, match=FULL):
        ctl2.create(spec("other", port=2))
    clock.t = T0 + 600
    ctl2.schedules.tick()
    assert state(ctl2, "backup") == SliceState.ACTIVE and wire2.entries()
    store2.close()
    # and after a restart while active, its end is timed again
    ctl3, wire3, _ = controller(tmp_path / "s.db", clock)
    assert state(ctl3, "backup") == SliceState.ACTIVE and ctl3.schedules.next_at() == T0 + 1200


def test_a_controller_down_at_the_start_starts_the_booking_when_it_comes_back(tmp_path):
    clock = Clock()
    ctl, _wire, store = controller(tmp_path / "s.db", clock)
    ctl.create(spec())
    store.close()
    clock.t = T0 + 700                  # down over the start
    ctl2, wire2, _ = controller(tmp_path / "s.db", clock)
    assert ctl2.schedules.next_at() <= clock.t
    ctl2.schedules.tick()
    assert state(ctl2, "backup") == SliceState.ACTIVE and wire2.entries()


def test_overlapping_bookings_are_refused_naming_the_link_and_interval_and_fit_when_moved(tmp_path):
    clock = Clock()
    ctl, _wire, store = controller(tmp_path / "s.db", clock)
    ctl.create(spec("first"))
    dump = store.dump()
    with pytest.raises(Rejected) as e:
        ctl.create(spec("second", port=2, start=T0 + 900, end=T0 + 1500))
    assert re.search(FULL, e.value.reason)
    assert "2030-03-17T18:01–18:06" in e.value.reason           # where they overlap
    assert store.dump() == dump and "second" not in ctl.engine.bookings
    ctl.create(spec("second", port=2, start=T0 + 1200, end=T0 + 1800))   # right after: fits
    assert state(ctl, "second") == SliceState.SCHEDULED


def test_the_end_of_a_booking_and_of_an_active_slice_moves_checked_against_the_calendar(tmp_path):
    clock = Clock()
    ctl, _wire, store = controller(tmp_path / "s.db", clock)
    ctl.create(spec("first"))
    ctl.create(spec("second", port=2, start=T0 + 1200, end=T0 + 1800))
    dump = store.dump()
    with pytest.raises(Rejected, match=FULL):
        ctl.update(spec("first", end=T0 + 1300))           # would overlap "second": nothing changes
    assert store.dump() == dump and ctl.engine.bookings["first"].t1 == T0 + 1200
    ctl.update(spec("first", end=T0 + 900))                # shortened
    assert ctl.engine.bookings["first"].t1 == T0 + 900
    clock.t = T0 + 600
    ctl.schedules.tick()
    assert state(ctl, "first") == SliceState.ACTIVE
    # an active slice: its end moves (no start needed: it keeps its own)
    ctl.update(spec("first", start=None, end=T0 + 1100))
    assert ctl.engine.slices["first"].spec.schedule.start == T0 + 600
    assert ctl.schedules.next_at() == T0 + 1100
    with pytest.raises(Rejected, match="40 of 100 Mbit/s free"):
        ctl.update(spec("first", start=None, end=T0 + 1500))   # into "second"'s interval
    assert ctl.engine.slices["first"].spec.schedule.end == T0 + 1100
    with pytest.raises(SpecError, match="only its end can change"):
        ctl.update(spec("first", start=T0 + 2000, end=T0 + 2500))
    clock.t = T0 + 1100
    ctl.schedules.tick()
    assert "first" not in ctl.engine.slices


def test_a_cancelled_booking_gives_back_its_interval(tmp_path):
    clock = Clock()
    ctl, wire, store = controller(tmp_path / "s.db", clock)
    ctl.create(spec("first"))
    ctl.delete("first")
    assert "first" not in ctl.engine.bookings and state(ctl, "first") is None
    assert not store.load() and "released" in kinds(store, "first")
    ctl.create(spec("second", port=2))                      # the same interval fits now
    assert ctl.schedules.next_at() == T0 + 600
    clock.t = T0 + 1300
    ctl.schedules.tick()                                    # started and ended in one late tick
    assert not wire.entries() and "second" not in ctl.engine.slices


def _timer(wall: Clock, target: float) -> tuple[WallTimer, threading.Event]:
    fired = threading.Event()
    timer = WallTimer(fired.set, wall, nap_s=0.02)
    timer.start()
    timer.aim(target)
    return timer, fired


def test_a_clock_stepped_forward_fires_what_became_due_at_once():
    wall = Clock()
    timer, fired = _timer(wall, T0 + 3600)
    try:
        assert not fired.wait(0.1)
        wall.t += 3600                                      # NTP steps the clock an hour forward
        assert fired.wait(0.5)
    finally:
        timer.stop()


def test_a_clock_stepped_back_delays_events_to_the_new_wall_time():
    wall = Clock()
    timer, fired = _timer(wall, T0 + 0.2)
    try:
        wall.t -= 3600                                      # an hour back: the target is an hour away
        started = time.monotonic()
        while time.monotonic() - started < 0.4:
            wall.t += 0.01                                  # the wall clock runs on from its new time
            time.sleep(0.01)
        assert not fired.is_set()
        wall.t = T0 + 0.2
        assert fired.wait(0.5)
    finally:
        timer.stop()


def test_a_tick_fires_each_event_once_whatever_the_clock_did(tmp_path):
    clock = Clock()
    ctl, _wire, store = controller(tmp_path / "s.db", clock)
    ctl.create(spec())
    clock.t = T0 + 650
    ctl.schedules.tick()
    clock.t = T0 + 100                                      # stepped back after the start
    ctl.schedules.tick()
    clock.t = T0 + 650
    ctl.schedules.tick()
    assert kinds(store, "backup").count("started") == 1 and state(ctl, "backup") == SliceState.ACTIVE


def test_the_api_serves_bookings_shows_start_and_end_and_lists_them_at_a_time(api):
    now = time.time()
    d = spec("drill", start=now + 3600, end=now + 7200)
    got = create(api, d)
    assert got.state == pb.SLICE_STATE_SCHEDULED and not got.id
    assert parse_time(got.spec.schedule.start)[0] == pytest.approx(now + 3600, abs=1e-5)
    assert parse_time(got.spec.schedule.end)[0] == pytest.approx(now + 7200, abs=1e-5) and got.tree
    err = error_of(lambda: create(api, spec("drill2", port=2, start=now + 5400, end=now + 9000)))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
    assert re.search(FULL, err.details())
    listed = api.slices.ListSlices(pb.ListSlicesRequest(state=pb.SLICE_STATE_SCHEDULED))
    assert [s.spec.name for s in listed.slices] == ["drill"]
    at = lambda t: [s.spec.name for s in api.slices.ListSlices(pb.ListSlicesRequest(at=rfc3339(t))).slices]  # noqa: E731
    assert at(now + 3700) == ["drill"] and at(now + 60) == [] and at(now + 7300) == []
    err = error_of(lambda: api.slices.ListSlices(pb.ListSlicesRequest(at="tomorrow")))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "at" in err.details()
    api.slices.DeleteSlice(pb.DeleteSliceRequest(name="drill"))
    assert not api.slices.ListSlices(pb.ListSlicesRequest()).slices


def test_a_booking_survives_in_etcd_a_takeover_and_a_followers_reload(tmp_path):
    """A cluster's store (controller.etcdstore): the leader books; another instance
    adopting the store (a take-over) and a follower reloading both see it scheduled, on
    the same trees, and the one that leads starts it on time."""
    from controller.etcdstore import Etcd, EtcdStore
    from slicectl.etcdlocal import EtcdProcess

    clock = Clock()
    with EtcdProcess(tmp_path / "etcd") as etcd:
        prefix = "/test/schedule/"
        leader = SliceController(JAPAN, EtcdStore(Etcd(etcd.url), prefix), FakeWire([s.name for s in JAPAN.sites]),
                                 clock=clock)
        follower = SliceController(JAPAN, EtcdStore(Etcd(etcd.url), prefix), FakeWire([s.name for s in JAPAN.sites]),
                                   clock=clock)
        leader.create(spec())
        follower.reload()                              # as a follower does when etcd's revision moves
        assert state(follower, "backup") == SliceState.SCHEDULED
        assert follower.engine.booking_record("backup") == leader.engine.booking_record("backup")
        taker = SliceController(JAPAN, EtcdStore(Etcd(etcd.url), prefix), Wire([s.name for s in JAPAN.sites]),
                                clock=clock)
        for site in JAPAN.sites:
            taker.switch_connected(site.name)
        taker.wire.base = set(FakeWire.entries(taker.wire))   # no slice's rules yet
        assert not taker.wire.entries()
        assert taker.restore_problems == [] and state(taker, "backup") == SliceState.SCHEDULED
        clock.t = T0 + 600
        taker.schedules.tick()
        assert state(taker, "backup") == SliceState.ACTIVE and taker.wire.entries()
        follower.reload()
        assert state(follower, "backup") == SliceState.ACTIVE and "backup" in follower.engine.slices


def test_the_leading_instance_starts_and_ends_bookings_on_time_a_follower_does_not(api):
    """Real clock, real owner thread: ``start()`` (every instance) runs no timer;
    ``start_audits`` (the instance that leads) does, and a booking 1 s ahead is active
    within its first second and gone within a second of its end."""
    assert not api.ctl.schedules.timer.running
    api.ctl.start_audits(None)
    assert api.ctl.schedules.timer.running
    start = time.time() + 1.0
    create(api, spec("soon", start=start, end=start + 1.5))
    get = lambda: api.slices.GetSlice(pb.GetSliceRequest(name="soon")).state   # noqa: E731
    assert get() == pb.SLICE_STATE_SCHEDULED
    while time.time() < start + 1.0 and get() != pb.SLICE_STATE_ACTIVE:
        time.sleep(0.02)
    assert get() == pb.SLICE_STATE_ACTIVE and time.time() >= start
    while time.time() < start + 2.5 and api.ctl.call(lambda: "soon" in api.ctl.engine.slices):
        time.sleep(0.02)
    assert not api.ctl.call(lambda: "soon" in api.ctl.engine.slices) and time.time() >= start + 1.5


def test_a_lifeline_booking_displaces_a_lower_one_where_they_overlap_and_the_store_says_so(tmp_path):
    clock = Clock()
    ctl, _wire, store = controller(tmp_path / "s.db", clock)
    ctl.create(spec("bulk", priority=1))
    ctl.create(spec("later", priority=1, start=T0 + 1200, end=T0 + 1800))   # same ports, after bulk
    ctl.create(spec("lifeline", port=2, priority=7, start=T0 + 900, end=T0 + 1100))
    assert state(ctl, "lifeline") == SliceState.SCHEDULED
    assert state(ctl, "bulk") == SliceState.PREEMPTED and "lifeline" in ctl.model.states["bulk"].reason
    assert state(ctl, "later") == SliceState.SCHEDULED          # no overlap: untouched
    rows = {r.name: r.state for r in store.load()}
    assert rows == {"bulk": "preempted", "later": "scheduled", "lifeline": "scheduled"}
    store.close()
    ctl2, _w, _s = controller(tmp_path / "s.db", clock)
    assert {n: state(ctl2, n) for n in ("bulk", "later", "lifeline")} == {
        "bulk": SliceState.PREEMPTED, "later": SliceState.SCHEDULED, "lifeline": SliceState.SCHEDULED}
    clock.t = T0 + 600              # bulk's start: it would overlap the lifeline ahead, so it waits
    ctl2.schedules.tick()
    assert state(ctl2, "bulk") == SliceState.PREEMPTED and "could not start" in ctl2.model.states["bulk"].reason
    assert ctl2.schedules.next_at() == T0 + 605                 # tried again in RETRY_S
    clock.t = T0 + 1100             # the lifeline has ended (it started at 900, ended at 1100)
    ctl2.schedules.tick()
    assert "lifeline" not in ctl2.engine.slices and "lifeline" not in ctl2.engine.bookings
    clock.t = T0 + 1105
    ctl2.schedules.tick()
    assert state(ctl2, "bulk") == SliceState.ACTIVE             # what is left of its interval


def test_back_to_back_bookings_on_the_same_ports_the_second_booked_while_the_first_runs(tmp_path):
    """A nightly transfer: the same ports and link every night. While the first runs (a
    slice of today until its end), the next is booked from that end, and starts the
    moment the first ends."""
    clock = Clock()
    ctl, wire, store = controller(tmp_path / "s.db", clock)
    ctl.create(spec("night-1"))
    clock.t = T0 + 600
    ctl.schedules.tick()
    assert state(ctl, "night-1") == SliceState.ACTIVE
    ctl.create(spec("night-2", start=T0 + 1200, end=T0 + 1800))
    assert state(ctl, "night-2") == SliceState.SCHEDULED and audit(ctl.engine) == []
    with pytest.raises(Rejected):                          # but not overlapping the first
        ctl.create(spec("night-x", port=2, start=T0 + 1100, end=T0 + 1300))
    with pytest.raises(Rejected, match="booked ahead by slice night-2"):
        ctl.update(spec("night-1", start=None, end=T0 + 1300))   # nor the first running into it
    clock.t = T0 + 1200
    ctl.schedules.tick()
    assert "night-1" not in ctl.engine.slices and state(ctl, "night-2") == SliceState.ACTIVE
    assert audit(ctl.engine) == []


def test_slicectl_apply_books_ahead_and_list_at_shows_what_holds_resources_then(api, capsys, tmp_path):
    from slicectl.cli import main

    now = time.time()
    f = tmp_path / "drill.yaml"
    f.write_text(yaml.safe_dump(spec("drill", start=now + 3600, end=now + 7200)))
    assert main(["apply", "-f", str(f), "--server", api.addr]) == 0
    assert "scheduled" in capsys.readouterr().out
    for t, listed in ((now + 5400, True), (now + 60, False)):
        assert main(["list", "--at", rfc3339(t), "--server", api.addr]) == 0
        assert ("drill" in capsys.readouterr().out) == listed
    assert main(["list", "--state", "scheduled", "--server", api.addr, "-o", "json"]) == 0
    assert [s["spec"]["name"] for s in json.loads(capsys.readouterr().out)] == ["drill"]
    assert main(["get", "drill", "--server", api.addr]) == 0
    assert "schedule: from " in capsys.readouterr().out
    code = main(["list", "--at", "2026-12-12T22:00:00", "--server", api.addr])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("slicectl: error: --at: ") and "timezone" in err and err.count("\n") == 1, err
