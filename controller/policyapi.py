"""GetTenantPolicy and SetTenantPolicy: the tenant policy (controller.tenancy) over the
API. Setting is for admins (operators grant priorities; a tenant granting itself one
would be no grant); a tenant may read its own limits, never another's."""
from __future__ import annotations

import logging

from controller.auth import Identity
from controller.statuses import Forbidden
from controller.tenancy import LIMIT_FIELDS, Limits, PolicyError, TenantPolicy
from proto.intercloud.slicing.v1 import slicing_pb2 as pb

log = logging.getLogger("intercloud.policy")


def limits_message(limits: Limits) -> pb.TenantLimits:
    """The API's view of ``limits``: a field left out has no limit."""
    out = pb.TenantLimits(sites=sorted(limits.sites or ()), regions=sorted(limits.regions or ()))
    for f in ("max_priority", "max_slice_mbps", "max_total_mbps", "max_slices"):
        if getattr(limits, f) is not None:
            setattr(out, f, getattr(limits, f))
    return out


def limits_doc(message: pb.TenantLimits) -> dict:
    """A request's limits as the policy file writes them: every field, None where the
    message leaves it out (no limit)."""
    doc = {f: getattr(message, f) if message.HasField(f) else None
           for f in LIMIT_FIELDS if f not in ("sites", "regions")}
    doc["max_slice_mbps"] = float(doc["max_slice_mbps"]) if doc["max_slice_mbps"] is not None else None
    doc["max_total_mbps"] = float(doc["max_total_mbps"]) if doc["max_total_mbps"] is not None else None
    doc["sites"] = list(message.sites) or None
    doc["regions"] = list(message.regions) or None
    return doc


def get_policy(policy: TenantPolicy, who: Identity, request: pb.GetTenantPolicyRequest) -> pb.GetTenantPolicyResponse:
    """The default and every tenant's entry (admins), or the caller's own limits."""
    current = policy.current
    if not who.admin:
        if request.tenant and request.tenant != who.tenant:
            raise Forbidden(f"{who.name} acts for tenant {who.tenant!r}: another tenant's policy is an admin's to read")
        return pb.GetTenantPolicyResponse(tenants=[pb.TenantPolicy(tenant=who.tenant,
                                                                   limits=limits_message(current.limits(who.tenant)))])
    tenants = sorted(current.tenants.items()) if not request.tenant else [(request.tenant,
                                                                         current.limits(request.tenant))]
    return pb.GetTenantPolicyResponse(default=pb.TenantPolicy(limits=limits_message(current.default)),
                                      tenants=[pb.TenantPolicy(tenant=t, limits=limits_message(l)) for t, l in tenants])


def set_policy(policy: TenantPolicy, who: Identity, request: pb.SetTenantPolicyRequest) -> pb.TenantPolicy:
    """Replace one entry (admins only); the limits now in force for that tenant."""
    if not who.admin:
        raise Forbidden(f"the tenant policy is set by admins; {who.name} acts for tenant {who.tenant!r}")
    tenant = request.policy.tenant.strip()
    if request.remove and not tenant:
        raise PolicyError("policy.tenant: empty (the default) cannot be removed, only replaced")
    limits = policy.set(tenant, None if request.remove else limits_doc(request.policy.limits))
    log.info("tenant policy: %s %s by %s", f"tenant {tenant}" if tenant else "the default",
             "removed" if request.remove else "set", who.name)
    return pb.TenantPolicy(tenant=tenant, limits=limits_message(limits))
