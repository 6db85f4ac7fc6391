"""Self-check of lab 1: the student's WAN loads, follows geography, survives any single cut
between exchanges, and behaves in Mininet as its model says; the answers match what is
measured."""
import itertools

import networkx as nx

TITLE = "A WAN from geography"
MINUTES = 45
ITEMS = {
    "loads": "my-wan.yaml loads as a topology",
    "shape": "it has at least three clouds, every one reachable from the others",
    "geography": "every link's delay follows from its length (none typed by hand)",
    "resilient": "no single cut of a link between exchanges separates two clouds",
    "emulated": "in Mininet, every two clouds' round trip is twice their least delay (within 10 % + 2 ms)",
    "answers": "answers.yaml names the farthest two clouds and their measured round trip (within 15 % or 1.5 ms)",
}


def least_delays(topo) -> dict:
    g = nx.Graph()
    g.add_weighted_edges_from((l.a, l.b, l.delay_ms) for l in topo.links)
    return dict(nx.all_pairs_dijkstra_path_length(g))


def run(lab) -> None:
    from topologies import TopologyError, load

    path = lab.path("my-wan.yaml")
    try:
        topo = load(path)
    except TopologyError as e:
        lab.require("loads", False, str(e).replace(str(lab.work) + "/", ""),
                    "fix the field it names: every site needs lat and lon in decimal degrees "
                    "(e.g. 52.37, 4.90), every link two existing sites")
    except FileNotFoundError:
        lab.require("loads", False, "my-wan.yaml is missing", "start from the starter file of this lab")
    lab.expect("loads", True, f"{len(topo.sites)} sites, {len(topo.links)} links")

    clouds = [s.name for s in topo.sites if s.kind == "cloud"]
    delays = least_delays(topo)
    cut_off = [(a, b) for a, b in itertools.combinations(clouds, 2) if b not in delays.get(a, {})]
    lab.require("shape", len(clouds) >= 3 and not cut_off,
                f"{len(clouds)} clouds" + (f"; no path between {cut_off[0][0]} and {cut_off[0][1]}" if cut_off else ""),
                "add clouds (kind: cloud) until there are three, each with a link to an exchange "
                "(kind: core), and link the exchanges")

    typed = [f"{l.a}—{l.b} ({l.delay_ms:g} ms, {l.delay_source})" for l in topo.links
             if l.delay_source != "distance"]
    lab.expect("geography", not typed, "typed: " + ", ".join(typed) if typed else
               f"delays from {sum(1 for _ in topo.links)} lengths",
               "remove delay_ms from those links: the loader derives it from the coordinates "
               "(great-circle km x route_factor x 5 us/km)")

    kind = {s.name: s.kind for s in topo.sites}
    bridges = []
    for l in topo.links:
        if kind[l.a] == "cloud" or kind[l.b] == "cloud":
            continue   # a data centre's own uplink: cutting it cuts that cloud, whatever the design
        g = nx.Graph((x.a, x.b) for x in topo.links if x is not l)
        if any(not (g.has_node(a) and g.has_node(b) and nx.has_path(g, a, b))
               for a, b in itertools.combinations(clouds, 2)):
            bridges.append(f"{l.a}—{l.b}")
    lab.expect("resilient", not bridges, "a cut of " + ", ".join(bridges) + " separates clouds" if bridges
               else "every cut between exchanges leaves all clouds connected",
               "add a link between exchanges so that each exchange with a cloud has two ways out")

    far = max(itertools.combinations(clouds, 2), key=lambda p: delays[p[0]][p[1]])
    measured = {}
    with lab.network(topo, controller=False) as net:
        wrong = []
        for a, b in itertools.combinations(clouds, 2):
            src, _ = net.host(a, 1)
            _, ip = net.host(b, 1)
            rtt, want = net.rtt_ms(src, ip, count=10), 2 * delays[a][b]
            measured[frozenset((a, b))] = rtt
            if rtt is None or abs(rtt - want) > 0.1 * want + 2:
                wrong.append(f"{a}:1 → {b}:1 " + ("no reply" if rtt is None else f"{rtt:.2f} ms")
                             + f" (model {want:.2f} ms)")
        # which pair is farthest and its round trip are step 6's answer: not said here
        lab.expect("emulated", not wrong, "; ".join(wrong) or
                   f"all {len(measured)} cloud pairs within 10 % + 2 ms of their model",
                   "an unreachable pair means a missing link; a slow one, a machine too busy: "
                   "stop other WANs and check again")

    rtt = measured[frozenset(far)]
    answers = lab.answers("answers", "farthest_clouds", "rtt_ms")
    named, given = set(map(str, answers["farthest_clouds"] or ())), answers["rtt_ms"]
    lab.require("answers", isinstance(given, (int, float)), f"rtt_ms: {given} is not a number",
                "write the round trip in milliseconds, a number such as 12.3")
    problems = []
    if named != set(far):
        problems.append(f"the farthest clouds are not {' and '.join(sorted(map(str, named)))}")
    elif rtt is not None and abs(given - rtt) > max(1.5, 0.15 * rtt) and abs(given - model_rtt(delays, far)) > \
            max(1.0, 0.1 * model_rtt(delays, far)):
        # guide without giving the figure away: which way, not by how much
        problems.append(f"{given:g} ms is {'more' if given > rtt else 'less'} than the round trip the check "
                        "measured between them (beyond 15 % or 1.5 ms)")
    lab.expect("answers", not problems, "; ".join(problems) or f"{far[0]} and {far[1]}, {given:g} ms",
               "compare the least-delay paths in `slicectl topology show my-wan.yaml` (sum the delays "
               "along each path), then ping between those clouds' hosts in `wan up` and take the min "
               "(the least round trip in ping's summary)")


def model_rtt(delays: dict, pair: tuple[str, str]) -> float:
    """What the model predicts for a round trip between two clouds: twice their least delay."""
    return 2 * delays[pair[0]][pair[1]]
