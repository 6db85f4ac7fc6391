"""Which address may speak for a dpid, on plaintext OpenFlow (where a dpid is only a
number any connection may claim).

A dpid is bound to the address it first connected from. A connection from elsewhere
claiming it is refused - while the switch is connected, and after it drops, until
``grace_s`` has passed since it went or an operator releases the binding (SIGHUP,
:meth:`SwitchAddresses.release_gone`) - so a squatter that connects first after a switch
drops does not get that site's rules and lock the real switch out. Each refusal is
logged by the caller and counted (the ``intercloud_switch_address_conflicts_total``
metric). With OpenFlow over TLS the switches' certificates say who they are, and nothing
is bound. No I/O here: the caller passes the time."""
from __future__ import annotations

import threading
from dataclasses import dataclass


@dataclass
class _Binding:
    address: str
    gone_at: float | None = None     # when its switch disconnected (None: connected)


class SwitchAddresses:
    def __init__(self, grace_s: float):
        self.grace_s = grace_s
        self._bound: dict[str, _Binding] = {}
        self._lock = threading.Lock()
        self.conflicts: dict[str, str] = {}    # site -> the last refusal, for the operator

    def claim(self, site: str, address: str | None, now: float) -> str | None:
        """Whether a connection from ``address`` may be ``site``'s switch: None if so (and
        the site is bound to it), else why not."""
        if address is None:
            return None
        with self._lock:
            bound = self._bound.get(site)
            expired = bound is not None and bound.gone_at is not None and now - bound.gone_at >= self.grace_s
            if bound is None or bound.address == address or expired:
                self._bound[site] = _Binding(address)
                return None
            state = ("connected" if bound.gone_at is None
                     else f"gone {now - bound.gone_at:.0f} s ago, bound for {self.grace_s:g} s after it goes")
            why = (f"bound to {bound.address} ({state}): refused; an operator releases the binding with SIGHUP "
                   "(or use OpenFlow over TLS)")
            self.conflicts[site] = f"claimed from {address}, {why}"
            return why

    def gone(self, site: str, now: float) -> None:
        """``site``'s switch disconnected: the grace starts."""
        with self._lock:
            bound = self._bound.get(site)
            if bound is not None and bound.gone_at is None:
                bound.gone_at = now

    def release_gone(self) -> str:
        """Forget the bindings of switches not connected (an operator's decision, on
        SIGHUP): their next connection, from wherever, is accepted."""
        with self._lock:
            released = sorted(s for s, b in self._bound.items() if b.gone_at is not None)
            for site in released:
                del self._bound[site]
                self.conflicts.pop(site, None)
        return f"released: {', '.join(released)}" if released else "none to release"
