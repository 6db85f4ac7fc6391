"""Load a topology by built-in name or file path (YAML, or Topology Zoo GraphML).

Every problem is raised as one :class:`TopologyError` naming the file, the field path and
the problem; nothing is half-loaded.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping

import yaml

from topologies.errors import TopologyError
from topologies.checks import check_connected
from topologies.fabric import FabricSpec, expand, parse_fabric
from topologies.geo import DEFAULT_ROUTE_FACTOR, fibre_delay_ms, great_circle_km
from topologies.model import DEFAULT_HOSTS, SITE_KINDS, TRANSPORTS, Link, Site, Topology

BUILTIN_DIR = Path(__file__).resolve().parent
MAX_HOSTS_PER_SITE = 64

_TOP_KEYS = {"name", "description", "defaults", "sites", "links", "transport"}
DEFAULT_MTU = 1500
_DEFAULT_KEYS = {"bandwidth_mbps", "route_factor", "region", "mtu",
                 "hosts_per_cloud", "hosts_per_core", "hosts_per_edge"}
_SITE_KEYS = {"kind", "lat", "lon", "region", "label", "hosts", "dpid", "fabric"}
_LINK_KEYS = {"a", "b", "bandwidth_mbps", "delay_ms", "route_factor", "distance_km", "label"}


def builtin_names() -> list[str]:
    """Names of the topologies shipped with the package (``topologies/*.yaml``)."""
    return sorted(p.stem for p in BUILTIN_DIR.glob("*.yaml"))


def resolve(name_or_path: str) -> Path:
    """A file path for a built-in name or an existing path; error otherwise."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    builtin = BUILTIN_DIR / f"{name_or_path}.yaml"
    if builtin.is_file():
        return builtin
    zoo = BUILTIN_DIR / "zoo" / f"{name_or_path}.graphml"  # shipped Topology Zoo samples
    if zoo.is_file():
        return zoo
    raise TopologyError(
        f"no such file or built-in topology (built-ins: {', '.join(builtin_names())})",
        source=name_or_path)


def load(name_or_path: str | Path, **graphml_options: Any) -> Topology:
    """Load a topology from a built-in name, a ``.yaml``/``.yml`` or a ``.graphml`` file,
    or generate one (``generated:SITES[:SEED]``, see :mod:`topologies.generate`)."""
    if str(name_or_path).startswith("generated:"):
        from topologies.generate import from_name
        return from_name(str(name_or_path))
    path = resolve(str(name_or_path))
    if path.suffix.lower() == ".graphml":
        from topologies.graphml import load_graphml
        return load_graphml(path, **graphml_options)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise TopologyError(f"cannot read: {e}", source=str(path)) from None
    return parse_yaml(text, source=str(path))


def parse_yaml(text: str, source: str = "<string>") -> Topology:
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e)
        raise TopologyError(f"invalid YAML: {problem}", source=source, field=where) from None
    try:
        return from_dict(doc, default_name=Path(source).stem, source=source)
    except TopologyError as e:
        raise e.with_source(source) from None


# -- validation helpers -----------------------------------------------------------------

def _mapping(value: Any, field: str) -> dict:
    if not isinstance(value, dict):
        raise TopologyError(f"must be a mapping, got {_kind(value)}", field=field)
    return value


def _only(d: dict, allowed: set[str], field: str) -> None:
    unknown = sorted(str(k) for k in d if k not in allowed)
    if unknown:
        raise TopologyError(
            f"unknown key '{unknown[0]}' (allowed: {', '.join(sorted(allowed))})",
            field=f"{field}.{unknown[0]}" if field else unknown[0])


def _number(value: Any, field: str, *, low: float | None = None, high: float | None = None,
            low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise TopologyError(f"must be a number, got {_kind(value)} {value!r}", field=field)
    if low is not None and (value <= low if low_open else value < low):
        raise TopologyError(f"must be {'>' if low_open else '>='} {low:g}, got {value:g}", field=field)
    if high is not None and value > high:
        raise TopologyError(f"must be <= {high:g}, got {value:g}", field=field)
    return float(value)


def _int(value: Any, field: str, low: int, high: int) -> int:
    if isinstance(value, str):
        try:
            value = int(value, 0)
        except ValueError:
            raise TopologyError(f"must be an integer, got '{value}'", field=field) from None
    if isinstance(value, bool) or not isinstance(value, int):
        raise TopologyError(f"must be an integer, got {_kind(value)} {value!r}", field=field)
    if not low <= value <= high:
        raise TopologyError(f"must be between {low} and {high}, got {value}", field=field)
    return value


def _text(value: Any, field: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise TopologyError(f"must be a non-empty string, got {_kind(value)} {value!r}", field=field)
    return value.strip()


def _kind(value: Any) -> str:
    return {dict: "a mapping", list: "a list", type(None): "nothing"}.get(type(value), type(value).__name__)


# -- the format --------------------------------------------------------------------------

def from_dict(doc: Any, default_name: str = "topology", source: str = "") -> Topology:
    """Validate a parsed topology document and build the frozen model."""
    if doc is None:
        raise TopologyError("file is empty")
    doc = _mapping(doc, "")
    _only(doc, _TOP_KEYS, "")
    name = _text(doc.get("name", default_name), "name")
    description = str(doc.get("description", "") or "")
    transport = doc.get("transport", "vlan")
    if transport not in TRANSPORTS:
        raise TopologyError(f"unknown transport {transport!r} (one of {', '.join(TRANSPORTS)})", field="transport")
    defaults = _mapping(doc.get("defaults") or {}, "defaults")
    _only(defaults, _DEFAULT_KEYS, "defaults")
    default_bw = (_number(defaults["bandwidth_mbps"], "defaults.bandwidth_mbps", low=0, low_open=True)
                  if "bandwidth_mbps" in defaults else None)
    route_factor = _number(defaults.get("route_factor", DEFAULT_ROUTE_FACTOR),
                           "defaults.route_factor", low=1.0)
    default_region = (_text(defaults["region"], "defaults.region") if "region" in defaults else None)
    mtu = _int(defaults.get("mtu", DEFAULT_MTU), "defaults.mtu", 576, 9000)
    hosts_default = {k: _int(defaults.get(f"hosts_per_{k}", v), f"defaults.hosts_per_{k}",
                             0, MAX_HOSTS_PER_SITE) for k, v in DEFAULT_HOSTS.items()}

    raw_sites = doc.get("sites")
    if not raw_sites:
        raise TopologyError("at least one site is required", field="sites")
    raw_sites = _mapping(raw_sites, "sites")
    sites: list[Site] = []
    dpids: dict[int, str] = {}
    fabrics: dict[str, FabricSpec] = {}
    for index, (sname, raw) in enumerate(raw_sites.items(), start=1):
        sites.append(_site(str(sname), raw, index, default_region, hosts_default, dpids))
        if "fabric" in raw:
            fabrics[sites[-1].name] = parse_fabric(raw["fabric"], f"sites.{sname}.fabric")
    by_name = {s.name: s for s in sites}

    raw_links = doc.get("links") or []
    if not isinstance(raw_links, list):
        raise TopologyError(f"must be a list, got {_kind(raw_links)}", field="links")
    links: list[Link] = []
    seen: dict[frozenset[str], int] = {}
    for i, raw in enumerate(raw_links):
        link = _link(raw, f"links[{i}]", by_name, default_bw, route_factor)
        if link.key in seen:
            raise TopologyError(
                f"duplicate link {link.a}—{link.b} (also links[{seen[link.key]}]); "
                "give one link with the combined bandwidth", field=f"links[{i}]")
        seen[link.key] = i
        links.append(link)
    sites, links = expand(sites, links, fabrics, dpids)
    topo = Topology(name=name, sites=tuple(sites), links=tuple(links), source=source,
                    description=description, mtu=mtu, transport=transport)
    check_connected(topo)
    return topo


def _site(name: str, raw: Any, index: int, default_region: str | None,
          hosts_default: dict[str, int], dpids: dict[int, str]) -> Site:
    f = f"sites.{name}"
    if not name or any(c.isspace() for c in name):
        raise TopologyError("site names must be non-empty and have no spaces", field=f)
    raw = _mapping(raw, f)
    _only(raw, _SITE_KEYS, f)
    if "kind" not in raw:
        raise TopologyError(f"kind is required (one of {', '.join(SITE_KINDS)})", field=f"{f}.kind")
    kind = raw["kind"]
    if kind not in SITE_KINDS:
        raise TopologyError(f"unknown kind {kind!r} (one of {', '.join(SITE_KINDS)})", field=f"{f}.kind")
    if ("lat" in raw) != ("lon" in raw):
        missing = "lon" if "lat" in raw else "lat"
        raise TopologyError("lat and lon go together", field=f"{f}.{missing}")
    lat = _number(raw["lat"], f"{f}.lat", low=-90, high=90) if "lat" in raw else None
    lon = _number(raw["lon"], f"{f}.lon", low=-180, high=180) if "lon" in raw else None
    if "region" in raw:
        region = _text(raw["region"], f"{f}.region")
    elif default_region:
        region = default_region
    else:
        raise TopologyError("region is required (or set defaults.region)", field=f"{f}.region")
    if "fabric" in raw and kind != "cloud":
        raise TopologyError(f"only a cloud site may have a fabric, not a {kind} site", field=f"{f}.fabric")
    # a cloud with a fabric has its hosts on the leaves: its own switch is the border
    default_hosts = 0 if "fabric" in raw else hosts_default[kind]
    hosts = _int(raw.get("hosts", default_hosts), f"{f}.hosts", 0, MAX_HOSTS_PER_SITE)
    dpid = _int(raw.get("dpid", index), f"{f}.dpid", 1, 2**64 - 1)
    if dpid in dpids:
        raise TopologyError(f"dpid {dpid:#x} is also used by site '{dpids[dpid]}'", field=f"{f}.dpid")
    dpids[dpid] = name
    label = str(raw.get("label", "") or "")
    return Site(name=name, kind=kind, lat=lat, lon=lon, region=region, label=label,
                hosts=hosts, dpid=dpid)


def _link(raw: Any, f: str, sites: dict[str, Site], default_bw: float | None,
          route_factor: float) -> Link:
    raw = _mapping(raw, f)
    _only(raw, _LINK_KEYS, f)
    ends = []
    for end in ("a", "b"):
        if end not in raw:
            raise TopologyError("is required", field=f"{f}.{end}")
        site = str(raw[end])
        if site not in sites:
            raise TopologyError(f"unknown site '{site}'", field=f"{f}.{end}")
        ends.append(site)
    a, b = ends
    if a == b:
        raise TopologyError(f"a link cannot join site '{a}' to itself", field=f"{f}.b")
    if "bandwidth_mbps" in raw:
        bw = _number(raw["bandwidth_mbps"], f"{f}.bandwidth_mbps", low=0, low_open=True)
    elif default_bw is not None:
        bw = default_bw
    else:
        raise TopologyError("is required (or set defaults.bandwidth_mbps)", field=f"{f}.bandwidth_mbps")
    rf = _number(raw.get("route_factor", route_factor), f"{f}.route_factor", low=1.0)
    distance, delay, source = link_delay(raw, f, sites[a], sites[b], rf)
    return Link(a=a, b=b, bandwidth_mbps=bw, delay_ms=delay, distance_km=distance,
                delay_source=source, label=str(raw.get("label", "") or ""))


def link_delay(raw: Mapping, f: str, sa: Site, sb: Site,
               route_factor: float) -> tuple[float | None, float, str]:
    """(distance km or None, one-way delay ms, where the delay came from) of a link (or a
    federation's border) between ``sa`` and ``sb``: ``delay_ms`` as given, else the
    fibre delay of ``distance_km``, else of the two sites' great-circle distance."""
    distance = None
    if "distance_km" in raw:
        distance = _number(raw["distance_km"], f"{f}.distance_km", low=0)
    elif sa.located and sb.located:
        distance = great_circle_km(sa.lat, sa.lon, sb.lat, sb.lon)
    if "delay_ms" in raw:
        delay, source = _number(raw["delay_ms"], f"{f}.delay_ms", low=0), "configured"
    elif distance is not None:
        delay, source = fibre_delay_ms(distance, route_factor), "distance"
    else:
        unlocated = sa.name if not sa.located else sb.name
        raise TopologyError(f"delay_ms or distance_km is required: site '{unlocated}' has no lat/lon to "
                            "derive it from", field=f"{f}.delay_ms")
    return (None if distance is None else round(distance, 1)), round(delay, 4), source
