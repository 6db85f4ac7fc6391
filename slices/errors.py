"""Errors of the slice engine. Each carries what a person needs to act on it."""
from __future__ import annotations


class SpecError(ValueError):
    """A slice spec is invalid. ``violations`` lists every (field path, problem) found,
    e.g. ``("endpoints[2].site", "unknown site 'osaka-dc'")``; ``str()`` gives them all."""

    def __init__(self, violations: list[tuple[str, str]]):
        self.violations = list(violations)
        super().__init__("; ".join(f"{f}: {p}" if f else p for f, p in self.violations))

    @property
    def field(self) -> str:
        return self.violations[0][0]


class Rejected(Exception):
    """Admission refused a slice; ``constraint`` says which (bandwidth, latency, region,
    protection, endpoint) and ``reason`` how close the network came. ``structural``:
    no amount of freed capacity would help (the topology itself cannot do it)."""

    def __init__(self, constraint: str, reason: str, structural: bool = False):
        self.constraint = constraint
        self.reason = reason
        self.structural = structural or constraint in ("topology", "region", "site", "endpoint", "name")
        super().__init__(reason)


class UnknownSlice(KeyError):
    def __str__(self) -> str:
        name = str(self.args[0])
        shown = name if len(name) <= 80 else f"{name[:60]}... ({len(name)} characters)"
        return f"no slice named {shown!r}"
