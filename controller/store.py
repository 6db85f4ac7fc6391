"""Durable state in SQLite: slice specs, placements, allocations and events.

A file, no server. Every change of the model is one transaction, written by the owner
thread after the engine decided and before the API answers, so what was acknowledged
survives ``kill -9``. On start the controller adopts every stored slice back into the
engine with the same id, prefix, addresses, trees and tags (a
:class:`slices.record.Placement`, whose JSON form is defined here and only here): the rules it computes are
then exactly the ones the (fail-secure) switches kept, and reconciling them changes
nothing.
"""
from __future__ import annotations

import json
import os
import sqlite3
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

from slices.placement import Tree
from slices.record import Placement
from slices.spec import SliceSpec

LOCK_WAIT_S = 2.0   # how long a write waits for another process's lock before failing
SCHEMA_VERSION = 1  # PRAGMA user_version of a store this code wrote; 0: written before versions
OUR_TABLES = {"slices", "events"}

SCHEMA = """
CREATE TABLE IF NOT EXISTS slices (
    name TEXT PRIMARY KEY,
    seq INTEGER NOT NULL,
    spec TEXT NOT NULL,             -- the spec mapping, as JSON
    state TEXT NOT NULL,            -- requested, active, degraded, preempted, failed
    reason TEXT NOT NULL,
    placement TEXT NOT NULL,        -- id, prefix, addresses, trees, tags (JSON)
    create_time REAL NOT NULL,
    update_time REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS windows (
    id TEXT PRIMARY KEY,
    doc TEXT NOT NULL               -- a maintenance window (slices.windows.Window), as JSON
);
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    time REAL NOT NULL,
    slice TEXT NOT NULL,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    reason TEXT NOT NULL
);
"""


@dataclass
class StoredSlice:
    name: str
    spec: dict
    state: str
    reason: str
    placement: dict
    create_time: float
    update_time: float


def endpoint_key_text(key: tuple) -> str:
    """An endpoint key (site, port, vlan) as text: ``site:port`` or ``site:port.vlan``."""
    site, port, vlan = key
    return f"{site}:{port}" + (f".{vlan}" if vlan else "")


def endpoint_key_from_text(text: str) -> tuple:
    site, _, rest = text.rpartition(":")
    port, _, vlan = rest.partition(".")
    return (site, int(port), int(vlan) if vlan else None)


def placement_to_json(p: Placement) -> dict:
    """A placement record as the JSON the store keeps (trees as edges, tags as rows)."""
    def tree(t: Tree | None):
        return None if t is None else {"root": t.root, "edges": [list(e) for e in t.edges],
                                       "worst_delay_ms": t.worst_delay_ms, "worst_pair": list(t.worst_pair)}

    def tags(rows):
        return [[*sorted(k), v] for k, v in rows]

    return {"number": p.number, "prefix": p.prefix, "status": p.status,
            "addresses": {endpoint_key_text(e.key): a for e, a in p.addresses},
            "tree": tree(p.tree), "backup": tree(p.backup),
            "tags": tags(p.tags), "backup_tags": tags(p.backup_tags),
            "moved": [[i, why] for i, why in p.moved],
            "standby_trees": {site: tree(t) for site, t in p.standby_trees},
            **({"dark": True} if p.dark else {})}


def placement_from_json(spec: SliceSpec, d: dict, reason: str = "") -> Placement:
    """The record :func:`placement_to_json` wrote, for ``spec`` (validated already).
    Raises KeyError, TypeError or ValueError when ``d`` is damaged."""
    def tree(t: dict | None) -> Tree | None:
        if t is None:
            return None
        return Tree(t["root"], tuple((a, b) for a, b in t["edges"]), float(t["worst_delay_ms"]),
                    tuple(t["worst_pair"]))

    def tags(rows: list) -> tuple:
        return tuple((frozenset((a, b)), int(tag)) for a, b, tag in rows)

    by_key = {e.key: e for e in spec.endpoints}
    addresses = {endpoint_key_from_text(k): a for k, a in d["addresses"].items()}
    if set(addresses) != set(by_key):
        raise ValueError(f"stored addresses are for {sorted(map(str, addresses))}, "
                         f"the spec's endpoints are {sorted(map(endpoint_key_text, by_key))}")
    return Placement(spec=spec, number=int(d["number"]), prefix=str(d["prefix"]),
                     addresses=tuple((e, addresses[e.key]) for e in spec.endpoints),
                     status=d["status"], reason=reason, tree=tree(d["tree"]), backup=tree(d["backup"]),
                     tags=tags(d["tags"]), backup_tags=tags(d["backup_tags"]),
                     # (rows written before standby endpoints existed have neither)
                     moved=tuple((int(i), str(why)) for i, why in d.get("moved", [])),
                     standby_trees=tuple((site, tree(t)) for site, t in sorted(d.get("standby_trees", {}).items())),
                     dark=bool(d.get("dark", False)))


def _why(e: Exception) -> str:
    """sqlite's words for a problem, with what an operator can do about the common ones."""
    text = str(e)
    hints = {"file is not a database": "not a SQLite database (damaged, or another kind of file)",
             "database is locked": f"locked by another process for over {LOCK_WAIT_S:g} s (another "
                                   "controller on the same store?)",
             "attempt to write a readonly database": "read-only (check the file's and its directory's "
                                                     "permissions)",
             "unable to open database file": "cannot be opened (does its directory exist and allow access?)"}
    return next((h for k, h in hints.items() if k in text), text)


class StoreError(Exception):
    """The store cannot be read or written (read-only file, locked by another process,
    disk full, not a database). The request that needed it changed nothing."""


class Store:
    """The store file. Opening it checks, before anything else happens, that it is one of
    ours (or empty), intact, writable and not held by another process, and brings an
    older schema up to date; each problem is a :class:`StoreError` of one line naming
    the file."""

    def __init__(self, path: str | Path):
        self.path = str(path)
        try:
            if self.path != ":memory:":
                Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None,
                                      timeout=LOCK_WAIT_S)
        except (OSError, sqlite3.Error) as e:
            raise StoreError(f"store {self.path}: {self._read_only() or _why(e)}") from None
        try:
            self._check_and_migrate()
        except sqlite3.Error as e:
            self.db.close()
            raise StoreError(f"store {self.path}: {self._read_only() or _why(e)}") from None
        except StoreError:
            self.db.close()
            raise

    def _read_only(self) -> str:
        """Why the store cannot be written, when it is the file or its directory (SQLite's
        write-ahead log needs files beside it); "" otherwise."""
        if self.path == ":memory:":
            return ""
        path = Path(self.path)
        for what, target in (("the file", path), ("its directory", path.parent)):
            if target.exists() and not os.access(target, os.W_OK):
                return f"read-only ({what} cannot be written: permissions or a read-only file system)"
        return ""

    def _check_and_migrate(self) -> None:
        db = self.db
        tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                           "AND name NOT LIKE 'sqlite_%'")}
        version = db.execute("PRAGMA user_version").fetchone()[0]
        columns = {r[1] for r in db.execute("PRAGMA table_info(slices)")}
        if tables and (not OUR_TABLES <= tables or not {"name", "spec", "placement"} <= columns):
            raise StoreError(f"store {self.path}: not an intercloud-slicing store (it holds tables "
                             f"{', '.join(sorted(tables)[:5])}); give another --store")
        if version > SCHEMA_VERSION:
            raise StoreError(f"store {self.path}: written by a newer version (schema {version}, this one "
                             f"reads up to {SCHEMA_VERSION}); upgrade slicectl")
        problem = db.execute("PRAGMA quick_check").fetchone()[0]
        if problem != "ok":
            raise StoreError(f"store {self.path}: damaged ({problem}); restore it from a backup")
        try:
            db.execute("BEGIN IMMEDIATE")     # the write lock: read-only or held elsewhere fails here
            db.execute("ROLLBACK")
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=FULL")
            db.executescript(SCHEMA)
            if version < SCHEMA_VERSION:      # 0 -> 1: the tables were already these
                db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        except sqlite3.OperationalError as e:
            raise StoreError(f"store {self.path} cannot be written: {self._read_only() or _why(e)}") from None

    def close(self) -> None:
        self.db.close()

    def load(self) -> list[StoredSlice]:
        rows = self.db.execute("SELECT name, spec, state, reason, placement, create_time, update_time "
                               "FROM slices ORDER BY seq").fetchall()
        return [StoredSlice(n, json.loads(sp), st, r, json.loads(pl), ct, ut)
                for n, sp, st, r, pl, ct, ut in rows]

    def windows(self) -> list[dict]:
        """The maintenance windows planned (slices.windows.Window.to_dict)."""
        return [json.loads(d) for (d,) in self.db.execute("SELECT doc FROM windows ORDER BY id")]

    @contextmanager
    def transaction(self) -> Iterator["Transaction"]:
        """One write transaction: ``BEGIN IMMEDIATE`` takes the write lock at once, so a
        read-only, locked or broken store fails here, before the caller has done anything
        it would have to undo. Commits when the block ends, rolls back if it raises.
        Every error of the store is a :class:`StoreError`."""
        try:
            self.db.execute("BEGIN IMMEDIATE")
        except sqlite3.Error as e:
            raise StoreError(f"store {self.path} cannot be written: {e}") from None
        tx = Transaction(self.db.cursor(), self.path)
        try:
            yield tx
            self.db.execute("COMMIT")
        except BaseException as err:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass  # no transaction left to roll back (COMMIT itself failed and ended it)
            if isinstance(err, sqlite3.Error):
                raise StoreError(f"store {self.path} cannot be written: {err}") from None
            raise

    def commit(self, upserts: list[tuple[Placement, str, str, float]], deletes: list[str],
               events: list[tuple[str, str, str, str]]) -> None:
        """One transaction of :meth:`Transaction.write`."""
        with self.transaction() as tx:
            tx.write(upserts, deletes, events)

    def events(self, limit: int = 1000) -> list[tuple]:
        return self.db.execute("SELECT time, slice, kind, state, reason FROM events ORDER BY id DESC LIMIT ?",
                               (limit,)).fetchall()[::-1]

    def dump(self) -> tuple:
        """Everything, comparable: for tests that a bad request changed nothing."""
        return (self.db.execute("SELECT name, spec, state, reason, placement FROM slices ORDER BY name").fetchall(),
                self.db.execute("SELECT COUNT(*) FROM events").fetchone()[0])


class Transaction:
    """Writes inside :meth:`Store.transaction`."""

    def __init__(self, cursor: sqlite3.Cursor, path: str):
        self.cur, self.path = cursor, path

    def write(self, upserts: list[tuple[Placement, str, str, float]], deletes: list[str],
              events: list[tuple[str, str, str, str]]) -> None:
        """Slices written (placement, state, reason, create_time), slices removed, events
        appended (slice, kind, state, reason)."""
        now = time.time()
        cur = self.cur
        for name in deletes:
            cur.execute("DELETE FROM slices WHERE name = ?", (name,))
        for p, state, reason, created in upserts:
            cur.execute(
                "INSERT INTO slices (name, seq, spec, state, reason, placement, create_time, update_time) "
                "VALUES (?, COALESCE((SELECT MAX(seq) FROM slices), 0) + 1, ?, ?, ?, ?, ?, ?) "
                "ON CONFLICT(name) DO UPDATE SET spec=excluded.spec, state=excluded.state, "
                "reason=excluded.reason, placement=excluded.placement, update_time=excluded.update_time",
                (p.name, json.dumps(p.spec.to_dict()), state, reason, json.dumps(placement_to_json(p)),
                 created, now))
        cur.executemany("INSERT INTO events (time, slice, kind, state, reason) VALUES (?, ?, ?, ?, ?)",
                        [(now, *e) for e in events])

    def put_window(self, doc: dict) -> None:
        self.cur.execute("INSERT OR REPLACE INTO windows (id, doc) VALUES (?, ?)", (doc["id"], json.dumps(doc)))

    def drop_window(self, wid: str) -> None:
        self.cur.execute("DELETE FROM windows WHERE id = ?", (wid,))
