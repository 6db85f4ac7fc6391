"""The audit's capacity check has no slack: a link booked 1 % over its capacity is
reported (tests/test_checkers.py injects 20x), one booked to exactly its capacity is not."""
from __future__ import annotations

from dataclasses import replace

import pytest

from slices.audit import audit
from slices.engine import SliceEngine
from slices.spec import parse_spec
from topologies import load

TOPO = load("two-clouds")   # one 20 Mbit/s link between the clouds
TOPO = replace(TOPO, sites=tuple(replace(s, hosts=4 if s.kind == "cloud" else 0) for s in TOPO.sites))
LINK = frozenset(("tokyo-ix", "osaka-ix"))


@pytest.fixture
def full():
    """The inter-cloud link booked to exactly its 20 Mbit/s by two slices."""
    engine = SliceEngine(TOPO)
    for port in (1, 2):
        engine.admit(parse_spec({"name": f"s{port}", "tenant": "t", "bandwidth_mbps": 10,
                                 "endpoints": [{"site": "tokyo-dc", "port": port},
                                               {"site": "osaka-dc", "port": port}]}, TOPO))
    assert engine.capacity[LINK] == 20 and engine.residual[LINK] == 0
    return engine


def _set_capacity(engine: SliceEngine, capacity: float) -> None:
    """The link's capacity made ``capacity``, its residual kept consistent with it: only
    the oversubscription itself is wrong."""
    engine.ledger.capacity = {**engine.ledger.capacity, LINK: capacity}
    engine.ledger.residual[LINK] = capacity - 20


def test_a_link_booked_to_exactly_its_capacity_passes(full):
    assert audit(full) == []


def test_a_link_booked_one_percent_over_its_capacity_is_reported(full):
    _set_capacity(full, 20 / 1.01)
    assert audit(full) == [f"link ['osaka-ix', 'tokyo-ix'] oversubscribed: 20 > {20 / 1.01:g}"]


@pytest.mark.parametrize("over", [1.001, 1.01, 1.5, 2.0, 20.0])
def test_any_oversubscription_is_reported(full, over):
    _set_capacity(full, 20 / over)
    assert [p for p in audit(full) if "oversubscribed" in p] != []
