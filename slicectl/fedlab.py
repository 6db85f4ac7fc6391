"""A federation on one machine (issue 26): one controller per domain, each with its own
store, tenants and policy, talking to the others over the federation API, and one Mininet
WAN of every domain where each switch connects to its own domain's controller. The
federation demo and the Mininet tests use it; so can a lab.

The same file also gives the baseline: the whole federation as one operator's WAN, one
controller for every switch (``slicectl controller --topology FEDERATION.yaml`` without
``--domain``), to compare times to connectivity in one sitting."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Callable

from proto.convert import doc_to_spec
from proto.defaults import FAILPOINTS_ENV
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.launcher import ControllerProcess
from slicectl.processes import free_port
from slicectl.verifyhosts import until_connected
from topologies.emulation.fedplan import make_federation_plan
from topologies.federation import load_federation, merged_topology

Progress = Callable[[str], None]
# one ping's wait for its answer while timing connectivity: short, so a first ping sent
# before the rules were in costs 0.1 s, not 0.5 s, in both the baseline and the federation
PING_WAIT_S = 0.1
FEDERATIONS = Path(__file__).resolve().parent.parent / "topologies" / "federations"


def _quiet(_text: str) -> None:
    pass


class FederationLab:
    """Every domain's controller and the federated WAN; ``start()``, then ``stop()``
    whatever happens (or use it as a context manager)."""

    def __init__(self, path: str | Path, work: Path, options: tuple[str, ...] = (),
                 domain_options: dict[str, tuple[str, ...]] | None = None, progress: Progress = _quiet,
                 prefix: str | None = None, nice: int = 0):
        """``options``: more `slicectl controller` options for every domain (``--hold-timeout
        5``); ``domain_options``: for one domain only (its ``--tenant-policy``)."""
        self.path, self.work, self.progress = Path(path), Path(work), progress
        self.fed = load_federation(self.path)
        self.plan = make_federation_plan(self.fed)   # names and addresses, before anything runs
        self.prefix = prefix
        self.fed_ports = {d.name: free_port() for d in self.fed.domains}
        # where the others reach each domain's federation API: its own port, unless a test
        # puts a relay in between (to record what crosses the API) before start()
        self.peer_ports = dict(self.fed_ports)
        self.failpoints = self.work / "failpoints"   # controller.failpoints: a test stops a controller at a point
        self.options, self.domain_options, self.nice = tuple(options), dict(domain_options or {}), nice
        self.controllers: dict[str, ControllerProcess] = {}
        self.wan = None

    def _controller(self, domain: str) -> ControllerProcess:
        peers = [x for o in self.fed.domains if o.name != domain
                 for x in ("--peer", f"{o.name}=127.0.0.1:{self.peer_ports[o.name]}")]
        opts = ("--domain", domain, "--federation-listen", f"127.0.0.1:{self.fed_ports[domain]}", *peers,
                *self.options, *self.domain_options.get(domain, ()))
        return ControllerProcess(str(self.path), self.work / f"{domain}.db", self.work / f"{domain}.log",
                                 options=opts, nice=self.nice, env={FAILPOINTS_ENV: str(self.failpoints)})

    def __enter__(self) -> "FederationLab":
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        from topologies.emulation.wan import Wan

        self.failpoints.mkdir(parents=True, exist_ok=True)
        for d in self.fed.domains:
            self.controllers[d.name] = self._controller(d.name).start()
        self.wan = Wan.for_federation(self.fed, controllers={n: ("127.0.0.1", c.of) for n, c in
                                                             self.controllers.items()},
                                      progress=self.progress, prefix=self.prefix)
        self.wan.start()
        for name, c in self.controllers.items():
            c.wait_switches()
            self.progress(f"domain {name}: every switch connected to its controller")

    def stop(self) -> None:
        for c in self.controllers.values():
            c.stop()
        if self.wan is not None:
            self.wan.stop()

    def restart(self, domain: str) -> float:
        """Start ``domain``'s controller again (after a kill); seconds until its switches are back."""
        c = self.controllers[domain]
        c.start()
        return c.wait_switches()

    def home(self, domain: str) -> ControllerProcess:
        return self.controllers[domain]

    def doc(self, name: str, endpoints: list[tuple[str, int]], bandwidth_mbps: float = 5, tenant: str = "lifeline",
            **fields) -> dict:
        """A slice across domains: ``endpoints`` as ``(DOMAIN/SITE, port)`` with each host's
        address (every domain routes the slice's addresses)."""
        return {"name": name, "tenant": tenant, "bandwidth_mbps": bandwidth_mbps, **fields,
                "endpoints": [{"site": site, "port": port, "ip": self.address(site, port)} for site, port in endpoints]}

    def address(self, site: str, port: int) -> str:
        bare = site.rpartition("/")[2]
        return next(h.address for h in self.plan.hosts if h.site == bare and h.port == port and not h.probe)

    def host(self, site: str, port: int):
        bare = site.rpartition("/")[2]
        h = next(h for h in self.wan.plan.hosts if h.site == bare and h.port == port and not h.probe)
        return self.wan.host(h.name)


def pairs(wan, doc: dict) -> list[tuple[object, str]]:
    """(host, address) for every ordered endpoint pair of ``doc`` (sites DOMAIN/SITE or bare)."""
    eps = []
    for e in doc["endpoints"]:
        bare = e["site"].rpartition("/")[2]
        h = next(h for h in wan.plan.hosts if h.site == bare and h.port == e["port"] and not h.probe)
        eps.append((wan.host(h.name), e["ip"]))
    return [(eps[i][0], eps[j][1]) for i in range(len(eps)) for j in range(len(eps)) if i != j]


def time_to_connectivity(ctl: ControllerProcess, wan, doc: dict, timeout_s: float = 60) -> tuple[pb.Slice, float | None]:
    """Create ``doc`` at ``ctl``; seconds from the request until every ordered endpoint pair
    passes a ping (None: not within ``timeout_s``)."""
    started = time.monotonic()
    created = ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(doc)), timeout=60)
    seconds, _ok = until_connected(pairs(wan, doc), started, timeout_s, wait_s=PING_WAIT_S)
    return created, seconds


def one_domain(doc: dict) -> dict:
    """``doc`` for the one-operator baseline: the same sites, without their domains."""
    return {**doc, "endpoints": [{**e, "site": e["site"].rpartition("/")[2]} for e in doc["endpoints"]]}


def baseline_ttc(path: str | Path, work: Path, docs: list[dict], progress: Progress = _quiet,
                 prefix: str | None = None) -> list[float | None]:
    """Times to connectivity of ``docs`` (one-domain forms) created one after the other,
    each deleted before the next, on the federation as one operator's WAN with one controller."""
    from topologies.emulation.wan import Wan

    work.mkdir(parents=True, exist_ok=True)
    fed = load_federation(path)
    ctl = ControllerProcess(str(path), work / "baseline.db", work / "baseline.log").start()
    wan = Wan(merged_topology(fed), controller=("127.0.0.1", ctl.of), progress=progress, prefix=prefix)
    out = []
    try:
        wan.start()
        ctl.wait_switches()
        for d in docs:
            _created, seconds = time_to_connectivity(ctl, wan, d)
            out.append(seconds)
            progress(f"one controller: {d['name']} " + ("did not connect" if seconds is None
                                                         else f"connected in {seconds:.2f} s"))
            ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name=d["name"]), timeout=30)
    finally:
        ctl.stop()
        wan.stop()
    return out


__all__ = ["FEDERATIONS", "FederationLab", "baseline_ttc", "one_domain", "pairs", "time_to_connectivity"]
