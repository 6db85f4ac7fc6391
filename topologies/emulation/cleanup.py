"""Finding and removing what an emulated WAN left on the machine (bridges, interfaces, relay
processes, host shells, QoS rows, fault control directories), scoped to one plan's names so
another WAN running beside it is never touched. Its own run tears a WAN down
(:meth:`topologies.emulation.wan.Wan.stop`, which ends with :func:`sweep`); ``slicectl wan
clean`` uses these for a run that was killed."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

from topologies.emulation.plan import WanPlan, relay_name

OWNER_KEY, WAN_KEY = "intercloud-wan-run", "intercloud-wan"   # external_ids on our bridges
RUNNING: set[str] = set()   # run ids of the WANs this process has up


def interface_names() -> list[str]:
    """Names of the interfaces in this network namespace."""
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True).stdout
    return [line.split(": ")[1].split("@")[0] for line in out.splitlines() if ": " in line]


def _our_interfaces(plan: WanPlan) -> list[str]:
    return plan.interfaces()


def running_owner(plan: WanPlan) -> str:
    """Who runs a WAN on this plan's switch names right now ("WAN of TOPOLOGY, process
    PID"), or "" if nobody does (absent, or left behind by a run that died)."""
    for sw in plan.switches:
        out = subprocess.run(["ovs-vsctl", "--timeout=5", "--if-exists", "get", "Bridge", sw.name,
                              "external_ids"], capture_output=True, text=True).stdout
        ids = dict(re.findall(r'([\w-]+)="?([^",}]*)"?', out))
        owner = ids.get(OWNER_KEY, "")
        if not owner:
            continue
        pid = int(owner.split(":")[0])
        alive = owner in RUNNING if pid == os.getpid() else _process_alive(pid)
        if alive:
            return f"WAN of {ids.get(WAN_KEY, '?')}, process {pid}"
    return ""


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _pgrep(pattern: str) -> list[str]:
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


def leftovers(plan: WanPlan) -> list[str]:
    """What of this plan's WAN still exists: bridges, interfaces, processes, QoS rows."""
    from topologies.emulation.links import orphaned_qos

    found = []
    bridges = set(subprocess.run(["ovs-vsctl", "--timeout=10", "list-br"], capture_output=True,
                                 text=True).stdout.split())
    found += [f"bridge {b}" for b in sorted(bridges & set([s.name for s in plan.switches]))]
    present = set(interface_names())
    found += [f"interface {n}" for n in _our_interfaces(plan) if n in present]
    for pattern in _relay_patterns(plan):
        found += [f"relay process: {p}" for p in _pgrep(pattern)]
    for h in plan.hosts:
        found += [f"host shell: {p}" for p in _pgrep(f"mininet:{h.name}$")]
    found += [f"QoS row {q}" for q in orphaned_qos()]
    found += [f"fault control directory {d}" for d in _control_dirs(plan)]
    return found


def sweep(plan: WanPlan) -> None:
    """Remove any bridge, interface, QoS row or process this plan would create."""
    from topologies.emulation.links import destroy_owned_qos

    args = []
    for name in [s.name for s in plan.switches]:
        args += ["--", "--if-exists", "del-br", name]
    if args:
        subprocess.run(["ovs-vsctl", "--timeout=10", *args], capture_output=True)
    present = set(interface_names())
    for name in _our_interfaces(plan):
        if name in present:
            subprocess.run(["ip", "link", "del", name], capture_output=True)
    destroy_owned_qos()
    for d in _control_dirs(plan):
        shutil.rmtree(d, ignore_errors=True)
    # only this plan's processes: the relays of its links, the shells of its hosts (another
    # WAN on this machine has other names; see running_owner)
    for pattern in _relay_patterns(plan):
        subprocess.run(["pkill", "-f", pattern], capture_output=True)
    # Mininet host shells are `mnexec ... bash --norc ... -is mininet:<name>`
    for h in plan.hosts:
        subprocess.run(["pkill", "-f", f"mininet:{h.name}$"], capture_output=True)


def control_dir_prefix(plan: WanPlan) -> str:
    """Name of a WAN's fault control directory (the relays' control files), before the
    random part: one per prefix, and only one WAN runs on a prefix at a time."""
    return f"intercloud-wan-{plan.prefix or 'plain'}-"


def _control_dirs(plan: WanPlan) -> list[Path]:
    return sorted(Path(tempfile.gettempdir()).glob(control_dir_prefix(plan) + "*"))


def _relay_patterns(plan: WanPlan) -> list[str]:
    """pkill/pgrep patterns for the relays of this plan's links (argv: relay.py END_A END_B ...)."""
    from topologies.emulation.links import RELAY_SCRIPT

    out = []
    for l in plan.links:
        a, b = map(relay_name, l.ends)
        out.append(f"{re.escape(RELAY_SCRIPT)} ({a} {b}|{b} {a}) ")
    return out
