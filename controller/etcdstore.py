"""Durable state in etcd, for a cluster of controllers: the same slices, placements,
states and events as :mod:`controller.store` keeps in SQLite, and the same interface
(``load``, ``transaction``, ``commit``, ``events``), so the owner (controller.core) does
not know which one it writes to.

Layout under the cluster's prefix (``/intercloud-slicing/<cluster>/``)::

    slices/<name>          {"seq", "spec", "state", "reason", "placement", "create_time", "update_time"}
    events/<time ns><n>    {"time", "slice", "kind", "state", "reason"}   (the last EVENTS_KEPT)

Every write of a request is one etcd transaction, and every one is *fenced*: it carries
the compares of :meth:`controller.cluster.Cluster.fence` (the leader key still names
this instance, created at this instance's generation), so a leader that lost its lease
— paused, partitioned — cannot write after another has taken over: its transaction
fails and its request changes nothing. etcd itself is reached through its JSON gateway
with ``etcd3gw``.
"""
from __future__ import annotations

import base64
import json
import threading
import time
import warnings
from contextlib import contextmanager
from typing import Callable, Iterator

import requests

from controller.etcdtls import PLAIN_SCHEMES, TLS_SCHEMES, ClusterTLS, explain
from controller.store import StoreError, StoredSlice, placement_to_json
from slices.record import Placement

with warnings.catch_warnings():   # etcd3gw's futurist asks whether eventlet is there; we do not use it
    warnings.simplefilter("ignore")
    import etcd3gw

HEAD = "written"           # the key every write of the leader checks, then moves (see EtcdStore)
EVENTS_KEPT = 10_000       # the event log keeps this many, oldest dropped first
TRIM_EVERY = 200           # commits between two trims of the event log
SUSPECT_S = 5.0           # a member that failed a request is asked last for this long
WRITE_BASE_S, WRITE_PER_OP_S = 1.0, 0.001   # a write's time: 1 s, plus 3 s for a CreateSlices of 1,000
TXN_HINT = ("start etcd with --max-txn-ops 10000 --max-request-bytes 33554432 (a request of "
            "1,000 slices is one transaction of about 2,000 operations)")


class EtcdError(StoreError):
    """etcd cannot be reached or refused a request; nothing of the request was written."""


def _b64(text: str) -> str:
    """A key or value as etcd's JSON gateway takes it (base64)."""
    return base64.b64encode(text.encode()).decode()


def _prefix_end(key: str) -> str:
    """The end of the range of every key starting with ``key`` (etcd's convention: the
    prefix with its last byte plus one), base64."""
    raw = bytearray(key.encode())
    while raw and raw[-1] == 0xFF:
        raw.pop()
    if not raw:
        return base64.b64encode(b"\0").decode()   # every key
    raw[-1] += 1
    return base64.b64encode(bytes(raw)).decode()


def put(key: str, value: str, lease: int | None = None) -> dict:
    """A put operation of a transaction."""
    op = {"key": _b64(key), "value": _b64(value)}
    if lease:
        op["lease"] = lease
    return {"request_put": op}


def delete(key: str, prefix: bool = False) -> dict:
    """A delete operation of a transaction: ``key``, or every key starting with it."""
    op = {"key": _b64(key)}
    if prefix:
        op["range_end"] = _prefix_end(key)
    return {"request_delete_range": op}


def parse_endpoints(url: str) -> list[tuple[str, int]]:
    """``etcd://H1:P1[,H2:P2...]`` (or ``http://``; ``etcds://`` or ``https://`` for TLS)
    as (host, port) pairs; ValueError naming the URL otherwise."""
    scheme, sep, rest = url.partition("://")
    usage = f"--cluster must be etcd://HOST:PORT[,HOST:PORT...] (etcds:// for TLS), got {url!r}"
    if not sep or scheme not in PLAIN_SCHEMES + TLS_SCHEMES:
        raise ValueError(usage)
    out = []
    for part in rest.strip("/").split(","):
        host, _, port = part.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ValueError(usage)
        out.append((host.strip("[]"), int(port)))
    return out


class Etcd:
    """An etcd cluster, reached through any of its members: ``etcd://H1:P1,H2:P2,H3:P3``
    (one member is fine too). Requests go to the member that last answered. A member
    that refuses the connection, or answers that it has no leader, never applied the
    request, so the next member is asked at once; a member that does not answer in time
    is left for the next request, and the request itself is tried again only if doing it
    twice is harmless (reads, lease keep-alives), never a write. Every failure is an
    :class:`EtcdError` of one line naming the members. ``tls`` (an ``etcds://`` URL):
    the files controller.etcdtls.check accepted."""

    def __init__(self, url: str, timeout: float = 2.0, tls: ClusterTLS | None = None):
        endpoints = parse_endpoints(url)
        secure = url.partition("://")[0] in TLS_SCHEMES
        self._tls, self.timeout = (tls or ClusterTLS()) if secure else None, timeout
        self.url = ("etcds://" if secure else "etcd://") + ",".join(f"{h}:{p}" for h, p in endpoints)
        # etcd 3.4 and newer serve the JSON gateway at /v3/ (Debian 12 ships 3.4)
        self._clients = [etcd3gw.client(host=h, port=p, timeout=timeout, api_path="/v3/", session=self._session(),
                                        protocol="https" if secure else "http") for h, p in endpoints]
        self._names = [f"{h}:{p}" for h, p in endpoints]
        self._members = _Current()

    def sharing(self, timeout: float) -> "Etcd":
        """The same members with another timeout, sharing which member requests go to:
        what one learns (a member died, or has no leader) the other's next request
        knows, so the store's writes follow the cluster's frequent keep-alives instead of
        waiting out a dead member themselves."""
        twin = Etcd(self.url, timeout, self._tls)
        twin._members = self._members
        return twin

    def _session(self) -> requests.Session:
        """An HTTP session that reaches etcd directly and trusts only what it was given:
        requests would otherwise let $REQUESTS_CA_BUNDLE (set on many hosts) replace
        --cluster-ca, so the right CA fails verification, and send etcd's traffic to
        $HTTP_PROXY."""
        session = requests.Session()
        session.trust_env = False
        if self._tls is not None:
            session.verify = self._tls.ca or True
            if self._tls.cert:
                session.cert = (self._tls.cert, self._tls.key)
        return session

    @property
    def member(self) -> str:
        """The member requests go to now (HOST:PORT)."""
        return self._names[self._members.index]

    def _call(self, op: Callable, repeatable: bool = False):
        """``op(client)`` on the current member, failing over as the class says."""
        tried, members = [], self._members
        for i in members.order(len(self._clients)):
            try:
                result = op(self._clients[i])
            except Exception as e:   # requests' and etcd3gw's errors alike: this member did not do it
                text = _error_text(e, self._names[i], self._tls)
                unanswered = "Timeout" in type(e).__name__
                if unanswered or _unreached(e):
                    members.failed(i, len(self._clients))   # the next request goes elsewhere
                tried.append((self._names[i], text))
                if _unreached(e) or (unanswered and repeatable):
                    continue
                break
            else:
                members.answered(i)
                return result
        raise EtcdError(_failure(self.url, tried, len(self._clients)))

    def txn(self, compare: list[dict], success: list[dict], failure: list[dict] = ()) -> tuple[bool, int, list]:
        """One transaction: (whether the compares held, the store's revision after it,
        the responses of the operations that ran). It may take this client's timeout (at
        most WRITE_BASE_S) plus WRITE_PER_OP_S per operation: a big request gets the time
        it needs, a small one is not left waiting on a member that cannot answer it (one
        without a leader holds it until the client gives up) while another member could."""
        body = {"compare": compare, "success": success, "failure": list(failure)}
        limit = min(self.timeout, WRITE_BASE_S) + WRITE_PER_OP_S * (len(compare) + len(success) + len(failure))
        r = self._call(lambda c: _post(c, "/kv/txn", body, limit))
        return bool(r.get("succeeded")), int(r["header"]["revision"]), r.get("responses", [])

    def get(self, key: str, prefix: bool = False, *, descending: bool = False, limit: int = 0,
            keys_only: bool = False) -> list[tuple[str, bytes, dict]]:
        """(key, value, metadata) of ``key``, or of every key under it in key order
        (``descending``: newest names first), at most ``limit`` of them (0: all)."""
        body = {"key": _b64(key)}
        if prefix:
            body["range_end"] = _prefix_end(key)
            body.update(sort_order="DESCEND" if descending else "ASCEND", sort_target="KEY")
        if limit:
            body["limit"] = limit
        if keys_only:
            body["keys_only"] = True
        r = self._call(lambda c: c.post(c.get_url("/kv/range"), json=body), repeatable=True)
        return [(base64.b64decode(kv["key"]).decode(), base64.b64decode(kv.get("value", "")), kv)
                for kv in r.get("kvs", [])]

    def revision(self) -> int:
        """The store's current revision (changes with every write anywhere in etcd)."""
        r = self._call(lambda c: c.post(c.get_url("/kv/range"), json={"key": _b64("\0"), "count_only": True}),
                       repeatable=True)
        return int(r["header"]["revision"])

    def lease(self, ttl: int):
        """A new lease of ``ttl`` seconds (its id; kept alive with :meth:`refresh`)."""
        return self._call(lambda c: c.lease(ttl))

    def refresh(self, lease, timeout: float | None = None) -> int:
        """Keep ``lease`` alive; its remaining TTL (0 or less: it has expired). A member
        that refuses the connection is passed over at once, but one that does not answer
        within ``timeout`` (default: this client's) ends this attempt (it is asked last
        from now on): the caller tries again soon, and learns within one timeout, not one
        per member, that etcd is not answering — while it elects a leader, every member
        holds a keep-alive until it has one (and checks for one only once per election
        timeout), so short attempts also see its return sooner."""
        def keep_alive(client):
            return int(_post(client, "/lease/keepalive", {"ID": lease.id}, timeout or self.timeout)["result"]
                       .get("TTL", -1))
        return self._call(keep_alive)

    def revoke(self, lease) -> None:
        def revoke(client):
            lease.client = client
            return lease.revoke()
        self._call(revoke, repeatable=True)


class _Current:
    """Which member requests go to, shared by the clients of one controller (Etcd.sharing),
    and which members failed lately: those are asked last for SUSPECT_S, so that a member
    that holds requests without answering them (frozen, or cut off from the others) costs
    one timeout, not one in every round that comes back to it."""

    def __init__(self):
        self.index, self.lock = 0, threading.Lock()
        self._suspect: dict[int, float] = {}    # member -> monotonic time until which it is asked last

    def order(self, n: int) -> list[int]:
        """Every member, the current one first, the suspects last (soonest cleared first)."""
        now = time.monotonic()
        with self.lock:
            ring = [(self.index + k) % n for k in range(n)]
            return sorted(ring, key=lambda i: self._suspect.get(i, 0) if self._suspect.get(i, 0) > now else 0)

    def failed(self, i: int, n: int) -> None:
        with self.lock:
            self._suspect[i] = time.monotonic() + SUSPECT_S
            if self.index == i and n > 1:
                self.index = (i + 1) % n

    def answered(self, i: int) -> None:
        with self.lock:
            self.index = i
            self._suspect.pop(i, None)


def _post(client, path: str, body: dict, timeout: float):
    """etcd3gw's ``post`` with a timeout of this request's own (it has only the client's),
    failing as etcd3gw fails."""
    exceptions = etcd3gw.exceptions
    try:
        resp = client.session.post(client.get_url(path), json=body, timeout=timeout)
    except requests.exceptions.Timeout as e:
        raise exceptions.ConnectionTimeoutError(str(e)) from None
    except requests.exceptions.ConnectionError as e:
        raise exceptions.ConnectionFailedError(str(e)) from None
    if resp.status_code != 200:
        raise etcd3gw.client._EXCEPTIONS_BY_CODE.get(resp.status_code, exceptions.Etcd3Exception)(resp.text,
                                                                                                  resp.reason)
    return resp.json()


def _failure(url: str, tried: list[tuple[str, str]], members: int) -> str:
    """One line for a request no member did: each member tried and what it said (a TLS
    mistake, the same at every member, said once)."""
    if members == 1:
        return f"etcd at {url}: {tried[0][1]}"
    said = [t if t.startswith("member ") else f"member {m}: {t}" for m, t in tried]
    if len(said) > 1 and tried[0][1].startswith("member ") and len({t.replace(m, "") for m, t in tried}) == 1:
        return f"etcd at {url}: {said[0]} (and the same at every member)"
    return f"etcd at {url}: " + "; ".join(said)


def _unreached(e: Exception) -> bool:
    """Whether ``e`` says the request never reached a working member: the connection was
    refused, or the member answered that it cannot serve (no leader: 503)."""
    return type(e).__name__ == "ConnectionFailedError"


def _error_text(e: Exception, member: str, tls: ClusterTLS | None) -> str:
    """One line for a member's failure: TLS ones say what to change (and start with
    ``member M``), others name the error (and "cannot be reached" if it was not answered)."""
    told = explain(f"{type(e).__name__}: {getattr(e, 'detail_text', None) or e}", member, tls)
    if told:
        return told
    detail = str(e).strip().splitlines()[0] if str(e).strip() else ""
    text = f"{type(e).__name__}{': ' + detail if detail else ''}"
    if "Connection" in type(e).__name__ or "Timeout" in type(e).__name__:
        text = f"cannot be reached ({text})"
    if "too many operations" in text or "request is too large" in text:
        text += f"; {TXN_HINT}"
    return text


class EtcdStore:
    """The cluster's state in etcd under ``prefix``; writes fenced by ``fence()`` (the
    compares that hold only while this instance leads) and refused at once when
    ``leading()`` says this instance may not write (it does not lead, or etcd is not
    answering it: controller.cluster.Cluster.may_write).

    Every write also compares the HEAD key's revision with the one this instance last
    wrote or read, and moves it. A write that timed out is not known to have failed: a
    frozen member may hand it to raft when it wakes, after later writes — and a slice
    created then deleted would come back. With the HEAD compare such a late write finds
    HEAD moved and does nothing; and if it lands before the next write, that next write
    finds HEAD moved, is refused, and ``diverged(why)`` is called: the store holds what
    this instance does not know, so it must give up leading and load the store again
    (controller.cluster.Cluster.yield_leadership)."""

    def __init__(self, etcd: Etcd, prefix: str, fence: Callable[[], list[dict]] = lambda: [],
                 leading: Callable[[], bool] = lambda: True, diverged: Callable[[str], None] = lambda why: None):
        self.etcd, self.prefix = etcd, prefix.rstrip("/") + "/"
        self.path = f"{etcd.url}{self.prefix}"       # how errors name the store
        self.fence, self.leading, self.diverged = fence, leading, diverged
        self._head = 0                               # HEAD's revision as this instance last knew it
        self._rows: dict[str, tuple[int, float]] = {}   # name -> (seq, create_time) as stored
        self._commits = 0

    def _slice_key(self, name: str) -> str:
        return f"{self.prefix}slices/{name}"

    def load(self) -> list[StoredSlice]:
        self._head = self._head_revision()   # read first: a write in between makes the next one refused
        rows = []
        for _key, value, _meta in self.etcd.get(f"{self.prefix}slices/", prefix=True):
            d = json.loads(value)
            rows.append((d["seq"], StoredSlice(d["name"], d["spec"], d["state"], d["reason"], d["placement"],
                                               d["create_time"], d["update_time"])))
        rows.sort(key=lambda r: r[0])
        self._rows = {s.name: (seq, s.create_time) for seq, s in rows}
        return [s for _seq, s in rows]

    def windows(self) -> list[dict]:
        """The maintenance windows planned (slices.windows.Window.to_dict)."""
        return sorted((json.loads(v) for _k, v, _m in self.etcd.get(f"{self.prefix}windows/", prefix=True)),
                      key=lambda d: d["id"])

    @contextmanager
    def transaction(self) -> Iterator["EtcdTransaction"]:
        """Collect the writes of one request and send them as one fenced etcd
        transaction when the block ends (nothing is sent if it raises). A controller
        that does not lead fails here, before the caller has touched a switch."""
        if not self.leading():
            raise StoreError(f"store {self.path}: this controller is not the cluster's leader (any more), or etcd "
                             "does not answer it right now")
        tx = EtcdTransaction(self)
        yield tx
        head = f"{self.prefix}{HEAD}"
        unchanged = {"key": _b64(head), "result": "EQUAL", "target": "MOD", "mod_revision": str(self._head)}
        ok, revision, _ = self.etcd.txn(self.fence() + [unchanged], [*tx.ops.values(), put(head, str(self._head))])
        if not ok:
            if self._head_revision() != self._head:
                why = "the store changed under this controller (a write it had given up on was applied late)"
                self.diverged(why)
                raise StoreError(f"store {self.path}: {why}; nothing was written, and the state is loaded again")
            raise StoreError(f"store {self.path}: another controller leads the cluster now; nothing was written")
        self._head = revision
        self._rows = tx.rows
        self._commits += 1
        if self._commits % TRIM_EVERY == 0:
            self._trim_events()

    def _head_revision(self) -> int:
        found = self.etcd.get(f"{self.prefix}{HEAD}")
        return int(found[0][2]["mod_revision"]) if found else 0

    def commit(self, upserts: list[tuple[Placement, str, str, float]], deletes: list[str],
               events: list[tuple[str, str, str, str]]) -> None:
        with self.transaction() as tx:
            tx.write(upserts, deletes, events)

    def _trim_events(self) -> None:
        """Drop all but the newest EVENTS_KEPT events (fenced, like any write)."""
        newest = self.etcd.get(f"{self.prefix}events/", prefix=True, descending=True, limit=EVENTS_KEPT + 1,
                               keys_only=True)
        if len(newest) > EVENTS_KEPT:
            oldest_kept = newest[EVENTS_KEPT - 1][0]
            self.etcd.txn(self.fence(), [{"request_delete_range": {
                "key": _b64(f"{self.prefix}events/"), "range_end": _b64(oldest_kept)}}])

    def events(self, limit: int = 1000) -> list[tuple]:
        rows = self.etcd.get(f"{self.prefix}events/", prefix=True, descending=True, limit=limit)
        out = [json.loads(value) for _k, value, _m in rows][::-1]
        return [(e["time"], e["slice"], e["kind"], e["state"], e["reason"]) for e in out]

    def dump(self) -> tuple:
        """Everything, comparable: for tests that a bad request changed nothing."""
        rows = sorted((d["name"], json.dumps(d["spec"]), d["state"], d["reason"], json.dumps(d["placement"]))
                      for d in (json.loads(v) for _k, v, _m in self.etcd.get(f"{self.prefix}slices/", prefix=True)))
        return rows, len(self.etcd.get(f"{self.prefix}events/", prefix=True, keys_only=True))

    def close(self) -> None:
        pass   # etcd3gw's HTTP session needs no closing


class EtcdTransaction:
    """Writes inside :meth:`EtcdStore.transaction`: operations collected, sent at its end."""

    def __init__(self, store: EtcdStore):
        self.store, self.ops = store, {}     # key -> its last operation (etcd allows one per key)
        self.rows = dict(store._rows)

    def write(self, upserts: list[tuple[Placement, str, str, float]], deletes: list[str],
              events: list[tuple[str, str, str, str]]) -> None:
        """As :meth:`controller.store.Transaction.write`."""
        now, stamp = time.time(), time.time_ns()
        for name in deletes:
            key = self.store._slice_key(name)
            self.ops[key] = delete(key)
            self.rows.pop(name, None)
        top = max((seq for seq, _ in self.rows.values()), default=0)
        for p, state, reason, created in upserts:
            seq, created = self.rows.get(p.name) or (top := top + 1, created)
            self.rows[p.name] = (seq, created)
            key = self.store._slice_key(p.name)
            self.ops[key] = put(key, json.dumps(
                {"name": p.name, "seq": seq, "spec": p.spec.to_dict(), "state": state, "reason": reason,
                 "placement": placement_to_json(p), "create_time": created, "update_time": now}))
        for name, kind, state, reason in events:
            key = f"{self.store.prefix}events/{stamp:020d}{len(self.ops):06d}"
            self.ops[key] = put(key, json.dumps({"time": now, "slice": name, "kind": kind, "state": state,
                                                 "reason": reason}))

    def put_window(self, doc: dict) -> None:
        key = f"{self.store.prefix}windows/{doc['id']}"
        self.ops[key] = put(key, json.dumps(doc))

    def drop_window(self, wid: str) -> None:
        key = f"{self.store.prefix}windows/{wid}"
        self.ops[key] = delete(key)
