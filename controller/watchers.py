"""Watchers of slice events (WatchSlices): each gets its own bounded queue, filled by the
owner thread; a stalled watcher loses events rather than stalling the owner."""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass, replace

from controller.states import SliceState

QUEUE_SIZE = 10_000


@dataclass(frozen=True)
class Published:
    slice: str
    kind: str
    state: str          # a SliceState's value ("" for the engine's decisions: filled in later)
    reason: str
    time: float
    tenant: str = ""     # whose slice: watchers see only their own tenant's events


class Watchers:
    """The queues of the open WatchSlices streams, and whose slice each event is about."""

    def __init__(self) -> None:
        self._queues: list[queue.Queue] = []
        self._lock = threading.Lock()
        self.tenant_of: dict[str, str] = {}   # slice -> tenant, kept until its deletion is published

    def subscribe(self) -> queue.Queue:
        q: queue.Queue = queue.Queue(maxsize=QUEUE_SIZE)
        with self._lock:
            self._queues.append(q)
        return q

    def unsubscribe(self, q: queue.Queue) -> None:
        with self._lock:
            if q in self._queues:
                self._queues.remove(q)

    def publish(self, items: list[Published]) -> None:
        items = [replace(i, tenant=self.tenant_of.get(i.slice, "")) for i in items]
        for i in items:
            if i.state == SliceState.DELETED:
                self.tenant_of.pop(i.slice, None)
        with self._lock:
            subs = list(self._queues)
        for q in subs:
            for item in items:
                try:
                    q.put_nowait(item)
                except queue.Full:
                    pass  # a stalled watcher loses events rather than stalling the owner
