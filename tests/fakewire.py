"""A Wire (controller.model) over simulated switches, for API tests without Mininet:
it keeps each switch's entries exactly as pushed and counts what was sent."""
from __future__ import annotations

from collections import Counter

from controller.core import ABSENT, REFUSED, SwitchProblem
from controller.ofwire import canonical_entry
from slices.compiler import Changes


class FakeWire:
    def __init__(self, sites, connected=True):
        self.tables = {s: {} for s in sites}
        self.connected = set(sites) if connected else set()
        self.sent = Counter()       # (op, site) -> entries sent
        self.batches = []           # every Changes pushed
        self.refusing = {}          # site -> OpenFlow error it answers every change with

    def connected_sites(self):
        return set(self.connected)

    def push(self, changes: Changes):
        self.batches.append(changes)
        problems = {}
        for op, entries in (("delete", changes.deletes), ("modify", changes.modifies), ("add", changes.adds)):
            for e in entries:
                if e.switch not in self.connected:
                    problems[e.switch] = SwitchProblem(ABSENT, "switch not connected")
                    continue
                if e.switch in self.refusing:
                    problems[e.switch] = SwitchProblem(REFUSED, self.refusing[e.switch])
                    continue
                self.sent[(op, e.switch)] += 1
                table, c = self.tables[e.switch], canonical_entry(e)
                if op == "delete":
                    table.pop(c.key, None)
                else:
                    table[c.key] = c
        return problems

    def read(self, site):
        return list(self.tables[site].values()) if site in self.connected else None

    def counters(self, site, slice_id):
        return {"ingress_packets": 0, "ingress_bytes": 0, "meter_packets": 0, "meter_bytes": 0,
                "meter_dropped_packets": 0}

    def entries(self):
        return {k: e for t in self.tables.values() for k, e in t.items()}
