"""What this machine offers the emulation, found by looking rather than assuming."""
from __future__ import annotations

import os
import shutil
import subprocess
from functools import lru_cache

OVS_CTL = "/usr/share/openvswitch/scripts/ovs-ctl"
REQUIRED_TOOLS = ("ovs-vsctl", "ovs-ofctl", "tc", "ip", "ethtool", "ping", "iperf3", "mnexec", "unshare")


class EmulationError(RuntimeError):
    """The emulation cannot run here, or failed; the message says what to do."""


def require_root() -> None:
    if os.geteuid() != 0:
        raise EmulationError("the emulation needs root: run it with sudo (e.g. `sudo make demo`)")


def require_tools() -> None:
    missing = [t for t in REQUIRED_TOOLS if shutil.which(t) is None]
    if missing:
        raise EmulationError(f"missing commands: {', '.join(missing)}; run `sudo make setup`")
    try:
        import mininet  # noqa: F401
    except ImportError:
        raise EmulationError("Mininet is not importable: install Debian's `mininet` and run from "
                             "the project venv (`sudo make setup`)") from None


@lru_cache(maxsize=1)
def netem_available() -> bool:
    """True when the kernel can load sch_netem. Tried in a throwaway network namespace
    (unshare), so nothing is left behind whatever happens."""
    r = subprocess.run(["unshare", "--net", "tc", "qdisc", "add", "dev", "lo", "root",
                        "netem", "delay", "1ms"], capture_output=True, text=True)
    return r.returncode == 0


def ovs_kernel_datapath() -> bool:
    return os.path.isdir("/sys/module/openvswitch")


def ensure_ovs_running() -> None:
    """Start Open vSwitch (userspace-capable) if its database and switch daemon are down."""
    if subprocess.run(["ovs-vsctl", "--timeout=5", "show"], capture_output=True).returncode == 0:
        return
    if not os.path.exists(OVS_CTL):
        raise EmulationError("Open vSwitch is not running and ovs-ctl was not found; "
                             "run `sudo make setup`")
    r = subprocess.run([OVS_CTL, "start", "--system-id=random"], capture_output=True, text=True)
    if subprocess.run(["ovs-vsctl", "--timeout=5", "show"], capture_output=True).returncode != 0:
        raise EmulationError(f"could not start Open vSwitch: {r.stderr.strip() or r.stdout.strip()}")
