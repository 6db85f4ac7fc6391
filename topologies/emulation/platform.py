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


# How we start ovs-vswitchd, and why. Measured here (userspace datapath, MTU 9000): with
# ovs-ctl's default --mlockall, and glibc trimming the heap after every receive batch, the
# daemon spends its time faulting pages in and out - ~50 % of a core for a few hundred
# pings a second, 4-6 ms instead of 0.4 ms across two switches - until some large free
# happens to raise glibc's dynamic trim threshold. Not locking memory and a fixed, high
# trim threshold remove the thrash from the first packet on.
OVS_START_ARGS = ("--system-id=random", "--no-mlockall")
OVS_START_ENV = {"GLIBC_TUNABLES": "glibc.malloc.trim_threshold=268435456"}


def _ovs_up() -> bool:
    return subprocess.run(["ovs-vsctl", "--timeout=5", "show"], capture_output=True).returncode == 0


def ovs_start_warning() -> str:
    """Why the running ovs-vswitchd may add latency, or "" when it was started our way."""
    pid = subprocess.run(["pidof", "-s", "ovs-vswitchd"], capture_output=True, text=True).stdout.strip()
    if not pid:
        return ""
    try:
        cmdline = open(f"/proc/{pid}/cmdline", "rb").read().split(b"\0")
        environ = open(f"/proc/{pid}/environ", "rb").read().split(b"\0")
    except OSError:
        return ""
    tuned = f"GLIBC_TUNABLES={OVS_START_ENV['GLIBC_TUNABLES']}".encode() in environ
    if b"--mlockall" in cmdline and not tuned:
        return ("ovs-vswitchd runs with --mlockall and glibc's default heap trimming: its "
                "userspace datapath may add several ms per switch; restart it our way with "
                "`sudo make ovs-restart` (stops every OVS bridge for a moment)")
    return ""


def start_ovs(restart: bool = False) -> str:
    """Start (or restart) Open vSwitch with :data:`OVS_START_ARGS`; return what was done."""
    if not os.path.exists(OVS_CTL):
        raise EmulationError("Open vSwitch is not running and ovs-ctl was not found; "
                             "run `sudo make setup`")
    require_root()
    r = subprocess.run([OVS_CTL, "restart" if restart else "start", *OVS_START_ARGS],
                       capture_output=True, text=True, env=os.environ | OVS_START_ENV)
    if not _ovs_up():
        raise EmulationError(f"could not start Open vSwitch: {r.stderr.strip() or r.stdout.strip()}")
    return f"{'restarted' if restart else 'started'} Open vSwitch ({' '.join(OVS_START_ARGS)})"


def ensure_ovs_running() -> str:
    """Start Open vSwitch if its database and switch daemon are down; return what was done
    ("" when it was already running)."""
    return "" if _ovs_up() else start_ovs()


def main(argv: list[str] | None = None) -> int:
    """`python -m topologies.emulation.platform [--restart]`: used by `make setup`."""
    import sys
    argv = sys.argv[1:] if argv is None else argv
    try:
        done = start_ovs(restart=True) if "--restart" in argv else ensure_ovs_running()
    except EmulationError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    if done:
        print(done)
    warning = ovs_start_warning()
    if warning:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
