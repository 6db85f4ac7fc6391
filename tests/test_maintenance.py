"""Issue 27 item 6, maintenance windows: a site or link drained over [start, end), planned
ahead. Drained LEAD_S before its start, undrained at its end (fake clock); kept over a
restart; bookings overlapping it are placed around it, those that do not may use it; a
window some booking cannot avoid is refused naming it, changing nothing."""
from __future__ import annotations

import pytest

from controller.store import Store
from slices.audit import audit
from slices.engine import SliceEngine
from slices.errors import Rejected, SpecError
from slices.schedule import rfc3339
from slices.windows import LEAD_S, Window, window_from
from tests.harness import free_port
from tests.test_booking import JAPAN, NOW, H, spec
from tests.test_schedule_controller import T0, Clock, controller

OSAKA_TOKYO = frozenset(("osaka-ix", "tokyo-ix"))


@pytest.fixture
def engine():
    e = SliceEngine(JAPAN)
    yield e
    assert audit(e) == []


def test_overlapping_booking_avoids_the_link_one_not_overlapping_may_use_it(engine):
    engine.plan_window(Window("w", NOW + 10 * H, NOW + 12 * H, link=OSAKA_TOKYO))
    engine.book_ahead(spec("during", 10, start=11, end=13), NOW)
    engine.book_ahead(spec("after", 10, start=13, end=14), NOW)
    assert OSAKA_TOKYO not in engine.bookings["during"].tree.links
    assert OSAKA_TOKYO in engine.bookings["after"].tree.links      # the shortest way, free again


def test_booking_admitted_before_is_placed_again_around_a_new_window(engine):
    engine.book_ahead(spec("drill", 10, start=11, end=12), NOW)
    assert OSAKA_TOKYO in engine.bookings["drill"].tree.links
    events = engine.plan_window(Window("w", NOW + 10 * H, NOW + 12 * H, link=OSAKA_TOKYO))
    assert [(e.kind, e.slice) for e in events] == [("re-placed", "drill")]
    assert OSAKA_TOKYO not in engine.bookings["drill"].tree.links


def test_window_a_booking_cannot_avoid_is_refused_naming_it_and_changes_nothing(engine):
    engine.book_ahead(spec("drill", 10, start=11, end=12), NOW)
    engine.book_ahead(spec("later", 10, start=20, end=21), NOW)
    before = (dict(engine.bookings["drill"].tags), engine.bookings["drill"].tree, dict(engine.windows))
    with pytest.raises(Rejected) as e:   # osaka-dc's only way out is osaka-ix
        engine.plan_window(Window("w", NOW + 10 * H, NOW + 12 * H, site="osaka-ix"))
    assert "booking drill (no path" in e.value.reason and "later" not in e.value.reason
    assert (dict(engine.bookings["drill"].tags), engine.bookings["drill"].tree, dict(engine.windows)) == before
    # a booking with an endpoint at a site in maintenance is refused too
    engine.plan_window(Window("w2", NOW + 30 * H, NOW + 32 * H, site="osaka-dc"))
    with pytest.raises(Rejected, match="site osaka-dc is in maintenance"):
        engine.book_ahead(spec("late", 10, start=31, end=33), NOW)


def test_bad_times_name_the_field():
    with pytest.raises(SpecError, match="^end: required"):
        window_from("osaka-ix", None, rfc3339(NOW + H), "", NOW)
    with pytest.raises(SpecError, match="^start: .* has no timezone"):
        window_from("osaka-ix", None, "2026-12-12T22:00:00", rfc3339(NOW + H), NOW)
    with pytest.raises(SpecError, match="^end: .* is not after the start"):
        window_from("osaka-ix", None, rfc3339(NOW + 2 * H), rfc3339(NOW + H), NOW)


def plan(ctl, start, end, site="nagoya-ix", link=None):
    return ctl.call(lambda: ctl.plan_window(site if not link else "", link, rfc3339(start), rfc3339(end)))


def test_window_drains_lead_before_start_and_undrains_at_end_across_a_restart(tmp_path):
    clock = Clock()
    path = tmp_path / "s.db"
    ctl, _wire, store = controller(path, clock)
    ctl.start()
    try:
        w, _ = plan(ctl, T0 + 600, T0 + 1200)
        assert ctl.call(lambda: ctl.schedules.next_at()) == T0 + 600 - LEAD_S
    finally:
        ctl.stop()
        store.close()
    ctl, _wire, store = controller(path, clock)     # restart between planning and start
    ctl.start()
    try:
        assert w.id in ctl.engine.windows
        clock.t = T0 + 600 - LEAD_S - 1
        ctl.call(ctl.schedules.tick)
        assert "nagoya-ix" not in ctl.engine.drained
        clock.t = T0 + 600 - LEAD_S
        ctl.call(ctl.schedules.tick)
        assert "nagoya-ix" in ctl.engine.drained
        assert ctl.call(lambda: ctl.schedules.next_at()) == T0 + 1200
        clock.t = T0 + 1200
        ctl.call(ctl.schedules.tick)
        assert "nagoya-ix" not in ctl.engine.drained and not ctl.engine.windows
        assert store.windows() == []
    finally:
        ctl.stop()
        store.close()


def test_api_and_cli_plan_list_refuse_and_cancel(tmp_path, capsys):
    """In-process gRPC: a window planned with DrainSite(start, end) is listed, bad times
    name the field, an unknown window is NOT_FOUND, UndrainSite(window) cancels it."""
    import grpc
    from controller.service import serve
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from proto.intercloud.slicing.v1 import slicing_pb2_grpc as pb_grpc
    from slicectl.cli import main

    clock = Clock()
    ctl, _wire, store = controller(tmp_path / "s.db", clock)
    ctl.start()
    port = free_port()
    srv = serve(ctl, f"127.0.0.1:{port}")
    try:
        api = pb_grpc.TopologyServiceStub(grpc.insecure_channel(f"127.0.0.1:{port}"))
        t = api.DrainLink(pb.DrainLinkRequest(a="osaka-ix", b="tokyo-ix", start=rfc3339(T0 + 600),
                                              end=rfc3339(T0 + 1200)))
        assert [(w.a, w.b, w.draining) for w in t.windows] == [("osaka-ix", "tokyo-ix", False)]
        with pytest.raises(grpc.RpcError) as e:
            api.DrainSite(pb.DrainSiteRequest(site="nagoya-ix", start=rfc3339(T0 + 600), end=rfc3339(T0 + 60)))
        assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "end: " in e.value.details()
        with pytest.raises(grpc.RpcError) as e:
            api.UndrainSite(pb.UndrainSiteRequest(site="nagoya-ix", window="nope"))
        assert e.value.code() == grpc.StatusCode.NOT_FOUND
        assert len(api.GetTopology(pb.GetTopologyRequest()).windows) == 1
        wid = t.windows[0].id
        assert main(["site", "windows", "--server", f"127.0.0.1:{port}"]) in (0, None)
        assert wid in capsys.readouterr().out
        assert main(["site", "drain", "nagoya-ix", "--from", "2030-03-17T18:00:00", "--until",
                     rfc3339(T0 + 1200), "--server", f"127.0.0.1:{port}"]) != 0
        assert "--from: " in capsys.readouterr().err
        assert main(["link", "undrain", "osaka-ix", "tokyo-ix", "--window", wid,
                     "--server", f"127.0.0.1:{port}"]) in (0, None)
        assert not api.GetTopology(pb.GetTopologyRequest()).windows and store.windows() == []
    finally:
        srv.stop(0)
        ctl.stop()
        store.close()
