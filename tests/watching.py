"""A slice's WatchSlices events, collected in the background while a test acts."""
from __future__ import annotations

import threading

import grpc

from proto.intercloud.slicing.v1 import slicing_pb2 as pb


class Events:
    """``with Events(stub, "name") as events:`` collects the slice's events into
    ``events.seen`` until the block ends (the stream is cancelled then)."""

    def __init__(self, stub, name: str):
        self.seen: list = []
        self._stream = stub.WatchSlices(pb.WatchSlicesRequest(name=name))
        self._reader = threading.Thread(target=self._read, daemon=True)

    def _read(self) -> None:
        try:
            self.seen.extend(self._stream)
        except grpc.RpcError:   # cancelled at the end
            pass

    def __enter__(self) -> "Events":
        self._reader.start()
        return self

    def __exit__(self, *_exc) -> None:
        self._stream.cancel()
        self._reader.join(timeout=5)

    def kinds(self, *prefixes: str) -> list[str]:
        return [e.kind for e in self.seen if not prefixes or e.kind.startswith(prefixes)]

    def __str__(self) -> str:
        return str([(e.kind, e.reason) for e in self.seen])
