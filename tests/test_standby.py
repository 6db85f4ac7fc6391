"""Standby endpoints (disaster recovery across clouds), drain and failback, in the engine
and the compiler: no switches needed."""
from __future__ import annotations

import pytest

from controller.store import placement_from_json, placement_to_json
from slices.audit import audit
from slices.compiler import compile_slice
from slices.engine import PLACED, PREEMPTED, SliceEngine
from slices.errors import Rejected, SpecError
from slices.spec import parse_spec
from topologies import load
from topologies.ports import PortMap

JAPAN = load("japan-intercloud")
PORTS = PortMap(JAPAN)


def dr_spec(name="dr", bw=10, standby=("nagoya-dc", 2), **kw):
    return parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": bw, "priority": kw.pop("priority", 7),
                       "endpoints": [{"site": "tokyo-dc", "port": 1, "ip": "10.0.1.1"},
                                     {"site": "osaka-dc", "port": 1, "ip": "10.0.2.1",
                                      "standby": {"site": standby[0], "port": standby[1]}}], **kw}, JAPAN)


@pytest.fixture
def engine():
    e = SliceEngine(JAPAN)
    yield e
    assert audit(e) == []


def ingress_ports(engine, name):
    return {(r.switch, dict(r.match)["in_port"]) for r in compile_slice(engine.record(name), PORTS)
            if getattr(r, "priority", None) == 300}


def test_the_standby_is_validated_like_an_endpoint():
    with pytest.raises(SpecError) as e:
        dr_spec(standby=("osaka-dc", 2))
    assert "endpoints[1].standby.site" in str(e.value) and "another site" in str(e.value)
    with pytest.raises(SpecError) as e:
        dr_spec(standby=("nagoya-d", 2))
    assert "did you mean 'nagoya-dc'" in str(e.value)
    with pytest.raises(SpecError) as e:
        dr_spec(standby=("tokyo-dc", 1))
    assert "duplicate endpoint" in str(e.value) and "endpoints[1].standby" in str(e.value)
    with pytest.raises(SpecError) as e:
        parse_spec({**dr_spec().to_dict(), "endpoints": [
            {"site": "tokyo-dc", "port": 1}, {"site": "osaka-dc", "port": 1, "standby": {"site": "nagoya-dc",
                                                                                       "prot": 2}}]}, JAPAN)
    assert "endpoints[1].standby.prot" in str(e.value)
    assert dr_spec().to_dict()["endpoints"][1]["standby"] == {"site": "nagoya-dc", "port": 2}


def test_admission_reserves_the_standby_tree_and_the_standby_port(engine):
    ev = engine.admit(dr_spec())
    s = engine.slices["dr"]
    assert set(s.standby_trees) == {"osaka-dc"}
    t = s.standby_trees["osaka-dc"]
    assert {"tokyo-dc", "nagoya-dc"} <= set(t.sites) and "osaka-dc" not in t.sites
    assert s.standby_links and all(engine.residual[k] <= 100 - 10 for k in s.standby_links)
    assert "standby reserved for osaka-dc" in ev[0].reason
    with pytest.raises(Rejected) as e:          # the standby port is the slice's
        engine.admit(parse_spec({"name": "other", "tenant": "t", "bandwidth_mbps": 1,
                                 "endpoints": [{"site": "nagoya-dc", "port": 2}, {"site": "sendai-dc", "port": 2}]},
                                JAPAN))
    assert "the standby of osaka-dc:1" in e.value.reason


def test_a_standby_that_cannot_be_reserved_refuses_the_slice_and_changes_nothing(engine):
    before = dict(engine.residual)
    # the standby cannot be reached within 1.5 ms of tokyo (nagoya is ~1.9 ms away), osaka can
    with pytest.raises(Rejected) as e:
        engine.admit(dr_spec(standby=("sapporo-dc", 1), max_latency_ms=3.2))
    assert e.value.constraint == "standby" and "were osaka-dc lost" in e.value.reason
    assert engine.slices == {} and engine.residual == before and engine.endpoint_owner == {}
    # undone without a checkpoint: its tags, prefix and id are free again, and taken next
    assert engine.tags.in_use == 0 and engine.prefixes.in_use == 0
    engine.admit(dr_spec())
    assert engine.slices["dr"].number == 1 and str(engine.slices["dr"].prefix) == "10.128.0.0/24"


def test_a_lost_site_moves_the_endpoint_to_its_standby_with_its_address(engine):
    engine.admit(dr_spec())
    assert ("osaka-dc", 1) in ingress_ports(engine, "dr")
    events = engine.site_down("osaka-dc", "switch unreachable, every link silent")
    kinds = [e.kind for e in events]
    assert "endpoint-moved" in kinds and "re-placed" in kinds
    s = engine.slices["dr"]
    assert s.status == PLACED and s.moved and "osaka-dc" not in s.tree.sites and "nagoya-dc" in s.tree.sites
    assert ingress_ports(engine, "dr") == {("tokyo-dc", 1), ("nagoya-dc", 2)}
    rules = compile_slice(engine.record("dr"), PORTS)
    assert any(dict(r.match).get("ipv4_dst") == "10.0.2.1" for r in rules if hasattr(r, "match"))
    # back up: the endpoint stays at the standby (data lives there now) until failed back
    engine.site_up("osaka-dc")
    assert engine.slices["dr"].moved
    events = engine.failback("dr", "osaka-dc")
    assert events[0].kind == "failed-back" and not engine.slices["dr"].moved
    assert ("osaka-dc", 1) in ingress_ports(engine, "dr")
    assert set(engine.slices["dr"].standby_trees) == {"osaka-dc"}   # protected again


def test_failback_is_refused_while_the_primary_is_down_and_changes_nothing(engine):
    engine.admit(dr_spec())
    engine.site_down("osaka-dc")
    record = engine.record("dr")
    with pytest.raises(Rejected) as e:
        engine.failback("dr")
    assert "osaka-dc is down" in e.value.reason
    assert engine.record("dr") == record
    with pytest.raises(Rejected):
        engine.failback("dr", "tokyo-dc")       # nothing of tokyo-dc is on standby


def test_without_a_standby_a_lost_endpoint_site_preempts_the_slice(engine):
    engine.admit(parse_spec({"name": "plain", "tenant": "t", "bandwidth_mbps": 5,
                             "endpoints": [{"site": "tokyo-dc", "port": 2}, {"site": "osaka-dc", "port": 2}]}, JAPAN))
    engine.site_down("osaka-dc")
    assert engine.slices["plain"].status == PREEMPTED and "osaka-dc" in engine.slices["plain"].reason


def test_drain_moves_transit_and_standby_endpoints_and_reports_the_rest(engine):
    engine.admit(dr_spec())
    engine.admit(parse_spec({"name": "across", "tenant": "t", "bandwidth_mbps": 5,
                             "endpoints": [{"site": "tokyo-dc", "port": 2}, {"site": "fukuoka-dc", "port": 2}]},
                            JAPAN))
    engine.admit(parse_spec({"name": "stuck", "tenant": "t", "bandwidth_mbps": 5,
                             "endpoints": [{"site": "osaka-dc", "port": 2}, {"site": "sendai-dc", "port": 2}]},
                            JAPAN))
    assert "osaka-ix" in engine.slices["across"].tree.sites
    events = engine.drain("osaka-dc")               # the cloud: its endpoints with standbys leave
    assert engine.slices["dr"].moved and "osaka-dc" not in engine.slices["dr"].tree.sites
    assert [e.slice for e in events if e.kind == "drain-blocked"] == ["stuck"]
    assert engine.slices["stuck"].status == PLACED          # still served where it must be
    events = engine.drain("osaka-ix")               # the exchange: transit goes around it
    assert "osaka-ix" not in engine.slices["across"].tree.sites
    assert engine.slices["across"].status == PLACED
    # osaka-dc hangs off osaka-ix alone: the slice that must reach it stays, and is reported
    assert any(e.kind == "drain-blocked" and e.slice == "stuck" and "no way around osaka-ix" in e.reason
               for e in events)
    assert engine.slices["stuck"].status == PLACED and "osaka-ix" in engine.slices["stuck"].tree.sites
    engine.undrain("osaka-ix")
    engine.undrain("osaka-dc")
    assert engine.slices["dr"].moved                         # stays until failed back
    engine.failback("dr")
    assert not engine.slices["dr"].moved


def test_moves_and_standby_trees_survive_the_store_and_a_restart(engine):
    engine.admit(dr_spec())
    engine.site_down("osaka-dc")
    engine.site_up("osaka-dc")
    p = engine.record("dr")
    again = placement_from_json(p.spec, placement_to_json(p))
    assert again == p
    fresh = SliceEngine(JAPAN)
    fresh.adopt(again)
    assert fresh.record("dr") == p and fresh.residual == engine.residual
    assert audit(fresh) == []


def test_a_slice_cut_off_before_its_site_is_declared_lost_comes_back_at_the_standby(engine):
    """The probes find the uplink dead before the site counts as lost: the slice waits,
    preempted, then is restored at the standby."""
    engine.admit(dr_spec())
    engine.link_down("osaka-dc", "osaka-ix", "3 probes unanswered")
    assert engine.slices["dr"].status == PREEMPTED
    events = engine.site_down("osaka-dc")
    assert engine.slices["dr"].status == PLACED and engine.slices["dr"].moved
    assert [e.kind for e in events if e.slice == "dr"] == ["endpoint-moved", "restored"]
