"""Self-check of lab 5: the lifeline is protected, survives a silent link failure while
the controller is down, and gets capacity first when it needs more; bulk gives way and
comes back."""
import time

TITLE = "Failures and priority"
MINUTES = 60
ITEMS = {
    "spec": "slices.yaml defines lifeline and bulk, valid against japan-intercloud",
    "active": "both are ACTIVE",
    "protected": "lifeline has a reserved backup tree that shares no link between exchanges with its tree",
    "survives": "controller killed (-9), a link of lifeline's tree silently fails: lifeline's traffic is back "
                "within 3 s (10 ms ping stream)",
    "restart": "the controller restarted on its store finds both slices ACTIVE, and they pass traffic",
    "first": "lifeline grows to 50 Mbit/s: the controller preempts bulk to make room; lifeline ACTIVE and passing",
    "back": "lifeline back at 20 Mbit/s: bulk is restored, ACTIVE and passing",
}


def run(lab) -> None:
    from topologies import load

    topo = load("japan-intercloud")
    docs = lab.specs("spec", "slices.yaml", topo, names=("lifeline", "bulk"))
    by = {d["name"]: d for d in docs}
    kind = {s.name: s.kind for s in topo.sites}
    with lab.network(topo) as net:
        active, what = net.apply_all([by["lifeline"], by["bulk"]])
        lab.require("active", active, what, "read the controller's reasons; priorities are 0-7")

        s = net.get("lifeline")
        core = lambda links: {frozenset((l.a, l.b)) for l in links if kind[l.a] == kind[l.b] == "core"}  # noqa: E731
        shared = core(s.tree) & core(s.backup)
        lab.expect("protected", bool(s.backup) and not shared,
                   f"backup tree {'none' if not s.backup else ', '.join(f'{l.a}—{l.b}' for l in s.backup)}",
                   "protection: link asks for a link-disjoint backup tree (none, link, site, region)")

        # a core link both of whose switches the backup crosses: there the switches fail
        # over on their own (elsewhere on the primary it takes the controller)
        on_backup = {x for l in s.backup for x in (l.a, l.b)}
        covered = [k for k in core(s.tree) if k <= on_backup]
        a, b = sorted(covered or core(s.tree) or [frozenset(("tokyo-ix", "osaka-ix"))], key=sorted)[0]
        src, _ = net.host("tokyo-dc", 1)
        net.ctl.kill9()
        lab.progress(f"controller killed; {a}—{b} goes silent under a 10 ms ping stream")
        stream = net.stream(src, by["lifeline"]["endpoints"][1]["ip"], 6.0, "lifeline")
        time.sleep(0.5)
        net.wan.fault_link(a, b, "silent")
        out = stream.outage("silent", f"{a}—{b}")
        bulk_left = net.pings([(net.host("tokyo-dc", 2)[0], by["bulk"]["endpoints"][1]["ip"])])[0]
        net.wan.fault_link(a, b, "restore")
        lab.expect("survives", out.outage_s < 3.0 and out.lost < out.sent,
                   f"{a}—{b} silent: lifeline's outage {out.outage_s * 1000:.0f} ms ({out.lost}/{out.sent} probes "
                   f"lost); bulk {'still passes' if bulk_left else 'is cut off'} without a controller",
                   "only a backup tree already in the switches can help while the controller is down")

        net.ctl.start()
        net.ctl.wait_switches(timeout=60)
        states = {n: net.state(n, "ACTIVE", timeout=30) for n in by}
        failing = net.unreachable(docs)
        lab.require("restart", all(v == "ACTIVE" for v in states.values()) and not failing,
                    ", ".join(f"{n} {v}" for n, v in states.items()) + (f"; failing: {', '.join(failing)}" if failing else ""),
                    f"see the controller's log: {lab.scratch / 'controller.log'}")

        grown = {**by["lifeline"], "bandwidth_mbps": 50}
        refusal = net.apply(grown)
        states = {n: net.state(n, want, timeout=15) for n, want in (("lifeline", "ACTIVE"), ("bulk", "PREEMPTED"))}
        failing = net.unreachable([grown]) if states["lifeline"] == "ACTIVE" else ["-"]
        bulk_reason = net.get("bulk").reason
        lab.require("first", not refusal and states == {"lifeline": "ACTIVE", "bulk": "PREEMPTED"} and not failing,
                    refusal or f"lifeline {states['lifeline']}, bulk {states['bulk']} ({bulk_reason})",
                    "the lifeline's priority must be above bulk's: only a higher priority preempts")

        net.apply(by["lifeline"])
        state = net.state("bulk", "ACTIVE", timeout=15)
        failing = net.unreachable([by["bulk"]]) if state == "ACTIVE" else ["-"]
        lab.expect("back", state == "ACTIVE" and not failing, f"bulk {state}" + (
            f"; failing: {', '.join(failing)}" if failing and state == "ACTIVE" else ""),
                   "a preempted slice waits and is placed again when capacity returns")
