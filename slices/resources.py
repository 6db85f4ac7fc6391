"""Addresses and tags: per-slice prefixes and per-link slice tags, with no leaks.

Tags are per link, not network-wide: a slice is identified on each link it crosses by a
VLAN id from that link's own 2..4094 space, so 4,093 slices can share *a link* and the
network as a whole carries any number (one global 12-bit space would cap it at 4,094).
A topology with ``transport: mpls`` carries a tag as an MPLS label instead
(:func:`slices.rules.mpls_label`): 524,278 tags per link.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass, field

from netaddr import IPNetwork

from slices.errors import Rejected
from slices.rules import MPLS_TAG_MAX, MPLS_TAG_MIN

TAG_MIN, TAG_MAX = 2, 4094   # VLAN ids (0 and 4095 are reserved, 1 is often a default VLAN)
TAG_RANGES = {"vlan": (TAG_MIN, TAG_MAX), "mpls": (MPLS_TAG_MIN, MPLS_TAG_MAX)}


def tags_per_link(transport: str) -> int:
    """How many slices one link carries with ``transport`` (vlan or mpls)."""
    low, high = TAG_RANGES[transport]
    return high - low + 1


@dataclass
class IndexAllocator:
    """Lowest free index in [low, high], in O(log n)."""

    low: int
    high: int
    _next: int = -1
    _free: list[int] = field(default_factory=list)
    in_use: int = 0

    def allocate(self) -> int | None:
        if self._next < 0:
            self._next = self.low
        if self._free:
            i = heapq.heappop(self._free)
        elif self._next <= self.high:
            i, self._next = self._next, self._next + 1
        else:
            return None
        self.in_use += 1
        return i

    def release(self, i: int) -> None:
        heapq.heappush(self._free, i)
        self.in_use -= 1

    def copy(self) -> "IndexAllocator":
        return IndexAllocator(self.low, self.high, self._next, list(self._free), self.in_use)

    def take(self, i: int) -> bool:
        """Allocate exactly ``i`` if it is free (restoring saved state, keeping a tag)."""
        if self._next < 0:
            self._next = self.low
        if not self.low <= i <= self.high:
            return False
        if i >= self._next:
            for j in range(self._next, i):
                heapq.heappush(self._free, j)
            self._next = i + 1
        elif i in self._free:
            self._free.remove(i)
            heapq.heapify(self._free)
        else:
            return False
        self.in_use += 1
        return True


class PrefixPool:
    """Hands out per-slice prefixes of ``prefix_len`` from ``pool``, lowest free first."""

    def __init__(self, pool: str | IPNetwork = "10.128.0.0/9", prefix_len: int = 24):
        self.pool = IPNetwork(pool)
        if not self.pool.prefixlen <= prefix_len <= 30:
            raise ValueError(f"prefix length {prefix_len} does not fit pool {self.pool}")
        self.prefix_len = prefix_len
        self._size = 2 ** (32 - prefix_len)
        self._index = IndexAllocator(0, 2 ** (prefix_len - self.pool.prefixlen) - 1)

    def allocate(self) -> IPNetwork:
        i = self._index.allocate()
        if i is None:
            raise Rejected("addresses", f"address pool {self.pool} has no free /{self.prefix_len} left")
        return IPNetwork(f"{self.pool.network + i * self._size}/{self.prefix_len}")

    def release(self, prefix: IPNetwork) -> None:
        self._index.release(self._position(prefix))

    def copy(self) -> "PrefixPool":
        other = PrefixPool.__new__(PrefixPool)
        other.pool, other.prefix_len, other._size = self.pool, self.prefix_len, self._size
        other._index = self._index.copy()
        return other

    def take(self, prefix: IPNetwork) -> bool:
        return prefix in self.pool and prefix.prefixlen == self.prefix_len and \
            self._index.take(self._position(prefix))

    def _position(self, prefix: IPNetwork) -> int:
        return (int(prefix.network) - int(self.pool.network)) // self._size

    @property
    def in_use(self) -> int:
        return self._index.in_use


def no_tag_left(link: frozenset, size: int) -> Rejected:
    """The refusal of a link whose ``size`` tags are all taken."""
    a, b = sorted(link)
    return Rejected("tags", f"link {a}—{b} already carries {size} slices: no tag left")


class TagSpace:
    """Slice tags, one independent space per link (2..4094 with VLANs, 2..524279 with
    MPLS). Knows which links have no tag left (:attr:`full`): placement treats them like
    links without the bandwidth, so a slice goes around a link carrying 4,093 (VLAN)
    others instead of being refused."""

    SIZE = TAG_MAX - TAG_MIN + 1   # with VLANs; an instance's is its own transport's

    def __init__(self, transport: str = "vlan") -> None:
        self.transport = transport
        self.low, self.high = TAG_RANGES[transport]
        self.SIZE = self.high - self.low + 1
        self._links: dict[frozenset, IndexAllocator] = {}
        self.full: set[frozenset] = set()     # no tag left
        self.scarce: set[frozenset] = set()   # fewer than two left (a primary and its backup)

    def free(self, link: frozenset) -> int:
        """How many tags of ``link`` are free."""
        alloc = self._links.get(link)
        return self.SIZE - (alloc.in_use if alloc else 0)

    def allocate(self, link: frozenset) -> int:
        alloc = self._links.setdefault(link, IndexAllocator(self.low, self.high))
        tag = alloc.allocate()
        if tag is None:
            raise no_tag_left(link, self.SIZE)
        self._note(link, alloc)
        return tag

    def release(self, link: frozenset, tag: int) -> None:
        alloc = self._links[link]
        alloc.release(tag)
        self.full.discard(link)
        if self.SIZE - alloc.in_use >= 2:
            self.scarce.discard(link)

    def copy(self) -> "TagSpace":
        other = TagSpace(self.transport)
        other._links = {k: a.copy() for k, a in self._links.items()}
        other.full, other.scarce = set(self.full), set(self.scarce)
        return other

    def take(self, link: frozenset, tag: int) -> bool:
        alloc = self._links.setdefault(link, IndexAllocator(self.low, self.high))
        if not alloc.take(tag):
            return False
        self._note(link, alloc)
        return True

    def _note(self, link: frozenset, alloc: IndexAllocator) -> None:
        if self.SIZE - alloc.in_use < 2:
            self.scarce.add(link)
            if alloc.in_use >= self.SIZE:
                self.full.add(link)

    @property
    def in_use(self) -> int:
        return sum(a.in_use for a in self._links.values())
