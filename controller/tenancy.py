"""Tenant policy: what an admin grants each tenant, and the check of a tenant's request
against it (issue 25). Priority is granted, not claimed: a tenant's slice preempts only
lower priorities, so a tenant that could name any priority could displace every other
tenant; the policy caps it, with the bandwidth a tenant may reserve per slice and in total,
the slices it may hold and the sites (or regions) it may attach to.

The file (``--tenant-policy FILE``, YAML) is the source of truth: ``SetTenantPolicy``
rewrites it (atomically) and a reload (SIGHUP, through controller.reload) reads it again, so an
edit by hand and one over the API end up in the same place and survive a restart::

    default:                 # tenants not listed below (left out: max_priority 3)
      max_priority: 3
    tenants:
      ministry-of-health:    # fields left out are the default's
        max_priority: 7
        max_slice_mbps: 500
        max_total_mbps: 2000
        max_slices: 20
        sites: [tokyo-dc, osaka-dc]
        regions: [JP]

A bad file (or a bad SetTenantPolicy) is refused whole with one line naming the file and
the field, and the policy in force stays as it was.
"""
from __future__ import annotations

import math
import os
import tempfile
import threading
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Iterable

import yaml

from slices.spec import DEFAULT_PRIORITY, MAX_TENANT_CHARS, SliceSpec
from topologies.model import Topology

# A tenant nobody granted anything uses at most the priority every spec gets when it names
# none (3, "standard"): it can never displace business (4+), government or lifeline slices,
# nor any slice of another tenant (that takes priority 4 or more: slices.preemption), only
# its own lower ones.
DEFAULT_MAX_PRIORITY = DEFAULT_PRIORITY
LIMIT_FIELDS = ("max_priority", "max_slice_mbps", "max_total_mbps", "max_slices", "sites", "regions")


class PolicyError(ValueError):
    """A policy file or change that cannot be used: the message names the file and field."""


class PolicyDenied(Exception):
    """A request above its tenant's policy (PERMISSION_DENIED): the message names the rule."""


class NoPolicyFile(Exception):
    """SetTenantPolicy on a controller without --tenant-policy, or on a cluster's instance
    (FAILED_PRECONDITION)."""


@dataclass(frozen=True)
class Limits:
    """One tenant's grants; None: no limit (sites and regions: None, every site)."""

    max_priority: int | None = DEFAULT_MAX_PRIORITY
    max_slice_mbps: float | None = None
    max_total_mbps: float | None = None
    max_slices: int | None = None
    sites: frozenset[str] | None = None
    regions: frozenset[str] | None = None

    def as_doc(self, base: "Limits | None" = None) -> dict:
        """The fields that differ from ``base`` (all of them without one), as YAML wants them."""
        out = {}
        for f in LIMIT_FIELDS:
            value = getattr(self, f)
            if base is None or value != getattr(base, f):
                out[f] = sorted(value) if isinstance(value, frozenset) else value
        return out


@dataclass(frozen=True)
class Policy:
    default: Limits = Limits()
    tenants: dict[str, Limits] = field(default_factory=dict)

    def limits(self, tenant: str) -> Limits:
        return self.tenants.get(tenant, self.default)

    def as_doc(self) -> dict:
        return {"default": self.default.as_doc(),
                "tenants": {t: l.as_doc(self.default) for t, l in sorted(self.tenants.items())}}


def parse_limits(doc, where: str, topology: Topology, base: Limits = Limits()) -> Limits:
    """Limits from a mapping (fields left out: ``base``'s); PolicyError naming ``where``."""
    if doc is None:
        return base
    if not isinstance(doc, dict):
        raise PolicyError(f"{where}: not a mapping")
    unknown = sorted(set(doc) - set(LIMIT_FIELDS), key=str)
    if unknown:
        raise PolicyError(f"{where}.{unknown[0]}: unknown field (known: {', '.join(LIMIT_FIELDS)})")
    values = {}
    for f, value in doc.items():
        values[f] = _value(f, value, f"{where}.{f}", topology)
    return replace(base, **values)


def _value(f: str, value, where: str, topology: Topology):
    """One field's value, checked: numbers in range, sites and regions of ``topology``."""
    if value is None:
        return None
    if f in ("max_priority", "max_slices"):
        high = 7 if f == "max_priority" else 1_000_000
        if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= high:
            raise PolicyError(f"{where}: must be a whole number 0-{high} (or null: no limit), got {value!r}")
        return value
    if f in ("max_slice_mbps", "max_total_mbps"):
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) or value <= 0:
            raise PolicyError(f"{where}: must be a number of Mbit/s > 0 (or null: no limit), got {value!r}")
        return float(value)
    known = {s.name for s in topology.sites} if f == "sites" else {s.region for s in topology.sites}
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise PolicyError(f"{where}: must be a list of {f[:-1]} names, got {value!r}")
    strange = sorted(set(value) - known)
    if strange:
        raise PolicyError(f"{where}: {strange[0]!r} is not a {f[:-1]} of {topology.name}")
    return frozenset(value)


def parse_policy(doc, source: str, topology: Topology) -> Policy:
    """A Policy from a YAML document; PolicyError naming ``source`` and the field."""
    if doc is None:
        return Policy()
    if not isinstance(doc, dict):
        raise PolicyError(f"{source}: a tenant policy is a mapping with default: and tenants:")
    unknown = sorted(set(doc) - {"default", "tenants"}, key=str)
    if unknown:
        raise PolicyError(f"{source}: {unknown[0]}: unknown field (known: default, tenants)")
    default = parse_limits(doc.get("default"), f"{source}: default", topology)
    tenants = doc.get("tenants") or {}
    if not isinstance(tenants, dict):
        raise PolicyError(f"{source}: tenants: must map each tenant to its limits")
    out = {}
    for tenant, limits in tenants.items():
        if not _is_tenant(tenant):
            raise PolicyError(f"{source}: tenants: {str(tenant)[:100]!r} is not a tenant name "
                              f"(1-{MAX_TENANT_CHARS} printable characters)")
        out[tenant] = parse_limits(limits, f"{source}: tenants.{tenant}", topology, default)
    return Policy(default, out)


def _is_tenant(name) -> bool:
    """A tenant name as a slice spec allows it (slices.spec)."""
    return isinstance(name, str) and name == name.strip() and 0 < len(name) <= MAX_TENANT_CHARS \
        and name.isprintable()


def check(limits: Limits, tenant: str, specs: Iterable[SliceSpec], held: Iterable[SliceSpec],
          topology: Topology) -> None:
    """PolicyDenied naming the first rule ``specs`` (new or replacing ``held`` ones of the
    same name) would break for ``tenant`` holding ``held``."""
    specs, held = list(specs), list(held)
    for s in specs:
        if limits.max_priority is not None and s.priority > limits.max_priority:
            raise PolicyDenied(f"tenant {tenant} may use priority up to {limits.max_priority}, asked "
                               f"{s.priority} (slice {s.name}); an admin grants more (tenant policy)")
        if limits.max_slice_mbps is not None and s.bandwidth_mbps > limits.max_slice_mbps:
            raise PolicyDenied(f"tenant {tenant} may reserve up to {limits.max_slice_mbps:g} Mbit/s per slice, "
                               f"asked {s.bandwidth_mbps:g} (slice {s.name})")
        _check_sites(limits, tenant, s, topology)
    replaced = {s.name for s in specs}
    kept = [h for h in held if h.name not in replaced]
    if limits.max_slices is not None and len(kept) + len(specs) > limits.max_slices:
        new = len(kept) + len(specs) - len(held)
        raise PolicyDenied(f"tenant {tenant} may hold up to {limits.max_slices} slices, holds {len(held)}"
                           + (f" and asks for {new} more" if new > 0 else ""))
    if limits.max_total_mbps is not None:
        total = sum(h.bandwidth_mbps for h in kept) + sum(s.bandwidth_mbps for s in specs)
        if total > limits.max_total_mbps + 1e-9:
            raise PolicyDenied(f"tenant {tenant} may reserve up to {limits.max_total_mbps:g} Mbit/s in total, "
                               f"would hold {total:g}")


def _check_sites(limits: Limits, tenant: str, s: SliceSpec, topology: Topology) -> None:
    if limits.sites is None and limits.regions is None:
        return
    for e in s.endpoints:
        for site in (e.site, e.standby.site if e.standby else None):
            if site is None or site in (limits.sites or ()) or topology.site(site).region in (limits.regions or ()):
                continue
            allowed = [f"sites {', '.join(sorted(limits.sites))}" if limits.sites else "",
                       f"regions {', '.join(sorted(limits.regions))}" if limits.regions else ""]
            raise PolicyDenied(f"tenant {tenant} may attach only at {' and '.join(a for a in allowed if a) or 'no site'}"
                               f", asked {site} (slice {s.name})")


class TenantPolicy:
    """The policy in force, its file, and the changes to both (thread-safe: the API's
    threads read it, SetTenantPolicy and a reload replace it whole)."""

    def __init__(self, topology: Topology, path: str | Path | None = None, clustered: bool = False):
        """``clustered``: this controller is one instance of a cluster, each reading its own
        file: SetTenantPolicy is refused (it would change one instance's policy only)."""
        self.topology, self.path = topology, Path(path) if path else None
        self.clustered = clustered
        self._lock = threading.Lock()
        self._policy = self._read() if self.path else Policy()

    @property
    def current(self) -> Policy:
        return self._policy

    def limits(self, tenant: str) -> Limits:
        return self._policy.limits(tenant)

    def _read(self) -> Policy:
        try:
            text = self.path.read_text()
        except OSError as e:
            raise PolicyError(f"{self.path}: cannot read the tenant policy: {e.strerror}") from None
        try:
            doc = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise PolicyError(f"{self.path}: not YAML: {str(e).splitlines()[0]}") from None
        return parse_policy(doc, str(self.path), self.topology)

    def reload(self) -> str:
        """Read the file again; PolicyError (the policy in force kept) if it cannot be used."""
        if self.path is None:
            return "no --tenant-policy file: the default policy stays"
        with self._lock:
            self._policy = self._read()
            return f"tenant policy reloaded from {self.path}: {len(self._policy.tenants)} tenants listed"

    def set(self, tenant: str, doc: dict | None) -> Limits:
        """Give ``tenant`` (empty: the default) the limits of ``doc`` (fields left out: the
        default's; None: drop its entry), write the file, then use it. Nothing changes if
        the limits or the write fail."""
        if self.clustered:
            raise NoPolicyFile("in a cluster every instance reads its own --tenant-policy file, and this call "
                               "would change one instance's: change the file on every instance (configuration "
                               "management) and send each a SIGHUP")
        if self.path is None:
            raise NoPolicyFile("this controller has no --tenant-policy file to keep a policy in; "
                               "start it with --tenant-policy FILE")
        if tenant and not _is_tenant(tenant):
            raise PolicyError(f"policy.tenant: {tenant[:100]!r} is not a tenant name "
                              f"(1-{MAX_TENANT_CHARS} printable characters)")
        with self._lock:
            old = self._policy
            if not tenant:
                default = parse_limits(doc or {}, "policy", self.topology)
                new = Policy(default, {t: _rebase(l, old.default, default) for t, l in old.tenants.items()})
            elif doc is None:
                new = Policy(old.default, {t: l for t, l in old.tenants.items() if t != tenant})
            else:
                new = Policy(old.default, {**old.tenants, tenant: parse_limits(doc, "policy", self.topology,
                                                                                old.default)})
            _write_atomically(self.path, yaml.safe_dump(new.as_doc(), sort_keys=False))
            self._policy = new
            return new.limits(tenant)


def _rebase(limits: Limits, old: Limits, new: Limits) -> Limits:
    """A tenant's limits after the default changed: what it inherited follows the new default."""
    return replace(limits, **{f.name: getattr(new, f.name) for f in fields(Limits)
                              if getattr(limits, f.name) == getattr(old, f.name)})


def _write_atomically(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` whole or not at all (a temporary file renamed over it)."""
    try:
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        with os.fdopen(fd, "w") as f:
            f.write(text)
        os.replace(tmp, path)
    except OSError as e:
        raise PolicyError(f"{path}: cannot write the tenant policy: {e.strerror}; nothing was changed") from None
