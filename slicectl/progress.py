"""Progress of long operations (verify, benchmarks, report): a bar on a terminal, plain
lines when the output goes to a file or a CI log (a bar's carriage returns make those
unreadable)."""
from __future__ import annotations

import sys
from typing import Callable, TextIO

from tqdm import tqdm

Say = Callable[[str], None]
PLAIN_STEPS = 10   # without a terminal: a line at every tenth of the way (and at the end)


class Progress:
    """``total`` steps of ``what``: call :meth:`advance` as they finish, :meth:`close` at the end."""

    def __init__(self, what: str, total: int, say: Say, stream: TextIO | None = None):
        self.what, self.total, self.say, self.done = what, total, say, 0
        stream = stream or sys.stderr
        self.bar = (tqdm(total=total, desc=what, file=stream, leave=False, unit="", dynamic_ncols=True)
                    if stream.isatty() else None)
        self._said = 0

    def advance(self, n: int = 1) -> None:
        self.done += n
        if self.bar is not None:
            self.bar.update(n)
            return
        step = max(1, self.total // PLAIN_STEPS)
        if self.done >= self.total or self.done - self._said >= step:
            self._said = self.done
            self.say(f"{self.what}: {self.done}/{self.total}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> "Progress":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
