"""Rule-plan entries ⇄ OpenFlow 1.3 messages (os-ken's parser).

Pure translation, both ways: :func:`to_messages` turns an entry and what to do with it
into messages; :func:`flow_from_stats`, :func:`group_from_desc` and
:func:`meter_from_config` turn what a switch reports back into entries, so auditing a
switch is a comparison of entries. Instructions follow OpenFlow's execution order
(meter, apply-actions, write-metadata, goto-table); reading back yields the same order,
and :func:`canonical` puts a compiled rule in that order too.
"""
from __future__ import annotations

from controller import fastwire
from slices.rules import (MPLS_ETH_TYPE, OFPVID_PRESENT, Action, Entry, Group, Meter, Rule, group_slice,
                          meter_slice, slice_cookie)

ALL_ONES_64 = 0xFFFF_FFFF_FFFF_FFFF
_ORDER = {"meter": 0, "write_metadata": 2, "goto": 3}  # everything else: apply-actions (1)


def canonical(actions: tuple[Action, ...]) -> tuple[Action, ...]:
    """Actions in OpenFlow execution order (stable within apply-actions)."""
    return tuple(sorted(actions, key=lambda a: _ORDER.get(a[0], 1)))


def canonical_entry(e: Entry) -> Entry:
    if isinstance(e, Rule):
        return Rule(e.switch, e.table, e.priority, tuple(sorted(e.match)), canonical(e.actions), e.cookie)
    return e


def _apply_actions(parser, ofp, actions) -> list:
    out = []
    for a in actions:
        kind = a[0]
        if kind == "output":
            out.append(parser.OFPActionOutput(a[1], 0xFFFF))
        elif kind == "push_vlan":
            out.append(parser.OFPActionPushVlan(0x8100))
        elif kind == "pop_vlan":
            out.append(parser.OFPActionPopVlan())
        elif kind == "set_vlan":
            out.append(parser.OFPActionSetField(vlan_vid=a[1] | OFPVID_PRESENT))
        elif kind == "group":
            out.append(parser.OFPActionGroup(a[1]))
        elif kind == "push_mpls":
            out.append(parser.OFPActionPushMpls(MPLS_ETH_TYPE))
        elif kind == "pop_mpls":
            out.append(parser.OFPActionPopMpls(a[1]))
        elif kind == "set_mpls_label":
            out.append(parser.OFPActionSetField(mpls_label=a[1]))
        elif kind in ("set_eth_src", "set_eth_dst"):
            out.append(parser.OFPActionSetField(**{kind[4:]: a[1]}))
        else:
            raise ValueError(f"not an apply-action: {a}")
    return out


def instructions(parser, ofp, actions: tuple[Action, ...]) -> list:
    acts = canonical(actions)
    out = []
    apply = [a for a in acts if a[0] not in _ORDER]
    for a in acts:
        if a[0] == "meter":
            out.append(parser.OFPInstructionMeter(a[1], ofp.OFPIT_METER))
    if apply:
        out.append(parser.OFPInstructionActions(ofp.OFPIT_APPLY_ACTIONS, _apply_actions(parser, ofp, apply)))
    for a in acts:
        if a[0] == "write_metadata":
            out.append(parser.OFPInstructionWriteMetadata(a[1], ALL_ONES_64))
    for a in acts:
        if a[0] == "goto":
            out.append(parser.OFPInstructionGotoTable(a[1]))
    return out


def to_messages(dp, entry: Entry, op: str) -> list:
    """Messages for ``op`` (add, modify, delete) of ``entry`` on datapath ``dp``."""
    ofp, parser = dp.ofproto, dp.ofproto_parser
    if isinstance(entry, Rule):
        match = parser.OFPMatch(**dict(entry.match))
        if op == "delete":
            return [parser.OFPFlowMod(dp, cookie=entry.cookie, cookie_mask=ALL_ONES_64, table_id=entry.table,
                                      command=ofp.OFPFC_DELETE_STRICT, priority=entry.priority,
                                      out_port=ofp.OFPP_ANY, out_group=ofp.OFPG_ANY, match=match)]
        # an ADD over an entry with the same table, priority and match replaces it,
        # cookie included (MODIFY would keep the old cookie)
        return [parser.OFPFlowMod(dp, cookie=entry.cookie, table_id=entry.table, command=ofp.OFPFC_ADD,
                                  priority=entry.priority, match=match,
                                  instructions=instructions(parser, ofp, entry.actions))]
    if isinstance(entry, Meter):
        command = {"add": ofp.OFPMC_ADD, "modify": ofp.OFPMC_MODIFY, "delete": ofp.OFPMC_DELETE}[op]
        bands = [] if op == "delete" else [parser.OFPMeterBandDrop(rate=entry.rate_kbps, burst_size=entry.burst_kbits)]
        return [parser.OFPMeterMod(dp, command=command, flags=ofp.OFPMF_KBPS | ofp.OFPMF_BURST | ofp.OFPMF_STATS,
                                   meter_id=entry.meter_id, bands=bands)]
    if isinstance(entry, Group):
        command = {"add": ofp.OFPGC_ADD, "modify": ofp.OFPGC_MODIFY, "delete": ofp.OFPGC_DELETE}[op]
        buckets = [] if op == "delete" else [
            parser.OFPBucket(weight=0, watch_port=watch, watch_group=ofp.OFPG_ANY,
                             actions=_apply_actions(parser, ofp, acts))
            for watch, acts in entry.buckets]
        return [parser.OFPGroupMod(dp, command=command, type_=ofp.OFPGT_FF, group_id=entry.group_id,
                                   buckets=buckets)]
    raise TypeError(f"not a plan entry: {entry!r}")


def to_bytes(dp, entry: Entry, op: str) -> list[bytes]:
    """The messages of :func:`to_messages` as bytes, xids left 0 (the sender numbers
    them): encoded straight from the entry (controller.fastwire), or by os-ken for
    anything fastwire does not know."""
    fast = fastwire.encode(entry, op)
    if fast is not None:
        return [fastwire.frame(fast[0], fast[1], 0)]
    out = []
    for msg in to_messages(dp, entry, op):
        msg.set_xid(0)
        msg.serialize()
        out.append(bytes(msg.buf))
    return out


class _NoMessage:
    """What ``dp.set_xid`` numbers when the message is bytes already (to_bytes)."""

    def set_xid(self, xid: int) -> None:
        pass


NO_MESSAGE = _NoMessage()


def _actions_back(actions) -> list[Action]:
    out: list[Action] = []
    for a in actions:
        name = type(a).__name__
        if name == "OFPActionOutput":
            out.append(("output", a.port))
        elif name == "OFPActionPushVlan":
            out.append(("push_vlan",))
        elif name == "OFPActionPopVlan":
            out.append(("pop_vlan",))
        elif name == "OFPActionSetField" and a.key == "vlan_vid":
            out.append(("set_vlan", a.value & 0xFFF))
        elif name == "OFPActionGroup":
            out.append(("group", a.group_id))
        elif name == "OFPActionPushMpls":
            out.append(("push_mpls",))
        elif name == "OFPActionPopMpls":
            out.append(("pop_mpls", a.ethertype))
        elif name == "OFPActionSetField" and a.key == "mpls_label":
            out.append(("set_mpls_label", a.value))
        elif name == "OFPActionSetField" and a.key in ("eth_src", "eth_dst"):
            out.append((f"set_{a.key}", a.value.lower()))
        else:
            out.append(("unknown", name))
    return out


def flow_from_stats(site: str, stat) -> Rule:
    actions: list[Action] = []
    for ins in stat.instructions:
        name = type(ins).__name__
        if name == "OFPInstructionMeter":
            actions.append(("meter", ins.meter_id))
        elif name == "OFPInstructionActions":
            actions += _actions_back(ins.actions)
        elif name == "OFPInstructionWriteMetadata":
            actions.append(("write_metadata", ins.metadata))
        elif name == "OFPInstructionGotoTable":
            actions.append(("goto", ins.table_id))
        else:
            actions.append(("unknown", name))
    match = []
    for k, v in stat.match.items():
        if k in ("eth_dst", "eth_src") and isinstance(v, str):
            v = v.lower()
        match.append((k, v))
    return Rule(site, stat.table_id, stat.priority, tuple(sorted(match)), tuple(actions), stat.cookie)


def group_from_desc(site: str, desc) -> Group:
    buckets = tuple((b.watch_port, tuple(_actions_back(b.actions))) for b in desc.buckets)
    return Group(site, desc.group_id, buckets, slice_cookie(group_slice(desc.group_id)))


def meter_from_config(site: str, config) -> Meter:
    band = config.bands[0] if config.bands else None
    return Meter(site, config.meter_id, getattr(band, "rate", 0), getattr(band, "burst_size", 0),
                 slice_cookie(meter_slice(config.meter_id)))
