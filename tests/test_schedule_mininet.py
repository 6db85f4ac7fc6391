"""Issue 27's first "Done when" on Mininet: a slice booked 20 s ahead on
two-clouds is admitted at once and shows ``scheduled``; its hosts cannot reach each other
before the start, can within 1 s after it, and cannot again within 1 s after the end.

Measured from inside the hosts: one 10 ms ping stream (``ping -D``: each reply stamped
with the wall time it arrived) runs across the whole booking, and the test reads when
the first and last replies came. Hosts and controller share the machine's wall clock.

    tokyo-dc:1 ── tokyo-dc ── tokyo-ix ══ osaka-ix ── osaka-dc ── osaka-dc:1
    (pings) ────────────────── booked: [start, end) ───────────────→ (answers)
"""
from __future__ import annotations

import re
import subprocess
import time

import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.failover import host_at
from slices.schedule import rfc3339
from tests.live import controller_and_wan
from tests.rawspec import raw_spec

pytestmark = pytest.mark.mininet
LEAD_S = 20.0       # how far ahead the slice is booked (as the issue says)
LENGTH_S = 6.0      # how long it lasts
WITHIN_S = 1.0


def replies(ping_output: str) -> list[float]:
    """The wall times (``ping -D``) at which replies arrived."""
    return [float(t) for t in re.findall(r"^\[(\d+\.\d+)\] \d+ bytes from", ping_output, re.M)]


def test_a_slice_booked_ahead_connects_its_hosts_from_its_start_to_its_end_only(tmp_path):
    with controller_and_wan("two-clouds", tmp_path, options=("--no-probes",), prefix="k") as (ctl, wan):
        (tokyo, tokyo_ip), (osaka, osaka_ip) = host_at(wan, "tokyo-dc", 1), host_at(wan, "osaka-dc", 1)
        start = time.time() + LEAD_S
        end = start + LENGTH_S
        doc = {"name": "drill", "tenant": "lab", "bandwidth_mbps": 5,
               "endpoints": [{"site": "tokyo-dc", "port": 1, "ip": tokyo_ip},
                             {"site": "osaka-dc", "port": 1, "ip": osaka_ip}],
               "schedule": {"start": rfc3339(start), "end": rfc3339(end)}}
        asked = time.monotonic()
        s = ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(doc)), timeout=30)
        assert time.monotonic() - asked < 2.0, "admitted at once"
        assert s.state == pb.SLICE_STATE_SCHEDULED and s.spec.schedule.start and s.spec.schedule.end, s
        record = tmp_path / "ping.txt"
        seconds = end + 3 - time.time()
        with open(record, "w") as out:
            # a count, not a deadline (-w): with one, ping stops at the first error the
            # network reports (no ARP answer before the start)
            stream = tokyo.popen(["ping", "-n", "-D", "-i", "0.01", "-W", "1", "-c", str(int(seconds / 0.01)),
                                  osaka_ip], stdout=out, stderr=subprocess.STDOUT)
        time.sleep(max(0.0, start + 2 - time.time()))
        got = ctl.slices.GetSlice(pb.GetSliceRequest(name="drill"), timeout=10)
        assert got.state == pb.SLICE_STATE_ACTIVE, got.reason
        stream.wait(timeout=seconds + 30)
        seen = replies(record.read_text())
        assert seen, record.read_text()[-2000:]
        first, last = min(seen), max(seen)
        assert first >= start, f"a reply {start - first:.3f} s before the start"
        assert first <= start + WITHIN_S, f"first reply {first - start:.3f} s after the start"
        assert last >= end - WITHIN_S, f"replies stopped {end - last:.3f} s before the end"
        assert last <= end + WITHIN_S, f"a reply {last - end:.3f} s after the end"
        lookup = ctl.slices.ListSlices(pb.ListSlicesRequest(), timeout=10)
        assert "drill" not in [x.spec.name for x in lookup.slices]
        print(f"first reply {first - start:+.3f} s from the start, last {last - end:+.3f} s from the end")
