"""A Mininet link that carries a WAN link's bandwidth *and* delay on any kernel.

With netem, one veth pair and ``htb -> netem`` on both ends. Without netem the link is
two veth pairs with a delay relay process between them::

    s1 [s1-eth3]====[r-s1-eth3] relay(delay) [r-s2-eth3]====[s2-eth3] s2

HTB shapes each direction where it leaves its switch; the relay adds the propagation
delay. Relay interfaces match Mininet's ``*-ethN`` pattern, so ``mn -c`` removes them.
Usable from ``mn --custom`` too (``cls=WanLink`` on ``Topo.addLink``, ``cls=WanSwitch``
on ``Topo.addSwitch``).

Open vSwitch resets the qdisc of every port that has no QoS row whenever it reconfigures,
silently removing shaping. :class:`WanSwitch` therefore gives its shaped ports the
``linux-noop`` QoS type ("do not touch this interface's queueing") before installing HTB,
and destroys those rows (tagged ``owner=intercloud-slicing``) when it stops.
"""
from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from mininet.link import Intf, Link
from mininet.node import Host, OVSSwitch
from mininet.util import errRun, makeIntfPair, quietRun

from topologies.emulation.plan import relay_name
from topologies.emulation.relay import REFERENCE_DELAY_MS

RELAY_SCRIPT = str(Path(__file__).resolve().with_name("relay.py"))
OFFLOADS = "tx off tso off gso off gro off"
HTB_BURST_FLOOR_BYTES = 15_000
HTB_BURST_SECONDS = 0.005  # tokens for 5 ms at the rate: late timers on a busy host lose none
QOS_OWNER = "external_ids:owner=intercloud-slicing"
TAG_HEADROOM = 64  # bytes above the host MTU on switch-side interfaces, for slice tags
TCP_BUFFERS = "4096 131072 33554432"  # room for 100 Mbit/s x 300 ms of data in flight
HOST_CONGESTION_CONTROL = "cubic"


def disable_offloads(node, intf: str) -> None:
    """Oversized GSO/TSO frames are dropped by the OVS userspace datapath and by the
    relay's raw sockets; segment in the kernel stack instead."""
    node.cmd(f"ethtool -K {intf} {OFFLOADS} >/dev/null 2>&1")


def _netem_parent(bw_mbps: float | None) -> str:
    return "parent 5:1" if bw_mbps else "root"


def netem_change_command(intf: str, bw_mbps: float | None, delay_ms: float, loss_pct: float = 0.0) -> str:
    """The tc command that changes a running link end's netem (delay, and loss for faults)."""
    loss = f" loss {loss_pct:g}%" if loss_pct else ""
    return f"tc qdisc change dev {intf} {_netem_parent(bw_mbps)} handle 10: netem delay {delay_ms:g}ms{loss} limit 10000"


def tc_commands(intf: str, bw_mbps: float | None, delay_ms: float, netem: bool) -> list[str]:
    """tc commands for one link end: HTB at ``bw_mbps`` (if any), netem below it (if used)."""
    cmds = []
    if bw_mbps:
        # HTB caps saved tokens at the burst: if its timer fires later than burst/rate,
        # the capacity of that gap is lost for good and the link runs below its rate
        burst = max(HTB_BURST_FLOOR_BYTES, int(bw_mbps * 1e6 / 8 * HTB_BURST_SECONDS))
        cmds += [f"tc qdisc add dev {intf} root handle 5: htb default 1",
                 f"tc class add dev {intf} parent 5: classid 5:1 htb rate {bw_mbps:g}mbit "
                 f"burst {burst}b cburst {burst}b"]
    if netem and delay_ms > 0:
        cmds.append(f"tc qdisc add dev {intf} {_netem_parent(bw_mbps)} handle 10: "
                    f"netem delay {delay_ms:g}ms limit 10000")
    return cmds


def _veth_to_root(node, name: str, mac: str | None, peer: str) -> None:
    """veth ``name`` in ``node``'s namespace, its ``peer`` in the root namespace."""
    address = f"address {mac} " if mac else ""
    out = node.cmd(f"ip link add name {name} {address}type veth peer name {peer} netns 1")
    if out.strip():
        raise RuntimeError(f"cannot create veth {name}<->{peer}: {out.strip()}")


class WanLink(Link):
    """Inter-site link with bandwidth (``bw``, Mbit/s) and one-way ``delay_ms``.

    ``mechanism`` is ``netem``, ``relay`` or ``none`` (no delay configured).
    """

    def __init__(self, node1, node2, bw: float | None = None, delay_ms: float = 0.0,
                 mechanism: str = "relay", mtu: int = 1500, control_dir: str | None = None, **params):
        if mechanism not in ("netem", "relay", "none"):
            raise ValueError(f"unknown delay mechanism {mechanism!r}")
        if mechanism == "none" and delay_ms > 0:
            raise ValueError(f"a {delay_ms} ms link needs a delay mechanism; refusing to drop it")
        self.bw, self.delay_ms, self.mechanism = bw, delay_ms, mechanism
        self.mtu = mtu + TAG_HEADROOM
        self.relay_ends: tuple[str, str] | None = None
        self.relay_proc: subprocess.Popen | None = None
        self.control_dir = control_dir
        self.relay_control: str | None = None   # the relay's fault control file (see relay.py)
        params.pop("intf", None)
        super().__init__(node1, node2, intf=Intf, **params)
        try:
            self._configure()
        except Exception:
            self.delete()
            raise

    # Mininet calls this from Link.__init__ to create the veth pair(s).
    def makeIntfPair(self, intfname1, intfname2, addr1=None, addr2=None,  # noqa: N802
                     node1=None, node2=None, deleteIntfs=True):  # noqa: N803
        if self.mechanism != "relay":
            return makeIntfPair(intfname1, intfname2, addr1, addr2, node1, node2,
                                deleteIntfs=deleteIntfs)
        end_a, end_b = relay_name(intfname1), relay_name(intfname2)
        _veth_to_root(node1, intfname1, addr1, end_a)
        _veth_to_root(node2, intfname2, addr2, end_b)
        self.relay_ends = (end_a, end_b)
        return None

    def shape(self, intf) -> None:
        """Install HTB (and netem) on one end; called once its switch owns the port."""
        intf.node.cmd(f"tc qdisc del dev {intf.name} root >/dev/null 2>&1")
        for cmd in tc_commands(intf.name, self.bw, self.delay_ms, self.mechanism == "netem"):
            out = intf.node.cmd(cmd + " 2>&1")
            if out.strip() and "quantum" not in out:  # HTB's quantum hint is harmless
                raise RuntimeError(f"{cmd}: {out.strip()}")

    def _configure(self) -> None:
        for intf in (self.intf1, self.intf2):
            disable_offloads(intf.node, intf.name)
            intf.node.cmd(f"ip link set dev {intf.name} mtu {self.mtu}")
        if self.relay_ends:
            for end in self.relay_ends:
                quietRun(f"sysctl -qw net.ipv6.conf.{end}.disable_ipv6=1")
                quietRun(f"ethtool -K {end} {OFFLOADS}")
                quietRun(f"ip link set {end} mtu {self.mtu} up promisc on")
            control = []
            if self.control_dir:
                self.relay_control = str(Path(self.control_dir) / f"{self.relay_ends[0]}.ctl")
                control = [self.relay_control]
            self.relay_proc = subprocess.Popen(
                [sys.executable, RELAY_SCRIPT, *self.relay_ends, repr(self.delay_ms), *control],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, start_new_session=True)

    def use_reference_delay(self, on: bool) -> None:
        """Switch the link to the reference delay (:data:`relay.REFERENCE_DELAY_MS`) or
        back to its own, at run time. The fidelity check's baseline: the same probes,
        ports, switches and delay mechanism, with a known delay. In-flight frames keep
        their release time."""
        if self.mechanism == "relay" and self.relay_proc and self.relay_proc.poll() is None:
            self.relay_proc.send_signal(signal.SIGUSR1 if on else signal.SIGUSR2)
        elif self.mechanism == "netem":
            delay = REFERENCE_DELAY_MS if on else self.delay_ms
            for intf in (self.intf1, self.intf2):
                intf.node.cmd(netem_change_command(intf.name, self.bw, delay))

    def stop_relay(self) -> None:
        proc, self.relay_proc = self.relay_proc, None
        if proc and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=3)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def delete(self) -> None:
        self.stop_relay()
        for intf in (getattr(self, "intf1", None), getattr(self, "intf2", None)):
            if intf is not None:
                try:
                    intf.delete()
                except Exception:  # the node may already be gone; its interface with it
                    quietRun(f"ip link del {intf.name}")
        self.intf1 = self.intf2 = None
        for end in self.relay_ends or ():
            quietRun(f"ip link del {end} 2>/dev/null")


def default_datapath() -> str:
    return "kernel" if Path("/sys/module/openvswitch").is_dir() else "user"


class WanSwitch(OVSSwitch):
    """OVS switch for the WAN: OpenFlow 1.3, fail-secure, userspace datapath when the
    kernel has no openvswitch module, and WanLink shaping that survives OVS."""

    def __init__(self, name, datapath=None, flows=(), mtu: int = 1500,
                 only_controllers: tuple[str, ...] | None = None, **params):
        """``only_controllers``: names of the controllers this switch connects to, of all
        those Mininet hands every switch (a federation: its domain's); None: all."""
        self.only_controllers = only_controllers
        params.setdefault("protocols", "OpenFlow13")
        params.setdefault("failMode", "secure")
        params.setdefault("reconnectms", 1000)
        self.static_flows = list(flows)
        self.port_mtu = mtu + TAG_HEADROOM
        self.has_controller = False
        super().__init__(name, datapath=datapath or default_datapath(), **params)

    def wan_ports(self) -> list:
        return [i for i in self.intfList() if isinstance(i.link, WanLink)]

    def shape_ports(self) -> None:
        ports = self.wan_ports()
        if not ports:
            return
        cmd = (f"ovs-vsctl -- --id=@q create qos type=linux-noop {QOS_OWNER}"
               + "".join(f" -- set port {i.name} qos=@q" for i in ports))
        out, err, code = errRun(cmd)
        if code:
            raise RuntimeError(f"{cmd}: {err.strip()}")
        for intf in ports:
            intf.link.shape(intf)

    def install_static_flows(self) -> None:
        """Forward on our own (least-delay routes) when no controller is in charge."""
        if self.has_controller or not self.static_flows:
            return
        cmd = ["ovs-ofctl", "-O", "OpenFlow13", "add-flows", self.name, "-"]
        r = subprocess.run(cmd, input="\n".join(self.static_flows) + "\n",
                           capture_output=True, text=True)
        if r.returncode:
            raise RuntimeError(f"{' '.join(cmd)}: {r.stderr.strip()}")

    def connected(self) -> bool:
        """Without a controller the static flows are in charge: nothing to wait for."""
        return super().connected() if self.has_controller else True

    def _after_start(self) -> None:
        for intf in self.intfList():
            if intf.name != "lo":
                disable_offloads(self, intf.name)
                self.cmd(f"ip link set dev {intf.name} mtu {self.port_mtu}")
        self.shape_ports()
        self.install_static_flows()

    @classmethod
    def batchStartup(cls, switches, run=errRun):  # noqa: N802 (Mininet's name)
        started = super().batchStartup(switches, run)
        for switch in switches:
            switch._after_start()
        return started

    def start(self, controllers):
        if self.only_controllers is not None:
            controllers = [c for c in controllers if c.name in self.only_controllers]
        self.has_controller = bool(controllers)
        super().start(controllers)
        if not self.batch:
            self._after_start()

    @classmethod
    def batchShutdown(cls, switches, run=errRun):  # noqa: N802
        stopped = super().batchShutdown(switches, run)
        destroy_owned_qos()
        return stopped

    def stop(self, deleteIntfs=True):  # noqa: N803
        super().stop(deleteIntfs)
        destroy_owned_qos()


def orphaned_qos() -> list[str]:
    """This project's QoS rows that no port uses any more (root rows left by a WAN that
    died): those of a WAN that is up are in use by its ports and not listed."""
    uuids = quietRun(f"ovs-vsctl --bare --columns=_uuid find qos {QOS_OWNER}").split()
    in_use = set(quietRun("ovs-vsctl --bare --columns=qos list port").split())
    return [u for u in uuids if u not in in_use]


def destroy_owned_qos() -> None:
    """Destroy :func:`orphaned_qos`."""
    for uuid in orphaned_qos():
        quietRun(f"ovs-vsctl --if-exists destroy qos {uuid}")


class WanHost(Host):
    """A host tuned for a WAN: MTU from the topology, no TX offloads (the userspace
    datapath drops oversized GSO frames), buffers for long fat links, no IPv6 chatter,
    and CUBIC whatever this machine's default is (BBR probes above a shaped rate and
    turns the emulator's scheduling jitter into losses)."""

    def config(self, mtu: int = 1500, **params):
        result = super().config(**params)
        intf = self.defaultIntf()
        self.cmd("sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1")
        self.cmd(f"sysctl -qw net.ipv4.tcp_rmem='{TCP_BUFFERS}' net.ipv4.tcp_wmem='{TCP_BUFFERS}'")
        self.cmd(f"sysctl -qw net.ipv4.tcp_congestion_control={HOST_CONGESTION_CONTROL}")
        if intf is not None:
            disable_offloads(self, intf.name)
            self.cmd(f"ip link set dev {intf.name} mtu {mtu}")
        return result
