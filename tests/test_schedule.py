"""A spec's schedule (issue 27): RFC 3339 times with a timezone, ISO 8601 durations, and
one clear error per problem, with its field path."""
from datetime import datetime, timezone

import pytest

from slices.errors import SpecError
from slices.schedule import GRACE_S, Schedule, interval_text, iso_duration, parse_duration
from slices.spec import parse_spec

NOW = datetime(2026, 12, 11, 12, 0, tzinfo=timezone.utc).timestamp()
DOC = {"name": "drill", "tenant": "t", "bandwidth_mbps": 10,
       "endpoints": [{"site": "tokyo-dc", "port": 1}, {"site": "osaka-dc", "port": 1}]}


def parsed(schedule, now=NOW):
    return parse_spec({**DOC, "schedule": schedule}, now=now).schedule


def problems(schedule, now=NOW):
    with pytest.raises(SpecError) as e:
        parse_spec({**DOC, "schedule": schedule}, now=now)
    return str(e.value)


def test_start_and_end_with_offsets_are_instants():
    s = parsed({"start": "2026-12-12T07:00:00+09:00", "end": "2026-12-11T23:00:00Z"})
    assert s == Schedule(start=NOW + 10 * 3600, end=NOW + 11 * 3600)
    assert s.window(NOW) == (s.start, s.end)
    assert parse_spec({**DOC, "schedule": s.to_dict()}, now=NOW).schedule == s   # round trip


def test_duration_counts_from_start_or_from_admission():
    assert parsed({"start": "2026-12-12T22:00:00Z", "duration": "PT1H30M"}).end == \
        datetime(2026, 12, 12, 23, 30, tzinfo=timezone.utc).timestamp()
    s = parsed({"duration": "P1DT2H"})
    assert s == Schedule(duration=26 * 3600) and s.window(NOW + 5) == (NOW + 5, NOW + 5 + 26 * 3600)
    assert s.resolved(NOW) == Schedule(start=NOW, end=NOW + 26 * 3600)
    assert parsed({"end": "2026-12-12T00:00:00Z"}).window(NOW) == (NOW, NOW + 12 * 3600)
    assert parse_spec(DOC).schedule is None and "schedule" not in parse_spec(DOC).to_dict()


@pytest.mark.parametrize("schedule, message", [
    ({"start": "2026-12-12T22:00:00Z", "end": "2026-12-12T21:00:00Z"},
     "schedule.end: 2026-12-12T21:00:00Z is not after the start 2026-12-12T22:00:00Z"),
    ({"start": "2026-12-11T11:58:00Z"},
     "schedule.start: 2026-12-11T11:58:00Z is in the past (now is 2026-12-11T12:00:00Z): leave start out to begin now"),
    ({"start": "2026-12-12T22:00:00"},
     "schedule.start: '2026-12-12T22:00:00' has no timezone: add 'Z' for UTC or an offset such as '+09:00'"),
    ({"start": "2026-12-12"}, "schedule.start: '2026-12-12' has no timezone"),
    ({"end": "tomorrow"}, "schedule.end: not an RFC 3339 time: 'tomorrow'"),
    ({"duration": "2h"}, "schedule.duration: must be an ISO 8601 duration such as 'PT2H'"),
    ({"duration": "P1M"}, "schedule.duration: must be an ISO 8601 duration"),   # months vary: refused
    ({"end": "2026-12-12T22:00:00Z", "duration": "PT1H"}, "schedule.duration: give an end or a duration, not both"),
    ({"start": "2026-12-12T22:00:00Z", "stop": "x"}, "schedule.stop: unknown field (allowed: start, end, duration)"),
    ({}, "schedule: is empty"),
    ("PT2H", "schedule: must be a mapping"),
    ({"start": "2029-12-12T22:00:00Z"}, "schedule.start: 2029-12-12T22:00:00Z is more than two years ahead"),
    ({"end": "2026-12-11T11:00:00Z"}, "schedule.end: 2026-12-11T11:00:00Z is in the past"),
])
def test_each_problem_is_one_clear_error(schedule, message):
    text = problems(schedule)
    assert text.startswith(message), text
    assert ";" not in text    # one problem, one error


def test_a_start_within_the_grace_is_now():
    assert parsed({"start": "2026-12-11T11:59:30Z"}).window(NOW) == (NOW, float("inf"))
    assert GRACE_S == 60


def test_without_now_the_past_is_not_judged():
    # a client validating a file offline has no authoritative clock; the server passes it
    assert parsed({"start": "2020-01-01T00:00:00Z"}, now=None).start is not None


def test_standby_endpoints_cannot_be_booked_ahead_yet():
    doc = {**DOC, "endpoints": [{"site": "tokyo-dc", "port": 1, "standby": {"site": "nagoya-dc", "port": 1}},
                                {"site": "osaka-dc", "port": 1}], "schedule": {"duration": "PT1H"}}
    with pytest.raises(SpecError, match="^schedule: a slice with standby endpoints cannot be booked ahead yet"):
        parse_spec(doc, now=NOW)


def test_durations_and_intervals_read_back():
    assert parse_duration("PT2H") == (7200.0, "") and iso_duration(7200) == "PT2H"
    assert iso_duration(90061) == "P1DT1H1M1S" and parse_duration(iso_duration(90061))[0] == 90061
    assert interval_text(NOW + 10 * 3600, NOW + 11 * 3600) == "2026-12-11T22:00–23:00"
    assert interval_text(NOW, float("inf")) == "2026-12-11T12:00–∞"


def test_the_schedule_crosses_the_api_as_text_and_back():
    from proto.convert import spec_message, spec_to_doc

    spec = parse_spec({**DOC, "schedule": {"start": "2026-12-12T22:00:00+09:00", "duration": "PT90M"}}, now=NOW)
    msg = spec_message(spec)
    assert (msg.schedule.start, msg.schedule.end, msg.schedule.duration) == \
        ("2026-12-12T13:00:00Z", "2026-12-12T14:30:00Z", "")
    assert parse_spec(spec_to_doc(msg), now=NOW) == spec
    assert not spec_message(parse_spec(DOC)).HasField("schedule")
    assert "schedule" not in spec_to_doc(spec_message(parse_spec(DOC)))
