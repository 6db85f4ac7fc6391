"""The compiler's own rule representation: small, comparable, free of os-ken.

Only the controller turns these into OpenFlow 1.3 messages. Match fields and actions use
OpenFlow 1.3 OXM names (``in_port``, ``vlan_vid``, ``eth_type``, ``ipv4_dst``, ``arp_tpa``,
``eth_dst``, ``metadata``), so the translation is mechanical.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OFPVID_PRESENT = 0x1000   # OpenFlow 1.3: vlan_vid value of a tagged frame is vid | 0x1000
OFPVID_NONE = 0x0000      # no VLAN tag
COOKIE_APP = 0x51 << 56   # marks this controller's flows; the low 32 bits are the slice id
COOKIE_APP_MASK = 0xFF << 56
COOKIE_SLICE_MASK = COOKIE_APP_MASK | 0xFFFFFFFF
TABLE_CLASSIFY, TABLE_FORWARD = 0, 1
BACKUP_BIT = 1 << 32      # metadata bit: the frame travels on the slice's backup tree


def slice_cookie(slice_id: int) -> int:
    return COOKIE_APP | slice_id


def cookie_slice(cookie: int) -> int | None:
    return cookie & 0xFFFFFFFF if cookie & COOKIE_APP_MASK == COOKIE_APP else None


Match = tuple[tuple[str, Any], ...]
Action = tuple  # ("output", port) ("push_vlan",) ("pop_vlan",) ("set_vlan", vid) ("group", id)
                # ("meter", id) ("write_metadata", value) ("goto", table)


@dataclass(frozen=True, order=True, slots=True)
class Rule:
    switch: str
    table: int
    priority: int
    match: Match
    actions: tuple[Action, ...]
    cookie: int

    @property
    def key(self) -> tuple:
        """What identifies a flow entry on a switch: same key, one entry."""
        return ("flow", self.switch, self.table, self.priority, self.match)

    def __str__(self) -> str:
        m = ",".join(f"{k}={_fmt(k, v)}" for k, v in self.match) or "*"
        a = ",".join(":".join(map(str, x)) for x in self.actions) or "drop"
        return f"flow {self.switch} t{self.table} p{self.priority} {m} -> {a} cookie={self.cookie:#x}"


@dataclass(frozen=True, order=True, slots=True)
class Meter:
    switch: str
    meter_id: int
    rate_kbps: int
    burst_kbits: int
    cookie: int

    @property
    def key(self) -> tuple:
        return ("meter", self.switch, self.meter_id)

    def __str__(self) -> str:
        return (f"meter {self.switch} {self.meter_id} rate={self.rate_kbps}kbps "
                f"burst={self.burst_kbits}kb cookie={self.cookie:#x}")


@dataclass(frozen=True, order=True, slots=True)
class Group:
    """OpenFlow 1.3 fast-failover group: the first bucket whose watch port is live."""

    switch: str
    group_id: int
    buckets: tuple[tuple[int, tuple[Action, ...]], ...]   # (watch port, actions)
    cookie: int

    @property
    def key(self) -> tuple:
        return ("group", self.switch, self.group_id)

    def __str__(self) -> str:
        b = " | ".join(f"watch {w}: " + ",".join(":".join(map(str, x)) for x in acts)
                       for w, acts in self.buckets)
        return f"group {self.switch} {self.group_id} ff [{b}] cookie={self.cookie:#x}"


Entry = Rule | Meter | Group


def _fmt(key: str, value: Any) -> str:
    if key == "vlan_vid":
        return "none" if value == OFPVID_NONE else str(value & 0xFFF)
    if key in ("eth_type", "metadata"):
        return hex(value)
    return str(value)
