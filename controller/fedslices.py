"""A home's records of its slices across domains (issue 26): which parts, in which
domains, with which border tags, kept in a JSON file beside the store so a restarted home
still knows them. Plain data; controller.fedhome decides."""
from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from controller.fedpeers import Stp
from slices.schedule import parse_schedule, rfc3339


class FederatedRefusal(Exception):
    """A slice across domains refused or failed; ``code`` is the gRPC status name, the
    text names the domain and the constraint."""

    def __init__(self, code: str, text: str):
        self.code = code
        super().__init__(text)


@dataclass
class PartRecord:
    domain: str
    cid: str
    endpoints: list[Stp]
    max_latency_ms: float | None
    base_delay_ms: float
    state: str = "ReserveHeld"
    reason: str = ""


@dataclass
class FedSlice:
    """A slice across domains, as its home knows it."""

    name: str
    tenant: str
    doc: dict                                  # the request (endpoints as DOMAIN/SITE)
    parts: dict[str, PartRecord]               # by domain
    tags: dict[str, int]                       # border name -> VLAN tag on it
    worst_delay_ms: float
    state: str = "active"                      # active, degraded (a border lost, no other route)
    reason: str = ""
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)

    @property
    def endpoints(self) -> list[dict]:
        return list(self.doc["endpoints"])


def save_records(path: Path, domain: str, slices: dict[str, FedSlice]) -> None:
    """Every slice, written whole and renamed into place (a crash leaves the previous file
    or this one, never half of one)."""
    doc = {"domain": domain, "slices": {n: asdict(fs) for n, fs in sorted(slices.items())}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)


def load_records(path: Path) -> dict[str, FedSlice]:
    """The slices of ``path`` (none if it does not exist); ValueError if it is unreadable."""
    if not path.exists():
        return {}
    try:
        out = {}
        for n, d in json.loads(path.read_text())["slices"].items():
            parts = {k: PartRecord(**{**p, "endpoints": [tuple(x) for x in p["endpoints"]]})
                     for k, p in d.pop("parts").items()}
            out[n] = FedSlice(parts=parts, **d)
        return out
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{path}: federation records unreadable: {e}") from None


def with_resolved_schedule(doc: dict, now: float) -> dict:
    """``doc`` with its schedule as absolute times (a duration counted from now, a missing
    start now): what is reserved in every domain and kept, so a restart counts nothing again."""
    if doc.get("schedule") is None:
        return doc
    s = parse_schedule(doc["schedule"], lambda _f, _why: None, now).resolved(now)
    return {**doc, "schedule": {k: v for k, v in (("start", s.start and rfc3339(s.start)),
                                                  ("end", s.end and rfc3339(s.end))) if v}}


def window(doc: dict) -> tuple[float | None, float | None]:
    """(start, end) of a slice kept with its schedule resolved (None: from now, for ever)."""
    raw = doc.get("schedule")
    if not raw:
        return None, None
    s = parse_schedule(raw, lambda _f, _why: None, None)
    return (s.start, s.end) if s is not None else (None, None)


__all__ = ["FedSlice", "FederatedRefusal", "PartRecord", "load_records", "save_records", "window",
           "with_resolved_schedule"]
