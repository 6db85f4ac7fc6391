"""`slicectl etcd up|status|down`: a local three-member etcd started in the background with
its own ports and data, recorded in its directory; `down` stops only what `up` recorded
(another etcd, or a recorded pid that is another process now, is left alone); a failed or
interrupted `up` leaves nothing running and no data behind. Real etcd processes."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

from slicectl.etcdlocal import EtcdProcess, member_status
from tests.conftest import REPO
from tests.test_cluster import wait_for

ENV = {**os.environ, "PYTHONPATH": str(REPO)}


def slicectl(*args: str, env: dict = ENV, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slicectl.cli", *args], capture_output=True, text=True,
                          timeout=timeout, env=env)


def etcd_pids_in(directory: Path) -> list[int]:
    """Live etcd processes whose data directory is under ``directory`` (ours or leftovers)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            argv = (proc / "cmdline").read_bytes().split(b"\0")
            zombie = "\nState:\tZ" in (proc / "status").read_text()
        except OSError:
            continue
        if not zombie and b"--data-dir" in argv and str(directory).encode() in argv[argv.index(b"--data-dir") + 1]:
            found.append(int(proc.name))
    return found


def test_up_status_down_and_up_again_on_the_data(tmp_path):
    d = tmp_path / "lab"
    r = slicectl("etcd", "up", "--dir", str(d))
    try:
        assert r.returncode == 0, r.stderr
        url = r.stdout.split()[1]
        assert r.stdout.split()[0] == "--cluster" and url.startswith("etcd://") and url.count(",") == 2
        record = json.loads((d / "etcd.json").read_text())
        assert sorted(etcd_pids_in(d)) == sorted(m["pid"] for m in record["members"])   # in the background
        st = slicectl("etcd", "status", "--dir", str(d))
        assert st.returncode == 0, st.stderr
        roles = [line.split()[3] for line in st.stdout.splitlines()[2:]]
        assert sorted(roles) == ["follower", "follower", "leader"], st.stdout
        # one member killed: status says so (exit 1); `up` starts it again on its data and ports
        os.kill(record["members"][1]["pid"], signal.SIGKILL)
        wait_for(lambda: record["members"][1]["pid"] not in etcd_pids_in(d), 5)
        st = slicectl("etcd", "status", "--dir", str(d))
        assert st.returncode == 1 and "m1" in st.stdout and "gone" in st.stdout, st.stdout
        again = slicectl("etcd", "up", "--dir", str(d))
        assert again.returncode == 0 and again.stdout == r.stdout, again.stderr
        assert "again on its data" in again.stderr
        assert slicectl("etcd", "status", "--dir", str(d)).returncode == 0
    finally:
        down = slicectl("etcd", "down", "--dir", str(d))
    assert down.returncode == 0, down.stderr
    assert etcd_pids_in(d) == []
    assert sorted(p.name for p in d.iterdir()) == ["m0.log", "m1.log", "m2.log"]   # data and record gone
    gone = slicectl("etcd", "status", "--dir", str(d))
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1 and "no etcd started here" in gone.stderr


def test_down_leaves_a_foreign_etcd_alone(tmp_path):
    """Another etcd on this machine survives `down`, even when the record names its pid
    (a pid reused after a reboot): only etcd on the recorded data directory is stopped."""
    with EtcdProcess(tmp_path / "foreign") as foreign:
        d = tmp_path / "lab"
        assert slicectl("etcd", "up", "--dir", str(d), "--members", "1").returncode == 0
        path = d / "etcd.json"
        record = json.loads(path.read_text())
        ours = record["members"][0]["pid"]
        record["members"][0]["pid"] = foreign.proc.pid          # as if our member's pid were now another's
        path.write_text(json.dumps(record))
        r = slicectl("etcd", "down", "--dir", str(d))
        assert r.returncode == 0 and "left alone" in r.stderr, r.stderr
        assert foreign.proc.poll() is None and member_status(f"http://127.0.0.1:{foreign.client_port}")
        assert (foreign.directory / "data").is_dir()
        os.kill(ours, signal.SIGTERM)                             # ours, which the record no longer named
        wait_for(lambda: etcd_pids_in(d) == [], 10)


def test_a_failed_up_leaves_nothing_running_and_no_data(tmp_path):
    """One member cannot start (an etcd that exits for m1): the two that did are stopped
    and their data removed; no record is written, so `status` knows of nothing."""
    fake = tmp_path / "bin" / "etcd"
    fake.parent.mkdir()
    real = subprocess.run(["sh", "-c", "command -v etcd"], capture_output=True, text=True).stdout.strip()
    fake.write_text(f'#!/bin/sh\ncase "$*" in *"--name m1 "*) echo "m1 cannot start" >&2; exit 1;; esac\n'
                    f'exec {real} "$@"\n')
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    d = tmp_path / "lab"
    r = slicectl("etcd", "up", "--dir", str(d), env={**ENV, "PATH": f"{fake.parent}:{ENV['PATH']}"})
    assert r.returncode == 1 and r.stderr.count("\n") == 1 and "etcd member m1 exited" in r.stderr, r.stderr
    assert etcd_pids_in(d) == []
    assert not (d / "etcd.json").exists() and not any((d / m).exists() for m in ("m0", "m1", "m2"))


def test_an_interrupted_up_stops_what_it_started(tmp_path):
    """Ctrl-C while `up` waits for the members to elect a leader (slow here on purpose)."""
    d = tmp_path / "lab"
    p = subprocess.Popen([sys.executable, "-m", "slicectl.cli", "etcd", "up", "--dir", str(d), "--heartbeat-ms",
                          "1000", "--election-ms", "20000"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                         text=True, env=ENV)
    try:
        wait_for(lambda: len(etcd_pids_in(d)) == 3, 20)
        p.send_signal(signal.SIGINT)
        _out, err = p.communicate(timeout=30)
    finally:
        if p.poll() is None:
            p.kill()
    assert p.returncode == 130 and "interrupted" in err, err
    assert etcd_pids_in(d) == []
    assert not (d / "etcd.json").exists() and not any((d / m).exists() for m in ("m0", "m1", "m2"))


def test_up_refuses_data_that_is_not_its_own(tmp_path):
    d = tmp_path / "lab"
    (d / "m0").mkdir(parents=True)
    (d / "m0" / "keep").write_text("someone's")
    r = slicectl("etcd", "up", "--dir", str(d))
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "not starting a new etcd" in r.stderr, r.stderr
    assert (d / "m0" / "keep").read_text() == "someone's" and etcd_pids_in(d) == []
