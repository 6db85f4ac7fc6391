"""The userspace delay relay between two network namespaces (root; no Mininet)."""
import os
import re
import signal
import struct
import subprocess
import sys
import time

import pytest

from topologies.emulation.links import RELAY_SCRIPT

pytestmark = pytest.mark.mininet


def sh(cmd: str, check: bool = True) -> str:
    r = subprocess.run(cmd, shell=True, capture_output=True, text=True)
    if check and r.returncode:
        raise RuntimeError(f"{cmd}: {r.stderr}")
    return r.stdout


@pytest.fixture
def two_namespaces():
    """ns a [v0] --- [ra] relay [rb] --- [v0] ns b."""
    tag = f"rl{os.getpid() % 10000}"
    ns = (f"{tag}a", f"{tag}b")
    ends = (f"{tag}-ra", f"{tag}-rb")
    try:
        for n, end, ip in zip(ns, ends, ("10.66.0.1", "10.66.0.2")):
            sh(f"ip netns add {n}")
            sh(f"ip link add {end} type veth peer name v0 netns {n}")
            sh(f"ip link set {end} up; ethtool -K {end} tx off tso off gso off gro off >/dev/null")
            sh(f"sysctl -qw net.ipv6.conf.{end}.disable_ipv6=1")
            ex = f"ip netns exec {n}"
            sh(f"{ex} ip link set lo up; {ex} ip link set v0 up; {ex} ip addr add {ip}/24 dev v0")
            sh(f"{ex} ethtool -K v0 tx off tso off gso off >/dev/null")
        yield ns, ends
    finally:
        for n in ns:
            sh(f"ip netns del {n}", check=False)
        for end in ends:
            sh(f"ip link del {end} 2>/dev/null", check=False)


def min_rtt(ns: str, ip: str) -> float | None:
    out = sh(f"ip netns exec {ns} ping -c 10 -i 0.05 -W 2 -q {ip}", check=False)
    m = re.search(r"= ([\d.]+)/", out)
    return float(m.group(1)) if m else None


RECEIVER = r"""
import socket, struct, sys
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(3))
s.setsockopt(263, 8, 1)  # PACKET_AUXDATA
s.bind(("v0", 0)); s.settimeout(5)
print("ready", flush=True)
while True:
    data, anc, _f, addr = s.recvmsg(2048, 256)
    if data[12:14] == b"\x88\xb5" or b"slice-probe" in data:
        for level, kind, payload in anc:
            if level == 263 and kind == 8:
                status, *_rest, tci, tpid = struct.unpack_from("IIIHHHH", payload)
                print("tci", tci & 0xfff if status & 0x10 else -1, flush=True)
        break
"""


def tagged_frame_crosses(ns: tuple[str, str], vlan: int) -> bool:
    """Send one 802.1Q frame from ns a; return whether ns b receives it with that tag."""
    rx = subprocess.Popen(["ip", "netns", "exec", ns[1], sys.executable, "-c", RECEIVER],
                          stdout=subprocess.PIPE, text=True)
    try:
        assert rx.stdout.readline().strip() == "ready"
        frame = (b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!HH", 0x8100, vlan)
                 + b"\x88\xb5" + b"slice-probe".ljust(46, b"."))
        send = (f"import socket; s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW); "
                f"s.bind(('v0', 0)); s.send({frame!r})")
        sh(f"ip netns exec {ns[0]} {sys.executable} -c \"{send}\"")
        out, _ = rx.communicate(timeout=10)
    finally:
        rx.kill()
    return f"tci {vlan}" in out


def test_relay_delays_both_ways_and_keeps_vlan_tags(two_namespaces):
    (na, _nb), (ra, rb) = two_namespaces
    assert min_rtt(na, "10.66.0.2") is None  # nothing joins the two sides yet
    relay = subprocess.Popen([sys.executable, RELAY_SCRIPT, ra, rb, "5"])
    try:
        time.sleep(0.3)
        rtt = min_rtt(na, "10.66.0.2")
        assert rtt is not None and 10.0 <= rtt <= 11.0, rtt
        # 802.1Q: the kernel strips the tag before raw sockets see it; the relay puts it back
        assert tagged_frame_crosses(two_namespaces[0], vlan=100)
    finally:
        relay.terminate()
        assert relay.wait(timeout=5) == 0
    assert min_rtt(na, "10.66.0.2") is None


def test_relay_control_file_changes_delay_and_loss_on_sighup(two_namespaces, tmp_path):
    """What `slicectl wan fault ... --mode delay=MS / silent / restore` writes, the relay obeys."""
    (na, _nb), (ra, rb) = two_namespaces
    control = tmp_path / "link.ctl"
    relay = subprocess.Popen([sys.executable, RELAY_SCRIPT, ra, rb, "5", str(control)])
    try:
        time.sleep(0.3)
        for text, low, high in (("loss 0\ndelay 20\n", 40.0, 42.0),   # slower: 20 ms each way
                                ("loss 1\ndelay 20\n", None, None),   # silent
                                ("", 10.0, 11.0)):                    # as configured again
            control.write_text(text)
            relay.send_signal(signal.SIGHUP)
            time.sleep(0.2)
            rtt = min_rtt(na, "10.66.0.2")
            assert (rtt is None) if low is None else (rtt is not None and low <= rtt <= high), (text, rtt)
    finally:
        relay.terminate()
        relay.wait(timeout=5)


def test_relay_refuses_bad_arguments():
    r = subprocess.run([sys.executable, RELAY_SCRIPT, "only-one"], capture_output=True, text=True)
    assert r.returncode == 2 and "Usage" in r.stderr
