"""Fault injection into a running emulated WAN: the one documented way for tests, labs
and demos to break the network (``slicectl wan fault``), from any process, through the
WAN's inventory file.

Link modes:

* ``cut``: both switch ports of the link administratively down, as a cut fibre: the
  switches report it (OpenFlow port status).
* ``silent``: the ports stay up and every frame vanishes, as when a transport network or
  an amplifier fails; only probing notices.
* ``loss=P%``: P percent of the frames vanish, each direction.
* ``delay=MS``: frames take MS milliseconds each way instead of the configured delay (a
  longer route after a reroute in the transport network, a congested carrier): nothing is
  lost, the link is just slower than the controller was told.
* ``restore``: the link as configured again.

Site modes: ``lost`` - every link of the site silent and its switch cut off from the
controller, as a destroyed data centre (fail-secure switches elsewhere keep their rules);
``restore`` undoes it. ``swap=N1,N2`` miswires the site: the cables to neighbours N1 and
N2 change places on its switch (their OpenFlow port numbers are exchanged), as a
technician's mistake would; the same mode again puts them back.

Silence, loss and delay act on the link's delay line: the userspace relay (its control file,
re-read on SIGHUP) or netem's ``loss`` and ``delay``. A link with no delay line (0 ms) can be cut but not
silenced.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from topologies.emulation.platform import EmulationError

MAX_FAULT_DELAY_MS = 10_000.0
LINK_MODES = ("cut", "silent", "loss=P%", "delay=MS", "restore")
SITE_MODES = ("lost", "restore", "swap=N1,N2")


def parse_link_mode(mode: str) -> tuple[str, float]:
    """``(kind, value)`` of a link mode: the loss fraction (cut, silent, loss, restore) or
    the delay in ms (delay); EmulationError naming the modes if unknown."""
    if mode in ("cut", "silent", "restore"):
        return mode, 1.0 if mode == "silent" else 0.0
    m = re.fullmatch(r"loss=(\d+(?:\.\d+)?)%?", mode)
    if m and 0 <= float(m.group(1)) <= 100:
        return "loss", float(m.group(1)) / 100
    m = re.fullmatch(r"delay=(\d+(?:\.\d+)?)(?:ms)?", mode)
    if m and float(m.group(1)) <= MAX_FAULT_DELAY_MS:
        return "delay", float(m.group(1))
    raise EmulationError(f"unknown link fault mode {mode!r} (one of: {', '.join(LINK_MODES)}; "
                         f"P from 0 to 100, MS from 0 to {MAX_FAULT_DELAY_MS:g})")


def site_name(inventory: dict, text: str) -> str:
    """The site ``text`` names: a site, or ``DOMAIN/SITE`` in a federated WAN's inventory
    (site names are unique across its domains; the domain is checked, then dropped)."""
    if "/" not in text:
        return text
    domain, _, site = text.partition("/")
    switch = next((s for s in inventory["switches"] if s["site"] == site), None)
    if "domains" not in inventory:
        raise EmulationError(f"no site {text} in {inventory['topology']}: it is not a federation, "
                             "name the site alone")
    if switch is None or switch.get("domain") != domain:
        where = f"it is in domain {switch.get('domain')}" if switch else f"domains: {', '.join(inventory['domains'])}"
        raise EmulationError(f"no site {text} in {inventory['topology']} ({where})")
    return site


def find_link(inventory: dict, a: str, b: str) -> dict:
    """The inventory's a—b link, in either order; a border too, by its two sites."""
    a, b = site_name(inventory, a), site_name(inventory, b)
    for link in inventory["links"]:
        if {link["a"], link["b"]} == {a, b}:
            return link
    names = ", ".join(f"{l['a']}—{l['b']}" for l in inventory["links"][:6])
    raise EmulationError(f"no link {a}—{b} in {inventory['topology']} (links: {names}, ...)")


def link_fault(inventory: dict, a: str, b: str, mode: str) -> str:
    """Apply ``mode`` to the a—b link of the WAN ``inventory`` describes; say what was done."""
    kind, value = parse_link_mode(mode)
    link = find_link(inventory, a, b)
    name = f"{link['a']}—{link['b']}"
    if kind == "cut":
        _ports(link, up=False)
        return f"link {name}: cut (both ports down)"
    if kind == "restore":
        _ports(link, up=True)
        if link.get("mechanism") in ("relay", "netem"):
            _delay_line(link, loss=0.0, delay_ms=None)
        return f"link {name}: restored"
    if kind == "delay":
        _delay_line(link, delay_ms=value)
        return f"link {name}: {value:g} ms each way (configured: {link['delay_ms']:g} ms)"
    _delay_line(link, loss=value)
    return (f"link {name}: silent (ports up, every frame dropped)" if kind == "silent"
            else f"link {name}: {value:.0%} of frames dropped")


def site_fault(inventory: dict, site: str, mode: str) -> str:
    """``lost``: every link of ``site`` silent and its switch cut off from the controller;
    ``restore``: the links and the controller connection back."""
    site = site_name(inventory, site)
    swap = re.fullmatch(r"swap=([^,]+),([^,]+)", mode)
    if mode not in ("lost", "restore") and not swap:
        raise EmulationError(f"unknown site fault mode {mode!r} (one of: {', '.join(SITE_MODES)})")
    switch = next((s for s in inventory["switches"] if s["site"] == site), None)
    if switch is None:
        raise EmulationError(f"no site {site} in {inventory['topology']}")
    if swap:
        return _swap(inventory, site, swap.group(1), swap.group(2))
    links = [l for l in inventory["links"] if site in (l["a"], l["b"])]
    for link in links:
        if mode == "lost" and link.get("mechanism") not in ("relay", "netem"):
            _ports(link, up=False)  # no delay line to silence: the closest is a cut
        elif mode == "lost":
            _delay_line(link, loss=1.0)
        else:
            link_fault(inventory, link["a"], link["b"], "restore")
    controllers = inventory.get("controllers") or ([inventory["controller"]] if inventory.get("controller") else [])
    controllers = switch.get("controllers", controllers)   # a federation: the switch's own domain's
    if controllers and mode == "lost":
        _vsctl("del-controller", switch["name"])
    elif controllers:
        _vsctl("set-controller", switch["name"], *(f"tcp:{c}" for c in controllers))
    return (f"site {site}: lost ({len(links)} links silent, switch {switch['name']} cut off "
            "from the controller)" if mode == "lost" else f"site {site}: restored")


def _swap(inventory: dict, site: str, n1: str, n2: str) -> str:
    """Exchange the OpenFlow port numbers of ``site``'s interfaces toward n1 and n2."""
    if n1 == n2:
        raise EmulationError(f"swap needs two different neighbours of {site}, got {n1} twice")
    intfs = []
    for n in (n1, n2):
        link = find_link(inventory, site, n)
        intfs.append(link["interfaces"][0 if link["a"] == site else 1])
    ports = [_vsctl("get", "Interface", i, "ofport").strip() for i in intfs]
    spare = str(max(int(p) for p in ports) + 1000)   # a number neither holds meanwhile
    _vsctl("set", "Interface", intfs[0], f"ofport_request={spare}")
    _vsctl("set", "Interface", intfs[1], f"ofport_request={ports[0]}")
    _vsctl("set", "Interface", intfs[0], f"ofport_request={ports[1]}")
    return (f"site {site}: the cables to {n1} and {n2} swapped (ports {ports[0]} and {ports[1]}); "
            "the same mode again puts them back")


def _ports(link: dict, up: bool) -> None:
    for sw, intf in zip((link["switch_a"], link["switch_b"]), link["interfaces"]):
        r = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "mod-port", sw, intf, "up" if up else "down"],
                           capture_output=True, text=True)
        if r.returncode:
            raise EmulationError(f"cannot set {intf} {'up' if up else 'down'}: {r.stderr.strip()}")


_KEEP = object()   # "leave this setting of the delay line as it is"


def _delay_line(link: dict, loss=_KEEP, delay_ms=_KEEP) -> None:
    """Set the loss fraction and/or the delay (ms; None: as configured) of the link's
    delay line, keeping whichever is not given."""
    name = f"{link['a']}—{link['b']}"
    if link.get("mechanism") == "relay":
        control, pid = link.get("relay_control"), link.get("relay_pid")
        if not control or not pid:
            raise EmulationError(f"link {name}: its relay takes no faults (a WAN started without "
                                 "fault control, e.g. by `mn --custom`)")
        from topologies.emulation.relay import read_control

        now_loss, now_delay = read_control(control)
        loss = now_loss if loss is _KEEP else loss
        delay_ms = now_delay if delay_ms is _KEEP else delay_ms
        tmp = Path(f"{control}.tmp")
        tmp.write_text(f"loss {loss}\n" + (f"delay {delay_ms}\n" if delay_ms is not None else ""),
                       encoding="ascii")
        os.replace(tmp, control)
        try:
            os.kill(pid, signal.SIGHUP)
        except ProcessLookupError:
            raise EmulationError(f"link {name}: its relay (pid {pid}) is gone; is the WAN still up?") from None
    elif link.get("mechanism") == "netem":
        from topologies.emulation.links import netem_change_command

        for intf in link["interfaces"]:
            now_loss, now_delay = _netem_now(intf)
            cmd = netem_change_command(intf, link["bandwidth_mbps"],
                                       link["delay_ms"] if delay_ms is None else
                                       (now_delay if delay_ms is _KEEP else delay_ms),
                                       100 * (now_loss if loss is _KEEP else loss))
            r = subprocess.run(cmd.split(), capture_output=True, text=True)
            if r.returncode:
                raise EmulationError(f"link {name}: {cmd}: {r.stderr.strip()}")
    else:
        raise EmulationError(f"link {name} has no delay line ({link['delay_ms']:g} ms): it can be cut "
                             "(--mode cut), not silenced, made lossy or slower")


def _netem_now(intf: str) -> tuple[float, float]:
    """(loss fraction, delay ms) of the netem on ``intf`` now."""
    out = subprocess.run(["tc", "qdisc", "show", "dev", intf], capture_output=True, text=True).stdout
    line = next((l for l in out.splitlines() if "netem" in l), "")
    delay = re.search(r"delay ([\d.]+)(us|ms|s)\b", line)
    loss = re.search(r"loss ([\d.]+)%", line)
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0}
    return (float(loss.group(1)) / 100 if loss else 0.0,
            float(delay.group(1)) * scale[delay.group(2)] if delay else 0.0)


def _vsctl(*args: str) -> str:
    r = subprocess.run(["ovs-vsctl", "--timeout=10", *args], capture_output=True, text=True)
    if r.returncode:
        raise EmulationError(f"ovs-vsctl {' '.join(args)}: {r.stderr.strip()}")
    return r.stdout
