"""A client load for the chaos benchmark (slicectl.chaos): creates, updates and deletes
made as a CI job makes them — each retried on a refusal or a timeout until its outcome is
known — and a ledger of what the cluster acknowledged, checked against what it holds
afterwards.

A retry can meet its own earlier attempt: a create that timed out may have been made,
so its retry answers ALREADY_EXISTS; a delete, NOT_FOUND. After a failed attempt those
answers are the operation's success (it happened once, as asked); on a first attempt they
are errors and counted as such."""
from __future__ import annotations

import itertools
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Callable

import grpc

from proto.convert import doc_to_spec
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl import client

PREFIX = "chaos-"            # the load's slices, so that nothing else is mistaken for them
ATTEMPT_TIMEOUT_S = 5.0      # one call's deadline; the operation is retried after it
RETRY_PAUSE_S = 0.1
GIVE_UP_S = 60.0             # an operation not settled this long after the load stops is left unresolved
RETRIED = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.FAILED_PRECONDITION,
           grpc.StatusCode.ABORTED, grpc.StatusCode.CANCELLED, grpc.StatusCode.UNKNOWN}


@dataclass
class Attempt:
    """One call: which operation, when it started and ended (monotonic), and how."""

    op: str
    name: str
    started: float
    ended: float
    outcome: str     # "ok", or the status code's name


@dataclass
class Ledger:
    """What the cluster acknowledged: each slice's last acknowledged bandwidth, None once
    its delete was acknowledged; operations whose outcome never became known; errors
    that a retry does not explain."""

    acked: dict[str, float | None] = field(default_factory=dict)
    unresolved: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    attempts: list[Attempt] = field(default_factory=list)

    def acks_between(self, start: float, end: float) -> list[float]:
        return sorted(a.ended for a in self.attempts if a.outcome == "ok" and start <= a.ended <= end)


class Load:
    """Writes against the cluster's instances (``servers``: HOST:PORT,... as slicectl takes
    them) from a thread, until :meth:`stop`. ``doc_of(name, n)``: the spec of the n-th
    slice (each on endpoints of its own). At most ``keep`` of its slices live at once:
    every create is followed, once over that number, by a delete of the oldest, and every
    third by an update of the oldest's bandwidth."""

    def __init__(self, servers: str, doc_of: Callable[[str, int], dict], keep: int = 4, start_at: int = 0):
        self.stub = client.stub(client.Server(servers))
        self.doc_of, self.keep = doc_of, keep
        self.ledger = Ledger()
        self.live: deque[str] = deque()
        self._n = itertools.count(start_at)
        self._stop = threading.Event()
        self._stopped_at: float | None = None
        self._thread = threading.Thread(target=self._run, name="chaos-load", daemon=True)

    def start(self) -> "Load":
        self._thread.start()
        return self

    def stop(self) -> Ledger:
        """Stop making new operations; wait for the one in flight to settle."""
        self._stopped_at = time.monotonic()
        self._stop.set()
        self._thread.join(timeout=GIVE_UP_S + 2 * ATTEMPT_TIMEOUT_S)
        return self.ledger

    def _run(self) -> None:
        while not self._stop.is_set():
            n = next(self._n)
            name = f"{PREFIX}{n}"
            doc = self.doc_of(name, n)
            if self._write("create", name, doc, doc["bandwidth_mbps"]):
                self.live.append(name)
            if n % 3 == 0 and self.live:
                first = self.live[0]
                updated = {**self.doc_of(first, int(first.removeprefix(PREFIX))), "bandwidth_mbps": 2}
                self._write("update", first, updated, 2)
            if len(self.live) > self.keep:
                self._write("delete", self.live.popleft(), None, None)
            time.sleep(0.05)

    def _call(self, op: str, name: str, doc: dict | None):
        if op == "create":
            return self.stub.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(doc)), timeout=ATTEMPT_TIMEOUT_S)
        if op == "update":
            return self.stub.UpdateSlice(pb.UpdateSliceRequest(spec=doc_to_spec(doc)), timeout=ATTEMPT_TIMEOUT_S)
        return self.stub.DeleteSlice(pb.DeleteSliceRequest(name=name), timeout=ATTEMPT_TIMEOUT_S)

    def _write(self, op: str, name: str, doc: dict | None, bandwidth: float | None) -> bool:
        """Do ``op`` until its outcome is known; True once acknowledged (then in the ledger)."""
        failed_before = False
        while True:
            started = time.monotonic()
            try:
                self._call(op, name, doc)
                outcome = "ok"
            except grpc.RpcError as e:
                outcome = e.code().name
                met_itself = failed_before and (
                    (op == "create" and e.code() == grpc.StatusCode.ALREADY_EXISTS)
                    or (op == "delete" and e.code() == grpc.StatusCode.NOT_FOUND))
                if met_itself:
                    outcome = "ok"
                elif e.code() not in RETRIED:
                    self.ledger.attempts.append(Attempt(op, name, started, time.monotonic(), outcome))
                    self.ledger.errors.append(f"{op} {name}: {outcome}: {e.details()}")
                    return False
            self.ledger.attempts.append(Attempt(op, name, started, time.monotonic(), outcome))
            if outcome == "ok":
                self.ledger.acked[name] = bandwidth
                return True
            failed_before = True
            if self._stopped_at is not None and time.monotonic() - self._stopped_at > GIVE_UP_S:
                self.ledger.unresolved.append(f"{op} {name}")
                return False
            time.sleep(RETRY_PAUSE_S)


def lost_acknowledged(ledger: Ledger, held: dict[str, float]) -> list[str]:
    """Acknowledged operations the cluster does not reflect: a slice acknowledged made (at
    its last acknowledged bandwidth) that it does not hold, or holds otherwise, or one
    acknowledged deleted that it still holds. ``held``: the load's slices it holds, by
    name, with their bandwidth."""
    lost = []
    for name, bandwidth in sorted(ledger.acked.items()):
        if bandwidth is None and name in held:
            lost.append(f"{name}: deleted (acknowledged) but still there")
        elif bandwidth is not None and name not in held:
            lost.append(f"{name}: made (acknowledged) but missing")
        elif bandwidth is not None and abs(held[name] - bandwidth) > 1e-9:
            lost.append(f"{name}: {held[name]:g} Mbit/s, acknowledged {bandwidth:g}")
    return lost


def made_twice(events: list[tuple[str, str]]) -> list[str]:
    """The load's slices the store's event log shows admitted, or released, more than once
    (each name is used for one create and at most one delete): ``events`` as (slice, kind)."""
    seen: dict[tuple[str, str], int] = {}
    for name, kind in events:
        if name.startswith(PREFIX) and kind in ("admitted", "released"):
            seen[(name, kind)] = seen.get((name, kind), 0) + 1
    return sorted(f"{name} {kind} {n} times" for (name, kind), n in seen.items() if n > 1)


def longest_without_writes(ledger: Ledger, start: float, end: float) -> float:
    """The longest time in [start, end] in which no write was acknowledged (seconds): from
    ``start`` to the first acknowledgement, between two, and from the last to ``end``."""
    marks = [start, *ledger.acks_between(start, end), end]
    return max(b - a for a, b in zip(marks, marks[1:]))
