"""The owner thread: the one thread that changes the model.

gRPC handlers and OpenFlow events never touch the model: they hand a function to
:meth:`Owner.call` (and wait for its result) or :meth:`Owner.post` (and do not), and the
owner runs them one at a time, in order, as magma's pipelined controller loop does.
Timers and periodic jobs post to it too, so nothing else needs a lock."""
from __future__ import annotations

import logging
import threading
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, Callable

from slices.memory import settle_garbage

log = logging.getLogger("intercloud.controller")
CALL_TIMEOUT_S = 30.0
SETTLE_EVERY = 100  # requests between garbage settlements
OWNER_THREAD = "slice-owner"


class Owner:
    """Runs what it is handed on one thread. Before :meth:`start` (and after
    :meth:`stop`), it runs everything at once on the caller's thread: tests and start-up
    need no thread."""

    def __init__(self) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._handled = 0
        self.stopped = False

    def start(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=OWNER_THREAD)

    def stop(self) -> None:
        """Finish the function in hand, drop the queued ones, stop the thread."""
        self.stopped = True
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    @property
    def running(self) -> bool:
        return self._pool is not None

    def on_owner_thread(self) -> bool:
        return threading.current_thread().name.startswith(OWNER_THREAD)

    def _owned(self, fn: Callable[[], Any]) -> Callable[[], Any]:
        """``fn`` as the owner runs it: every SETTLE_EVERY requests the garbage is settled."""
        def run():
            self._handled += 1
            if self._handled % SETTLE_EVERY == 0:
                settle_garbage()
            return fn()
        return run

    def call(self, fn: Callable[[], Any], timeout: float = CALL_TIMEOUT_S) -> Any:
        """Run ``fn`` on the owner thread and return its result (or raise its error)."""
        if self._pool is None or self.on_owner_thread():
            return fn()
        return self._pool.submit(self._owned(fn)).result(timeout)

    def post(self, fn: Callable[[], Any]) -> None:
        """Queue ``fn`` for the owner thread without waiting (events from switches)."""
        if self._pool is None:
            fn()
            return
        self._pool.submit(self._owned(fn)).add_done_callback(_log_failure)

    def later(self, delay_s: float, fn: Callable[[], Any]) -> None:
        """Post ``fn`` in ``delay_s`` seconds, unless the owner has stopped by then."""
        def due():
            if not self.stopped:
                self.post(fn)
        timer = threading.Timer(delay_s, due)
        timer.daemon = True
        timer.start()


class Grouped:
    """Group commit: calls of one kind that come while the owner is busy wait together
    and are handed to ``run`` as one group, on the owner thread, once it is free. A call
    that finds the owner idle is run at once (a group of one); under load a group is what
    came during the previous one. ``run`` gets the items and returns one outcome each,
    in order: a result, or an exception to raise to that item's caller alone."""

    def __init__(self, owner: Owner, run: Callable[[list], list]):
        self._owner, self._run = owner, run
        self._lock = threading.Lock()
        self._waiting: list[tuple[Any, Future]] = []

    def call(self, item: Any, timeout: float = CALL_TIMEOUT_S) -> Any:
        """``item``'s outcome, once its group has run (raises it if it is an exception)."""
        done: Future = Future()
        with self._lock:
            self._waiting.append((item, done))
            first = len(self._waiting) == 1
        if first:        # nobody has asked the owner for this group yet
            self._owner.post(self._flush)
        return done.result(timeout)

    def _flush(self) -> None:
        with self._lock:
            group, self._waiting = self._waiting, []
        try:
            outcomes = self._run([item for item, _done in group])
        except BaseException as e:
            outcomes = [e] * len(group)
        for (_item, done), outcome in zip(group, outcomes):
            if isinstance(outcome, BaseException):
                done.set_exception(outcome)
            else:
                done.set_result(outcome)


class Periodic:
    """Runs ``job`` every ``interval`` seconds on a thread of its own, never two at once (a
    slow run delays the next one rather than piling them up); an error is logged and the
    next run tries again."""

    def __init__(self, name: str, job: Callable[[], None]):
        self.name, self._job = name, job
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, interval: float | None) -> None:
        """Run every ``interval`` seconds from now on (None or 0: never); restarts if running."""
        self.stop()
        if interval:
            self._stop.clear()
            self._thread = threading.Thread(target=self._every, args=(interval,), name=self.name, daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            if self._thread is not threading.current_thread():
                self._thread.join(timeout=5)
            self._thread = None

    def _every(self, interval: float) -> None:
        while not self._stop.wait(interval):
            try:
                self._job()
            except Exception:  # logged; the next run tries again
                log.exception("%s failed", self.name)


def _log_failure(done: Future) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("background request failed", exc_info=done.exception())
