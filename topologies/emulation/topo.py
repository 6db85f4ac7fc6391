"""The WAN as a Mininet ``Topo``: plain graph data, turned into nodes by Mininet.

Switches are :class:`WanSwitch` carrying their static flows (installed only when they
have no controller); inter-site links are :class:`WanLink` with bandwidth and delay.
The same class serves :class:`topologies.emulation.wan.Wan` and ``mn --custom``.
"""
from __future__ import annotations

from mininet.topo import Topo

from topologies.emulation.links import WanHost, WanLink, WanSwitch
from topologies.emulation.plan import WanPlan, static_flows


class WanTopo(Topo):
    def build(self, plan: WanPlan, delay_mechanism: str = "relay", datapath: str | None = None,
              control_dir: str | None = None, controllers_of: dict[str, tuple[str, ...]] | None = None):
        """``controllers_of``: per switch, the names of the controllers it connects to (a
        federation: its own domain's); None: every switch to every controller."""
        flows = static_flows(plan)
        mtu = plan.topology.mtu
        for s in plan.switches:
            self.addSwitch(s.name, cls=WanSwitch, dpid=s.dpid_hex, datapath=datapath,
                           flows=flows[s.name], mtu=mtu,
                           only_controllers=None if controllers_of is None else controllers_of[s.name])
        for h in plan.hosts:
            self.addHost(h.name, cls=WanHost, ip=h.ip, mac=h.mac, mtu=mtu)
            self.addLink(h.name, h.switch, port1=0, port2=h.port)
        for l in plan.links:
            self.addLink(l.switch_a, l.switch_b, port1=l.port_a, port2=l.port_b, cls=WanLink,
                         bw=l.bandwidth_mbps, delay_ms=l.delay_ms, mtu=mtu,
                         mechanism=delay_mechanism if l.delay_ms > 0 else "none", control_dir=control_dir)
