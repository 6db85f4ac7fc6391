"""``slicectl policy get|set|remove``: the tenant policy over the API (GetTenantPolicy,
SetTenantPolicy): what each tenant may use. Setting is for admins; a tenant's ``get``
shows its own limits. The controller keeps the policy in its --tenant-policy file."""
from __future__ import annotations

import argparse

from slicectl.commands.common import Subparsers, add_client_options, client_command, server, show

NO_LIMIT = "-"


def register(sub: Subparsers) -> None:
    """``policy get``, ``policy set`` and ``policy remove``."""
    po = sub.add_parser("policy", help="the tenant policy: the highest priority, Mbit/s, slices and sites "
                        "each tenant may use (set by admins)").add_subparsers(dest="action", required=True)
    get = po.add_parser("get", help="the default and every listed tenant (a tenant: its own limits)")
    get.add_argument("tenant", nargs="?", default="", help="only this tenant's limits (its entry or the default)")
    add_client_options(get)
    get.set_defaults(func=cmd_policy_get)
    st = po.add_parser("set", help="replace a tenant's limits (a limit left out: none), written to the "
                       "controller's --tenant-policy file")
    st.add_argument("tenant", help="the tenant; 'default' for every tenant not listed")
    st.add_argument("--max-priority", type=int, metavar="N", help="the highest priority (0-7) its slices may have")
    st.add_argument("--max-slice-mbps", type=float, metavar="MBPS", help="Mbit/s one slice may reserve")
    st.add_argument("--max-total-mbps", type=float, metavar="MBPS", help="Mbit/s all its slices may reserve")
    st.add_argument("--max-slices", type=int, metavar="N", help="slices it may hold")
    st.add_argument("--site", action="append", default=[], help="a site its endpoints may be at (repeatable)")
    st.add_argument("--region", action="append", default=[], help="a region whose sites it may use (repeatable)")
    add_client_options(st)
    st.set_defaults(func=cmd_policy_set)
    rm = po.add_parser("remove", help="drop a tenant's entry: the default applies to it again")
    rm.add_argument("tenant")
    add_client_options(rm)
    rm.set_defaults(func=cmd_policy_remove)


def policy_rows(response, wide: bool = False) -> str:
    """A table: one row per entry, '-' where there is no limit."""
    entries = ([("(default)", response.default.limits)] if response.HasField("default") else []) + \
        [(p.tenant, p.limits) for p in response.tenants]
    head = ("TENANT", "MAX PRIORITY", "MBIT/S PER SLICE", "MBIT/S IN TOTAL", "SLICES", "WHERE")
    rows = [head] + [(tenant, *(_limit(l, f) for f in ("max_priority", "max_slice_mbps", "max_total_mbps",
                                                         "max_slices")), _where(l)) for tenant, l in entries]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows)


def _limit(limits, field: str) -> str:
    return f"{getattr(limits, field):g}" if limits.HasField(field) else NO_LIMIT


def _where(limits) -> str:
    where = [*limits.sites, *(f"region {r}" for r in limits.regions)]
    return ", ".join(where) or "anywhere"


@client_command
def cmd_policy_get(args: argparse.Namespace) -> int | None:
    """Print the policy (``-o json|yaml``: as the API gives it)."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl import client
    show(client.call(server(args), "GetTenantPolicy", pb.GetTenantPolicyRequest(tenant=args.tenant)),
         args.output, policy_rows)


@client_command
def cmd_policy_set(args: argparse.Namespace) -> int | None:
    """Replace one entry; print the limits now in force for it."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl import client
    limits = pb.TenantLimits(sites=args.site, regions=args.region)
    for field in ("max_priority", "max_slice_mbps", "max_total_mbps", "max_slices"):
        if getattr(args, field) is not None:
            setattr(limits, field, getattr(args, field))
    tenant = "" if args.tenant == "default" else args.tenant
    got = client.call(server(args), "SetTenantPolicy", pb.SetTenantPolicyRequest(
        policy=pb.TenantPolicy(tenant=tenant, limits=limits)))
    show(pb.GetTenantPolicyResponse(tenants=[got]) if tenant else pb.GetTenantPolicyResponse(default=got),
         args.output, policy_rows)


@client_command
def cmd_policy_remove(args: argparse.Namespace) -> int | None:
    """Drop one tenant's entry."""
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl import client
    client.call(server(args), "SetTenantPolicy", pb.SetTenantPolicyRequest(
        policy=pb.TenantPolicy(tenant=args.tenant), remove=True))
    print(f"tenant {args.tenant}: its entry removed, the default policy applies")
