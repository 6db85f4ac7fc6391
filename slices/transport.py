"""How a slice's frame looks on a link, for the compiler: a VLAN tag or an MPLS label.

With ``transport: vlan`` (the default) a frame on a link carries the link's slice tag as
its VLAN id. With ``transport: mpls`` it carries an MPLS label instead, made from the tag
and the payload's ethertype (:func:`slices.rules.mpls_label`): OpenFlow's pop_mpls must
name the ethertype it uncovers, and a switch cannot see it under the label. So in MPLS
every rule that puts a frame on a link or takes it off one exists once per payload
(IPv4, ARP), and an MPLS slice carries IPv4 and ARP only.

Rules of many slices share most of their parts (match items, action lists); one copy of
each, kept here, keeps a plan of half a million rules in tens of MB.
"""
from __future__ import annotations

from functools import lru_cache

from slices.rules import MPLS_ETH_TYPE, MPLS_PAYLOADS, OFPVID_PRESENT, mpls_label

# an output target: (port, the endpoint's VLAN or None, the link's slice tag or None)
Target = tuple[int, int | None, int | None]


class Shared(dict):
    """One copy of whatever ``make`` builds from a key, shared by every rule that needs it;
    cleared when it reaches ``limit`` entries (rules made before keep their copies, and
    sharing starts again). A plain table, not an lru_cache: the cache's bookkeeping per
    entry was three times the entry (~25 MB at 10,000 slices on a 750-site WAN)."""

    def __init__(self, make, limit: int):
        super().__init__()
        self.make, self.limit = make, limit

    def __missing__(self, key):
        if len(self) >= self.limit:
            self.clear()
        value = self[key] = self.make(key)
        return value


# Sized for 10,000 slices of up to 10 endpoints (three items per endpoint address): a
# smaller table drops items still in use, and every rule compiled after holds a copy of its own.
_ITEMS = Shared(lambda item: item, 1 << 20)
_ACTIONS = Shared(lambda actions: actions, 1 << 18)


def item(field: str, value) -> tuple:
    """The shared ``(field, value)`` match item."""
    return _ITEMS[(field, value)]


def actions(acts: tuple) -> tuple:
    """The shared copy of an action list."""
    return _ACTIONS[acts]


# the match of a frame arriving on a link port with a slice tag: a few ports times the tags
_TAGGED_IN = Shared(lambda key: (item("in_port", key[0]), item("vlan_vid", key[1] | OFPVID_PRESENT)), 1 << 18)
_LABELLED_IN = Shared(lambda key: (item("in_port", key[0]), item("eth_type", MPLS_ETH_TYPE),
                                   item("mpls_label", key[1])), 1 << 18)


def payloads(mpls: bool) -> tuple:
    """The payload ethertypes a rule whose match leaves it open is split into: none with
    VLANs (one rule), IPv4 and ARP with MPLS."""
    return MPLS_PAYLOADS if mpls else (None,)


def link_in(mpls: bool, port: int, tag: int) -> list[tuple[tuple, tuple]]:
    """``(match, actions)`` per payload: a frame of the slice arriving on link ``port``
    with ``tag``, and what takes the tag or label off."""
    if not mpls:
        return [(_TAGGED_IN[(port, tag)], (("pop_vlan",),))]
    return [(_LABELLED_IN[(port, mpls_label(tag, eth))], (("pop_mpls", eth),)) for eth in MPLS_PAYLOADS]


def swap(mpls: bool, pin: int, tin: int, pout: int, tout: int) -> list[tuple[tuple, tuple]]:
    """``(match, actions)`` per payload where a tree only passes through: in by ``pin``
    with ``tin``, out by ``pout`` with ``tout``."""
    if not mpls:
        return [(_TAGGED_IN[(pin, tin)], actions((("set_vlan", tout), ("output", pout))))]
    return [(_LABELLED_IN[(pin, mpls_label(tin, eth))],
             actions((("set_mpls_label", mpls_label(tout, eth)), ("output", pout)))) for eth in MPLS_PAYLOADS]


def emit(targets: tuple[Target, ...], eth: int | None) -> tuple:
    """Actions that output an untagged frame (payload ``eth``; None: VLANs, where it does
    not matter) to each target in turn, tagged as each needs."""
    if eth is None:
        return _emit(tuple((p, v if t is None else t) for p, v, t in targets))
    return _emit_mpls(targets, eth)


@lru_cache(maxsize=1 << 16)
def _emit(targets: tuple[tuple[int, int | None], ...]) -> tuple:
    """Actions that output to each (port, vlan or None) in turn, tagging as needed."""
    acts, tagged = [], False
    for port, vlan in sorted(targets, key=lambda t: (t[1] is not None, t[1] or 0, t[0])):
        if vlan is None:
            if tagged:
                acts.append(("pop_vlan",))
                tagged = False
        else:
            if not tagged:
                acts.append(("push_vlan",))
                tagged = True
            acts.append(("set_vlan", vlan))
        acts.append(("output", port))
    return tuple(acts)


@lru_cache(maxsize=1 << 16)
def _emit_mpls(targets: tuple[Target, ...], eth: int) -> tuple:
    """Endpoints first (untagged, then by VLAN), then links: the VLAN popped before the
    label is pushed, so no frame leaves a link with a VLAN under its label."""
    edge = tuple((p, v) for p, v, t in targets if t is None)
    links = sorted((t, p) for p, _v, t in targets if t is not None)
    acts = list(_emit(edge))
    if links:
        if any(v is not None for _p, v in edge):
            acts.append(("pop_vlan",))
        acts.append(("push_mpls",))
        for tag, port in links:
            acts += [("set_mpls_label", mpls_label(tag, eth)), ("output", port)]
    return tuple(acts)
