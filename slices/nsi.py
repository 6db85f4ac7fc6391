"""The three state machines of a federation reservation, as OGF NSI CS 2.0 defines them
(issue 26): reservation, provision and lifecycle. A transition table per machine and one
function that applies an event or raises :class:`IllegalTransition` naming the machine,
the state and the event, so a peer asking for Commit twice, or Provision before Commit,
gets a clear answer and nothing changes.

Reservation (two-phase, all or nothing)::

    ReserveStart --reserve--> ReserveChecking --held--> ReserveHeld
                                              --failed--> ReserveFailed
    ReserveHeld --commit--> ReserveCommitting --committed/commit_failed--> ReserveStart
    ReserveHeld --abort--> ReserveAborting --aborted--> ReserveStart
    ReserveHeld --timeout--> ReserveTimeout
    ReserveFailed, ReserveTimeout --abort--> ReserveAborting

Provision: Released --provision--> Provisioning --provisioned--> Provisioned
--release--> Releasing --released--> Released.

Lifecycle: Created --terminate--> Terminating --terminated--> Terminated;
Created --failed--> Failed; Created --end_time--> PassedEndTime; Failed and PassedEndTime
--terminate--> Terminating. Terminated is final.

Pure data: time (a hold's expiry) is the caller's.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from enum import Enum


class ReservationState(str, Enum):
    START = "ReserveStart"
    CHECKING = "ReserveChecking"
    HELD = "ReserveHeld"
    COMMITTING = "ReserveCommitting"
    FAILED = "ReserveFailed"
    TIMEOUT = "ReserveTimeout"
    ABORTING = "ReserveAborting"


class ProvisionState(str, Enum):
    RELEASED = "Released"
    PROVISIONING = "Provisioning"
    PROVISIONED = "Provisioned"
    RELEASING = "Releasing"


class LifecycleState(str, Enum):
    CREATED = "Created"
    FAILED = "Failed"
    PASSED_END_TIME = "PassedEndTime"
    TERMINATING = "Terminating"
    TERMINATED = "Terminated"


R, P, L = ReservationState, ProvisionState, LifecycleState
RESERVATION: dict[tuple[ReservationState, str], ReservationState] = {
    (R.START, "reserve"): R.CHECKING,
    (R.CHECKING, "held"): R.HELD,
    (R.CHECKING, "failed"): R.FAILED,
    (R.HELD, "commit"): R.COMMITTING,
    (R.HELD, "abort"): R.ABORTING,
    (R.HELD, "timeout"): R.TIMEOUT,
    (R.COMMITTING, "committed"): R.START,
    (R.COMMITTING, "commit_failed"): R.START,
    (R.FAILED, "abort"): R.ABORTING,
    (R.TIMEOUT, "abort"): R.ABORTING,
    (R.ABORTING, "aborted"): R.START,
}
PROVISION: dict[tuple[ProvisionState, str], ProvisionState] = {
    (P.RELEASED, "provision"): P.PROVISIONING,
    (P.PROVISIONING, "provisioned"): P.PROVISIONED,
    (P.PROVISIONED, "release"): P.RELEASING,
    (P.RELEASING, "released"): P.RELEASED,
}
LIFECYCLE: dict[tuple[LifecycleState, str], LifecycleState] = {
    (L.CREATED, "terminate"): L.TERMINATING,
    (L.CREATED, "failed"): L.FAILED,
    (L.CREATED, "end_time"): L.PASSED_END_TIME,
    (L.FAILED, "terminate"): L.TERMINATING,
    (L.PASSED_END_TIME, "terminate"): L.TERMINATING,
    (L.TERMINATING, "terminated"): L.TERMINATED,
}
MACHINES = {"reservation": RESERVATION, "provision": PROVISION, "lifecycle": LIFECYCLE}


class IllegalTransition(Exception):
    """An event the machine does not accept in its state (FAILED_PRECONDITION)."""

    def __init__(self, machine: str, state: Enum, event: str):
        self.machine, self.state, self.event = machine, state, event
        allowed = sorted(e for (s, e) in MACHINES[machine] if s == state)
        super().__init__(f"{machine} state {state.value} does not accept {event}"
                         + (f" (it accepts: {', '.join(allowed)})" if allowed else " (it is final)"))


def step(machine: str, state: Enum, event: str) -> Enum:
    """The state after ``event``; IllegalTransition if ``state`` does not accept it."""
    try:
        return MACHINES[machine][(state, event)]
    except KeyError:
        raise IllegalTransition(machine, state, event) from None


@dataclass(frozen=True)
class Connection:
    """One connection's three states (a new one: ReserveStart, Released, Created)."""

    reservation: ReservationState = R.START
    provision: ProvisionState = P.RELEASED
    lifecycle: LifecycleState = L.CREATED
    committed: bool = False     # a version has been committed (Provision needs one)

    def on(self, machine: str, event: str) -> "Connection":
        """This connection after ``event`` on ``machine``, or IllegalTransition. A
        terminated (or terminating) connection accepts no reservation or provision event,
        and Provision needs a committed reservation, as NSI says."""
        if machine != "lifecycle" and self.lifecycle in (L.TERMINATING, L.TERMINATED):
            raise IllegalTransition("lifecycle", self.lifecycle, f"{machine} {event}")
        if machine == "provision" and event == "provision" and not self.committed:
            raise IllegalTransition("reservation", self.reservation, "provision before a commit")
        new = replace(self, **{machine: step(machine, getattr(self, machine), event)})
        if machine == "reservation" and event == "committed":
            new = replace(new, committed=True)
        return new
