"""The NSI CS 2.0 state machines: every (state, event) pair of every machine, legal or not."""
import pytest

from slices.nsi import (MACHINES, Connection, IllegalTransition, LifecycleState as L, ProvisionState as P,
                        ReservationState as R, step)

# the transitions NSI CS 2.0 defines, written out again here (not read from the module)
LEGAL = {
    ("reservation", R.START, "reserve"): R.CHECKING,
    ("reservation", R.CHECKING, "held"): R.HELD,
    ("reservation", R.CHECKING, "failed"): R.FAILED,
    ("reservation", R.HELD, "commit"): R.COMMITTING,
    ("reservation", R.HELD, "abort"): R.ABORTING,
    ("reservation", R.HELD, "timeout"): R.TIMEOUT,
    ("reservation", R.COMMITTING, "committed"): R.START,
    ("reservation", R.COMMITTING, "commit_failed"): R.START,
    ("reservation", R.FAILED, "abort"): R.ABORTING,
    ("reservation", R.TIMEOUT, "abort"): R.ABORTING,
    ("reservation", R.ABORTING, "aborted"): R.START,
    ("provision", P.RELEASED, "provision"): P.PROVISIONING,
    ("provision", P.PROVISIONING, "provisioned"): P.PROVISIONED,
    ("provision", P.PROVISIONED, "release"): P.RELEASING,
    ("provision", P.RELEASING, "released"): P.RELEASED,
    ("lifecycle", L.CREATED, "terminate"): L.TERMINATING,
    ("lifecycle", L.CREATED, "failed"): L.FAILED,
    ("lifecycle", L.CREATED, "end_time"): L.PASSED_END_TIME,
    ("lifecycle", L.FAILED, "terminate"): L.TERMINATING,
    ("lifecycle", L.PASSED_END_TIME, "terminate"): L.TERMINATING,
    ("lifecycle", L.TERMINATING, "terminated"): L.TERMINATED,
}
STATES = {"reservation": R, "provision": P, "lifecycle": L}
EVENTS = sorted({e for (_, _, e) in LEGAL})
TABLE = [(m, s, e) for m, enum in STATES.items() for s in enum for e in EVENTS]


@pytest.mark.parametrize("machine,state,event", TABLE, ids=[f"{m}-{s.value}-{e}" for m, s, e in TABLE])
def test_every_state_and_event(machine, state, event):
    if (machine, state, event) in LEGAL:
        assert step(machine, state, event) == LEGAL[(machine, state, event)]
    else:
        with pytest.raises(IllegalTransition) as e:
            step(machine, state, event)
        assert f"{machine} state {state.value} does not accept {event}" in str(e.value)
        assert "\n" not in str(e.value)


def test_the_module_has_no_transition_the_standard_lacks():
    assert {(m, s, e) for m, t in MACHINES.items() for (s, e) in t} == set(LEGAL)


def test_terminated_is_final():
    with pytest.raises(IllegalTransition, match=r"lifecycle state Terminated does not accept terminate \(it is final\)"):
        step("lifecycle", L.TERMINATED, "terminate")


def test_a_connection_provisions_only_after_a_commit_and_not_once_terminated():
    c = Connection()
    with pytest.raises(IllegalTransition, match="provision before a commit"):
        c.on("provision", "provision")
    for event in ("reserve", "held", "commit", "committed"):
        c = c.on("reservation", event)
    assert c.reservation == R.START and c.committed
    c = c.on("provision", "provision").on("provision", "provisioned")
    assert c.provision == P.PROVISIONED
    c = c.on("lifecycle", "terminate")
    with pytest.raises(IllegalTransition, match="lifecycle state Terminating does not accept provision release"):
        c.on("provision", "release")
    assert c.on("lifecycle", "terminated").lifecycle == L.TERMINATED


def test_a_timed_out_hold_reads_as_timeout_until_aborted():
    """OpenNSA issue 15: a ReserveTimeout that later read as ReserveStart confused users."""
    c = Connection().on("reservation", "reserve").on("reservation", "held").on("reservation", "timeout")
    assert c.reservation == R.TIMEOUT
    with pytest.raises(IllegalTransition):
        c.on("reservation", "commit")
    assert c.on("reservation", "abort").on("reservation", "aborted").reservation == R.START
