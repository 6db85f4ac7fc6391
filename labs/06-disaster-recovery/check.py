"""Self-check of lab 6: the medical slice scales out to a fourth cloud without disturbing
traffic, survives the loss of a cloud through its standby (timed against the programme's
30 minutes), and the student's runbook fails it back, drains a cloud for maintenance
and undrains it."""
import time

from slicectl.lab import last_line

TITLE = "Disaster recovery and scale-out"
MINUTES = 60
ITEMS = {
    "spec": "lifeline.yaml and scale-out.yaml define the slice medical, valid against japan-intercloud",
    "active": "medical is ACTIVE and every endpoint pair passes traffic",
    "scale-out": "scale-out.yaml adds Fukuoka: every pair passes well within 10 minutes, the running "
                 "Tokyo-Sendai stream loses under 0.1 s",
    "lost": "osaka-dc lost: every pair passes again through the standby (address moved there) within 60 s "
            "(the programme: 30 minutes)",
    "failback": "osaka-dc back: ./runbook.sh failback medical exits 0, the endpoint is home, every pair passes",
    "drain": "./runbook.sh drain osaka-dc: the controller shows it drained, the endpoint at its standby, "
             "every pair passes",
    "undrain": "./runbook.sh undrain osaka-dc, then failback: osaka-dc no longer drained, the endpoint home, "
               "every pair passes",
}
RECOVERY_TARGET_S, TTC_TARGET_S = 30 * 60, 10 * 60


def run(lab) -> None:
    from slicectl.verify import until_connected
    from topologies import load

    topo = load("japan-intercloud")
    first = lab.specs("spec", "lifeline.yaml", topo, names=("medical",))[0]
    grown = lab.specs("spec", "scale-out.yaml", topo, names=("medical",))[0]
    with lab.network(topo) as net:
        refusal = net.apply(first)
        state = net.state("medical", "ACTIVE")
        failing = net.unreachable([first]) if state == "ACTIVE" else []
        lab.require("active", state == "ACTIVE" and not failing,
                    refusal or f"state {state}" + (f"; failing: {', '.join(failing)}" if failing else ""),
                    "the standby must be another cloud's free port in an allowed region (here: JP)")

        tokyo, _ = net.host("tokyo-dc", 1)
        stream = net.stream(tokyo, "10.0.6.1", 3.0, "scale-out")
        time.sleep(0.5)
        started = time.monotonic()
        refusal = net.apply(grown)
        pairs = [(h, ip) for _, h, ip in net.endpoint_pairs(grown)]
        seconds, ok = until_connected(pairs, started, timeout_s=60)
        out = stream.outage("scale-out", "fukuoka-dc")
        lab.require("scale-out", not refusal and seconds is not None and out.outage_s < 0.1,
                    refusal or (f"{len(grown['endpoints'])} clouds, every pair in "
                                f"{'-' if seconds is None else f'{seconds:.2f} s'} ({ok}/{len(pairs)}; "
                                f"target {TTC_TARGET_S / 60:.0f} min); Tokyo-Sendai stream lost "
                                f"{out.outage_s * 1000:.0f} ms"),
                    "scale-out.yaml is lifeline.yaml plus one endpoint: Fukuoka is the 4th site (10.0.4.x)")

        osaka = next(e for e in grown["endpoints"] if e["site"] == "osaka-dc")
        standby, standby_ip = net.host(osaka["standby"]["site"], osaka["standby"]["port"])
        home, _ = net.host("osaka-dc", osaka["port"])
        lab.progress("osaka-dc is lost; its service starts at the standby with the same address")
        started = time.monotonic()
        net.wan.fault_site("osaka-dc", "lost")
        take_address(standby, osaka["ip"])
        seconds, ok = until_connected(pairs_with(net, grown, osaka["ip"], standby), started, timeout_s=60)
        lab.require("lost", seconds is not None,
                    f"every pair again after {'-' if seconds is None else f'{seconds:.2f} s'} "
                    f"({ok}/{len(pairs)}; target {RECOVERY_TARGET_S / 60:.0f} min)",
                    "the standby (site and port) must be a cloud that survives the loss, in an allowed region")

        net.wan.fault_site("osaka-dc", "restore")
        take_address(standby, standby_ip)
        net.ctl.wait_switches(timeout=60)
        r = lab.script(["bash", "./runbook.sh", "failback", "medical"], net.server, timeout=60)
        take_address(home, osaka["ip"])
        failing = net.unreachable([grown])
        where = location(net, osaka["ip"])
        lab.require("failback", r.returncode == 0 and where == "primary" and not failing,
                    f"runbook exit {r.returncode}{_last(r.stderr)}; endpoint at {where}"
                    + (f"; failing: {', '.join(failing)}" if failing else ""),
                    "`slicectl endpoint failback --help`: the runbook gets the slice's name as $2")

        r = lab.script(["bash", "./runbook.sh", "drain", "osaka-dc"], net.server, timeout=60)
        drained = net.site("osaka-dc").drained
        take_address(standby, osaka["ip"])
        seconds, ok = until_connected(pairs_with(net, grown, osaka["ip"], standby), time.monotonic(), timeout_s=30)
        where = location(net, osaka["ip"])
        lab.require("drain", r.returncode == 0 and drained and where == "standby" and seconds is not None,
                    f"runbook exit {r.returncode}{_last(r.stderr)}; drained {drained}; endpoint at {where}; "
                    f"pairs {ok}/{len(pairs)}", "`slicectl site --help` lists drain and undrain")

        r = lab.script(["bash", "./runbook.sh", "undrain", "osaka-dc"], net.server, timeout=60)
        r2 = lab.script(["bash", "./runbook.sh", "failback", "medical"], net.server, timeout=60)
        take_address(standby, standby_ip)
        take_address(home, osaka["ip"])
        failing = net.unreachable([grown])
        drained, where = net.site("osaka-dc").drained, location(net, osaka["ip"])
        lab.expect("undrain", r.returncode == 0 and r2.returncode == 0 and not drained and where == "primary"
                   and not failing,
                   f"undrain exit {r.returncode}{_last(r.stderr)}; drained {drained}; endpoint at {where}"
                   + (f"; failing: {', '.join(failing)}" if failing else ""),
                   "undrain lets slices cross the site again; endpoints stay at standby until failed back")


def take_address(host, ip: str) -> None:
    """Give ``host`` the address ``ip`` (and only it), and announce it: what a DR plan does
    when it starts the service somewhere else."""
    intf = host.defaultIntf().name
    host.cmd(f"ip addr flush dev {intf}; ip addr add {ip}/8 dev {intf}")
    host.cmd(f"arping -q -U -I {intf} -c 2 {ip} > /dev/null 2>&1 &")


def pairs_with(net, doc: dict, ip: str, host) -> list:
    """The slice's ordered endpoint pairs, with the endpoint ``ip`` served by ``host``."""
    eps = [(host if e["ip"] == ip else net.host(e["site"], e["port"])[0], e["ip"]) for e in doc["endpoints"]]
    return [(a[0], b[1]) for a in eps for b in eps if a is not b]


def location(net, ip: str) -> str:
    """Where the endpoint with address ``ip`` is now: primary or standby."""
    return next((e.location for e in net.get("medical").endpoints if e.ip == ip), "?")


def _last(text: str) -> str:
    """The last line of a runbook's stderr, in parentheses, or ""."""
    line = last_line(text)
    return f" ({line})" if line else ""
