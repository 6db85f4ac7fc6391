"""A slice across domains as its tenant asks for it (issue 26), checked field by field
before anything is routed: the home's own sites against its topology, another domain's
against nothing but that domain's name (its view and its Reserve check the rest, so the
home tells a tenant nothing of the names inside another domain)."""
from __future__ import annotations

import time

from slices.errors import SpecError
from slices.interdomain import FedEndpoint, FedRequest, Refused, parse_endpoint
from slices.schedule import parse_schedule
from slices.spec import NAME_RE, NAMESPACE_SEP
from topologies.fedmodel import Federation

FIELDS = ("name", "tenant", "endpoints", "bandwidth_mbps", "max_latency_ms", "priority", "allowed_regions",
          "schedule")
ENDPOINT_FIELDS = ("site", "port", "vlan", "ip")
MAX_TAG = 4094


def parse_request(doc: dict, home: str, fed: Federation) -> tuple[FedRequest, int, dict[tuple[str, str, int], tuple[int, str]]]:
    """The request, its priority and its endpoints' VLANs and addresses; SpecError
    naming every field that is wrong."""
    problems = [(f, "unknown field for a slice across domains (fields: " + ", ".join(FIELDS) + ")")
                for f in doc if f not in FIELDS and f != "protection"]
    if doc.get("protection", "none") not in ("none", None):
        problems.append(("protection", "a slice across domains has no protection yet (none); each domain "
                         "repairs its part, and the home re-routes around a lost border"))
    name = doc.get("name")
    if not isinstance(name, str) or not name:
        problems.append(("name", "required"))
    elif not NAME_RE.match(name.rpartition(NAMESPACE_SEP)[2]) or (
            NAMESPACE_SEP in name and name.rpartition(NAMESPACE_SEP)[0] != str(doc.get("tenant", "")).strip()):
        problems.append(("name", f"must be 1-63 lowercase letters, digits or '-' (TENANT/NAME of the slice's "
                         f"own tenant when qualified), got {name[:80]!r}"))
    bw = doc.get("bandwidth_mbps")
    if isinstance(bw, bool) or not isinstance(bw, (int, float)) or not bw > 0:
        problems.append(("bandwidth_mbps", "must be a number > 0"))
    bound = doc.get("max_latency_ms")
    if bound is not None and (isinstance(bound, bool) or not isinstance(bound, (int, float)) or not bound > 0):
        problems.append(("max_latency_ms", "must be a number > 0"))
    priority = doc.get("priority", 3)
    if isinstance(priority, bool) or not isinstance(priority, int) or not 0 <= priority <= 7:
        problems.append(("priority", "must be an integer 0-7"))
    regions = doc.get("allowed_regions")
    if regions is not None and (not isinstance(regions, list) or not all(isinstance(r, str) for r in regions)):
        problems.append(("allowed_regions", "must be a list of region names"))
    eps = doc.get("endpoints")
    endpoints: list[FedEndpoint] = []
    vlans: dict[tuple[str, str, int], tuple[int, str]] = {}
    if not isinstance(eps, list) or len(eps) < 2:
        problems.append(("endpoints", "at least two"))
        eps = []
    for i, e in enumerate(eps):
        path = f"endpoints[{i}]"
        if not isinstance(e, dict):
            problems.append((path, "must be a mapping with site and port"))
            continue
        problems += [(f"{path}.{f}", "unknown field for an endpoint across domains (fields: site, port, "
                      "vlan, ip)") for f in e if f not in ENDPOINT_FIELDS]
        if not isinstance(e.get("ip"), str) or not e["ip"]:
            problems.append((f"{path}.ip", "required across domains: every domain routes the slice's "
                             "addresses, so each endpoint's is fixed by the request"))
        port, vlan = e.get("port"), e.get("vlan", 0) or 0
        if isinstance(port, bool) or not isinstance(port, int) or port < 1:
            problems.append((f"{path}.port", "must be an integer >= 1"))
            continue
        if isinstance(vlan, bool) or not isinstance(vlan, int) or not 0 <= vlan <= MAX_TAG:
            problems.append((f"{path}.vlan", f"must be 1-{MAX_TAG}"))
            continue
        domain, _, site = str(e.get("site", "")).rpartition("/")
        if domain and domain != home:
            # another domain's site is checked by that domain (its view, its Reserve): the
            # home does not tell a tenant which of its names exist inside another domain
            if not fed.has_domain(domain):
                problems.append((f"{path}.site", f"unknown domain '{domain}' in '{e.get('site')}'"))
                continue
            endpoints.append(FedEndpoint(domain, site, port))
            vlans[(domain, site, port)] = (vlan, str(e.get("ip") or ""))
            continue
        try:
            ep = parse_endpoint(site, port, home, fed)
        except Refused as err:
            problems.append((f"{path}.site", str(err)))
            continue
        if not 1 <= port <= fed.domain(ep.domain).topology.site(ep.site).hosts:
            problems.append((f"{path}.port", f"{ep.domain}/{ep.site} has host ports 1-"
                             f"{fed.domain(ep.domain).topology.site(ep.site).hosts}, not {port}"))
            continue
        endpoints.append(FedEndpoint(ep.domain, ep.site, port))
        vlans[(ep.domain, ep.site, port)] = (vlan, str(e.get("ip") or ""))
    if len({(e.domain, e.site, e.port) for e in endpoints}) < len(endpoints):
        problems.append(("endpoints", "the same port twice"))
    parse_schedule(doc.get("schedule"), lambda f, why: problems.append((f, why)), time.time())
    if problems:
        raise SpecError(problems)
    return (FedRequest(name, home, tuple(endpoints), float(bw), float(bound) if bound else None,
                       frozenset(regions) if regions else None), priority, vlans)


__all__ = ["ENDPOINT_FIELDS", "FIELDS", "parse_request"]
