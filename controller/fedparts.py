"""A provider's connections as data (issue 26): one peer's part of a slice in this domain,
the notices its requester is sent, and the one error type the federation API maps to a
status. controller.federation changes them; its servicer and the home read them."""
from __future__ import annotations

from dataclasses import dataclass, field

from slices.nsi import Connection
from slices.spec import SliceSpec


class FederationError(Exception):
    """A federation request refused; ``code`` is the gRPC status name it maps to."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


@dataclass
class Part:
    """One connection: a peer's part of a slice in this domain."""

    cid: str
    peer: str
    global_id: str
    spec: SliceSpec
    state: Connection = field(default_factory=Connection)
    expires: float | None = None      # while held: when the hold is released (the clock's time)
    reason: str = ""
    booked: bool = False              # holds bandwidth in the engine (held or committed, not yet terminated)
    tenant: str = ""                  # the slice's tenant here: peer:NAME, or a local tenant (the home's own part)


@dataclass(frozen=True)
class Notice:
    kind: str                          # "reserve_timeout", "state_change", "error"
    peer: str
    part: Part
    text: str
    stp: tuple[str, int] | None = None  # an error's border point (site, port), if it is one


__all__ = ["FederationError", "Notice", "Part"]
