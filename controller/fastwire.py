"""Rule-plan entries straight to OpenFlow 1.3 bytes, without os-ken's message objects.

The same bytes os-ken's parser would serialise (tests/test_fastwire.py compares them over
every entry of compiled plans of every built-in topology), at a fraction of the cost: a
push sends thousands of flow-mods, and building an ``OFPMatch`` and an ``OFPFlowMod``
per entry, then serialising them, was most of a one-by-one create's time on the owner
thread. Match fields and actions are encoded once each and kept (``lru_cache``): the
same ``("in_port", 3)`` or ``("output", 2)`` recurs over and over in a plan.

Only what the compiler emits today is known here. :func:`encode` answers None for
anything else (a match field, a masked value, an action it does not know), and the
caller (controller.ofwire.to_bytes) then goes the os-ken way: a new field or action
needs no change here to work, only to be fast.
"""
from __future__ import annotations

import struct
from functools import lru_cache

from slices.rules import OFPVID_PRESENT, Entry, Group, Meter, Rule

VERSION = 0x04
OFPT_FLOW_MOD, OFPT_GROUP_MOD, OFPT_METER_MOD, OFPT_BARRIER_REQUEST = 14, 15, 29, 20
ALL_ONES_32, ALL_ONES_64 = 0xFFFF_FFFF, 0xFFFF_FFFF_FFFF_FFFF
OFP_NO_BUFFER = OFPP_ANY = OFPG_ANY = ALL_ONES_32
OFPFC_ADD, OFPFC_DELETE_STRICT = 0, 4
COMMANDS = {"add": 0, "modify": 1, "delete": 2}          # OFPMC_* and OFPGC_* alike
METER_FLAGS = 0x1 | 0x4 | 0x8                            # OFPMF_KBPS | OFPMF_BURST | OFPMF_STATS
OFPGT_FF = 3
OFPMBT_DROP = 1

_HEADER = struct.Struct("!BBHI")
_FLOW_MOD = struct.Struct("!QQBBHHHIIIH2x")              # after the header
_METER_MOD = struct.Struct("!HHI")
_DROP_BAND = struct.Struct("!HHII4x")
_GROUP_MOD = struct.Struct("!HBxI")
_BUCKET = struct.Struct("!HHII4x")
_OXM_BASIC = 0x8000

# OXM basic fields: name -> (field number, packer of the value); sorted by number in a
# match, as os-ken sorts them
_FIELDS = {
    "in_port": (0, "!I"), "metadata": (2, "!Q"), "eth_dst": (3, "mac"), "eth_src": (4, "mac"),
    "eth_type": (5, "!H"), "vlan_vid": (6, "!H"), "ip_proto": (10, "!B"), "ipv4_src": (11, "ipv4"),
    "ipv4_dst": (12, "ipv4"), "tcp_src": (13, "!H"), "tcp_dst": (14, "!H"), "udp_src": (15, "!H"),
    "udp_dst": (16, "!H"), "arp_op": (21, "!H"), "arp_spa": (22, "ipv4"), "arp_tpa": (23, "ipv4"),
}


class Unknown(Exception):
    """Something this encoder does not know: the caller goes the os-ken way."""


def frame(msg_type: int, body: bytes, xid: int) -> bytes:
    """A whole message: OpenFlow 1.3 header, then ``body``."""
    return _HEADER.pack(VERSION, msg_type, 8 + len(body), xid) + body


def barrier(xid: int) -> bytes:
    return _HEADER.pack(VERSION, OFPT_BARRIER_REQUEST, 8, xid)


def encode(entry: Entry, op: str) -> tuple[int, bytes] | None:
    """(message type, body after the header) of ``op`` (add, modify, delete) of
    ``entry``, as controller.ofwire.to_messages builds it; None if anything in it is
    unknown here."""
    try:
        if type(entry) is Rule:
            return OFPT_FLOW_MOD, _flow_mod(entry, op)
        if type(entry) is Meter:
            return OFPT_METER_MOD, _meter_mod(entry, op)
        if type(entry) is Group:
            return OFPT_GROUP_MOD, _group_mod(entry, op)
    except (Unknown, KeyError, TypeError, ValueError, struct.error):
        return None
    return None


def _flow_mod(r: Rule, op: str) -> bytes:
    match = _match(r.match)
    if op == "delete":
        return _FLOW_MOD.pack(r.cookie, ALL_ONES_64, r.table, OFPFC_DELETE_STRICT, 0, 0, r.priority,
                              OFP_NO_BUFFER, OFPP_ANY, OFPG_ANY, 0) + match
    # an ADD over an entry with the same table, priority and match replaces it (ofwire)
    return _FLOW_MOD.pack(r.cookie, 0, r.table, OFPFC_ADD, 0, 0, r.priority, OFP_NO_BUFFER, 0, 0, 0) + match \
        + _instructions(r.actions)


def _meter_mod(m: Meter, op: str) -> bytes:
    head = _METER_MOD.pack(COMMANDS[op], METER_FLAGS, m.meter_id)
    return head if op == "delete" else head + _DROP_BAND.pack(OFPMBT_DROP, 16, m.rate_kbps, m.burst_kbits)


def _group_mod(g: Group, op: str) -> bytes:
    head = _GROUP_MOD.pack(COMMANDS[op], OFPGT_FF, g.group_id)
    if op == "delete":
        return head
    out = [head]
    for watch, actions in g.buckets:
        acts = b"".join(_action(a) for a in actions)
        out.append(_BUCKET.pack(16 + len(acts), 0, watch, OFPG_ANY) + acts)
    return b"".join(out)


@lru_cache(maxsize=4096)
def _match(match: tuple) -> bytes:
    """An OXM match: its fields sorted by field number, padded to 8 bytes."""
    fields = sorted((_oxm(k, v) for k, v in match), key=lambda f: f[0])
    body = b"".join(b for _n, b in fields)
    length = 4 + len(body)
    return struct.pack("!HH", 1, length) + body + b"\0" * (-length % 8)


@lru_cache(maxsize=8192)
def _oxm(name: str, value) -> tuple[int, bytes]:
    """(field number, TLV) of one unmasked match field."""
    number, kind = _FIELDS[name]
    if isinstance(value, (tuple, list, bool)):
        raise Unknown(f"{name}: masked or odd value {value!r}")
    if kind == "mac":
        data = _mac(value)
    elif kind == "ipv4":
        data = _ipv4(value)
    else:
        if not isinstance(value, int):
            raise Unknown(f"{name}: {value!r}")
        data = struct.pack(kind, value)
    return number, struct.pack("!I", _OXM_BASIC << 16 | number << 9 | len(data)) + data


def _mac(text) -> bytes:
    if not isinstance(text, str):
        raise Unknown(text)
    parts = text.split(":")
    if len(parts) != 6 or not all(len(p) == 2 for p in parts):
        raise Unknown(text)
    return bytes(int(p, 16) for p in parts)


def _ipv4(text) -> bytes:
    if not isinstance(text, str) or "/" in text:
        raise Unknown(text)
    parts = text.split(".")
    if len(parts) != 4 or not all(p.isdigit() and int(p) <= 255 for p in parts):
        raise Unknown(text)
    return bytes(int(p) for p in parts)


_ORDER = {"meter": 0, "write_metadata": 2, "goto": 3}   # as controller.ofwire.canonical


@lru_cache(maxsize=4096)
def _instructions(actions: tuple) -> bytes:
    """Meter, apply-actions, write-metadata, goto-table: OpenFlow's execution order,
    apply-actions in the rule's own order (controller.ofwire.instructions)."""
    out, apply = [], []
    for a in actions:
        if a[0] not in _ORDER:
            apply.append(a)
    for a in actions:
        if a[0] == "meter":
            out.append(struct.pack("!HHI", 6, 8, a[1]))
    if apply:
        acts = b"".join(_action(a) for a in apply)
        out.append(struct.pack("!HH4x", 4, 8 + len(acts)) + acts)
    for a in actions:
        if a[0] == "write_metadata":
            out.append(struct.pack("!HH4xQQ", 2, 24, a[1], ALL_ONES_64))
    for a in actions:
        if a[0] == "goto":
            out.append(struct.pack("!HHB3x", 1, 8, a[1]))
    return b"".join(out)


@lru_cache(maxsize=4096)
def _action(a: tuple) -> bytes:
    kind = a[0]
    if kind == "output":
        return struct.pack("!HHIH6x", 0, 16, a[1], 0xFFFF)
    if kind == "push_vlan" and len(a) == 1:
        return struct.pack("!HHH2x", 17, 8, 0x8100)
    if kind == "pop_vlan" and len(a) == 1:
        return struct.pack("!HH4x", 18, 8)
    if kind == "group":
        return struct.pack("!HHI", 22, 8, a[1])
    if kind == "set_vlan":
        return _set_field("vlan_vid", a[1] | OFPVID_PRESENT)
    if kind in ("set_eth_src", "set_eth_dst"):
        return _set_field(kind[4:], a[1])
    raise Unknown(f"action {a!r}")


def _set_field(name: str, value) -> bytes:
    _n, tlv = _oxm(name, value)
    length = 4 + len(tlv)
    return struct.pack("!HH", 25, length + (-length % 8)) + tlv + b"\0" * (-length % 8)
