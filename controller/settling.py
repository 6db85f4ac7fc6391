"""Links that go down just after a switch at one end connected: its ports settling.

When the emulated WAN starts, every switch connects, then every link goes down once and
comes back: `slicectl wan up` turns BFD on once the switches are up, and a port with BFD
is not live until BFD hears the other end, which the controller takes for a silent
failure (controller.app). Seen in the controller logs of the lab checks (2026-12-06,
japan-intercloud): all 21 links "down" about 1 s after the switches connected, all "up"
2 s later. Logged as WARNINGs, that is a wall of "link down" on every start that teaches
operators to ignore the word. So a link that goes down within ``window_s`` of a switch at
either end connecting is logged at INFO, and only if it is still down when the window
ends does it get its WARNING. The controller acts on it
the same either way (the slices move at once): only the word in the log waits.
"""
from __future__ import annotations

import time
from typing import Callable

SETTLE_S = 10.0    # BFD comes up ~1 s after the ports; a loaded machine takes a few more


class Settling:
    """When each switch last connected, and the links that went down while settling."""

    def __init__(self, window_s: float = SETTLE_S, clock: Callable[[], float] = time.monotonic):
        self.window_s, self._clock = window_s, clock
        self._joined: dict[str, float] = {}
        self._held: dict[frozenset, str] = {}

    def joined(self, site: str) -> None:
        """``site``'s switch (re)connected now."""
        self._joined[site] = self._clock()

    def left_s(self, a: str, b: str) -> float:
        """Seconds of settling left for the a—b link (0: it is not settling)."""
        now = self._clock()
        return max([0.0] + [self._joined[s] + self.window_s - now for s in (a, b) if s in self._joined])

    def hold(self, key: frozenset, reason: str) -> None:
        """The link went down while settling: its warning waits."""
        self._held[key] = reason

    def release(self, key: frozenset) -> str | None:
        """The reason held for ``key`` (None: nothing held), no longer held."""
        return self._held.pop(key, None)

    def forget(self) -> None:
        self._joined, self._held = {}, {}
