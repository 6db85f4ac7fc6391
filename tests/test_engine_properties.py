"""Property tests: on random geographic WANs and random operation sequences, after every
operation the engine's invariants hold (``slices.engine.audit``: reservations within
capacity, latency bounds, geo-fences, disjoint backups, no leaked tags or addresses) and
the compiled rules, run on a simulated network with the failed links down, deliver
exactly inside each slice (``slices.fakenet.verify``); a rejected request changes nothing."""
import json
import random
from collections import Counter

import networkx as nx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controller.store import placement_from_json, placement_to_json
from slices.compiler import compile_plan
from slices.audit import audit
from slices.engine import SliceEngine
from slices.fakenet import FakeNetwork, verify
from slices.errors import Rejected, SpecError
from slices.spec import parse_spec
from topologies.geo import fibre_delay_ms, great_circle_km
from topologies.model import Link, Site, Topology


def random_wan(seed: int) -> Topology:
    rng = random.Random(seed)
    n = rng.randint(4, 12)
    sites = tuple(Site(name=f"s{i}", kind="cloud", lat=rng.uniform(30, 45), lon=rng.uniform(125, 145),
                       region=rng.choice(["JP", "KR"]), hosts=3, dpid=i + 1) for i in range(n))
    g = nx.random_labeled_tree(n, seed=seed) if hasattr(nx, "random_labeled_tree") else nx.random_tree(n, seed=seed)
    edges = {frozenset(e) for e in g.edges}
    for _ in range(rng.randint(0, n)):
        a, b = rng.sample(range(n), 2)
        edges.add(frozenset((a, b)))
    links = []
    for e in sorted(tuple(sorted(x)) for x in edges):
        a, b = sites[e[0]], sites[e[1]]
        km = great_circle_km(a.lat, a.lon, b.lat, b.lon)
        links.append(Link(a.name, b.name, rng.choice([10, 20, 50, 100]), round(fibre_delay_ms(km, 1.4), 4), km))
    return Topology(name=f"random-{seed}", sites=sites, links=tuple(links))


op = st.one_of(
    st.tuples(st.just("admit"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("release"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("link_down"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("link_up"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("site_down"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("site_up"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("update"), st.integers(0, 2**32 - 1)),
    st.tuples(st.just("restore"), st.integers(0, 2**32 - 1)),
)


def snapshot(e: SliceEngine):
    return (dict(e.residual), {n: (s.status, s.tree, s.backup) for n, s in e.slices.items()},
            e.tags.in_use, e.prefixes.in_use)


def random_doc(topo: Topology, rng: random.Random, name: str) -> dict:
    k = rng.randint(2, min(4, len(topo.sites)))
    doc = {"name": name, "tenant": "t", "bandwidth_mbps": rng.choice([1, 5, 10, 30]),
           "priority": rng.randint(0, 7), "protection": rng.choice(["none", "none", "link", "site"]),
           "endpoints": [{"site": s.name, "port": rng.randint(1, 3)} for s in rng.sample(topo.sites, k)]}
    if rng.random() < 0.3:
        doc["max_latency_ms"] = rng.uniform(1, 20)
    if rng.random() < 0.3:
        doc["allowed_regions"] = [rng.choice(topo.regions)]
    return doc


def restored(e: SliceEngine) -> SliceEngine:
    """A new engine that adopts ``e``'s slices through the store's own JSON form, as a
    restarted controller does; the switches' port status tells it what is down."""
    again = SliceEngine(e.topology, prefix_pool="10.64.0.0/16", prefix_len=28)
    again.down_links, again.down_sites = set(e.down_links), set(e.down_sites)
    for name in e.slices:  # in the order they were admitted, as the store keeps them
        p = e.record(name)
        stored = json.loads(json.dumps(placement_to_json(p)))
        again.adopt(placement_from_json(parse_spec(p.spec.to_dict(), e.topology), stored, p.reason))
    return again


def run_ops(topo: Topology, ops) -> Counter:
    """Apply ``ops``; assert the invariants after each; count what happened."""
    e = SliceEngine(topo, prefix_pool="10.64.0.0/16", prefix_len=28)
    seen: Counter = Counter()
    count = 0
    for kind, r in ops:
        rng = random.Random(r)
        events = []
        if kind == "admit":
            count += 1
            try:
                spec = parse_spec(random_doc(topo, rng, f"slice-{count}"), topo)
            except SpecError:
                continue
            before = snapshot(e)
            try:
                events = e.admit(spec)
            except Rejected as err:
                seen[f"rejected:{err.constraint}"] += 1
                assert snapshot(e) == before, "a rejection changed the engine's state"
        elif kind == "update" and e.slices:
            name = rng.choice(sorted(e.slices))
            doc = e.slices[name].spec.to_dict() if rng.random() < 0.5 else random_doc(topo, rng, name)
            doc["bandwidth_mbps"] = rng.choice([1, 5, 10, 30])
            try:
                spec = parse_spec(doc, topo)
            except SpecError:
                continue
            before = snapshot(e)
            try:
                events = e.update(spec)
                seen["updated"] += 1
            except Rejected as err:
                seen[f"update-rejected:{err.constraint}"] += 1
                assert snapshot(e) == before, "a rejected update changed the engine's state"
        elif kind == "restore":
            again = restored(e)
            assert compile_plan(again) == compile_plan(e), "a restored engine compiles other rules"
            assert snapshot(again) == snapshot(e)
            e = again
            seen["restored-from-store"] += 1
        elif kind == "release" and e.slices:
            events = e.release(rng.choice(sorted(e.slices)))
        elif kind in ("link_down", "link_up"):
            link = rng.choice(topo.links)
            events = getattr(e, kind)(link.a, link.b)
        elif kind in ("site_down", "site_up"):
            events = getattr(e, kind)(rng.choice(topo.sites).name)
        seen.update(ev.kind for ev in events)
        problems = audit(e)
        assert problems == [], (kind, problems)
        net = FakeNetwork(topo, compile_plan(e))
        for l in topo.links:
            if l.key in e.down_links or {l.a, l.b} & e.down_sites:
                net.set_link(l.a, l.b, up=False)
        problems = verify(e, net)
        assert problems == [], (kind, problems[:3])
    for name in sorted(e.slices):
        e.release(name)
    assert e.residual == e.capacity and e.tags.in_use == 0 and e.prefixes.in_use == 0
    return seen


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 10**6), ops=st.lists(op, min_size=1, max_size=12))
def test_invariants_hold_after_every_operation(seed, ops):
    run_ops(random_wan(seed), ops)


def test_the_generator_exercises_every_path():
    """Guard against a vacuous property test: the same generator, run plainly, must admit,
    reject, preempt, re-place, fail over and restore."""
    rng = random.Random(7)
    kinds = ["admit"] * 6 + ["release", "link_down", "link_up", "site_down", "site_up", "update", "restore"]
    seen: Counter = Counter()
    for seed in range(300):
        ops = [(rng.choice(kinds), rng.getrandbits(32)) for _ in range(30)]
        seen += run_ops(random_wan(seed), ops)
    for kind in ("admitted", "released", "preempted", "re-placed", "restored", "switched-to-backup",
                 "rejected:bandwidth", "rejected:latency", "updated", "restored-from-store"):
        assert seen[kind] > 0, (kind, seen)


@settings(max_examples=150, deadline=None)
@given(st.integers(0, 10_000), st.data())
def test_the_usable_graphs_trees_are_networkx_dijkstras(seed, data):
    """slices.placement's shortest-path trees (scipy's Dijkstra on a sparse matrix of the
    usable sites and links) give every site networkx's distance, by networkx's path."""
    from slices.placement import PathCache, Usable

    topo = random_wan(seed)
    g = nx.Graph()
    for l in topo.links:
        g.add_edge(l.a, l.b, delay_ms=l.delay_ms)
    names = sorted(g)
    blocked = frozenset(frozenset(e) for e in list(g.edges)[: data.draw(st.integers(0, 2), label="blocked links")])
    gone = set(data.draw(st.lists(st.sampled_from(names), max_size=2), label="sites left out"))
    usable = Usable(PathCache().network(g), frozenset(names) - gone, blocked)
    h = nx.Graph((u, v, d) for u, v, d in g.edges(data=True)
                 if frozenset((u, v)) not in blocked and not {u, v} & gone)
    roots = data.draw(st.lists(st.sampled_from(sorted(set(names) - gone) or names), min_size=1, max_size=3))
    for root in roots:
        d, p = usable.tree([root], root)
        dist = {usable.net.names[i]: x for i, x in enumerate(d) if x != float("inf")}
        parent = {usable.net.names[i]: usable.net.names[j] for i, j in enumerate(p) if j >= 0}
        if root in gone:
            continue
        h.add_node(root)
        want_dist, want_paths = nx.single_source_dijkstra(h, root, weight="delay_ms")
        assert dist == want_dist
        for t in want_dist:
            path, x = [t], t
            while x != root:
                x = parent[x]
                path.append(x)
            assert path[::-1] == want_paths[t]
