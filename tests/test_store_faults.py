"""Stores that cannot be used fail loudly and safely at start: one line naming the file and
the problem (exit 2 from `slicectl controller`), nothing written into a file that is not
ours; an old store is brought up to date; a store whose slices no longer fit the network
never books beyond capacity."""
from __future__ import annotations

import sqlite3
import subprocess
import sys

import pytest

from controller.core import SliceController
from controller.store import SCHEMA_VERSION, Store, StoreError
from slices.audit import audit
from tests.fakewire import FakeWire
from topologies import load
from topologies.model import Topology

TWO = load("two-clouds")


def start(store_path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "slicectl.cli", "controller", "--topology", "two-clouds",
                           "--store", str(store_path), "--grpc", "127.0.0.1:0", "--openflow", "127.0.0.1:0",
                           "--metrics", "off"], capture_output=True, text=True, timeout=60)


def test_a_file_that_is_not_a_database_is_one_line_and_exit_2(tmp_path):
    bad = tmp_path / "store.db"
    bad.write_bytes(b"not sqlite at all\n" * 300)
    r = start(bad)
    assert r.returncode == 2, r.stderr
    assert r.stderr.strip().splitlines() == [f"slicectl: error: store {bad}: not a SQLite database (damaged, "
                                             "or another kind of file)"]


def test_another_programs_database_is_refused_and_left_untouched(tmp_path):
    other = tmp_path / "app.db"
    with sqlite3.connect(other) as db:
        db.execute("CREATE TABLE customers (id INTEGER)")
    before = other.read_bytes()
    with pytest.raises(StoreError, match="not an intercloud-slicing store .*customers"):
        Store(other)
    assert other.read_bytes() == before


def test_a_store_from_a_newer_version_is_refused(tmp_path):
    Store(tmp_path / "s.db").close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="written by a newer version"):
        Store(tmp_path / "s.db")


def test_a_store_locked_by_another_process_is_refused_at_start(tmp_path):
    Store(tmp_path / "s.db").close()
    holder = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError, match="locked by another process"):
            Store(tmp_path / "s.db")
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def test_a_damaged_store_is_refused(tmp_path):
    path = tmp_path / "s.db"
    store = Store(path)
    for i in range(40):        # enough rows for several pages
        store.commit([], [], [(f"s{i}", "note", "active", "x" * 400)])
    store.close()
    data = bytearray(path.read_bytes())
    data[4096:4096 + 12] = b"\xff" * 12               # scribble over the second page's header
    path.write_bytes(bytes(data))
    with pytest.raises(StoreError, match="damaged|not a SQLite database"):
        Store(path)


def test_a_store_from_before_schema_versions_is_brought_up_to_date(tmp_path):
    Store(tmp_path / "s.db").close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        db.execute("PRAGMA user_version = 0")
    Store(tmp_path / "s.db").close()
    with sqlite3.connect(tmp_path / "s.db") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION


def smaller(topology: Topology, mbps: float) -> Topology:
    """The same WAN with every link's capacity set to ``mbps``."""
    from dataclasses import replace
    return replace(topology, links=tuple(replace(l, bandwidth_mbps=mbps) for l in topology.links))


def test_slices_that_no_longer_fit_wait_instead_of_overbooking(tmp_path):
    """Written on two-clouds (20 Mbit/s trunk), read on the same WAN cut to 8 Mbit/s: of
    two 5 Mbit/s slices, the first is adopted as it was, the second no longer fits and
    waits as preempted, named in the restore problems; nothing is booked beyond capacity,
    and the store says so."""
    path = tmp_path / "s.db"
    ctl = SliceController(TWO, Store(path), FakeWire([s.name for s in TWO.sites]))
    ctl.start()
    for i in range(2):
        ctl.call(lambda i=i: ctl.create({"name": f"s{i}", "tenant": "t", "bandwidth_mbps": 5, "endpoints": [
            {"site": "tokyo-dc", "port": 1 + i}, {"site": "osaka-dc", "port": 1 + i}]}))
    ctl.stop()
    ctl.store.close()
    cut = smaller(TWO, 8)
    again = SliceController(cut, Store(path), FakeWire([s.name for s in cut.sites]))
    statuses = {n: s.status for n, s in again.engine.slices.items()}
    assert sorted(statuses.values()) == ["placed", "preempted"], statuses
    assert all(r >= -1e-9 for r in again.engine.residual.values())
    assert audit(again.engine) == []
    assert [p.split(":")[0] for p in again.restore_problems] == ["stored slice s1"]
    assert "would oversubscribe" in again.restore_problems[0]
    waiting = [n for n, s in again.engine.slices.items() if s.status == "preempted"]
    assert all("does not fit this network" in again.engine.slices[n].reason for n in waiting)
    stored = {row.name: row.state for row in again.store.load()}
    assert stored == {"s0": "active", "s1": "preempted"}
    again.store.close()



@pytest.mark.mininet   # (needs root, to mount a read-only file system)
def test_a_store_on_a_read_only_file_system_is_refused_at_start(tmp_path):
    d = tmp_path / "ro"
    d.mkdir()
    Store(d / "s.db").close()
    subprocess.run(["mount", "--bind", str(d), str(d)], check=True)
    try:
        subprocess.run(["mount", "-o", "remount,ro,bind", str(d)], check=True)
        with pytest.raises(StoreError, match="read-only"):
            Store(d / "s.db")
        r = start(d / "s.db")
        assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1 and "read-only" in r.stderr, r.stderr
    finally:
        subprocess.run(["umount", str(d)], check=True)
