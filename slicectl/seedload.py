"""The load of `slicectl bench seed` (issue 28 item 2), without Mininet: slice specs at the
programme's scale on the ``seed-scale`` WAN, and the probe slices the bench times.

The programme targets "more than 10 distributed clouds, each with several hundreds of
applications and several thousands of virtual servers". Here every cloud hosts
``apps_per_cloud`` applications; an application is one slice with one or two virtual
servers in its home cloud and one in each of one or two other clouds (3.0 endpoints a slice
on average, so 300 applications on 12 clouds give ~10,800 endpoints). A virtual server is a
VLAN-tagged interface on a shared host: an endpoint is (leaf, host port, VLAN), one VLAN id
per endpoint on a (site, port), so at most 4,093 of them a port; the endpoints are spread
over every leaf's host ports of their cloud in turn to stay far below that.

Endpoints in the clouds of :data:`STANDBY_CLOUD` get a standby in the named cloud (same
VLAN, so the VLAN is taken on both ports): losing :data:`LOST_CLOUD` re-homes every slice
with an endpoint there. Each slice books the least a meter enforces, so capacity never
refuses one; what limits the load is tags on links (4,093 slices a link) and the switches.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from slices.spec import MAX_VLAN, MIN_BANDWIDTH_MBPS
from topologies.fabric import cloud_of
from topologies.model import Topology

TOPOLOGY = "seed-scale"
LOST_CLOUD = "osaka-dc"
STANDBY_CLOUD = {"osaka-dc": "nagoya-dc", "seoul-dc": "busan-dc"}
APPS_PER_CLOUD = 300
VLAN_MIN = 2
Port = tuple[str, int]          # (leaf site, host port)


class Vlans:
    """The next free VLAN id on each (site, port): one per endpoint (or standby) there."""

    def __init__(self) -> None:
        self.next: dict[Port, int] = {}

    def take(self, *ports: Port) -> int:
        """One VLAN id free on every one of ``ports`` (an endpoint and its standby share it)."""
        vlan = max(self.next.get(p, VLAN_MIN) for p in ports)
        if vlan > MAX_VLAN:
            raise ValueError(f"no VLAN id left on {', '.join(f'{s}:{n}' for s, n in ports)} "
                             f"(at most {MAX_VLAN - VLAN_MIN + 1:,} endpoints a port)")
        for p in ports:
            self.next[p] = vlan + 1
        return vlan


class Ports:
    """Every cloud's leaf host ports, handed out in turn so that endpoints spread evenly."""

    def __init__(self, topo: Topology) -> None:
        self.of: dict[str, list[Port]] = {}
        for s in topo.sites:
            if s.kind == "leaf":
                self.of.setdefault(cloud_of(s), []).extend((s.name, p) for p in range(1, s.hosts + 1))
        self._turn = {c: 0 for c in self.of}

    def next(self, cloud: str) -> Port:
        ports = self.of[cloud]
        self._turn[cloud] += 1
        return ports[(self._turn[cloud] - 1) % len(ports)]


@dataclass
class Load:
    slices: list[dict]       # the applications, in the order the bench creates them
    probes: list[dict]       # two-cloud slices between real host interfaces, for the time to connectivity
    rehome_probe: dict       # a slice with its LOST_CLOUD endpoint's standby elsewhere
    vlans: Vlans

    @property
    def endpoints(self) -> int:
        return sum(len(d["endpoints"]) for d in self.slices)


def _endpoint(ports: Ports, vlans: Vlans, cloud: str) -> dict:
    site, port = ports.next(cloud)
    if cloud not in STANDBY_CLOUD:
        return {"site": site, "port": port, "vlan": vlans.take((site, port))}
    s_site, s_port = ports.next(STANDBY_CLOUD[cloud])
    return {"site": site, "port": port, "vlan": vlans.take((site, port), (s_site, s_port)),
            "standby": {"site": s_site, "port": s_port}}


def application(name: str, home: str, others: list[str], servers: int, ports: Ports, vlans: Vlans) -> dict:
    """One application's slice: ``servers`` endpoints at home, one in each other cloud."""
    eps = [_endpoint(ports, vlans, home) for _ in range(servers)]
    eps += [_endpoint(ports, vlans, c) for c in others]
    return {"name": name, "tenant": f"tenant-{home}", "bandwidth_mbps": MIN_BANDWIDTH_MBPS, "endpoints": eps}


def make_load(topo: Topology, apps_per_cloud: int = APPS_PER_CLOUD, probes: int = 20, seed: int = 1) -> Load:
    """``apps_per_cloud`` applications in every cloud (shuffled), ``probes`` probe slices
    and the re-home probe, every VLAN taken from one book."""
    rng = random.Random(seed)
    clouds = sorted(Ports(topo).of)
    ports, vlans = Ports(topo), Vlans()
    docs = []
    for home in clouds:
        others = [c for c in clouds if c != home]
        for i in range(apps_per_cloud):
            docs.append(application(f"{home.removesuffix('-dc')}-app-{i}", home,
                                    rng.sample(others, rng.choice((1, 2))), rng.choice((1, 2)), ports, vlans))
    rng.shuffle(docs)
    return Load(docs, probe_slices(clouds, probes, ports, vlans), rehome_probe(ports, vlans), vlans)


def _probe_end(ports: Ports, vlans: Vlans, cloud: str, ip: str) -> dict:
    site, port = ports.next(cloud)
    return {"site": site, "port": port, "vlan": vlans.take((site, port)), "ip": ip}


def probe_slices(clouds: list[str], n: int, ports: Ports, vlans: Vlans) -> list[dict]:
    """``n`` two-cloud slices, each between host interfaces of clouds five apart in the
    list (so across the WAN), with given addresses 172.16.K.1 and .2."""
    out = []
    for k in range(n):
        a, b = clouds[k % len(clouds)], clouds[(k + 5) % len(clouds)]
        out.append({"name": f"ttc-{k}", "tenant": "bench", "bandwidth_mbps": 1,
                    "endpoints": [_probe_end(ports, vlans, a, f"172.16.{k}.1"),
                                  _probe_end(ports, vlans, b, f"172.16.{k}.2")]})
    return out


def rehome_probe(ports: Ports, vlans: Vlans, peer: str = "tokyo-dc") -> dict:
    """A slice between ``peer`` and :data:`LOST_CLOUD`, the latter's endpoint with a standby
    in its standby cloud (same VLAN and address), for the outage a host sees."""
    far = _endpoint(ports, vlans, LOST_CLOUD)
    return {"name": "rehome-probe", "tenant": "bench", "bandwidth_mbps": 1, "priority": 7,
            "endpoints": [_probe_end(ports, vlans, peer, "172.17.0.1"), {**far, "ip": "172.17.0.2"}]}


def lost_sites(topo: Topology, cloud: str = LOST_CLOUD) -> set[str]:
    """The cloud's switches: its border and every spine and leaf of its fabric."""
    return {cloud} | {s.name for s in topo.sites if cloud_of(s) == cloud}


def expected_rehomes(docs: list[dict], sites: set[str]) -> dict[str, int]:
    """Per slice with endpoints at ``sites`` that have a standby: how many move."""
    out = {}
    for d in docs:
        n = sum(1 for e in d["endpoints"] if e["site"] in sites and "standby" in e)
        if n:
            out[d["name"]] = n
    return out
