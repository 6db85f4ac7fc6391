"""`slicectl lab`: the exercises of the lab course (``labs/NN-name/``), their self-checks,
and their status on this machine.

Each exercise directory holds a README, the starter files a student completes in place,
``solution/`` with the same files completed, and ``check.py``, which defines

* ``TITLE`` and ``MINUTES`` (what ``slicectl lab list`` shows),
* ``ITEMS``: what must hold, in order, as ``{id: sentence}``,
* ``run(lab: Lab)``: measures the student's work and records every item with
  :meth:`Lab.expect` (or :meth:`Lab.require`, which stops the check when later items
  cannot be measured without it). Items it never reaches are "not checked".

A check measures (pings, iperf3, the controller's answers, the student's scripts run
against a live WAN); it reads the student's files only as the product would (a topology
to load, specs to apply, a script or client to run). Every failure carries a hint.
"""
from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

LABS_DIR = Path(__file__).resolve().parent.parent / "labs"
SCRATCH_DIR = LABS_DIR / ".work"         # logs and inventories of the last checks (not in git)
STATUS_FILE = SCRATCH_DIR / "status.json"
Progress = Callable[[str], None]


class LabError(Exception):
    """An exercise that does not exist, or a check that cannot run here (not root, ...)."""


class Stop(Exception):
    """Raised by :meth:`Lab.require`: the items after this one cannot be measured."""


@dataclass(frozen=True)
class Exercise:
    number: str          # "01"
    name: str            # "wan-from-geography"
    path: Path

    @property
    def slug(self) -> str:
        return self.path.name

    def module(self):
        """The exercise's check.py as a module."""
        spec = importlib.util.spec_from_file_location(f"lab_check_{self.number}", self.path / "check.py")
        mod = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(mod)
        return mod


def exercises(root: Path = LABS_DIR) -> list[Exercise]:
    out = []
    for d in sorted(root.iterdir()):
        number, _, name = d.name.partition("-")
        if d.is_dir() and number.isdigit() and (d / "check.py").is_file():
            out.append(Exercise(number, name, d))
    return out


def find(which: str, root: Path = LABS_DIR) -> Exercise:
    """``1``, ``01`` or ``01-wan-from-geography``."""
    known = exercises(root)
    for ex in known:
        if which in (ex.slug, ex.number) or (which.isdigit() and int(which) == int(ex.number)):
            return ex
    raise LabError(f"no exercise {which!r}; there are: {', '.join(e.number for e in known)} "
                   f"(slicectl lab list)")


@dataclass
class Item:
    id: str
    text: str
    ok: bool | None = None        # None: not checked
    detail: str = ""
    hint: str = ""


@dataclass
class Result:
    exercise: Exercise
    title: str
    work: Path
    items: list[Item]
    seconds: float = 0.0
    error: str = ""               # the check could not run to its end (environment, bug)

    @property
    def passed(self) -> bool:
        return not self.error and all(i.ok for i in self.items)

    @property
    def score(self) -> tuple[int, int]:
        return sum(1 for i in self.items if i.ok), len(self.items)


class Lab:
    """What a check.py works with: the student's directory, a scratch directory for logs,
    item recording, and (:meth:`network`) a controller and an emulated WAN."""

    def __init__(self, exercise: Exercise, work: Path, items: dict[str, str], scratch: Path,
                 progress: Progress):
        self.exercise, self.work, self.scratch, self.progress = exercise, work, scratch, progress
        self.items = [Item(k, v) for k, v in items.items()]
        self._by_id = {i.id: i for i in self.items}

    # -- recording ------------------------------------------------------------------------

    def expect(self, item: str, ok: bool, detail: str = "", hint: str = "") -> bool:
        """Record whether ``item`` holds; ``detail`` says what was measured, ``hint`` what to
        do about a failure."""
        it = self._by_id[item]
        it.ok, it.detail, it.hint = bool(ok), detail, ("" if ok else hint)
        mark = "ok" if ok else "FAIL"
        self.progress(f"[{mark}] {it.text}" + (f": {detail}" if detail else ""))
        return bool(ok)

    def require(self, item: str, ok: bool, detail: str = "", hint: str = "") -> bool:
        """:meth:`expect`, and stop the check if it does not hold."""
        if not self.expect(item, ok, detail, hint):
            raise Stop(item)
        return True

    # -- the student's files --------------------------------------------------------------

    def path(self, name: str) -> Path:
        return self.work / name

    def specs(self, item: str, name: str, topology, names: tuple[str, ...] = (),
              stop: bool = True) -> list[dict] | None:
        """The slice specs of the student's ``name``, checked as ``slicectl spec check``
        would against ``topology``; ``names``: slices the file must define. Records
        ``item``; on failure stops the check, or with ``stop=False`` returns None."""
        from slicectl.specfiles import SpecFileError, check_docs, read_spec_docs
        record = self.require if stop else self.expect
        try:
            docs = read_spec_docs(str(self.path(name)))
            check_docs(docs, topology)
        except SpecFileError as e:
            shown = [line.replace(str(self.work) + "/", "") for line in e.lines]
            record(item, False, "; ".join(shown[:4]) + (" ..." if len(shown) > 4 else ""),
                   f"fix what `slicectl spec check {name} --topology {topology.name}` names "
                   f"(fill in every ___ as the README says)")
            return None
        specs = [d.doc for d in docs]
        missing = [n for n in names if n not in {d.get("name") for d in specs}]
        ok = record(item, not missing, f"{name} has no slice named {', '.join(missing)}" if missing else
                    f"{len(specs)} valid slice spec{'s' * (len(specs) != 1)}",
                    "keep the slice names the README gives: the check looks for them")
        return specs if ok is not False else None

    def answers(self, item: str, *keys: str) -> dict:
        """The student's answers.yaml, with a value for every one of ``keys`` (else
        ``item`` fails and the check stops)."""
        import yaml
        try:
            doc = yaml.safe_load(self.path("answers.yaml").read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as e:
            self.require(item, False, f"answers.yaml: {getattr(e, 'strerror', None) or 'not YAML'}",
                         "answers.yaml is part of the starter files: fill in its blanks")
        blank = [k for k in keys if not isinstance(doc, dict) or doc.get(k) in (None, "___", "")
                 or (isinstance(doc.get(k), list) and "___" in doc[k])]
        self.require(item, not blank, f"answers.yaml: no answer yet for {', '.join(blank)}",
                     "measure it as the README's step says, then write the figure in place of ___")
        return doc

    def script(self, argv: list[str], server: str | None, timeout: float = 120,
               env: dict | None = None) -> subprocess.CompletedProcess:
        """Run one of the student's programs in their directory, with this project's
        ``slicectl`` and Python first on PATH and ``SLICECTL_SERVER`` set to ``server``."""
        bindir = str(Path(sys.executable).parent)
        run_env = {**os.environ, "PATH": f"{bindir}:{os.environ.get('PATH', '/usr/bin:/bin')}",
                   "PYTHONPATH": str(LABS_DIR.parent), **(env or {})}
        if server:
            run_env["SLICECTL_SERVER"] = server
        try:
            return subprocess.run(argv, cwd=self.work, env=run_env, capture_output=True, text=True,
                                  timeout=timeout, stdin=subprocess.DEVNULL)
        except subprocess.TimeoutExpired as e:
            return subprocess.CompletedProcess(argv, -9, _text(e.stdout),
                                               _text(e.stderr) + f"\n(stopped after {timeout:g} s)")
        except OSError as e:
            return subprocess.CompletedProcess(argv, 127, "", f"{argv[0]}: {e.strerror}")

    # -- the network ----------------------------------------------------------------------

    @contextmanager
    def network(self, topology, *, controller: bool = True,
                controller_options: tuple[str, ...] = ()) -> Iterator["Net"]:
        """``topology`` up in Mininet (with its name prefixed if another WAN on this
        machine uses the plain names), with a controller of its own unless
        ``controller=False`` (then static least-delay forwarding)."""
        from slicectl.launcher import ControllerProcess
        from topologies.emulation import platform
        from topologies.emulation.wan import SLA_TOLERANCE_OPTIONS, Wan

        if os.geteuid() != 0:
            raise LabError("this check builds an emulated WAN: run it as root "
                           f"(sudo slicectl lab check {self.exercise.number})")
        platform.require_root()
        if not controller:
            self.progress(f"bringing up {topology.name} in Mininet (static routes, no controller)")
            with Wan(topology) as wan:
                yield Net(self, wan, None)
            return
        topo_arg = topology.source or topology.name
        with ControllerProcess(topo_arg, self.scratch / "store.db", self.scratch / "controller.log",
                               options=(*SLA_TOLERANCE_OPTIONS, *controller_options)) as ctl:
            self.progress(f"bringing up {topology.name} in Mininet with a controller "
                          f"(log: {_shown(self.scratch / 'controller.log')})")
            with Wan(topology, controller=("127.0.0.1", ctl.of)) as wan:
                ctl.wait_switches()
                net = Net(self, wan, ctl)
                wan.write_inventory(net.inventory)
                yield net


class Net:
    """A running WAN (and controller) for a check: slices, hosts, pings, streams."""

    def __init__(self, lab: Lab, wan, ctl):
        self.lab, self.wan, self.ctl = lab, wan, ctl
        self.server = ctl.grpc if ctl else None
        self.inventory = lab.scratch / "wan.json"

    # -- slices ---------------------------------------------------------------------------

    def apply(self, doc: dict) -> str:
        """Create (or update) the slice of ``doc``: "" when the controller took it, else its
        refusal in its own words."""
        import grpc

        from proto.convert import doc_to_spec
        from proto.intercloud.slicing.v1 import slicing_pb2 as pb
        spec = doc_to_spec(doc)
        try:
            try:
                self.ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=spec), timeout=30)
            except grpc.RpcError as e:
                if e.code() != grpc.StatusCode.ALREADY_EXISTS:
                    raise
                self.ctl.slices.UpdateSlice(pb.UpdateSliceRequest(spec=spec), timeout=30)
        except grpc.RpcError as e:
            return e.details() or e.code().name
        return ""

    def apply_all(self, docs: list[dict]) -> tuple[bool, str]:
        """Apply ``docs`` in order; (every one ACTIVE, what happened to each)."""
        refusals = {d["name"]: self.apply(d) for d in docs}
        states = {n: self.state(n, "ACTIVE") for n in refusals}
        return (all(s == "ACTIVE" for s in states.values()),
                "; ".join(f"{n}: {refusals[n] or states[n]}" for n in refusals))

    def get(self, name: str):
        from proto.intercloud.slicing.v1 import slicing_pb2 as pb
        return self.ctl.slices.GetSlice(pb.GetSliceRequest(name=name), timeout=10)

    def state(self, name: str, want: str | None = None, timeout: float = 15) -> str:
        """The slice's state (ACTIVE, PREEMPTED, ..., ABSENT); with ``want``, the first
        time it is that, or the last seen after ``timeout`` seconds."""
        import grpc

        from proto.convert import STATE_NAMES
        deadline = time.monotonic() + timeout
        while True:
            try:
                state = STATE_NAMES.get(self.get(name).state, "?").upper()
            except grpc.RpcError:
                state = "ABSENT"
            if want is None or state == want or time.monotonic() > deadline:
                return state
            time.sleep(0.1)

    def topology(self):
        from proto.intercloud.slicing.v1 import slicing_pb2 as pb
        return self.ctl.topology_api.GetTopology(pb.GetTopologyRequest(), timeout=10)

    def link(self, a: str, b: str):
        """The controller's view of the a—b link (LinkState: residual_mbps, slices, up)."""
        return next(l for l in self.topology().links if {l.a, l.b} == {a, b})

    def site(self, name: str):
        """The controller's view of site ``name`` (Site: connected, drained, lost)."""
        return next(s for s in self.topology().sites if s.name == name)

    def delete(self, name: str) -> None:
        from proto.intercloud.slicing.v1 import slicing_pb2 as pb
        self.ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name=name), timeout=30)

    # -- hosts and traffic ----------------------------------------------------------------

    def host(self, site: str, port: int):
        """(Mininet host, its address) on ``port`` of ``site``."""
        from slicectl.failover import host_at
        return host_at(self.wan, site, port)

    def pings(self, pairs: list[tuple[object, str]], count: int = 3, wait_s: float = 1.0) -> list[bool]:
        """For each (host, address): did at least one of ``count`` pings pass? In parallel."""
        procs = [h.popen(["ping", "-n", "-q", "-c", str(count), "-i", "0.2", "-W", f"{wait_s:g}", ip],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL) for h, ip in pairs]
        return [p.wait(timeout=count * 0.2 + wait_s + 10) == 0 for p in procs]

    def endpoint_pairs(self, doc: dict) -> list[tuple[str, object, str]]:
        """("site:port → address", host, address) for every ordered endpoint pair of ``doc``."""
        eps = [(e["site"], e["port"], e["ip"]) for e in doc["endpoints"]]
        return [(f"{a[0]}:{a[1]} → {b[2]}", self.host(a[0], a[1])[0], b[2])
                for a in eps for b in eps if a != b]

    def unreachable(self, docs: list[dict], tries: int = 3) -> list[str]:
        """The ordered endpoint pairs of ``docs`` that do not pass a ping (each gets
        ``tries`` rounds: a slice just placed may need a moment)."""
        pairs = [p for d in docs for p in self.endpoint_pairs(d)]
        failing = pairs
        for _ in range(tries):
            ok = self.pings([(h, ip) for _, h, ip in failing])
            failing = [p for p, passed in zip(failing, ok) if not passed]
            if not failing:
                break
        return [what for what, _, _ in failing]

    def rtt_ms(self, host, ip: str, count: int = 5) -> float | None:
        """The least round trip of ``count`` pings (None if none passed)."""
        from topologies.emulation.fidelity import min_rtt
        return min_rtt(host, ip, count)

    def udp(self, src, dst, mbps: float, seconds: int = 3, port: int = 5401,
            datagram: int = 1400) -> float | None:
        """Send UDP at ``mbps`` in ``datagram``-byte datagrams from ``src`` to ``dst``
        (Mininet hosts) for ``seconds``; the Mbit/s that arrived (iperf3's receiver
        figure), None if iperf3 failed."""
        server = dst.popen(["iperf3", "-s", "-1", "-p", str(port)], stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)
        try:
            out = ""
            for _ in range(20):   # the server needs a moment to listen
                r = src.popen(["iperf3", "-c", dst.IP(), "-p", str(port), "-u", "-b", f"{mbps:g}M",
                               "-t", str(seconds), "-l", str(datagram), "-J"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True)
                out = r.communicate(timeout=seconds + 20)[0]
                if "unable to connect" not in out and "Connection refused" not in out:
                    break
                time.sleep(0.2)
            try:
                end = json.loads(out[out.index("{"):])["end"]
                return end["sum"]["bits_per_second"] * (1 - end["sum"]["lost_percent"] / 100) / 1e6
            except (ValueError, KeyError):
                return None
        finally:
            if server.poll() is None:
                server.kill()
            server.wait()

    def stream(self, src, ip: str, seconds: float, tag: str):
        """A 10 ms ping stream (see :class:`slicectl.failover.Stream`)."""
        from slicectl.failover import Stream
        return Stream(src, ip, seconds, self.lab.scratch / f"stream-{tag}.txt")


def last_line(text: str | None) -> str:
    """The last non-empty line of a program's output (at most 160 characters), or ""."""
    lines = [l for l in (text or "").strip().splitlines() if l.strip()]
    return lines[-1][:160] if lines else ""


def _text(b) -> str:
    return b.decode(errors="replace") if isinstance(b, bytes) else (b or "")


def _shown(p: Path) -> str:
    try:
        return str(p.relative_to(Path.cwd()))
    except ValueError:
        return str(p)


# -- running a check ------------------------------------------------------------------------

def run_check(exercise: Exercise, *, solution: bool = False, work: Path | None = None,
              progress: Progress = print) -> Result:
    """Run ``exercise``'s check on the student's files (the exercise directory), on the
    reference solution, or on ``work``; record the outcome in the status file."""
    mod = exercise.module()
    if work is None:
        work = exercise.path / "solution" if solution else exercise.path
    work = Path(work).resolve()
    if not work.is_dir():
        raise LabError(f"{work}: no such directory")
    scratch = SCRATCH_DIR / (exercise.slug + ("-solution" if solution else ""))
    shutil.rmtree(scratch, ignore_errors=True)
    scratch.mkdir(parents=True)
    lab = Lab(exercise, work, mod.ITEMS, scratch, progress)
    result = Result(exercise, mod.TITLE, work, lab.items)
    started = time.monotonic()
    try:
        mod.run(lab)
    except Stop:
        pass
    except LabError as e:
        result.error = str(e)
    except Exception as e:   # the check or the machine failed, not the student's work: say so
        result.error = (f"{type(e).__name__}: {e} (a problem of the check or of this machine, not of "
                        f"your work; the controller's log is in {_shown(scratch)})")
    except KeyboardInterrupt:
        result.error = "interrupted"
        raise
    finally:
        result.seconds = time.monotonic() - started
        if work in (exercise.path.resolve(), (exercise.path / "solution").resolve()):
            _record(result, solution)
    return result


def format_result(r: Result) -> str:
    """Item by item: what holds, what does not (with its hint), what was not checked; the score."""
    lines = [f"Lab {r.exercise.number}: {r.title}", f"checked: {_shown(r.work)}", ""]
    for n, it in enumerate(r.items, 1):
        mark = {True: " ok ", False: "FAIL", None: " -- "}[it.ok]
        lines.append(f"[{mark}] {n}. {it.text}")
        if it.ok is None:
            lines.append("         not checked: an earlier item must hold first")
            continue
        if it.detail:
            lines.append(f"         {it.detail}")
        if it.hint:
            lines.append(f"         hint: {it.hint}")
    got, total = r.score
    lines.append("")
    if r.error:
        lines.append(f"the check could not finish: {r.error}")
    verdict = "all holds, well done" if r.passed else "not yet: see the hints above"
    lines.append(f"score: {got}/{total} ({r.seconds:.0f} s) — {verdict}")
    return "\n".join(lines)


def _record(r: Result, solution: bool) -> None:
    status = load_status()
    got, total = r.score
    status.setdefault(r.exercise.number, {})["solution" if solution else "work"] = {
        "passed": r.passed, "score": f"{got}/{total}", "when": time.strftime("%Y-%m-%d %H:%M")}
    STATUS_FILE.write_text(json.dumps(status, indent=1, sort_keys=True))


def load_status() -> dict:
    try:
        return json.loads(STATUS_FILE.read_text())
    except (OSError, ValueError):
        return {}


def list_rows() -> list[tuple[str, str, str, str, str]]:
    """(number, title, minutes, your status, the reference solution's status) per exercise."""
    status, rows = load_status(), []
    for ex in exercises():
        mod = ex.module()
        mine, ref = (status.get(ex.number, {}).get(k) for k in ("work", "solution"))
        rows.append((ex.number, mod.TITLE, f"{mod.MINUTES}", _status_word(mine), _status_word(ref)))
    return rows


def _status_word(s: dict | None) -> str:
    if not s:
        return "not checked"
    return f"{'passed' if s['passed'] else 'failed'} {s['score']} ({s['when']})"
