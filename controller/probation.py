"""Each switch's record of leaving the controller waiting, and the probation it earns.

A switch that once fails to confirm (a barrier or read timeout, or its connection dying
in the middle of a push) is waited for again as soon as it answers: a blip. One that does
it again within STRIKE_WINDOW_S is on probation for PROBATION_S, doubling with each
further strike up to PROBATION_MAX_S: the owner waits for it only a moment (what a healthy
switch needs, controller.switches.PROBATION_WAIT_S), never a timeout; its changes are still
sent and its late confirmations still count. The record
is the site's, not the connection's, so reconnecting does not clear it: a switch that
answers the handshake and the reads and then confirms nothing, reconnecting over and
over, costs the owner at most two timeouts, then one per probation period. No I/O: the
caller passes the time."""
from __future__ import annotations

import threading

STRIKE_WINDOW_S = 600.0
PROBATION_S = 30.0
PROBATION_MAX_S = 600.0


class Probation:
    def __init__(self, window_s: float = STRIKE_WINDOW_S, first_s: float = PROBATION_S,
                 max_s: float = PROBATION_MAX_S):
        self.window_s, self.first_s, self.max_s = window_s, first_s, max_s
        self._strikes: dict[str, tuple[int, float]] = {}    # site -> (strikes in a row, the last one when)
        self._until: dict[str, float] = {}
        self._lock = threading.Lock()

    def strike(self, site: str, now: float) -> float | None:
        """``site``'s switch left the controller waiting: how long it is now on probation
        (None: not, a first strike)."""
        with self._lock:
            count, last = self._strikes.get(site, (0, float("-inf")))
            count = count + 1 if now - last < self.window_s else 1
            self._strikes[site] = (count, now)
            if count < 2:
                return None
            length = min(self.max_s, self.first_s * 2 ** (count - 2))
            self._until[site] = now + length
            return length

    def on(self, site: str, now: float) -> bool:
        with self._lock:
            return self._until.get(site, float("-inf")) > now

    def describe(self, site: str, now: float) -> str:
        """Why ``site``'s switch is not waited for, for a slice's reason."""
        with self._lock:
            count, _last = self._strikes.get(site, (0, now))
            left = max(0.0, self._until.get(site, now) - now)
        return (f"left the controller waiting {count} times in {self.window_s / 60:.0f} min: on probation, "
                f"not waited for during {left:.0f} s more (changes are sent, confirmations counted when they come)")
