"""One settings object for a controller, built once by the composition root
(:mod:`controller.main`) from the command line and handed to whatever needs it. Frozen:
nothing configures another object by setting its attributes after construction."""
from __future__ import annotations

from dataclasses import dataclass, field

from controller.settling import SETTLE_S
from proto.defaults import (DEFAULT_AUDIT_INTERVAL_S, DHCP_LEASE_S, LINK_HOLD_DOWN_S, MAX_SLICES_PER_TENANT,
                            MAX_WATCHES, MAX_WATCHES_PER_CLIENT, PROBE_INTERVAL_S, PROBE_MISSES,
                            STATS_INTERVAL_S)


@dataclass(frozen=True)
class ProbeSettings:
    """Link probes (controller.liveness.LinkMonitor)."""

    interval_s: float = PROBE_INTERVAL_S
    misses: int = PROBE_MISSES

    def monitor_options(self) -> dict:
        return {"interval_s": self.interval_s, "misses": self.misses}


@dataclass(frozen=True)
class SlaSettings:
    """Live SLA probes (controller.sla.SlaMonitor's options) and whether a violated slice
    moves to a faster tree."""

    monitor: tuple[tuple[str, float], ...] = ()
    reroute: bool = True

    def monitor_options(self) -> dict:
        return dict(self.monitor)


@dataclass(frozen=True)
class CoreSettings:
    """What the owner of the model needs to know (controller.core)."""

    prefix_pool: str = "10.128.0.0/9"
    prefix_len: int = 24
    hold_down_s: float = 0.0           # a link that comes back is used only after this long up
    links_by_probes: bool = False      # with probes, a link comes back up only when they say so
    reroute_on_sla: bool = True        # move a slice whose bound is violated, if it helps
    max_slices_per_tenant: int = MAX_SLICES_PER_TENANT   # 0: no quota
    settle_s: float = SETTLE_S         # a link down this soon after its switch connected: INFO first


@dataclass(frozen=True)
class Settings:
    """Everything a running controller was told, defaults from proto/defaults.py."""

    audit_interval_s: float | None = DEFAULT_AUDIT_INTERVAL_S
    probes: ProbeSettings | None = field(default_factory=ProbeSettings)   # None: no link probes
    sla: SlaSettings | None = None                                        # None: no SLA probes
    dhcp_lease_s: int = DHCP_LEASE_S
    stats_interval_s: float = STATS_INTERVAL_S                            # 0: never
    max_slices_per_tenant: int = MAX_SLICES_PER_TENANT
    watch_limits: tuple[int, int] = (MAX_WATCHES, MAX_WATCHES_PER_CLIENT)
    hold_down_s: float = LINK_HOLD_DOWN_S
    # plaintext OpenFlow: a dpid stays bound to its first address this long after its switch
    # goes (controller.identity); None: nothing bound (OpenFlow over TLS, tests)
    switch_address_grace_s: float | None = None

    def core(self) -> CoreSettings:
        return CoreSettings(hold_down_s=self.hold_down_s, links_by_probes=self.probes is not None,
                            reroute_on_sla=self.sla.reroute if self.sla else True,
                            max_slices_per_tenant=self.max_slices_per_tenant)
