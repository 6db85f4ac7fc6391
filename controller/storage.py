"""What the controller needs of a store, as a Protocol beside :class:`controller.model.Wire`:
the SQLite file (controller.store.Store) and the cluster's etcd (controller.etcdstore.EtcdStore)
both implement it, and nothing else of either is used."""
from __future__ import annotations

from contextlib import AbstractContextManager
from typing import Protocol

from slices.record import Placement

Upsert = tuple[Placement, str, str, float]        # placement, state, reason, create time
EventRow = tuple[str, str, str, str]              # slice, kind, state, reason


class StoreTransaction(Protocol):
    def write(self, upserts: list[Upsert], deletes: list[str], events: list[EventRow]) -> None:
        """Slices written, slices removed, events appended: all at the commit, or none."""

    def put_window(self, doc: dict) -> None:
        """A maintenance window written (slices.windows.Window.to_dict), at the commit."""

    def drop_window(self, wid: str) -> None: ...


class StateStore(Protocol):
    path: str

    def load(self) -> list:
        """Every stored slice (controller.store.StoredSlice), oldest first."""

    def windows(self) -> list[dict]:
        """The maintenance windows planned, as written by ``put_window``."""

    def transaction(self) -> AbstractContextManager[StoreTransaction]:
        """One write transaction; StoreError before anything is written if it cannot be."""

    def commit(self, upserts: list[Upsert], deletes: list[str], events: list[EventRow]) -> None:
        """One transaction of :meth:`StoreTransaction.write`."""

    def events(self, limit: int = 1000) -> list[tuple]: ...

    def dump(self) -> tuple: ...

    def close(self) -> None: ...
