"""No WARNING for the expected settling of links when a WAN starts (issue 29): a link that
goes down moments after a switch at one end connected (Open vSwitch starting BFD on its
ports) is logged at INFO; it gets its WARNING only if it is still down when the settling
ends; any other link that goes down WARNs at once. The controller acts the same either way."""
from __future__ import annotations

import logging
import time

import pytest

from controller.settings import CoreSettings
from controller.settling import Settling
from tests.harness import Running

A, B = "tokyo-ix", "osaka-ix"


def records(caplog, level: int) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno == level and r.name == "intercloud.controller"
            and "link" in r.getMessage()]


def down(r: Running, up: bool = False) -> None:
    port = r.ctl.ports.toward(A, B)
    r.ctl.call(lambda: r.ctl.port_changed(A, port, up=up))


@pytest.fixture
def settling(tmp_path):
    r = Running(tmp_path / "store.db", settings=CoreSettings(settle_s=1.5))   # its switches just connected
    yield r
    r.close()


def test_a_link_settling_after_its_switch_connected_is_info_and_clears_quietly(settling, caplog):
    caplog.set_level(logging.INFO, logger="intercloud.controller")
    down(settling)
    assert frozenset((A, B)) in settling.ctl.engine.down_links        # acted on all the same
    assert records(caplog, logging.WARNING) == []
    (info,) = [m for m in records(caplog, logging.INFO) if "not up yet" in m]
    assert f"{A}—{B}" in info and "port" in info and "a warning follows" in info
    down(settling, up=True)                                           # back within the settling
    time.sleep(1.7)
    assert records(caplog, logging.WARNING) == []


def test_a_link_still_down_when_the_settling_ends_gets_its_warning(settling, caplog):
    caplog.set_level(logging.INFO, logger="intercloud.controller")
    down(settling)
    deadline = time.monotonic() + 5
    while not records(caplog, logging.WARNING) and time.monotonic() < deadline:
        time.sleep(0.05)
    (warning,) = records(caplog, logging.WARNING)
    assert warning.startswith(f"link {A}—{B} down: ") and "still down" in warning


def test_a_link_down_long_after_start_warns_at_once(tmp_path, caplog):
    r = Running(tmp_path / "store.db", settings=CoreSettings(settle_s=0.0))
    try:
        caplog.set_level(logging.INFO, logger="intercloud.controller")
        down(r)
        assert records(caplog, logging.WARNING) == [f"link {A}—{B} down: {A} port {r.ctl.ports.toward(A, B)} down"]
    finally:
        r.close()


def test_the_settling_window_runs_from_the_later_end():
    now = [100.0]
    s = Settling(10.0, clock=lambda: now[0])
    assert s.left_s(A, B) == 0.0                     # neither end has connected here
    s.joined(A)
    now[0] = 104.0
    s.joined(B)
    assert s.left_s(A, B) == 10.0 and s.left_s(A, "nagoya-ix") == 6.0
    now[0] = 115.0
    assert s.left_s(A, B) == 0.0
    s.hold(frozenset((A, B)), "why")
    assert s.release(frozenset((A, B))) == "why" and s.release(frozenset((A, B))) is None
