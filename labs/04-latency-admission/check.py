"""Self-check of lab 4: two Tokyo—Sapporo slices with the tightest bounds the WAN can keep
are both admitted, and the wire shows they really take different routes."""
import time

TITLE = "Latency bounds and admission"
MINUTES = 45
ITEMS = {
    "spec": "slices.yaml defines trading and analytics, valid against japan-intercloud",
    "admitted": "both are admitted and ACTIVE (trading applied first)",
    "trading-tight": "trading's bound is at most 0.5 ms above the least delay between its endpoints",
    "analytics-tight": "analytics' bound is at most 1 ms above the least delay it can get next to trading",
    "wire": "measured round trips: analytics' exceeds trading's by twice the difference of their routes (± 4 ms)",
    "answers": "answers.yaml: the least one-way delay between tokyo-dc and sapporo-dc (within 0.1 ms)",
}


def least_delay_ms(topo, a: str, b: str) -> float:
    import networkx as nx
    g = nx.Graph()
    g.add_weighted_edges_from((l.a, l.b, l.delay_ms) for l in topo.links)
    return nx.dijkstra_path_length(g, a, b)


def run(lab) -> None:
    from topologies import load

    topo = load("japan-intercloud")
    docs = lab.specs("spec", "slices.yaml", topo, names=("trading", "analytics"))
    by = {d["name"]: d for d in docs}
    with lab.network(topo) as net:
        active, what = net.apply_all([by["trading"], by["analytics"]])
        lab.require("admitted", active, what,
                    "the controller's refusal says the best delay it can offer: a bound below it "
                    "cannot be kept")

        least = least_delay_ms(topo, "tokyo-dc", "sapporo-dc")
        placed = {n: net.get(n) for n in by}
        t = placed["trading"]
        lab.expect("trading-tight", t.spec.max_latency_ms <= least + 0.5,
                   f"bound {t.spec.max_latency_ms:g} ms, least {least:.2f} ms",
                   "ask for max_latency_ms: 1 and read the refusal: it names the least achievable")
        a = placed["analytics"]
        lab.expect("analytics-tight", a.spec.max_latency_ms <= a.worst_delay_ms + 1,
                   f"bound {a.spec.max_latency_ms:g} ms, its tree gives {a.worst_delay_ms:.2f} ms",
                   "lower the bound until the controller refuses; its refusal names the best it can do "
                   "with trading in place")

        # the least of 20 pings, three times over for each slice in turn: one busy moment
        # of the emulation's two cores (every ping of a burst late) is not a route
        rtts: dict = {n: None for n in by}
        for _round in range(3):
            for n, d in by.items():
                src, _ = net.host(d["endpoints"][0]["site"], d["endpoints"][0]["port"])
                got = net.rtt_ms(src, d["endpoints"][1]["ip"], count=20)
                if got is not None:
                    rtts[n] = got if rtts[n] is None else min(rtts[n], got)
                time.sleep(0.3)
        want = 2 * (a.worst_delay_ms - t.worst_delay_ms)
        ok = None not in rtts.values() and abs(rtts["analytics"] - rtts["trading"] - want) <= 4
        lab.expect("wire", ok, ", ".join(f"{n} {'-' if v is None else f'{v:.2f}'} ms" for n, v in rtts.items())
                   + f"; the trees differ by {want:.2f} ms per round trip",
                   "both slices must be ACTIVE on different routes: is analytics' bound above trading's route?")

        answer = lab.answers("answers", "tokyo_sapporo_min_ms")["tokyo_sapporo_min_ms"]
        lab.expect("answers", isinstance(answer, (int, float)) and abs(answer - least) <= 0.1,
                   f"you wrote {answer!r}", "the refusal of a 1 ms bound between these two clouds gives it")
