"""Live SLA monitoring (controller.sla), rerouting for a bound (SliceEngine.reroute), and the
probe rules the compiler adds for it: pure, with a clock in the test's hands."""
from __future__ import annotations

import pytest

from controller.sla import MEASURING, VIOLATED, WITHIN, SlaMonitor, parse_probe, probe_frame, targets_of
from slices.compiler import compile_slice
from slices.engine import SliceEngine
from slices.rules import OFPP_CONTROLLER, PRIO_SLA_CATCH, PRIO_SLA_GUARD, PRIO_SLA_INJECT, sla_mac, sla_mac_slice
from slices.spec import parse_spec
from topologies import load
from topologies.ports import PortMap

JAPAN = load("japan-intercloud")


def engine_with(bound=None, sites=("tokyo-dc", "osaka-dc")) -> SliceEngine:
    e = SliceEngine(JAPAN)
    doc = {"name": "s", "tenant": "t", "bandwidth_mbps": 10,
           "endpoints": [{"site": x, "port": 1 + sites[:i].count(x)} for i, x in enumerate(sites)]}
    if bound is not None:
        doc["max_latency_ms"] = bound
    e.admit(parse_spec(doc, JAPAN))
    return e


class Clock:
    """Sends each round's probes and answers them after ``delay_ms`` (None: never)."""

    def __init__(self, monitor: SlaMonitor, targets):
        self.m, self.targets, self.t, self.seq = monitor, targets, 0.0, 0

    def run(self, seconds: float, delay_ms=5.0) -> list:
        turned = []
        end = self.t + seconds
        while self.t < end - 1e-9:
            self.m.watch(self.targets, self.t)
            for t in self.m.due(self.targets):
                self.seq += 1
                self.m.sent(t, self.seq, self.t)
                if delay_ms is not None:
                    assert self.m.answered(self.seq, self.t + delay_ms / 1000 + 0.002, lambda _t: 0.002) \
                        == pytest.approx(delay_ms)
            self.t += self.m.interval_s
            statuses, names = self.m.evaluate(self.t, 1000 + self.t, self.targets)
            turned += [(round(self.t, 3), statuses[n].state) for n in names]
        return turned


def test_a_probe_frame_is_ipv4_between_the_endpoints_from_the_slices_address():
    t = targets_of(engine_with().record("s"))[0]
    frame = probe_frame(t, nonce=9, seq=77)
    assert frame[6:12] == bytes.fromhex(sla_mac(1).replace(":", "")) and sla_mac_slice(sla_mac(1)) == 1
    assert frame[12:14] == b"\x08\x00" and frame[30:34] == bytes(map(int, t.dst_ip.split(".")))
    assert parse_probe(frame, 9) == 77
    assert parse_probe(frame, 10) is None and parse_probe(frame[:30], 9) is None
    # a correct IPv4 header checksum: the sum over the header is 0xffff
    header = frame[14:34]
    total = sum(int.from_bytes(header[i:i + 2], "big") for i in range(0, 20, 2))
    assert (total & 0xFFFF) + (total >> 16) == 0xFFFF


def test_targets_both_ways_between_every_two_endpoint_sites():
    rec = engine_with(sites=("tokyo-dc", "osaka-dc", "nagoya-dc")).record("s")
    pairs = {t.pair for t in targets_of(rec)}
    assert len(pairs) == 6 and ("osaka-dc", "tokyo-dc") in pairs and ("tokyo-dc", "osaka-dc") in pairs
    assert targets_of(engine_with(sites=("tokyo-dc", "tokyo-dc")).record("s")) == []


def test_probe_rules_let_only_the_controller_in_and_hand_arrivals_to_it():
    rec = engine_with().record("s")
    rules = [r for r in compile_slice(rec, PortMap(JAPAN)) if getattr(r, "priority", None)
             in (PRIO_SLA_INJECT, PRIO_SLA_GUARD, PRIO_SLA_CATCH)]
    src = ("eth_src", sla_mac(rec.number))
    inject = [r for r in rules if r.priority == PRIO_SLA_INJECT]
    assert {r.switch for r in inject} == {"tokyo-dc", "osaka-dc"}
    assert all(dict(r.match) == dict([src, ("in_port", OFPP_CONTROLLER)]) for r in inject)
    guard = [r for r in rules if r.priority == PRIO_SLA_GUARD]
    assert {(r.switch, dict(r.match)["in_port"]) for r in guard} == {("tokyo-dc", 1), ("osaka-dc", 1)}
    assert all(r.actions == () and src in r.match for r in guard)
    catch = {(r.switch, dict(r.match)["ipv4_dst"]) for r in rules if r.priority == PRIO_SLA_CATCH}
    assert catch == {(e.site, a) for e, a in rec.addresses}


def test_within_bound_then_violated_after_the_hold_then_restored():
    targets = targets_of(engine_with(bound=20).record("s"))
    m = SlaMonitor(interval_s=0.5, window=3, hold_s=2.0)
    clock = Clock(m, targets)
    assert clock.run(3, delay_ms=6) == [(0.5, WITHIN)]
    status = m.evaluate(clock.t, 0, targets)[0]["s"]
    assert status.delay_ms == pytest.approx(6) and "6.0 ms of 20 ms" in status.reason
    turned = clock.run(6, delay_ms=35)
    # the smallest of 3 samples is over the bound from the 3rd slow round; flagged 2 s later
    assert turned == [(pytest.approx(3 + 1.5 + 2.0), VIOLATED)]
    status = m.evaluate(clock.t, 0, targets)[0]["s"]
    assert "35.0 ms, over the bound of 20 ms" in status.reason and not status.lost
    assert clock.run(1.5, delay_ms=6) == []            # not cleared before the hold
    # fast again from the round at 9.0 s: cleared at the evaluation after it (9.5) + 2 s
    assert clock.run(2, delay_ms=6) == [(pytest.approx(11.5), WITHIN)]


def test_a_slice_whose_probes_vanish_is_violated_as_lost_even_without_a_bound():
    targets = targets_of(engine_with(bound=None).record("s"))
    m = SlaMonitor(interval_s=0.5, window=2, hold_s=1.0)
    clock = Clock(m, targets)
    assert clock.run(2) == [(0.5, WITHIN)]
    turned = clock.run(6, delay_ms=None)
    assert [s for _t, s in turned] == [VIOLATED]
    status = m.evaluate(clock.t, 0, targets)[0]["s"]
    assert status.lost and "no probe answered" in status.reason


def test_past_the_probe_budget_each_round_probes_the_next_share_and_silence_waits_for_it():
    targets = targets_of(engine_with(sites=("tokyo-dc", "osaka-dc", "fukuoka-dc")).record("s"))
    assert len(targets) == 6
    m = SlaMonitor(interval_s=0.5, window=2, hold_s=1.0, max_probes_per_s=4)   # 2 a round
    rounds = []
    for _ in range(6):
        rounds.append(m.due(targets))
    assert all(len(r) == 2 for r in rounds) and m.rounds == 3
    assert {t.pair for r in rounds[:3] for t in r} == {t.pair for t in targets}   # all in 3 rounds
    clock = Clock(m, targets)
    # each pair answered once every 3 rounds: within bound, never taken for silent
    assert clock.run(12) == [(0.5, MEASURING), (1.5, WITHIN)]
    turned = clock.run(12, delay_ms=None)
    status = m.evaluate(clock.t, 0, targets)[0]["s"]
    assert [s for _t, s in turned] == [VIOLATED] and status.lost
    assert "for 4 s" in status.reason       # hold 1 s + window 2 x every 1.5 s
    with pytest.raises(ValueError):
        SlaMonitor(max_probes_per_s=0)


def test_measuring_until_every_pair_answered_and_a_new_tree_starts_afresh():
    e = engine_with(bound=20)
    targets = targets_of(e.record("s"))
    m = SlaMonitor(interval_s=0.5, window=3, hold_s=1.0)
    m.watch(targets, 0.0)
    assert m.evaluate(0.1, 0, targets)[0]["s"].state == MEASURING
    Clock(m, targets).run(2, delay_ms=30)
    moved = [t.__class__(**{**t.__dict__, "version": ("other tree",)}) for t in targets]
    m.watch(moved, 2.0)
    assert m.answered(10_000, 2.1, lambda _t: 0) is None
    status = m.evaluate(2.1, 0, moved)[0]["s"]
    assert status.delay_ms is None   # the old tree's samples are gone


def test_reroute_moves_a_slice_off_a_slow_link_when_a_faster_tree_keeps_the_bound():
    e = engine_with(bound=12)
    before = e.record("s").tree
    slow = max(before.links, key=lambda k: e.graph.edges[tuple(k)]["delay_ms"])   # the long haul
    assert e.reroute("s", 30.0, "slow") == []          # nothing measured: no better tree
    changed = e.set_link_delays({slow: 40.0})
    assert changed and "40.00 ms" in changed[0]
    events = e.reroute("s", 41.0, "SLA violated")
    assert [ev.kind for ev in events] == ["re-routed"]
    after = e.record("s").tree
    assert slow not in after.links and after.worst_delay_ms <= 12
    assert sum(e.residual[k] < e.capacity[k] for k in before.links - after.links) == 0   # old links freed


def test_reroute_keeps_the_slice_when_no_tree_keeps_the_bound():
    e = engine_with(bound=12)
    tree = e.record("s").tree
    e.set_link_delays({k: 40.0 for k in e.capacity})   # every link slow
    assert e.reroute("s", 80.0, "SLA violated") == []
    assert e.record("s").tree == tree
