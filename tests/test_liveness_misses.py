"""A link goes down after exactly its configured number of missed probes (``misses``, N:
proto.defaults.PROBE_MISSES, 3), never after fewer: tests/test_liveness.py bounds how
soon a silent link is found, this bounds how late - one or two lost probes must not cut
a link that still works. On a fake clock, driving controller.liveness.LinkMonitor
through its own calls (due, sent, answered, evaluate) as the controller does."""
from __future__ import annotations

import pytest

from controller.liveness import LinkMonitor
from proto.defaults import PROBE_MISSES
from slices.rules import probe_mac
from topologies import load
from topologies.ports import PortMap

JAPAN = load("japan-intercloud")
PORTS = PortMap(JAPAN)
INDEX = {s.name: i for i, s in enumerate(JAPAN.sites)}
ALL = frozenset(s.name for s in JAPAN.sites)
LINK = next(l for l in JAPAN.links if l.delay_ms > 5)   # a long-haul link (round trip ~ 10-25 ms)
INTERVAL = 0.05


class Rounds:
    """Probe rounds every ``interval_s``: every link's probe answered 20 ms after it is
    sent, except LINK's while ``lose`` says so. ``lost`` counts LINK's lost probes."""

    def __init__(self, m: LinkMonitor):
        self.m, self.t, self.round, self.lost = m, 0.0, 0, []

    def step(self, lose: bool = False, send: bool = True) -> list:
        """One round (``send``: False, the controller too busy to send any probe); the
        verdicts on LINK at its end."""
        self.round += 1
        for site in sorted(ALL) if send else ():
            ports = self.m.due(site, self.round, set(ALL))
            self.m.sent(site, ports, self.t, seq=self.round)
            for port in ports:
                other = PORTS.neighbour_at(site, port)
                if frozenset((site, other)) == LINK.key and lose:
                    self.lost.append(self.t)
                    continue
                self.m.answered(site, port, probe_mac(INDEX[other], PORTS.toward(other, site)), self.t + 0.02,
                                seq=self.round)
        self.t += self.m.interval_s
        return [v for v in self.m.evaluate(self.t, set(ALL)) if frozenset((v.a, v.b)) == LINK.key]

    def run(self, rounds: int, **kw) -> list:
        return [v for _ in range(rounds) for v in self.step(**kw)]

    def overdue(self) -> int:
        """LINK's lost probes whose answer is overdue now (round trip plus an interval)."""
        rtt = 2 * LINK.delay_ms / 1000
        return sum(1 for t in self.lost if self.t - t > rtt + self.m.interval_s)


def _up(misses: int | None) -> Rounds:
    kw = {} if misses is None else {"misses": misses}
    r = Rounds(LinkMonitor(JAPAN, PORTS, interval_s=INTERVAL, hold_down_s=1.0, grace_s=0.5, **kw))
    assert [v.up for v in r.run(40)] == [True]          # 2 s of answers: LINK is up
    assert r.m.state(LINK.a, LINK.b)[0] == "up"
    return r


def test_the_default_is_three_misses():
    assert PROBE_MISSES == 3 and LinkMonitor(JAPAN, PORTS).misses == 3


@pytest.mark.parametrize("misses", [3, 5, None])   # None: the default
def test_fewer_than_n_lost_probes_never_take_the_link_down(misses):
    """k < N probes in a row lost, then the controller sends nothing for 2 s: k misses
    counted, and however long the silence lasts, that is not N."""
    n = misses or 3   # the default, written out: a changed default is caught
    for k in range(1, n):
        r = _up(misses)
        verdicts = r.run(k, lose=True) + r.run(40, send=False)
        assert len(r.lost) == k and r.overdue() == k
        assert verdicts == [] and r.m.state(LINK.a, LINK.b)[0] == "up", (k, verdicts)
        assert r.run(40) == []                        # and answers again: still up


@pytest.mark.parametrize("misses", [3, 5, None])
def test_exactly_n_lost_probes_take_the_link_down(misses):
    n = misses or 3   # the default, written out: a changed default is caught
    r = _up(misses)
    verdicts = r.run(n, lose=True) + r.run(40, send=False)
    assert len(r.lost) == n
    assert [(v.up, v.reason.split(",")[0]) for v in verdicts] == [(False, f"{n} probes unanswered")]
    assert r.m.state(LINK.a, LINK.b)[0] == "down"


@pytest.mark.parametrize("misses", [3, 5, None])
def test_a_silent_link_goes_down_when_its_nth_probe_is_overdue_not_before(misses):
    """Rounds go on, LINK answers none: no verdict while fewer than N probes are
    overdue; the verdict at the round its Nth is."""
    n = misses or 3   # the default, written out: a changed default is caught
    r = _up(misses)
    for _ in range(4 * n):
        verdicts = r.step(lose=True)
        if r.overdue() < n:
            assert verdicts == [], (r.overdue(), verdicts)
        else:
            assert [(v.up, v.reason.split(",")[0]) for v in verdicts] == [(False, f"{n} probes unanswered")]
            break
    else:
        pytest.fail("the link never went down")


@pytest.mark.parametrize("misses", [3, 5])
def test_n_minus_1_lost_probes_between_answers_keep_the_link_up(misses):
    """N-1 lost, one answered, over and over: a lossy link, never N in a row."""
    r = _up(misses)
    verdicts = []
    for _ in range(10):
        verdicts += r.run(misses - 1, lose=True) + r.run(1)
    assert verdicts == [] and r.m.state(LINK.a, LINK.b)[0] == "up"
