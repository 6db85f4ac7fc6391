"""A cluster of controllers on etcd: membership, leader election by lease, fencing.

Every instance keeps a lease of LEASE_TTL_S seconds alive and registers itself under
``instances/<name>`` with it (its API address), so a dead instance disappears from the
list by itself. The leader is whoever created ``leader`` (bound to its lease) when it
did not exist: etcd's compare-and-put makes that one instance. The etcd revision at
which it was created is the leader's *generation*: it only rises, so it is the OpenFlow
``generation_id`` of the leader's MASTER role requests (a switch refuses a role request
with a lower one), and with the leader's name it fences every store write
(:meth:`Cluster.fence`).

A leader whose lease may have expired — its keep-alive has not been answered for most of
the TTL (a pause, a partition) — stops leading *before* etcd can let another instance
take over: it refuses writes from then on, and the switches demote it when the next
leader's role request arrives. When the leader dies, its lease expires within LEASE_TTL_S
and the first follower to see the key gone (they look every POLL_S) leads. When etcd
itself was away (restarted on its data, or a new etcd leader being elected), it keeps
the leader key and renews the lease bound to it: the instance the key names, which
stepped down meanwhile, finds the key still its own on its live lease and resumes at the
same generation (nobody can have led in between: the key is unique), or releases a key
left on an old lease (:meth:`Cluster._release_stale`). Nobody waits for a person.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from controller.etcdstore import Etcd, EtcdError, _b64, delete, put

log = logging.getLogger("intercloud.cluster")
LEASE_TTL_S = 2           # etcd's shortest lease with its default heartbeat
KEEPALIVE_S = 0.4         # how often the lease is kept alive
RETRY_S = 0.1             # ... and how soon again after etcd did not answer (it may be back),
RETRY_TIMEOUT_S = 0.25    # waiting this long for an answer (then the next attempt)
SAFETY_S = 0.6            # a leader unanswered for TTL - SAFETY_S stops leading
POLL_S = 0.2              # how often a follower looks whether the leader is gone
# The cluster's own requests are tiny: a member that has not answered one in this long is
# most likely without a leader (its raft electing one), and the next member is tried on
# the next round instead of waiting out the store's longer timeout.
REQUEST_TIMEOUT_S = 0.5


@dataclass(frozen=True)
class Instance:
    name: str
    api: str              # its gRPC address, for clients
    leader: bool = False
    generation: int = 0   # the leader's generation, 0 for a follower


class Cluster:
    """This instance's membership. ``on_elected(generation)`` runs (on the cluster's
    thread) when it becomes the leader; ``on_demoted(reason)`` when it stops leading."""

    def __init__(self, etcd: Etcd, prefix: str, name: str, api: str,
                 on_elected: Callable[[int], None] = lambda g: None,
                 on_demoted: Callable[[str], None] = lambda why: None):
        self.etcd, self.prefix, self.name, self.api = etcd, prefix.rstrip("/") + "/", name, api
        self.on_elected, self.on_demoted = on_elected, on_demoted
        self.generation = 0              # ours while we lead, else 0
        self.leader_generation = 0       # the newest generation seen (ours or another's)
        self._lease = None
        self._answered = 0.0             # monotonic time etcd last renewed our lease
        self._failing = False            # the last keep-alive was not answered
        self._stop = threading.Event()
        self._wake = threading.Event()   # campaign now: etcd answers again
        self._threads: list[threading.Thread] = []

    @property
    def leader_key(self) -> str:
        return f"{self.prefix}leader"

    def start(self) -> None:
        """:meth:`join`, then :meth:`run`."""
        self.join()
        self.run()

    def join(self) -> None:
        """Take a lease and register (EtcdError if etcd cannot be reached, so a
        controller given a wrong --cluster stops at once, saying so)."""
        self._join()

    def run(self) -> None:
        """Keep the lease alive and campaign, each on a thread of its own (a slow
        take-over never delays the keep-alive)."""
        self._threads = [threading.Thread(target=self._keep_alive_every, name="cluster-lease", daemon=True),
                         threading.Thread(target=self._campaign_every, name="cluster-election", daemon=True)]
        for t in self._threads:
            t.start()

    def stop(self) -> None:
        """Leave: the lease is revoked, so a follower takes over at once, not after the TTL."""
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout=3)
        if self._lease is not None:
            try:
                self.etcd.revoke(self._lease)
            except EtcdError as e:
                log.info("leaving the cluster: %s (the lease expires by itself, if it has not)", e)

    def _join(self) -> None:
        self._lease = self.etcd.lease(LEASE_TTL_S)
        self._answered = time.monotonic()
        self.etcd.txn([], [put(f"{self.prefix}instances/{self.name}", json.dumps({"api": self.api}),
                               self._lease.id)])
        log.info("joined cluster %s at %s as %s", self.prefix, self.etcd.url, self.name)

    # -- leading ------------------------------------------------------------------------------

    def leading(self) -> bool:
        """Whether this instance leads and its lease is surely still alive."""
        return bool(self.generation) and time.monotonic() - self._answered < LEASE_TTL_S - SAFETY_S

    def may_write(self) -> bool:
        """Whether a store write may be sent now: this instance leads, and etcd answered
        its last keep-alive. Every member failing to answer one (0.5 s each) means etcd
        is electing a leader or away; a write sent then would be held by a member until
        it times out — past the moment etcd is back — and its outcome unknown, so it is
        refused at once instead (retryable) until a keep-alive is answered again. Only
        writes: a leader stays a leader, and keeps its switches, for the 1.4 s it may."""
        return self.leading() and not self._failing

    def fence(self) -> list[dict]:
        """The compares a leader's store write carries: the leader key names this
        instance and was created at its generation (so not re-created since by anyone)."""
        return self._held_at(self.generation)

    def _held_at(self, generation: int) -> list[dict]:
        """Compares that hold while the leader key names this instance at ``generation``."""
        return [{"key": _b64(self.leader_key), "result": "EQUAL", "target": "VALUE", "value": _b64(self.name)},
                {"key": _b64(self.leader_key), "result": "EQUAL", "target": "CREATE",
                 "create_revision": str(generation)}]

    def instances(self) -> list[Instance]:
        """Every live instance, the leader marked (read from etcd: any instance answers)."""
        leader = self.etcd.get(self.leader_key)
        who, generation = (leader[0][1].decode(), int(leader[0][2]["create_revision"])) if leader else ("", 0)
        out = []
        for key, value, _meta in self.etcd.get(f"{self.prefix}instances/", prefix=True):
            name = key.rsplit("/", 1)[1]
            out.append(Instance(name, json.loads(value)["api"], name == who, generation if name == who else 0))
        return sorted(out, key=lambda i: (not i.leader, i.name))

    def leader(self) -> Instance | None:
        return next((i for i in self.instances() if i.leader), None)

    # -- the cluster thread -------------------------------------------------------------------

    def _keep_alive_every(self) -> None:
        while not self._stop.wait(RETRY_S if self._failing else KEEPALIVE_S):
            self._keep_alive()

    def _campaign_every(self) -> None:
        """Every POLL_S, and at once when etcd answers again after it did not (the leader
        that stepped down meanwhile resumes without waiting for its next round)."""
        while not self._stop.is_set():
            self._wake.wait(POLL_S)
            self._wake.clear()
            if self._stop.is_set():
                return
            if self.generation and not self.leading():
                self._step_down(f"etcd has not renewed the lease for {time.monotonic() - self._answered:.1f} s")
            if not self.generation:
                self._campaign()

    def _keep_alive(self) -> None:
        try:
            ttl = self.etcd.refresh(self._lease, RETRY_TIMEOUT_S if self._failing else None)
        except EtcdError as e:
            log.warning("keeping the cluster lease alive: %s", e)
            self._failing = True
            return
        was_failing, self._failing = self._failing, False
        if ttl > 0:
            self._answered = time.monotonic()
            if was_failing:
                self._wake.set()
            return
        # the lease expired (we were paused or cut off for longer than the TTL): rejoin
        self._step_down("the lease expired")
        try:
            self._join()
        except EtcdError as e:
            log.warning("rejoining the cluster: %s", e)

    def _campaign(self) -> None:
        """Lead if nobody does: create the leader key, bound to our lease, if it is absent."""
        try:
            won, revision, _ = self.etcd.txn(
                [{"key": _b64(self.leader_key), "result": "EQUAL", "target": "CREATE", "create_revision": "0"}],
                [put(self.leader_key, self.name, self._lease.id)])
            if not won:
                current = self.etcd.get(self.leader_key)
                if not current:
                    return
                holder, meta = current[0][1].decode(), current[0][2]
                created = int(meta["create_revision"])
                self.leader_generation = max(self.leader_generation, created)
                if holder != self.name:
                    return
                if int(meta.get("lease", 0)) != self._lease.id:
                    self._release_stale(created)
                    return
                if time.monotonic() - self._answered >= LEASE_TTL_S - SAFETY_S:
                    return   # our lease not renewed lately: wait for the keep-alive first
                revision = created   # ours, on our live lease: nobody led meanwhile
                log.warning("%s resumes leading at generation %d: etcd answers again and the leader key is "
                            "still its own", self.name, created)
        except EtcdError as e:
            log.warning("campaigning: %s", e)
            return
        self.generation = self.leader_generation = revision
        log.warning("%s leads the cluster (generation %d)", self.name, revision)
        try:
            self.on_elected(revision)
        except Exception:   # taking over failed: let another instance try
            log.exception("taking over as leader failed; stepping down")
            self._resign()
            self._step_down("taking over failed")

    def _release_stale(self, created: int) -> None:
        """The leader key names this instance but is bound to a lease that is no longer
        its own (it rejoined with a new one). Nobody else campaigns while the key exists,
        so release it (only that key, at that generation) and campaign again: a new
        generation, higher than any the switches have seen."""
        log.warning("the leader key still names %s (generation %d) on an old lease: releasing it",
                    self.name, created)
        self._resign(created)

    def _resign(self, generation: int | None = None) -> None:
        """Delete the leader key if it still names this instance at ``generation`` (ours by
        default), so another campaign can win at once instead of after the lease."""
        held = self._held_at(self.generation if generation is None else generation)
        try:
            self.etcd.txn(held, [delete(self.leader_key)])
        except EtcdError as e:
            log.warning("giving up the leader key: %s", e)

    def yield_leadership(self, why: str) -> None:
        """Stop leading and give the key up at once (the store changed under this
        instance: controller.etcdstore.EtcdStore): whoever wins next — this instance
        too — loads the whole state again when it takes over."""
        generation = self.generation
        self._step_down(why)
        if generation:
            self._resign(generation)

    def _step_down(self, why: str) -> None:
        if not self.generation:
            return
        log.error("%s stops leading the cluster: %s", self.name, why)
        self.generation = 0
        try:
            self.on_demoted(why)
        except Exception:
            log.exception("stepping down")
