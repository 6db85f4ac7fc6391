"""Link liveness from probes (controller.liveness), on a fake clock: probes sent as the
monitor says, answered (or not) after the link's round trip."""
from __future__ import annotations

from collections import Counter

import pytest

from controller.liveness import LinkMonitor, parse_returned, probe_frame, probe_load_bps
from slices.rules import probe_mac
from topologies import load
from topologies.ports import PortMap

JAPAN = load("japan-intercloud")
PORTS = PortMap(JAPAN)
INDEX = {s.name: i for i, s in enumerate(JAPAN.sites)}
ALL = frozenset(s.name for s in JAPAN.sites)
LINK = JAPAN.links[0]


def monitor(**kw) -> LinkMonitor:
    return LinkMonitor(JAPAN, PORTS, **{"interval_s": 0.05, "misses": 3, "hold_down_s": 1.0, "grace_s": 1.0, **kw})


class Net:
    """Rounds of probes over japan-intercloud; ``wrong`` maps (site, port) to the far
    (site, port) a miswired cable really reaches. The connected switches answer the
    echoes the monitor asks for within the round, unless the controller hears nothing
    (``deaf``: it reads none of its switches' messages)."""

    def __init__(self, m: LinkMonitor):
        self.m, self.t, self.round = m, 0.0, 0
        self.wrong: dict = {}
        self.channel_s = 0.004

    def run(self, seconds: float, silent=(), connected=ALL, deaf=False) -> list:
        verdicts, end = [], self.t + seconds
        while self.t < end - 1e-9:
            self.round += 1
            for site in connected:
                ports = self.m.due(site, self.round, set(connected))
                self.m.sent(site, ports, self.t, seq=self.round)
                for port in ports:
                    far = self.wrong.get((site, port))
                    other = PORTS.neighbour_at(site, port)
                    if deaf:
                        continue
                    if far is None:
                        if frozenset((site, other)) in silent:
                            continue
                        far = (other, PORTS.toward(other, site))
                    # answered within the interval (the japan round trips are < 20 ms)
                    self.m.answered(site, port, probe_mac(INDEX[far[0]], far[1]), self.t + 0.02,
                                    seq=self.round, channel_s=self.channel_s)
            self.t += self.m.interval_s
            verdicts += [(round(self.t, 3), v) for v in self.m.evaluate(self.t, set(connected))]
            if not deaf and set(self.m.unconfirmed(self.t)) & set(connected):
                self.m.returned(self.t)    # an echo sent now, back before the next round
        return verdicts


def test_link_delay_is_the_round_trip_less_the_control_channel_halved():
    """Answers 20 ms after sending, 4 ms of it the control channel: 8 ms each way."""
    m = monitor()
    Net(m).run(0.5)
    delays = m.delays_ms()
    assert set(delays) == {l.key for l in JAPAN.links}
    assert all(abs(d - 8.0) < 1e-6 for d in delays.values())


def test_probe_frame_round_trip_and_foreign_frames_ignored():
    frame = probe_frame(nonce=42, seq=7)
    assert len(frame) == 60
    assert parse_returned(frame, 42) == ("02:1c:00:00:00:00", 7)
    assert parse_returned(frame, 43) is None          # another controller's, or forged
    assert parse_returned(frame[:20], 42) is None
    assert parse_returned(b"\xff" * 60, 42) is None


def test_each_link_gets_one_probe_a_round_from_alternating_ends():
    m = monitor()
    for r in (1, 2):
        sent = [(s, p) for s in ALL for p in m.due(s, r, set(ALL))]
        assert Counter(frozenset((s, PORTS.neighbour_at(s, p))) for s, p in sent) == \
            Counter(l.key for l in JAPAN.links)
    first = {s: m.due(s, 1, set(ALL)) for s in ALL}
    second = {s: m.due(s, 2, set(ALL)) for s in ALL}
    assert all(not set(first[s]) & set(second[s]) for s in ALL)
    # the other end gone: this end probes every round
    assert m.due(LINK.a, 1, set(ALL) - {LINK.b}) == m.due(LINK.a, 2, set(ALL) - {LINK.b}) != []


def test_every_link_comes_up_on_its_first_answers():
    net = Net(monitor())
    verdicts = net.run(0.2)
    assert Counter(frozenset((v.a, v.b)) for _t, v in verdicts) == Counter(l.key for l in JAPAN.links)
    assert all(v.up for _t, v in verdicts)


def test_a_silent_link_is_down_after_the_misses_and_up_after_the_hold_down():
    m = monitor()
    net = Net(m)
    net.run(2.0)
    down = net.run(1.0, silent={LINK.key})
    assert len(down) == 1
    t, v = down[0]
    assert (v.a, v.b, v.up) == (LINK.a, LINK.b, False) and "probes unanswered" in v.reason
    assert t - 2.0 <= 0.30                 # the bound on the emulated WAN
    assert m.state(LINK.a, LINK.b)[0] == "down"
    up = net.run(2.0)
    assert len(up) == 1 and up[0][1].up
    assert up[0][0] - 3.0 >= 1.0           # answered without a miss for the hold-down first


def test_a_flapping_link_stays_down():
    net = Net(monitor())
    net.run(2.0)
    verdicts = []
    for _ in range(8):                     # answers for 0.5 s, gone for 0.3 s, ...
        verdicts += net.run(0.5)
        verdicts += net.run(0.3, silent={LINK.key})
    assert [v.up for _t, v in verdicts] == [False]


def test_a_busy_controller_that_sends_nothing_takes_no_link_down():
    m = monitor()
    net = Net(m)
    net.run(2.0)
    assert m.evaluate(net.t + 5.0, set(ALL)) == []


def test_a_controller_that_hears_nothing_takes_no_link_down():
    """Probes go out but nothing comes back to be read (the controller's reading stalled,
    or the switches' process as a whole): no verdict, and none when the answers come in
    again; a link that really died meanwhile is down within a few rounds of that."""
    m = monitor()
    net = Net(m)
    net.run(2.0)
    assert net.run(1.0, deaf=True) == []
    assert m.unconfirmed(net.t) != []      # the monitor asks the switches for echoes
    assert net.run(1.0) == []
    assert net.run(1.0, deaf=True) == []
    heard_again = net.t
    down = net.run(0.5, silent={LINK.key})
    assert [(frozenset((v.a, v.b)), v.up) for _t, v in down] == [(LINK.key, False)]
    assert down[0][0] - heard_again <= 0.15


def test_a_silent_link_with_no_other_link_answering_is_judged_by_echoes():
    """Every link silent, the switches still answering echoes: the links are dead, not
    the controller's hearing."""
    m = monitor()
    net = Net(m)
    net.run(2.0)
    down = net.run(1.0, silent={l.key for l in JAPAN.links})
    assert {frozenset((v.a, v.b)) for _t, v in down if not v.up} == {l.key for l in JAPAN.links}
    assert max(t for t, _v in down) - 2.0 <= 0.30


def test_a_port_reported_down_needs_probes_and_hold_down_to_come_back():
    m = monitor()
    net = Net(m)
    net.run(1.0)
    m.port_down(LINK.a, PORTS.toward(LINK.a, LINK.b), "port down")
    assert m.state(LINK.a, LINK.b) == ("down", "port down")
    up = net.run(2.0)
    assert len(up) == 1 and up[0][1].up and up[0][0] >= 2.0


def test_swapped_ports_are_reported_as_miswired_and_kept_down():
    m = monitor()
    net = Net(m)
    tokyo = "tokyo-ix"
    a, b = [l for l in JAPAN.links if tokyo in (l.a, l.b)][:2]
    na, nb = a.other(tokyo), b.other(tokyo)
    pa, pb = PORTS.toward(tokyo, na), PORTS.toward(tokyo, nb)
    # tokyo's cables to na and nb are in each other's ports
    net.wrong = {(tokyo, pa): (nb, PORTS.toward(nb, tokyo)), (tokyo, pb): (na, PORTS.toward(na, tokyo)),
                 (na, PORTS.toward(na, tokyo)): (tokyo, pb), (nb, PORTS.toward(nb, tokyo)): (tokyo, pa)}
    verdicts = net.run(3.0)
    assert {frozenset((v.a, v.b)) for _t, v in verdicts if not v.up} == {a.key, b.key}
    assert all(v.up for _t, v in verdicts if frozenset((v.a, v.b)) not in (a.key, b.key))
    status, reason = m.state(tokyo, na)
    assert status == "down" and reason.startswith("miswired") and "expected" in reason
    net.wrong = {}                         # re-cabled: back after the hold-down
    assert {frozenset((v.a, v.b)) for _t, v in net.run(2.0) if v.up} == {a.key, b.key}


def test_nothing_is_judged_while_neither_end_is_connected_nor_during_the_grace():
    m = monitor()
    net = Net(m)
    assert net.run(1.0, connected=frozenset()) == []
    nobody = frozenset({LINK.a})           # one end connected, nothing answers (a lost site)
    early = net.run(0.9, silent={l.key for l in JAPAN.links}, connected=nobody)
    assert early == []
    late = net.run(1.0, silent={l.key for l in JAPAN.links}, connected=nobody)
    assert any(frozenset((v.a, v.b)) == LINK.key and not v.up and "never answered" in v.reason
               for _t, v in late)


def test_a_lost_control_channel_alone_does_not_take_links_down():
    """The far end still returns the probes of the end that is connected."""
    m = monitor()
    net = Net(m)
    net.run(1.0)
    verdicts = net.run(2.0, connected=ALL - {LINK.a})
    assert [v for _t, v in verdicts if frozenset((v.a, v.b)) == LINK.key] == []


def test_probe_traffic_stays_under_one_percent_of_every_link():
    load_bps = probe_load_bps(0.05)
    assert load_bps == pytest.approx(13_440)
    slowest = min(l.bandwidth_mbps for l in JAPAN.links) * 1e6
    assert load_bps / slowest < 0.01


def test_settings_are_checked():
    with pytest.raises(ValueError):
        monitor(interval_s=0)
    with pytest.raises(ValueError):
        monitor(misses=0)


def test_a_burst_of_late_rounds_is_not_taken_for_a_dead_link():
    """A controller that fell behind sends three rounds within 10 ms; their answers come
    60 ms later: no verdict (three misses in a row must also span three intervals)."""
    m = monitor()
    net = Net(m)
    net.run(2.0)
    t = net.t
    for k in range(3):
        for site in ALL:
            m.sent(site, m.due(site, net.round + k + 1, set(ALL)), t + k * 0.005)
    assert [v for v in m.evaluate(t + 0.068, set(ALL)) if frozenset((v.a, v.b)) == LINK.key] == []
    m.answered(LINK.a, PORTS.toward(LINK.a, LINK.b), probe_mac(INDEX[LINK.b], PORTS.toward(LINK.b, LINK.a)),
               t + 0.07)
    assert m.state(LINK.a, LINK.b)[0] == "up"
