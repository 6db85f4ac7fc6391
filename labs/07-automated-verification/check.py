"""Self-check of lab 7: the student's CI job passes on a healthy WAN with a JUnit report,
fails when a host is cut off or the controller does not answer, and the student's JUnit
reader names exactly the failed test cases."""
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

TITLE = "Automated verification in CI"
MINUTES = 45
ITEMS = {
    "healthy": "healthy WAN: ./ci-job.sh exits 0 within the 10-minute target and writes a JUnit report "
               "with test cases for every slice and no failure",
    "reader-clean": "python junit_failures.py on that report prints nothing and exits 0",
    "broken": "a slice host cut off (its interface down): ./ci-job.sh exits non-zero, its report has failures",
    "reader-names": "python junit_failures.py on that report prints exactly its failed test cases and exits 1",
    "unreachable": "no controller at $SLICECTL_SERVER: ./ci-job.sh exits non-zero",
}
EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "japan"
SLICES = ("medical.yaml", "business.yaml")
CUT = ("sendai-dc", 1)   # a host of medical-lifeline


def failed_cases(report: Path) -> set[str]:
    root = ET.parse(report).getroot()
    return {f"{c.get('classname')}: {c.get('name')}" for c in root.iter("testcase")
            if c.find("failure") is not None or c.find("error") is not None}


def run(lab) -> None:
    import yaml

    from slicectl.launcher import free_port
    from topologies import load

    topo = load("japan-intercloud")
    docs = [yaml.safe_load((EXAMPLES / f).read_text()) for f in SLICES]
    report = lab.scratch / "report.xml"
    with lab.network(topo) as net:
        for d in docs:
            refusal = net.apply(d)
            if refusal or net.state(d["name"], "ACTIVE") != "ACTIVE":
                raise RuntimeError(f"the example slice {d['name']} did not become ACTIVE: {refusal}")
        job = ["bash", "./ci-job.sh", str(net.inventory), str(report)]
        started = time.monotonic()
        r = lab.script(job, net.server, timeout=660)
        took = time.monotonic() - started
        problems = [f"exit {r.returncode}"] if r.returncode != 0 else []
        suites = set()
        if report.is_file():
            try:
                root = ET.parse(report).getroot()
                suites = {s.get("name") for s in root.iter("testsuite") if list(s.iter("testcase"))}
                if failed_cases(report):
                    problems.append(f"{len(failed_cases(report))} failures in the report")
            except ET.ParseError as e:
                problems.append(f"the report is not XML ({e})")
        else:
            problems.append("no report written")
        missing = {d["name"] for d in docs} - suites
        if report.is_file() and missing:
            problems.append(f"no test cases for {', '.join(sorted(missing))}")
        lab.require("healthy", not problems and took < 600, "; ".join(problems) or
                    f"exit 0 in {took:.1f} s; suites {', '.join(sorted(suites))}",
                    "run `slicectl verify --inventory INVENTORY --junit REPORT` in the job and exit with its status")

        reader = [sys.executable, "junit_failures.py", str(report)]
        r = lab.script(reader, None, timeout=30)
        lab.expect("reader-clean", r.returncode == 0 and not r.stdout.strip(),
                   f"exit {r.returncode}, {len(r.stdout.splitlines())} lines",
                   "a report without <failure> elements has nothing to print")

        host, _ = net.host(*CUT)
        intf = host.defaultIntf().name
        host.cmd(f"ip link set dev {intf} down")
        try:
            r = lab.script(job, net.server, timeout=660)
        finally:
            host.cmd(f"ip link set dev {intf} up")
        failures = failed_cases(report) if report.is_file() else set()
        lab.require("broken", r.returncode != 0 and bool(failures),
                    f"exit {r.returncode}; {len(failures)} failed test cases in the report",
                    "the job must exit with slicectl verify's status, not 0")

        r = lab.script(reader, None, timeout=30)
        printed = {line.strip() for line in r.stdout.splitlines() if line.strip()}
        lab.expect("reader-names", r.returncode == 1 and printed == failures,
                   f"exit {r.returncode}; printed {len(printed)} of {len(failures)} failed cases"
                   + (f", e.g. not {sorted(failures - printed)[0]!r}" if failures - printed else ""),
                   "print f\"{classname}: {name}\" for every testcase with a <failure> or <error> child")

        r = lab.script(job, f"127.0.0.1:{free_port()}", timeout=120)
        lab.expect("unreachable", r.returncode != 0, f"exit {r.returncode}",
                   "a job that cannot check must not pass: exit with slicectl's status")
