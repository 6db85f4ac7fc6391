"""The emulated WAN on Mininet: fidelity on two-clouds, and teardown in every way a run can end."""
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import REPO
from topologies import load
from topologies.emulation import platform
from topologies.emulation.fidelity import run_check
from topologies.emulation.links import WanSwitch
from topologies.emulation.plan import make_plan
from topologies.emulation.wan import Wan, leftovers, sweep

pytestmark = pytest.mark.mininet
SLICECTL = [sys.executable, "-m", "slicectl"]


@pytest.fixture
def two_clouds():
    topo = load("two-clouds")
    plan = make_plan(topo, probes=True)
    sweep(plan)
    yield topo
    left = leftovers(plan)
    sweep(plan)
    assert not left, f"left behind: {left}"


def ping_rtt(node_cmd, ip: str, count: int = 5) -> float | None:
    m = re.search(r"= ([\d.]+)/", node_cmd(f"ping -c {count} -i 0.1 -W 2 -q {ip}"))
    return float(m.group(1)) if m else None


def test_fidelity_two_clouds_within_target(two_clouds):
    report = run_check(lambda: Wan(two_clouds, probes=True), progress=lambda _m: None)
    expected = "netem" if platform.netem_available() else "relay"
    assert report["delay_mechanism"] == expected
    assert len(report["links"]) == 3
    for link in report["links"]:
        assert link["delay_ok"], link
        assert link["bandwidth_ok"] is True, link        # all two-clouds links <= 100 Mbit/s
        assert link["mechanism"] == expected
    slow = next(l for l in report["links"] if l["bandwidth_mbps"] == 20)
    assert 19.0 <= slow["measured_rtt_ms"] <= 21.0
    assert 18.0 <= slow["measured_mbps"] <= 21.0
    assert report["ok"]
    assert not leftovers(make_plan(two_clouds, probes=True))


def test_teardown_after_a_failed_start(two_clouds, monkeypatch):
    def broken(self):
        raise RuntimeError("injected failure while installing flows")
    monkeypatch.setattr(WanSwitch, "install_static_flows", broken)
    with pytest.raises(RuntimeError, match="injected failure"):
        with Wan(two_clouds, probes=True):
            pass
    assert not leftovers(make_plan(two_clouds, probes=True))


def test_teardown_after_an_error_inside(two_clouds):
    with pytest.raises(ZeroDivisionError):
        with Wan(two_clouds) as wan:
            assert ping_rtt(wan.host("h1_1").cmd, "10.0.4.1") is not None
            1 / 0
    assert not leftovers(make_plan(two_clouds, probes=True))


def test_controller_mode_is_fail_secure(two_clouds):
    """With a controller configured but absent, nothing is forwarded (no standalone bridging)."""
    with Wan(two_clouds, controller=("127.0.0.1", 1)) as wan:
        mode = subprocess.run(["ovs-vsctl", "get-fail-mode", "s1"], capture_output=True, text=True)
        assert mode.stdout.strip() == "secure"
        assert ping_rtt(wan.host("h1_1").cmd, "10.0.1.2", count=2) is None
        assert wan.inventory()["controller"] == "127.0.0.1:1"


def start_wan_up(tmp_path: Path) -> tuple[subprocess.Popen, dict]:
    inventory = tmp_path / "inventory.json"
    proc = subprocess.Popen([*SLICECTL, "wan", "up", "two-clouds", "--inventory", str(inventory)],
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + 90
    while not inventory.exists():
        assert proc.poll() is None, proc.stdout.read()
        assert time.monotonic() < deadline, "wan up did not come up"
        time.sleep(0.2)
    return proc, json.loads(inventory.read_text())


def in_host(pid: int, cmd: str) -> str:
    return subprocess.run(["mnexec", "-a", str(pid), *cmd.split()], capture_output=True,
                          text=True).stdout


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_wan_up_inventory_and_clean_interrupt(two_clouds, tmp_path, sig):
    proc, inv = start_wan_up(tmp_path)
    try:
        assert inv["topology"] == "two-clouds"
        assert {s["site"] for s in inv["switches"]} == {s.name for s in two_clouds.sites}
        hosts = {h["name"]: h for h in inv["hosts"]}
        assert set(hosts) == {"h1_1", "h1_2", "h4_1", "h4_2"}
        h = hosts["h1_1"]
        assert (h["site"], h["ip"], h["switch"], h["port"]) == ("tokyo-dc", "10.0.1.1", "s1", 1)
        assert all(set(x) >= {"name", "site", "ip", "mac", "switch", "port", "pid"} for x in hosts.values())
        # the pid is the host's shell: its network namespace reaches Osaka over the 10 ms link
        rtt = ping_rtt(lambda c: in_host(h["pid"], c), hosts["h4_1"]["ip"])
        assert rtt is not None and rtt >= 20.0
    finally:
        proc.send_signal(sig)
        out, _ = proc.communicate(timeout=60)
    assert proc.returncode in (0, 130), out
    assert "tearing down" in out


def test_kill_9_leaves_no_relay_and_wan_clean_removes_the_rest(two_clouds, tmp_path):
    proc, _inv = start_wan_up(tmp_path)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    deadline = time.monotonic() + 10
    plan = make_plan(two_clouds, probes=True)
    while any(item.startswith("relay") for item in leftovers(plan)):
        assert time.monotonic() < deadline, "relays outlived their emulation"
        time.sleep(0.2)
    assert leftovers(plan), "kill -9 should leave Mininet state for wan clean to remove"
    r = subprocess.run([*SLICECTL, "wan", "clean", "two-clouds"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert not leftovers(plan)


def test_mininet_custom_topology_with_mn(two_clouds):
    r = subprocess.run(["mn", "--custom", str(REPO / "topologies" / "mininet_topos.py"),
                        "--topo", "two-clouds", "--controller", "none", "--test", "pingall"],
                       capture_output=True, text=True, timeout=180)
    assert "Results: 0% dropped" in r.stdout + r.stderr, r.stdout + r.stderr


def test_two_wans_run_side_by_side_and_each_cleans_only_its_own(two_clouds, tmp_path):
    """Another WAN on the same names is running (a `slicectl wan up` of its own): this one
    takes prefixed names, neither disturbs the other, and cleaning never touches a WAN
    that is up."""
    proc, inv = start_wan_up(tmp_path)
    other = {h["name"]: h for h in inv["hosts"]}
    reach_other = lambda: ping_rtt(lambda c: in_host(other["h1_1"]["pid"], c), other["h4_1"]["ip"], count=2)
    mine = make_plan(two_clouds, prefix="b")
    try:
        assert reach_other() is not None
        with pytest.raises(platform.EmulationError, match=r"belongs to a running WAN \(WAN of two-clouds"):
            Wan(two_clouds, prefix="").start()
        with Wan(two_clouds) as wan:
            assert wan.plan.prefix == "b" and wan.inventory()["hosts"][0]["name"] == "bh1_1"
            assert ping_rtt(wan.host("bh1_1").cmd, "10.0.4.1", count=2) is not None
            assert reach_other() is not None            # its start swept nothing of the other's
            r = subprocess.run([*SLICECTL, "wan", "clean", "two-clouds"], capture_output=True, text=True)
            assert "left alone" in r.stderr and reach_other() is not None
        assert not leftovers(mine)                      # stopping it removed all of its own ...
        assert reach_other() is not None                # ... and nothing of the other's
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        sweep(mine)


def loss_of(node_cmd, ip: str, count: int = 40) -> float:
    """Share of pings lost, 50 ms apart."""
    out = node_cmd(f"ping -c {count} -i 0.05 -W 1 -q {ip}")
    m = re.search(r"([\d.]+)% packet loss", out)
    assert m, out
    return float(m.group(1)) / 100


def port_down(switch: str, port: int) -> bool:
    out = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "show", switch], capture_output=True, text=True).stdout
    block = out.split(f" {port}({switch}-eth{port})")[1].split("\n ")[0:4]
    return "PORT_DOWN" in " ".join(block)


def test_link_faults_silent_loss_cut_and_restore(two_clouds):
    """The ways a link breaks, each really felt by the hosts, each undone by restore."""
    with Wan(two_clouds) as wan:
        link = next(l for l in wan.plan.links if "osaka" in l.a + l.b and wan.link_mechanisms[(l.a, l.b)] == "relay")
        far = "10.0.4.1"
        ping = wan.host("h1_1").cmd
        assert loss_of(ping, far, 10) == 0
        assert "silent" in wan.fault_link(link.a, link.b, "silent")
        assert loss_of(ping, far, 10) == 1.0
        assert not port_down(link.switch_a, link.port_a)          # silent: the ports stay up
        wan.fault_link(link.b, link.a, "restore")                 # either order names the link
        assert loss_of(ping, far, 10) == 0
        wan.fault_link(link.a, link.b, "loss=30%")                # per direction: ~51 % round trip
        assert 0.2 <= loss_of(ping, far, 60) <= 0.8
        wan.fault_link(link.a, link.b, "restore")
        wan.fault_link(link.a, link.b, "cut")
        assert port_down(link.switch_a, link.port_a) and port_down(link.switch_b, link.port_b)
        assert loss_of(ping, far, 10) == 1.0
        wan.fault_link(link.a, link.b, "restore")
        assert not port_down(link.switch_a, link.port_a) and loss_of(ping, far, 10) == 0
        with pytest.raises(platform.EmulationError, match="unknown link fault mode 'lossy'"):
            wan.fault_link(link.a, link.b, "lossy")
        with pytest.raises(platform.EmulationError, match="no link tokyo-dc—mars-dc"):
            wan.fault_link("tokyo-dc", "mars-dc", "cut")


def test_wan_fault_command_breaks_and_restores_a_running_wan(two_clouds, tmp_path):
    proc, inv = start_wan_up(tmp_path)
    hosts = {h["name"]: h for h in inv["hosts"]}
    link = next(l for l in inv["links"] if l["mechanism"] == "relay" and "osaka" in l["a"] + l["b"])
    ping = lambda: ping_rtt(lambda c: in_host(hosts["h1_1"]["pid"], c), hosts["h4_1"]["ip"], count=3)  # noqa: E731
    fault = [*SLICECTL, "wan", "fault", "--inventory", str(tmp_path / "inventory.json")]
    try:
        assert ping() is not None
        r = subprocess.run([*fault, "link", link["a"], link["b"], "--mode", "silent"], capture_output=True, text=True)
        assert r.returncode == 0 and "silent" in r.stderr, r.stderr
        assert ping() is None
        r = subprocess.run([*fault, "link", link["a"], link["b"], "--mode", "restore"], capture_output=True, text=True)
        assert r.returncode == 0 and ping() is not None
        r = subprocess.run([*fault, "link", link["a"], "nowhere", "--mode", "cut"], capture_output=True, text=True)
        assert r.returncode == 2 and "no link" in r.stderr and "Traceback" not in r.stderr
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
