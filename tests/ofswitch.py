"""An OpenFlow 1.3 switch in memory that speaks bytes, for tests of the controller's wire
layer without Open vSwitch (Faucet's ``fakeoftable`` idea, one level lower).

:class:`SimDatapath` stands where os-ken's ``Datapath`` stands: the app's messages are
serialised by os-ken exactly as for a real switch, and :class:`SimSwitch` parses the
bytes back (os-ken's own parsers for flow-mods, matches, instructions, buckets and meter
bands), applies them to its tables, and answers barriers, errors and multipart requests
with bytes that os-ken's parser turns into the reply objects the app's handlers get.

Like a real switch it may apply the messages between two barriers in any order
(OpenFlow 1.3 only promises that a barrier is passed after everything before it): here
they are shuffled, so a flow sent in the same batch as the meter it uses fails when it
comes first. It refuses a flow whose meter or group is missing, an existing group or
meter added again, an unknown one modified; deleting a group or meter deletes the flows
that use it, as Open vSwitch does.
"""
from __future__ import annotations

import random
import struct
from dataclasses import dataclass, field

from os_ken.ofproto import ofproto_parser
from os_ken.ofproto import ofproto_v1_3 as ofp
from os_ken.ofproto import ofproto_v1_3_parser as parser

from controller import ofwire
from slices.rules import Entry, Group, Meter


@dataclass
class _Group:
    group_id: int
    type: int
    buckets: list


@dataclass
class _Meter:
    meter_id: int
    flags: int
    bands: list
    packet_in_count: int = 0
    byte_in_count: int = 0


def _header(buf: bytes) -> tuple[int, int, int, int]:
    return ofproto_parser.header(buf)


def _parts(read, buf: bytes, offset: int) -> list:
    """Every part (bucket, band) from ``offset`` to the end, read by os-ken's ``read``."""
    out = []
    while offset < len(buf):
        out.append(read(buf, offset))
        offset += out[-1].len
    return out


def parse_group_mod(buf: bytes) -> tuple[int, _Group]:
    """(command, group) of a GROUP_MOD: os-ken parses only its header, so the body is read
    here, its buckets by os-ken's OFPBucket parser."""
    command, type_, group_id = struct.unpack_from(ofp.OFP_GROUP_MOD_PACK_STR, buf, ofp.OFP_HEADER_SIZE)
    return command, _Group(group_id, type_, _parts(parser.OFPBucket.parser, buf, ofp.OFP_GROUP_MOD_SIZE))


def parse_meter_mod(buf: bytes) -> tuple[int, _Meter]:
    command, flags, meter_id = struct.unpack_from(ofp.OFP_METER_MOD_PACK_STR, buf, ofp.OFP_HEADER_SIZE)
    return command, _Meter(meter_id, flags, _parts(parser.OFPMeterBandHeader.parser, buf, ofp.OFP_METER_MOD_SIZE))


def parse(buf: bytes):
    """The message os-ken sent, parsed back: its own parser where it has one for
    switch-bound messages (flow-mod, barrier), else the group/meter-mod readers above."""
    version, msg_type, length, xid = _header(buf)
    if msg_type == ofp.OFPT_GROUP_MOD:
        return parse_group_mod(buf)
    if msg_type == ofp.OFPT_METER_MOD:
        return parse_meter_mod(buf)
    if msg_type in (ofp.OFPT_MULTIPART_REQUEST, ofp.OFPT_BARRIER_REQUEST):
        return None  # read where they are answered
    return ofproto_parser.msg(SimDatapath.PARSING, version, msg_type, length, xid, buf)


def _uses(flow) -> tuple[set[int], set[int]]:
    """(meters, groups) a flow-mod's instructions use."""
    meters, groups = set(), set()
    for ins in flow.instructions:
        if isinstance(ins, parser.OFPInstructionMeter):
            meters.add(ins.meter_id)
        elif isinstance(ins, parser.OFPInstructionActions):
            groups |= {a.group_id for a in ins.actions if isinstance(a, parser.OFPActionGroup)}
    return meters, groups


@dataclass
class SimSwitch:
    site: str
    dpid: int
    seed: int = 0
    answers_barriers: bool = True
    answers_reads: bool = True
    flows: dict = field(default_factory=dict)      # (table, priority, match items) -> parsed flow-mod
    groups: dict = field(default_factory=dict)     # group id -> _Group
    meters: dict = field(default_factory=dict)     # meter id -> _Meter
    received: list = field(default_factory=list)   # every message, parsed, in arrival order
    after_each: object = None                      # called after every message applied (tests)
    _pending: list = field(default_factory=list)

    def __post_init__(self):
        self._rng = random.Random(self.seed)

    def receive(self, buf: bytes) -> list[bytes]:
        """Take one message; return the messages the switch sends back."""
        version, msg_type, _length, xid = _header(buf)
        parsed = parse(buf)
        self.received.append((msg_type, parsed))
        if msg_type == ofp.OFPT_BARRIER_REQUEST:
            batch, self._pending = self._pending, []
            self._rng.shuffle(batch)  # anything between two barriers may be reordered
            out = []
            for m in batch:
                out += self._apply(*m)
                if self.after_each:
                    self.after_each()
            return out + ([_barrier_reply(xid)] if self.answers_barriers else [])
        if msg_type == ofp.OFPT_MULTIPART_REQUEST:
            return self._multipart(buf, xid) if self.answers_reads else []
        self._pending.append((msg_type, parsed, xid, buf))
        return []

    # -- state changes --------------------------------------------------------------------

    def _apply(self, msg_type: int, parsed, xid: int, buf: bytes) -> list[bytes]:
        if msg_type == ofp.OFPT_FLOW_MOD:
            return self._flow_mod(parsed, xid, buf)
        command, obj = parsed
        table = self.groups if msg_type == ofp.OFPT_GROUP_MOD else self.meters
        key = obj.group_id if msg_type == ofp.OFPT_GROUP_MOD else obj.meter_id
        failed = ofp.OFPET_GROUP_MOD_FAILED if msg_type == ofp.OFPT_GROUP_MOD else ofp.OFPET_METER_MOD_FAILED
        exists = ofp.OFPGMFC_GROUP_EXISTS if msg_type == ofp.OFPT_GROUP_MOD else ofp.OFPMMFC_METER_EXISTS
        unknown = ofp.OFPGMFC_UNKNOWN_GROUP if msg_type == ofp.OFPT_GROUP_MOD else ofp.OFPMMFC_UNKNOWN_METER
        if command == 0:  # ADD (OFPGC_ADD == OFPMC_ADD == 0)
            if key in table:
                return [_error(xid, failed, exists, buf)]
            table[key] = obj
        elif command == 1:  # MODIFY
            if key not in table:
                return [_error(xid, failed, unknown, buf)]
            table[key] = obj
        else:  # DELETE: and every flow that uses it
            table.pop(key, None)
            index = 1 if msg_type == ofp.OFPT_GROUP_MOD else 0
            for k in [k for k, f in self.flows.items() if key in _uses(f)[index]]:
                del self.flows[k]
        return []

    def _flow_mod(self, fm, xid: int, buf: bytes) -> list[bytes]:
        key = (fm.table_id, fm.priority, tuple(sorted(fm.match.items())))
        if fm.command == ofp.OFPFC_ADD:
            meters, groups = _uses(fm)
            if meters - set(self.meters):
                return [_error(xid, ofp.OFPET_METER_MOD_FAILED, ofp.OFPMMFC_UNKNOWN_METER, buf)]
            if groups - set(self.groups):
                return [_error(xid, ofp.OFPET_BAD_ACTION, ofp.OFPBAC_BAD_OUT_GROUP, buf)]
            self.flows[key] = fm
        elif fm.command == ofp.OFPFC_DELETE_STRICT:
            old = self.flows.get(key)
            if old is not None and old.cookie & fm.cookie_mask == fm.cookie & fm.cookie_mask:
                del self.flows[key]
        else:
            raise AssertionError(f"the controller sent flow-mod command {fm.command}, which it never should")
        return []

    # -- what the controller reads back ----------------------------------------------------

    def _multipart(self, buf: bytes, xid: int) -> list[bytes]:
        mp_type, _flags = struct.unpack_from(ofp.OFP_MULTIPART_REQUEST_PACK_STR, buf, ofp.OFP_HEADER_SIZE)
        offset = ofp.OFP_MULTIPART_REQUEST_SIZE  # the request's body, after both headers
        if mp_type == ofp.OFPMP_FLOW:
            table_id, _port, _group, cookie, mask = struct.unpack_from(
                ofp.OFP_FLOW_STATS_REQUEST_0_PACK_STR, buf, offset)
            body = b"".join(_flow_stats(f) for f in self.flows.values()
                            if (table_id == ofp.OFPTT_ALL or f.table_id == table_id)
                            and f.cookie & mask == cookie & mask)
        elif mp_type == ofp.OFPMP_GROUP_DESC:
            body = b"".join(_group_desc(g) for g in self.groups.values())
        elif mp_type == ofp.OFPMP_METER_CONFIG:
            body = b"".join(_meter_config(m) for m in self.meters.values())
        elif mp_type == ofp.OFPMP_METER:
            (meter_id,) = struct.unpack_from("!I", buf, offset)
            body = b"".join(struct.pack(ofp.OFP_METER_STATS_PACK_STR, m.meter_id, ofp.OFP_METER_STATS_SIZE,
                                        0, m.packet_in_count, m.byte_in_count, 0, 0)
                            for m in self.meters.values() if meter_id in (ofp.OFPM_ALL, m.meter_id))
        else:
            raise AssertionError(f"unexpected multipart request type {mp_type}")
        head = struct.pack(ofp.OFP_MULTIPART_REPLY_PACK_STR, mp_type, 0)
        return [_message(ofp.OFPT_MULTIPART_REPLY, xid, head + body)]

    def entries(self) -> list[Entry]:
        """The switch's tables as rule-plan entries, read the way the controller reads
        them (its own stats-to-entry functions)."""
        out = [ofwire.flow_from_stats(self.site, f) for f in self.flows.values()]
        out += [ofwire.group_from_desc(self.site, g) for g in self.groups.values()]
        out += [ofwire.meter_from_config(self.site, m) for m in self.meters.values()]
        return out


def _message(msg_type: int, xid: int, body: bytes) -> bytes:
    return struct.pack(ofp.OFP_HEADER_PACK_STR, ofp.OFP_VERSION, msg_type,
                       ofp.OFP_HEADER_SIZE + len(body), xid) + body


def _barrier_reply(xid: int) -> bytes:
    return _message(ofp.OFPT_BARRIER_REPLY, xid, b"")


def _error(xid: int, type_: int, code: int, request: bytes) -> bytes:
    return _message(ofp.OFPT_ERROR, xid, struct.pack("!HH", type_, code) + request[:64])




def _flow_stats(fm) -> bytes:
    match = bytearray(1024)
    match = bytes(match[:fm.match.serialize(match, 0)])
    inst = _serialized(fm.instructions)
    head_len = ofp.OFP_FLOW_STATS_0_SIZE
    length = head_len + len(match) + len(inst)
    return struct.pack(ofp.OFP_FLOW_STATS_0_PACK_STR, length, fm.table_id, 0, 0, fm.priority, 0, 0,
                       fm.flags, fm.cookie, 0, 0) + match + inst


def _serialized(parts) -> bytes:
    """os-ken objects (buckets, bands, instructions) serialised one after another."""
    out = b""
    for part in parts:
        chunk = bytearray(1024)
        part.serialize(chunk, 0)
        out += bytes(chunk[:part.len])
    return out


def _group_desc(g: _Group) -> bytes:
    buckets = _serialized(g.buckets)
    return struct.pack(ofp.OFP_GROUP_DESC_STATS_PACK_STR, ofp.OFP_GROUP_DESC_STATS_SIZE + len(buckets),
                       g.type, g.group_id) + buckets


def _meter_config(m: _Meter) -> bytes:
    bands = _serialized(m.bands)
    return struct.pack(ofp.OFP_METER_CONFIG_PACK_STR, ofp.OFP_METER_CONFIG_SIZE + len(bands),
                       m.flags, m.meter_id) + bands


class SimDatapath:
    """What os-ken's Datapath is to the app: id, ofproto, parser, set_xid, send_msg - with
    a :class:`SimSwitch` at the other end instead of a socket. Replies are parsed by
    os-ken and handed to the app's handlers before send_msg returns."""

    PARSING = None  # a datapath-like object for os-ken's parsers (set below)

    def __init__(self, switch: SimSwitch, app=None, ports=()):
        self.id, self.switch, self.app = switch.dpid, switch, app
        self.ofproto, self.ofproto_parser = ofp, parser
        self.ports = {p: None for p in ports}
        self.xid = 0
        self.sent: list = []
        self.closed = False
        self.answers = True      # False: a connection that went silent

    def close(self) -> None:
        self.closed = True

    def set_xid(self, msg) -> int:
        self.xid = (self.xid + 1) & 0xFFFFFFFF
        msg.set_xid(self.xid)
        return self.xid

    def send_msg(self, msg) -> None:
        if msg.xid is None:
            self.set_xid(msg)
        msg.serialize()
        self.sent.append(msg)
        if self.closed or not self.answers:
            return
        for reply in self.switch.receive(bytes(msg.buf)):
            self._deliver(reply)

    def send(self, buf: bytes) -> None:
        """Messages already serialised, back to back (a push's round: one write)."""
        offset = 0
        while offset < len(buf):
            _version, _type, length, _xid = _header(buf[offset:])
            one = bytes(buf[offset:offset + length])
            offset += length
            self.sent.append(_as_sent(one))
            if self.closed or not self.answers:
                continue
            for reply in self.switch.receive(one):
                self._deliver(reply)

    def _deliver(self, buf: bytes) -> None:
        version, msg_type, length, xid = _header(buf)
        msg = ofproto_parser.msg(self, version, msg_type, length, xid, buf)
        if self.app is None:
            return
        ev = _Event(msg)
        if msg_type == ofp.OFPT_BARRIER_REPLY:
            self.app._barrier(ev)
        elif msg_type == ofp.OFPT_ERROR:
            self.app._error(ev)
        elif msg_type == ofp.OFPT_MULTIPART_REPLY:
            self.app._multipart(ev)


def _as_sent(buf: bytes):
    """A message sent as bytes, as ``sent`` keeps it: a barrier as the OFPBarrierRequest it
    is (tests look for the last one), the rest as bytes."""
    _version, msg_type, _length, xid = _header(buf)
    if msg_type == ofp.OFPT_BARRIER_REQUEST:
        msg = parser.OFPBarrierRequest(SimDatapath.PARSING)
        msg.set_xid(xid)
        return msg
    return buf


@dataclass
class _Event:
    msg: object


class _Parsing:
    ofproto, ofproto_parser, id = ofp, parser, 0


SimDatapath.PARSING = _Parsing()


def round_trip(entry: Entry) -> Entry:
    """``entry`` as the controller reads it back after the way to a switch and back:
    to_messages -> bytes -> os-ken's parser -> the controller's readers."""
    dp = SimDatapath(SimSwitch("x", 1))
    (msg,) = ofwire.to_messages(dp, entry, "add")
    dp.set_xid(msg)
    msg.serialize()
    back = parse(bytes(msg.buf))
    if isinstance(entry, Meter):
        return ofwire.meter_from_config(entry.switch, back[1])
    if isinstance(entry, Group):
        return ofwire.group_from_desc(entry.switch, back[1])
    return ofwire.flow_from_stats(entry.switch, back)
