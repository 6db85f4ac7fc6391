"""Self-check of lab 3: two tenants' slices share Osaka's uplink, each reaches only itself,
each is policed to its reservation, and one tenant's flood does not take the other's
bandwidth."""
import subprocess
import time

TITLE = "Isolation and reservations"
MINUTES = 60
ITEMS = {
    "spec": "slices.yaml defines video and backup, valid against japan-intercloud",
    "active": "both are ACTIVE, for two different tenants",
    "share": "both cross Osaka's uplink, and the controller reports 20 Mbit/s of it left",
    "reach": "each slice's endpoints reach each other, both ways",
    "isolated": "no host of one slice reaches the other's, and a host in no slice reaches neither",
    "policed": "UDP sent into video at twice its reservation arrives at its reservation (80-110 %)",
    "kept": "while backup is flooded at 90 Mbit/s, video still carries 85 % of its reservation",
    "answers": "answers.yaml: what arrives of 80 Mbit/s sent into backup (within 15 % of the check's figure)",
}
UPLINK = ("osaka-dc", "osaka-ix")
# Every UDP test of this lab, the check's and the README's: the emulation's software
# switches and delay relays spend their CPU per packet, and 80 Mbit/s of 1400-byte
# datagrams (7,000 packets/s) leaves two cores too little to measure the slices by.
DATAGRAM = 8000


def run(lab) -> None:
    from topologies import load

    topo = load("japan-intercloud")
    docs = lab.specs("spec", "slices.yaml", topo, names=("video", "backup"))
    by = {d["name"]: d for d in docs}
    with lab.network(topo) as net:
        active, what = net.apply_all([by["video"], by["backup"]])
        tenants = {net.get(n).spec.tenant for n in by} if active else set()
        lab.require("active", active and len(tenants) == 2, f"{what}; tenants {', '.join(sorted(tenants)) or 'none'}",
                    "read the controller's reasons; give backup its own tenant (bank-co)")

        crossing = [n for n in by if any({l.a, l.b} == set(UPLINK) for l in net.get(n).tree)]
        left = net.link(*UPLINK).residual_mbps
        lab.expect("share", len(crossing) == 2 and abs(left - 20) < 0.01,
                   f"on the uplink: {', '.join(crossing) or 'neither'}; {left:g} Mbit/s left of 100",
                   "`slicectl topology` shows every link's residual capacity: backup's bandwidth "
                   "is 100 - video's - 20")

        failing = net.unreachable(docs)
        lab.require("reach", not failing, ", ".join(failing) or "4 ordered pairs pass",
                    "check the endpoints' addresses: host J of the I-th site is 10.0.I.J "
                    "(tokyo-dc is the 1st site, osaka-dc the 2nd)")

        hosts = {n: [net.host(e["site"], e["port"])[0] for e in by[n]["endpoints"]] for n in by}
        where = {n: [f"{e['site']}:{e['port']}" for e in by[n]["endpoints"]] for n in by}   # as the lab names them
        outsider = net.host("nagoya-dc", 1)[0]
        pairs = [(w, h, e["ip"]) for a, b in (("video", "backup"), ("backup", "video"))
                 for w, h in zip(where[a], hosts[a]) for e in by[b]["endpoints"]]
        pairs += [("nagoya-dc:1", outsider, e["ip"]) for d in docs for e in d["endpoints"]]
        answered = net.pings([(h, ip) for _, h, ip in pairs], count=2)
        leaks = [f"{w} → {ip}" for (w, _, ip), ok in zip(pairs, answered) if ok]
        lab.expect("isolated", not leaks, ", ".join(leaks) or f"{len(pairs)} attempts, none answered",
                   "each slice must list only its own two hosts")

        video_bw = net.get("video").spec.bandwidth_mbps
        src, dst = hosts["video"]
        got = net.udp(src, dst, 2 * video_bw, seconds=3, datagram=DATAGRAM)
        lab.expect("policed", got is not None and 0.8 * video_bw <= got <= 1.1 * video_bw,
                   f"sent {2 * video_bw:g} Mbit/s, {_mbps(got)} arrived",
                   "the slice's meter drops what exceeds the reservation: is video's bandwidth 30?")

        quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        server = hosts["backup"][1].popen(["iperf3", "-s", "-1", "-p", "5402"], **quiet)
        time.sleep(0.5)
        flood = hosts["backup"][0].popen(["iperf3", "-c", by["backup"]["endpoints"][1]["ip"], "-p", "5402",
                                          "-u", "-b", "90M", "-t", "6", "-l", str(DATAGRAM)], **quiet)
        time.sleep(1)
        try:
            got = net.udp(src, dst, video_bw, seconds=3, datagram=DATAGRAM)
        finally:
            for p in (flood, server):
                p.kill()
                p.wait()
        lab.expect("kept", got is not None and got >= 0.85 * video_bw,
                   f"video carried {_mbps(got)} of {video_bw:g} during the flood",
                   "the reservations must fit the uplink together: video + backup <= 100 Mbit/s")

        answer = lab.answers("answers", "backup_received_mbps")["backup_received_mbps"]
        b_src, b_dst = hosts["backup"]
        got = net.udp(b_src, b_dst, 80, seconds=3, datagram=DATAGRAM)
        lab.expect("answers", isinstance(answer, (int, float)) and got is not None and abs(answer - got) <= 0.15 * got,
                   f"you wrote {answer!r}, the check measured {_mbps(got)}",
                   "start `iperf3 -s` in osaka-dc:2, then `iperf3 -u -b 80M -l 8000 -c 10.0.2.2` in "
                   "tokyo-dc:2 (slicectl wan exec); the receiver's line is what arrived")


def _mbps(v) -> str:
    return "nothing measurable" if v is None else f"{v:.1f} Mbit/s"
