"""`slicectl report` from a run record (as `make demo` writes it) and the benchmarks' JSON."""
from __future__ import annotations

import base64
import json
import re
import subprocess
import sys

import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.htmlreport import ReportError, run_record, slice_rows, write

PNG = b"\x89PNG\r\n\x1a\n"


def record() -> dict:
    medical = pb.Slice(spec=pb.SliceSpec(name="medical", priority=7, bandwidth_mbps=20, max_latency_ms=15),
                       state=pb.SLICE_STATE_ACTIVE, worst_delay_ms=4.97,
                       sla=pb.SlaStatus(state=pb.SLA_STATE_WITHIN_BOUND, measured_delay_ms=6.25),
                       tree=[pb.Link(a="tokyo-dc", b="tokyo-ix"), pb.Link(a="tokyo-ix", b="osaka-ix"),
                             pb.Link(a="osaka-ix", b="osaka-dc")])
    backup = pb.Slice(spec=pb.SliceSpec(name="backup", priority=0, bandwidth_mbps=5),
                      state=pb.SLICE_STATE_ACTIVE, worst_delay_ms=9.77,
                      tree=[pb.Link(a="sendai-dc", b="sendai-ix"), pb.Link(a="sendai-ix", b="tokyo-ix")])
    outcomes = [{"name": "medical", "ttc_s": 0.09}, {"name": "backup", "ttc_s": 0.12}]
    drill = [{"event": "trunk tokyo-ix—osaka-ix silent", "touched": ["medical"], "outage_s": 0.16, "lost": 16,
              "sent": 300, "target_s": 1800, "all_pairs": True, "pairs": "12/12"}]
    checks = [{"slice": "medical", "check": "rtt", "subject": "tokyo-dc:1 -> osaka-dc:1 (10.0.2.1)", "ok": True,
               "measured": "10.20 ms (median 12.00 ms)", "expected": "<= 55 ms", "seconds": 1.0},
              {"slice": "backup", "check": "icmp", "subject": "sendai-dc:2 -> tokyo-dc:2 (10.0.1.2)", "ok": False,
               "measured": "0/5 replies", "expected": ">= 4/5", "seconds": 2.0},
              {"slice": "", "check": "ttc", "subject": "probe", "ok": True, "measured": "0.2 s",
               "expected": "<= 600 s", "seconds": 0.2}]
    return run_record("japan-intercloud", [medical, backup], outcomes, drill, checks, passed=False)


def test_the_report_is_one_page_with_its_figures_inside_and_beside_it(tmp_path):
    run = tmp_path / "run.json"
    run.write_text(json.dumps(record()))
    ttc = tmp_path / "ttc.json"
    ttc.write_text(json.dumps({"topology": "japan-intercloud", "samples_s": [0.1, 0.2, 0.15]}))
    failover = tmp_path / "failover.json"
    failover.write_text(json.dumps({"scenarios": {"silent": {"repetitions": 10, "outage_ms_p50": 160,
                                                             "outage_ms_max": 170}}}))
    written = write(run, tmp_path / "out" / "report.html", str(ttc), str(failover))
    page = written[0].read_text()
    assert [p.name for p in written] == ["report.html", "report-map.png", "report-ttc.png", "report-outage.png"]
    images = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(images) == 3 and all(base64.b64decode(i).startswith(PNG) for i in images)
    assert all(p.read_bytes().startswith(PNG) for p in written[1:])
    assert "FAIL" in page and "sendai-dc:2 -&gt; tokyo-dc:2 (10.0.1.2)" in page   # the failed check, escaped
    assert "<td>bench: silent</td><td>160</td><td>170</td>" in page and "drill: trunk tokyo-ix—osaka-ix silent" in page


def test_slice_rows_carry_bound_measured_and_verdict():
    rows = slice_rows(record())
    assert rows[0] == ("medical", 7, "active", "15 ms", "4.97 ms", "within bound, 6.2 ms", "10.20 ms",
                       "1/1 checks passed")
    assert rows[1][3] == "-" and rows[1][5] == "not monitored" and rows[1][7] == "0/1 checks passed; FAILED: icmp"


def test_a_file_that_is_not_a_run_record_is_refused(tmp_path):
    (tmp_path / "x.json").write_text(json.dumps({"topology": "japan-intercloud"}))
    with pytest.raises(ReportError, match="kind: not a run record"):
        write(tmp_path / "x.json", tmp_path / "r.html")
    r = subprocess.run([sys.executable, "-m", "slicectl.cli", "report", "--run", str(tmp_path / "none.json"),
                        "--out", str(tmp_path / "r.html")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "cannot read the run record" in r.stderr and not (tmp_path / "r.html").exists()
