"""The one error type for bad topology input: it names the file, the field and the problem."""
from __future__ import annotations


class TopologyError(ValueError):
    """A topology file or object is invalid.

    ``str(err)`` reads ``FILE: FIELD: PROBLEM`` so a person can go straight to the spot.
    """

    def __init__(self, problem: str, *, source: str = "", field: str = ""):
        self.source = source
        self.field = field
        self.problem = problem
        super().__init__(": ".join(part for part in (source, field, problem) if part))

    def with_source(self, source: str) -> "TopologyError":
        return TopologyError(self.problem, source=source, field=self.field)
