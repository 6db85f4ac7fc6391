"""Issue 27 item 7, seeing the plan: ``slicectl schedule`` and GetSchedule. The peaks per
interval (pure, slices/timeline.py), the RPC in process with simulated switches, the
CLI's tables and plots, and a tenant that sees its own slices only."""
from __future__ import annotations

import json
import math
import time

import grpc
import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slices.schedule import rfc3339
from slices.timeline import Span, default_range, link_timeline, stacked
from tests.harness import create, error_of
from tests.test_schedule_controller import spec
from tests.test_tenant_trust import Tenants

H = 3600.0


def spans():
    return [Span("a", "t", 0, 10 * H, 40), Span("b", "t", 5 * H, 15 * H, 30),
            Span("c", "t", 20 * H, math.inf, 10, ahead=False), Span("gone", "t", -5 * H, -1 * H, 90)]


# -- pure ------------------------------------------------------------------------------------

def test_each_interval_gets_the_peak_booked_over_it_and_the_range_clips_it():
    t = link_timeline("x", "y", 100, spans(), 0, 30 * H)
    assert [(r.span.slice, r.t0, r.t1, r.peak_mbps) for r in t.rows] == [
        ("a", 0, 10 * H, 70), ("b", 5 * H, 15 * H, 70), ("c", 20 * H, 30 * H, 10)]   # "gone" ended before
    assert t.steps == ((0, 5 * H, 40), (5 * H, 10 * H, 70), (10 * H, 15 * H, 30), (15 * H, 20 * H, 0),
                       (20 * H, 30 * H, 10))
    assert t.peak_mbps == 70 and t.name == "x—y"
    late = link_timeline("x", "y", 100, spans(), 11 * H, 30 * H)   # a's part is gone: b alone
    assert [(r.span.slice, r.peak_mbps) for r in late.rows] == [("b", 30), ("c", 10)]


def test_back_to_back_bookings_do_not_add_up():
    t = link_timeline("x", "y", 100, [Span("a", "t", 0, H, 60), Span("b", "t", H, 2 * H, 60)], 0, 2 * H)
    assert [r.peak_mbps for r in t.rows] == [60, 60] and t.peak_mbps == 60


def test_the_default_range_runs_from_now_to_the_last_end_else_a_day():
    assert default_range(spans(), now=H) == (H, 15 * H)
    assert default_range([Span("c", "t", 0, math.inf, 1)], now=H) == (H, 25 * H)
    assert default_range(spans(), now=H, since=2 * H, until=3 * H) == (2 * H, 3 * H)


def test_stacked_bars_never_overlap():
    rows = link_timeline("x", "y", 100, spans(), 0, 30 * H).rows
    placed = stacked(rows)
    for i, (r, below) in enumerate(placed):
        for other, obelow in placed[:i]:
            if other.t0 < r.t1 and r.t0 < other.t1:     # overlapping in time: one above the other
                assert below >= obelow + other.span.mbps or obelow >= below + r.span.mbps


# -- the RPC in process ------------------------------------------------------------------------

def book_two(api, now):
    create(api, spec("drill", start=now + H, end=now + 2 * H, bw=40))
    create(api, spec("night", start=now + 1.5 * H, end=now + 2.5 * H, bw=30, port=2))
    create(api, spec("web", start=None, end=None, bw=10,
                     endpoints=[{"site": "nagoya-dc", "port": 1}, {"site": "sendai-dc", "port": 1}]))


def link_of(msg, a, b):
    return next(l for l in msg.links if {l.a, l.b} == {a, b})


def test_get_schedule_gives_each_link_its_bookings_and_capacity(api):
    now = time.time()
    book_two(api, now)
    got = api.topology.GetSchedule(pb.GetScheduleRequest())
    assert got.topology == "japan-intercloud" and not got.others_hidden
    assert got.since.ToSeconds() == pytest.approx(now, abs=5)
    assert got.until.ToSeconds() == pytest.approx(now + 2.5 * H, abs=1)      # the last end
    access = link_of(got, "tokyo-dc", "tokyo-ix")
    assert access.bandwidth_mbps == 100
    assert [(s.slice, s.mbps, s.ahead) for s in access.spans] == [("drill", 40, True), ("night", 30, True)]
    assert access.spans[0].end.ToSeconds() == pytest.approx(now + 2 * H, abs=1)
    web = link_of(got, "nagoya-dc", "nagoya-ix").spans
    assert [(s.slice, s.ahead, s.HasField("end")) for s in web] == [("web", False, False)]
    one = api.topology.GetSchedule(pb.GetScheduleRequest(link_a="tokyo-ix", link_b="tokyo-dc",
                                                         since=rfc3339(now + 2.2 * H)))
    assert [(l.a, l.b) for l in one.links] == [("tokyo-dc", "tokyo-ix")]
    assert [s.slice for s in one.links[0].spans] == ["night"]               # drill ended by then


@pytest.mark.parametrize("request_, field", [
    (pb.GetScheduleRequest(since="tomorrow"), "since"),
    (pb.GetScheduleRequest(until="2026-12-12T22:00:00"), "until"),              # no timezone
    (pb.GetScheduleRequest(since="2026-12-12T22:00:00Z", until="2026-12-12T21:00:00Z"), "until"),
    (pb.GetScheduleRequest(link_a="tokyo-dc", link_b="osaka-dc"), "link_a"),   # no such link
])
def test_get_schedule_refuses_a_bad_range_or_link_naming_the_field(api, request_, field):
    err = error_of(lambda: api.topology.GetSchedule(request_))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and field in err.details(), err.details()


def test_a_tenant_sees_only_its_own_slices_by_their_bare_names(tmp_path):
    t = Tenants(tmp_path)
    try:
        now = time.time()
        for who, name, port in (("acme", "erp-backup", 1), ("beta", "secret-drill", 2)):
            t.create(who, name, 30, port, schedule={"start": rfc3339(now + H), "end": rfc3339(now + 2 * H)})
        seen = lambda who: t.topology.GetSchedule(pb.GetScheduleRequest(), metadata=t.as_(who), timeout=10)  # noqa: E731
        acme = seen("acme")
        names = {s.slice for l in acme.links for s in l.spans}
        assert names == {"erp-backup"} and acme.others_hidden
        assert "secret" not in str(acme) and "beta" not in str(acme)
        assert link_of(acme, "tokyo-dc", "tokyo-ix").bandwidth_mbps == 100     # capacity is everyone's to see
        ops = seen("ops")
        assert {s.slice for l in ops.links for s in l.spans} == {"acme/erp-backup", "beta/secret-drill"}
        assert not ops.others_hidden
    finally:
        t.close()


# -- the CLI -----------------------------------------------------------------------------------

def test_slicectl_schedule_prints_a_table_per_link_with_peaks_and_draws_png_and_svg(api, capsys, tmp_path):
    from slicectl.cli import main

    now = time.time()
    book_two(api, now)
    assert main(["schedule", "--server", api.addr, "--plot", str(tmp_path / "plan.png")]) == 0
    out = capsys.readouterr().out
    assert out.startswith("schedule of japan-intercloud, ")
    block = out.split("link tokyo-dc—tokyo-ix: ")[1].split("\n\n")[0]
    assert block.startswith("100 Mbit/s, peak booked 70 / 100 (70%)")
    assert [line.split()[2:6] for line in block.splitlines()[2:]] == [["drill", "3", "40", "70"],
                                                                      ["night", "3", "30", "70"]]
    assert "until deleted  web" in out and "links with nothing booked in the range" in out
    assert (tmp_path / "plan.png").read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert main(["schedule", "--link", "tokyo-dc", "tokyo-ix", "--from", rfc3339(now), "--until",
                 rfc3339(now + 3 * H), "-o", "json", "--server", api.addr, "--plot", str(tmp_path / "p.svg")]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert [(s["slice"], s["peak_mbps"]) for s in doc["links"][0]["spans"]] == [("drill", 70), ("night", 70)]
    assert doc["links"][0]["peak_mbps"] == 70
    root = (tmp_path / "p.svg").read_text()
    assert "<svg" in root and root.rstrip().endswith("</svg>")


def test_slicectl_schedule_refuses_a_time_without_timezone_and_a_plot_of_another_kind(capsys):
    from slicectl.cli import main

    assert main(["schedule", "--from", "2026-12-12T22:00:00", "--server", "127.0.0.1:9"]) == 2
    assert "--from: " in capsys.readouterr().err
    assert main(["schedule", "--plot", "plan.pdf", "--server", "127.0.0.1:9"]) == 2
    assert ".png or .svg" in capsys.readouterr().err


# -- the HTML report ---------------------------------------------------------------------------

def test_the_report_shows_the_run_records_bookings_and_else_a_schedule_file(tmp_path, capsys):
    import base64
    import re

    from slicectl.cli import main
    from slicectl.htmlreport import write
    from slicectl.timeline import as_data, from_slices
    from tests.test_htmlreport import PNG, record
    from topologies import load

    run = record()
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps(run))
    assert "report-schedule.png" not in [p.name for p in write(plain, tmp_path / "a" / "r.html")]   # no booking
    drill = pb.Slice(spec=pb.SliceSpec(name="drill", tenant="mhlw", bandwidth_mbps=40, priority=5,
                                       schedule=pb.Schedule(start="2030-03-17T18:00:00Z", end="2030-03-17T19:00:00Z")),
                     state=pb.SLICE_STATE_SCHEDULED, tree=[pb.Link(a="tokyo-dc", b="tokyo-ix")])
    booked = tmp_path / "booked.json"
    booked.write_text(json.dumps({**run, "slices": run["slices"] + [as_dict(drill)]}))
    written = write(booked, tmp_path / "b" / "r.html")
    assert "report-schedule.png" in [p.name for p in written]
    page = written[0].read_text()
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 4 and all(base64.b64decode(i).startswith(PNG) for i in images)
    assert "Bookings per link over time" in page and "drill" in page
    plan = from_slices(load("japan-intercloud"), [drill], 1_900_000_000.0)
    sched = tmp_path / "schedule.json"
    sched.write_text(json.dumps(as_data(plan)))
    out = tmp_path / "c" / "r.html"
    assert main(["report", "--run", str(plain), "--schedule", str(sched), "--out", str(out)]) == 0
    capsys.readouterr()
    assert (out.parent / "report-schedule.png").read_bytes().startswith(PNG)
    assert "2030-03-17T18:00" in out.read_text()


def as_dict(msg) -> dict:
    from google.protobuf import json_format
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)
