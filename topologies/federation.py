"""A federation: several operators' networks (domains), each an ordinary topology file run
by its own controller, and the border links between them (issue 26).

The file (YAML)::

    name: japan-korea
    domains:
      east:  {topology: east-japan.yaml}     # a path relative to this file, or a built-in name
      west:  {topology: west-japan.yaml}
    borders:
      - {a: east/tokyo-ix, b: west/osaka-ix, bandwidth_mbps: 50, delay_ms: 6}
      - {a: east/tokyo-ix, b: west/nagoya-ix, bandwidth_mbps: 100}   # delay from the sites' lat/lon

A border end is ``DOMAIN/SITE``. Its delay is ``delay_ms``, else derived from
``distance_km``, else from the two sites' coordinates, as for a link inside a topology.
Every problem is one :class:`TopologyError` naming the file and the field path
(``borders[2].a: unknown domain 'kr'``); nothing is half-loaded. Data only: no sockets,
no controllers.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from topologies.errors import TopologyError
from topologies.fedmodel import BorderLink, BorderPoint, Domain, Federation
from topologies.geo import DEFAULT_ROUTE_FACTOR
from topologies.loader import _kind, _mapping, _number, _only, _text, link_delay, load
from topologies.model import Link, Topology

FEDERATIONS_DIR = Path(__file__).resolve().parent / "federations"
_TOP_KEYS = {"name", "description", "domains", "borders"}
_DOMAIN_KEYS = {"topology"}
_BORDER_KEYS = {"a", "b", "bandwidth_mbps", "delay_ms", "distance_km", "route_factor", "label"}
__all__ = ["BorderLink", "BorderPoint", "Domain", "Federation", "border_ports", "builtin_federations",
           "check_unique_sites", "domain_topology", "federation_path", "is_federation_file", "load_federation",
           "merged_topology", "parse_federation"]


def load_federation(path: str | Path) -> Federation:
    """Read and check a federation file and every domain's topology file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TopologyError(f"cannot read: {e}", source=str(path)) from None
    return parse_federation(text, source=str(path), base=path.parent)


def parse_federation(text: str, source: str = "<string>", base: Path | None = None) -> Federation:
    """A Federation from YAML text; domain files are read relative to ``base``."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise TopologyError(f"invalid YAML: {getattr(e, 'problem', None) or e}", source=source,
                            field=where) from None
    try:
        return federation_from_dict(doc, base or Path("."), source)
    except TopologyError as e:
        raise (e if e.source else e.with_source(source)) from None


def federation_from_dict(doc: Any, base: Path, source: str = "") -> Federation:
    if doc is None:
        raise TopologyError("file is empty")
    doc = _mapping(doc, "")
    _only(doc, _TOP_KEYS, "")
    name = _text(doc.get("name", Path(source).stem or "federation"), "name")
    raw_domains = _mapping(doc.get("domains") or {}, "domains")
    if len(raw_domains) < 2:
        raise TopologyError("a federation needs at least two domains", field="domains")
    domains = [_domain(str(n), raw, base) for n, raw in raw_domains.items()]
    _check_dpids(domains)
    by_name = {d.name: d for d in domains}
    raw_borders = doc.get("borders") or []
    if not isinstance(raw_borders, list) or not raw_borders:
        raise TopologyError(f"must be a non-empty list, got {_kind(raw_borders)}", field="borders")
    borders, seen = [], {}
    for i, raw in enumerate(raw_borders):
        b = _border(raw, f"borders[{i}]", by_name)
        key = frozenset((b.a, b.b))
        if key in seen:
            raise TopologyError(f"duplicate border {b.name} (also borders[{seen[key]}]); give one link "
                                "with the combined bandwidth", field=f"borders[{i}]")
        seen[key] = i
        borders.append(b)
    fed = Federation(name=name, domains=tuple(domains), borders=tuple(borders), source=source,
                     description=str(doc.get("description", "") or ""))
    _check_connected(fed)
    return fed


def _domain(name: str, raw: Any, base: Path) -> Domain:
    f = f"domains.{name}"
    if not name or "/" in name or any(c.isspace() for c in name):
        raise TopologyError("domain names must be non-empty, without '/' or spaces", field=f)
    raw = _mapping(raw, f)
    _only(raw, _DOMAIN_KEYS, f)
    if "topology" not in raw:
        raise TopologyError("is required (a topology file or built-in name)", field=f"{f}.topology")
    ref = _text(raw["topology"], f"{f}.topology")
    local = base / ref
    try:
        topo = load(local if local.is_file() else ref)
    except TopologyError as e:
        raise TopologyError(str(e), field=f"{f}.topology") from None
    return Domain(name=name, topology=topo)


def _check_dpids(domains: list[Domain]) -> None:
    """One emulated WAN holds every domain's switches: their dpids must differ."""
    owner: dict[int, str] = {}
    for d in domains:
        for s in d.topology.sites:
            if s.dpid in owner:
                raise TopologyError(f"dpid {s.dpid:#x} of {d.name}/{s.name} is also {owner[s.dpid]}'s; "
                                    "give the domains' sites distinct dpids", field=f"domains.{d.name}.topology")
            owner[s.dpid] = f"{d.name}/{s.name}"


def _point(raw: Any, f: str, domains: dict[str, Domain]) -> BorderPoint:
    if not isinstance(raw, str) or raw.count("/") != 1:
        raise TopologyError(f"must be DOMAIN/SITE, got {raw!r}", field=f)
    dname, site = raw.split("/")
    if dname not in domains:
        raise TopologyError(f"unknown domain '{dname}' (domains: {', '.join(sorted(domains))})", field=f)
    if not domains[dname].topology.has_site(site):
        raise TopologyError(f"unknown site '{site}' in domain '{dname}'", field=f)
    return BorderPoint(dname, site)


def _border(raw: Any, f: str, domains: dict[str, Domain]) -> BorderLink:
    raw = _mapping(raw, f)
    _only(raw, _BORDER_KEYS, f)
    for end in ("a", "b"):
        if end not in raw:
            raise TopologyError("is required (DOMAIN/SITE)", field=f"{f}.{end}")
    a, b = _point(raw["a"], f"{f}.a", domains), _point(raw["b"], f"{f}.b", domains)
    if a.domain == b.domain:
        raise TopologyError(f"both ends are in domain '{a.domain}': a link inside a domain belongs in "
                            "its topology file", field=f"{f}.b")
    if "bandwidth_mbps" not in raw:
        raise TopologyError("is required", field=f"{f}.bandwidth_mbps")
    bw = _number(raw["bandwidth_mbps"], f"{f}.bandwidth_mbps", low=0, low_open=True)
    rf = _number(raw.get("route_factor", DEFAULT_ROUTE_FACTOR), f"{f}.route_factor", low=1.0)
    sa, sb = domains[a.domain].topology.site(a.site), domains[b.domain].topology.site(b.site)
    distance, delay, _source = link_delay(raw, f, sa, sb, rf)
    return BorderLink(a=a, b=b, bandwidth_mbps=bw, delay_ms=delay, distance_km=distance,
                      label=str(raw.get("label", "") or ""))


def _check_connected(fed: Federation) -> None:
    """Every domain reachable from every other over borders: else no slice could span them."""
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(d.name for d in fed.domains)
    g.add_edges_from((b.a.domain, b.b.domain) for b in fed.borders)
    if not nx.is_connected(g):
        first = fed.domains[0].name
        cut = sorted(set(g) - nx.node_connected_component(g, first))
        raise TopologyError(f"domains not reachable from '{first}' over borders: {', '.join(cut)}",
                            field="borders")


def border_ports(fed: Federation, domain: str) -> dict[str, dict[int, BorderLink]]:
    """Per border site of ``domain``, its border ports: each border link lands on an access
    port of its site, after the site's own host ports, in the order the file lists the
    borders. Both domains number a border this way from the same file, so a peer can name
    the port without knowing anything else of the domain."""
    topo = fed.domain(domain).topology
    out: dict[str, dict[int, BorderLink]] = {}
    for b in fed.borders_of(domain):
        site = b.end_in(domain).site
        ports = out.setdefault(site, {})
        ports[topo.site(site).hosts + len(ports) + 1] = b
    return out


def domain_topology(fed: Federation, domain: str) -> Topology:
    """The topology ``domain``'s controller runs: its file's, with each border site's
    access ports extended by its border ports (:func:`border_ports`), so a slice may end
    on a border port like on a host's."""
    topo = fed.domain(domain).topology
    extra = {site: len(ports) for site, ports in border_ports(fed, domain).items()}
    sites = tuple(replace(s, hosts=s.hosts + extra.get(s.name, 0)) for s in topo.sites)
    return replace(topo, sites=sites)


def is_federation_file(path: str | Path) -> bool:
    """Whether ``path`` is a YAML file whose top level has a ``domains:`` key: commands
    that take a topology or a federation tell them apart this way."""
    path = Path(path)
    if path.suffix not in (".yaml", ".yml") or not path.is_file():
        return False
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    return isinstance(doc, dict) and "domains" in doc


def federation_path(name_or_path: str) -> Path | None:
    """The federation file a command's argument names: a path, or the name of one shipped
    in ``topologies/federations/`` (``japan-korea``); None if it names no federation (a
    topology, or nothing)."""
    for p in (Path(name_or_path), FEDERATIONS_DIR / f"{name_or_path}.yaml"):
        if is_federation_file(p):
            return p
    return None


def builtin_federations() -> list[str]:
    """Names of the federation files shipped in ``topologies/federations/`` (the domains'
    own topology files beside them are not federations)."""
    return sorted(p.stem for p in FEDERATIONS_DIR.glob("*.yaml") if is_federation_file(p))


def check_unique_sites(fed: Federation) -> None:
    """ValueError naming the site and both domains if two domains use one site name.
    Each controller only sees its own domain, so the file allows it; one emulated WAN (and
    :func:`merged_topology`) names its nodes and hosts by site, so it does not."""
    owner: dict[str, str] = {}
    for d in fed.domains:
        for s in d.topology.sites:
            if s.name in owner:
                raise ValueError(f"{fed.source or fed.name}: site '{s.name}' is in domain '{owner[s.name]}' "
                                 f"and in domain '{d.name}': one emulated WAN needs distinct site names")
            owner[s.name] = d.name


def merged_topology(fed: Federation) -> Topology:
    """The federation's WAN as one topology: every domain's sites and links, and each
    border as an ordinary link with its bandwidth and delay. It is the one-controller
    baseline of the same network (to compare, e.g., the time to connectivity with one
    controller per domain). Its MTU is the smallest of the domains', what a host may
    send end to end."""
    check_unique_sites(fed)
    sites = tuple(s for d in fed.domains for s in d.topology.sites)
    borders = tuple(Link(b.a.site, b.b.site, b.bandwidth_mbps, b.delay_ms, b.distance_km,
                         "distance" if b.distance_km is not None else "configured", b.label or b.name)
                    for b in fed.borders)
    links = tuple(l for d in fed.domains for l in d.topology.links) + borders
    return Topology(name=fed.name, sites=sites, links=links, source=fed.source, description=fed.description,
                    mtu=min(d.topology.mtu for d in fed.domains),
                    warnings=tuple(w for d in fed.domains for w in d.topology.warnings))
