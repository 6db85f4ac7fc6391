"""Where a slice stands, as one enum used everywhere in the controller (ONOS' IntentState,
Kubernetes' conditions): the store keeps its value, the API maps it to the proto in
:mod:`proto.convert`, and nothing compares bare strings. What happened to a slice is the
engine's :class:`slices.record.EventKind`, which the controller's own events share."""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from enum import Enum

from slices.booking import SCHEDULED, Booking
from slices.record import EventKind
from slices.schedule import rfc3339

__all__ = ["EventKind", "SliceState", "SliceStatus", "booking_state"]


class SliceState(str, Enum):
    """A ``str`` enum: its value is what the store holds and what the CLI prints."""

    REQUESTED = "requested"   # admitted; not yet confirmed by every switch of its trees
    ACTIVE = "active"         # every switch holds its rules; its bound is met by its tree
    DEGRADED = "degraded"     # carried, but a switch is missing or its protection is lost
    PREEMPTED = "preempted"   # waiting: a higher priority took its capacity
    FAILED = "failed"         # a switch refused its rules
    DELETED = "deleted"       # only in events: the slice is gone
    SCHEDULED = "scheduled"   # booked ahead (controller.schedules): resources held from its start, no rules yet

    def __str__(self) -> str:
        return self.value


@dataclass
class SliceStatus:
    """A slice's state with why and since when (the controller's view, not the engine's)."""

    state: SliceState = SliceState.REQUESTED
    reason: str = ""
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    def copy(self) -> "SliceStatus":
        """The same four fields (``dataclasses.replace`` costs four times as much, and
        every request copies every slice's status: controller.pipeline)."""
        other = object.__new__(SliceStatus)
        vars(other).update(vars(self))
        return other


def booking_state(b: Booking) -> tuple[SliceState, str]:
    """A booking's state and reason: ``scheduled`` while it holds its resources, else
    ``preempted`` with why (displaced, or it could not start)."""
    if b.status == SCHEDULED and not b.reason:
        end = "until deleted" if math.isinf(b.t1) else f"until {rfc3339(b.t1)}"
        return SliceState.SCHEDULED, f"booked from {rfc3339(b.t0)} {end}"
    return SliceState.PREEMPTED, b.reason
