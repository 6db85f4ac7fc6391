"""The compiler's own rule representation: small, comparable, free of os-ken.

Only the controller turns these into OpenFlow 1.3 messages. Match fields and actions use
OpenFlow 1.3 OXM names (``in_port``, ``vlan_vid``, ``eth_type``, ``ipv4_dst``, ``arp_tpa``,
``eth_dst``, ``metadata``, ``mpls_label``), so the translation is mechanical.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

OFPVID_PRESENT = 0x1000   # OpenFlow 1.3: vlan_vid value of a tagged frame is vid | 0x1000
OFPVID_NONE = 0x0000      # no VLAN tag
TABLE_CLASSIFY, TABLE_FORWARD = 0, 1
BACKUP_BIT = 1 << 32      # metadata bit: the frame travels on the slice's backup tree

# Priorities of the pipeline (compiler, wire and app read them from here).
PRIO_INGRESS = 300        # table 0: a frame from a slice's endpoint port (metered)
PRIO_LINK = 200           # table 0: a frame from a link carrying one of the slice's tags
PRIO_UNICAST = 200        # table 1: IPv4 and ARP toward an endpoint address
PRIO_ANNOUNCE = 250       # table 1: an endpoint's gratuitous ARP, flooded away from it
PRIO_BROADCAST = 100      # table 1: Ethernet broadcast along the slice's tree
PRIO_MISS = 0             # both tables: drop everything else (fail-secure)
PRIO_PROBE = 400          # table 0: the controller's link probes, above every slice
PRIO_SLA_GUARD = 310      # table 0: a host's frame posing as a delay probe, dropped
PRIO_SLA_INJECT = 320     # table 0: a delay probe the controller sends into a slice
PRIO_DHCP = 306           # table 0: a DHCP request from an endpoint without a given address
PRIO_ARP_OWN = 305        # table 0: an endpoint's ARP from its own address (enters the slice)
PRIO_ARP_OTHER = 302      # table 0: an endpoint's ARP from any other address (to the controller)
PRIO_SLA_CATCH = 260      # table 1: a slice's delay probe at the far endpoint's switch

# Link probes (controller.liveness). A probe leaves a link port addressed to PROBE_OUT;
# the switch at the far end sends it straight back on the port it came in, readdressed
# to PROBE_BACK and with its own (site, port) written into the source address; back home
# it goes to the controller. One round trip checks both directions and the cabling, and
# needs only the sending switch's control channel.
PROBE_ETH_TYPE = 0x88B5   # IEEE 802 local experimental ethertype 1
PROBE_OUT = "02:1c:00:00:00:01"
PROBE_BACK = "02:1c:00:00:00:02"
OFPP_IN_PORT = 0xFFFFFFF8

# Slice delay probes (controller.sla). The controller injects a probe into a slice at an
# endpoint's switch (a packet-out from in_port CONTROLLER, sent through the tables: only
# the controller can do that), addressed to another endpoint of the slice; the slice's own
# rules carry it across the WAN, and the far endpoint's switch hands it to the controller
# instead of the host. Its source address names the slice (:func:`sla_mac`); a frame
# from an endpoint port with that address is dropped, so hosts cannot forge probes.
OFPP_CONTROLLER = 0xFFFFFFFD

# Identifiers. Every entry of a slice carries the slice id: its cookie, its meter id and
# the high bits of its group ids, so one slice's entries are found, audited or deleted
# together. The encodings and their limits live here only.
COOKIE_APP = 0x51 << 56   # marks this controller's flows; the low 32 bits are the slice id
COOKIE_APP_MASK = 0xFF << 56
COOKIE_SLICE_MASK = COOKIE_APP_MASK | 0xFFFFFFFF
GROUP_INDEX_BITS = 8      # a group id is slice id << 8 | the endpoint's index in the slice
MAX_GROUP_INDEX = (1 << GROUP_INDEX_BITS) - 1
MPLS_MAX_ENDPOINTS = (MAX_GROUP_INDEX + 1) // 2   # MPLS: a group per endpoint and payload
# OpenFlow reserves group ids from 0xffffff00 and meter ids from 0xffff0001: the largest
# slice id keeps both its group ids and its meter id below them
MAX_SLICE_ID = 0xFFFFFEFF >> GROUP_INDEX_BITS


# MPLS transport (a topology's ``transport: mpls``): on a link a slice's frame carries one
# MPLS label instead of a VLAN tag. OpenFlow's pop_mpls must name the payload's ethertype,
# which the switch cannot see under the label, so the label says it: each per-link slice
# tag has one label per payload (IPv4, ARP), and the 20-bit label space (16 and up; 0-15
# are reserved) holds 524,278 tags per link (MPLS_TAG_MIN..MPLS_TAG_MAX).
MPLS_ETH_TYPE = 0x8847
MPLS_LABEL_BASE = 16
MPLS_PAYLOADS = (0x0800, 0x0806)   # IPv4, ARP: what an MPLS slice carries
MPLS_TAG_MIN = 2                   # as VLAN's: a tag is never 0
MPLS_TAG_MAX = ((1 << 20) - 1 - MPLS_LABEL_BASE - (len(MPLS_PAYLOADS) - 1)) // len(MPLS_PAYLOADS)


def mpls_label(tag: int, eth_type: int) -> int:
    """The label of slice tag ``tag`` on a link for a payload of ``eth_type``."""
    if not MPLS_TAG_MIN <= tag <= MPLS_TAG_MAX or eth_type not in MPLS_PAYLOADS:
        raise ValueError(f"no MPLS label for tag {tag}, ethertype {eth_type:#x}")
    return MPLS_LABEL_BASE + len(MPLS_PAYLOADS) * tag + MPLS_PAYLOADS.index(eth_type)


def mpls_label_tag(label: int) -> tuple[int, int]:
    """``(tag, payload ethertype)`` of a label :func:`mpls_label` made."""
    tag, payload = divmod(label - MPLS_LABEL_BASE, len(MPLS_PAYLOADS))
    return tag, MPLS_PAYLOADS[payload]


def slice_cookie(slice_id: int) -> int:
    return COOKIE_APP | slice_id


def cookie_slice(cookie: int) -> int | None:
    return cookie & 0xFFFFFFFF if cookie & COOKIE_APP_MASK == COOKIE_APP else None


def meter_id(slice_id: int) -> int:
    """The id of a slice's meter (one per endpoint switch, same id on each)."""
    return slice_id


def meter_slice(meter: int) -> int:
    return meter


def group_id(slice_id: int, endpoint_index: int, eth_type: int | None = None) -> int:
    """The fast-failover group toward the slice's ``endpoint_index``-th endpoint; with
    ``eth_type`` (MPLS: a bucket's label depends on the payload), the one for that
    payload, which halves the endpoints a slice can have groups for."""
    if eth_type is not None:
        endpoint_index = len(MPLS_PAYLOADS) * endpoint_index + MPLS_PAYLOADS.index(eth_type)
    if not 0 <= endpoint_index <= MAX_GROUP_INDEX or not 0 < slice_id <= MAX_SLICE_ID:
        raise ValueError(f"no group id for slice {slice_id}, endpoint {endpoint_index}")
    return slice_id << GROUP_INDEX_BITS | endpoint_index


def group_slice(group: int) -> int:
    return group >> GROUP_INDEX_BITS


def probe_mac(site_index: int, port: int) -> str:
    """The source address a switch writes into a probe it returns: its site's index in
    the topology and the port the probe came in on."""
    if not 0 <= site_index <= 0xFFFF or not 0 < port <= 0xFFFF:
        raise ValueError(f"no probe address for site index {site_index}, port {port}")
    return "06:1c:" + ":".join(f"{b:02x}" for b in (site_index >> 8, site_index & 0xFF, port >> 8, port & 0xFF))


def probe_mac_origin(mac: str) -> tuple[int, int] | None:
    """``(site index, port)`` written by :func:`probe_mac`, or None for any other address."""
    parts = mac.lower().split(":")
    if len(parts) != 6 or parts[:2] != ["06", "1c"]:
        return None
    b = [int(x, 16) for x in parts[2:]]
    return b[0] << 8 | b[1], b[2] << 8 | b[3]


def sla_mac(slice_id: int) -> str:
    """The source address of slice ``slice_id``'s delay probes."""
    if not 0 < slice_id <= 0xFFFFFFFF:
        raise ValueError(f"no probe address for slice {slice_id}")
    return "06:1d:" + ":".join(f"{(slice_id >> s) & 0xFF:02x}" for s in (24, 16, 8, 0))


def sla_mac_slice(mac: str) -> int | None:
    """The slice id :func:`sla_mac` wrote, or None for any other address."""
    parts = mac.lower().split(":")
    if len(parts) != 6 or parts[:2] != ["06", "1d"]:
        return None
    return int("".join(parts[2:]), 16)


Match = tuple[tuple[str, Any], ...]
Action = tuple  # ("output", port) ("push_vlan",) ("pop_vlan",) ("set_vlan", vid) ("group", id)
                # ("set_eth_src", mac) ("set_eth_dst", mac) ("meter", id) ("write_metadata", value)
                # ("goto", table); MPLS: ("push_mpls",) pushes a label (ethertype 0x8847),
                # ("set_mpls_label", label) sets it, ("pop_mpls", payload ethertype) removes it


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
        a = _fmt_actions(self.actions) or "drop"
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
        b = " | ".join(f"watch {w}: " + _fmt_actions(acts) for w, acts in self.buckets)
        return f"group {self.switch} {self.group_id} ff [{b}] cookie={self.cookie:#x}"


Entry = Rule | Meter | Group


_PORT_NAMES = {OFPP_IN_PORT: "in_port", OFPP_CONTROLLER: "controller"}


def _fmt_actions(actions: tuple[Action, ...]) -> str:
    return ",".join(f"output:{_PORT_NAMES.get(a[1], a[1])}" if a[0] == "output" else ":".join(map(str, a))
                    for a in actions)


def _fmt(key: str, value: Any) -> str:
    if key == "vlan_vid":
        return "none" if value == OFPVID_NONE else str(value & 0xFFF)
    if key in ("eth_type", "metadata"):
        return hex(value)
    if key == "in_port":
        return _PORT_NAMES.get(value, str(value))
    return str(value)
