"""The checkers behind the property tests are themselves shown to fail: each corruption of
a sound engine or rule plan - a booking, an index, a tag, a tree, an owner, a rule, a
meter rate - is reported by `audit`, `plan_problems` or `verify`. If a checker returned
[] whatever it saw, these tests would go red."""
from __future__ import annotations

import pytest

from slices.compiler import compile_plan, plan_problems
from slices.audit import audit
from slices.engine import SliceEngine
from slices.fakenet import FakeNetwork, verify
from slices.placement import Tree
from slices.rules import Meter, Rule
from slices.spec import parse_spec
from topologies import load

JAPAN = load("japan-intercloud")


def spec(name, sites, bw=10, **kw):
    return parse_spec({"name": name, "tenant": "t", "bandwidth_mbps": bw,
                       "endpoints": [{"site": s, "port": p} for s, p in sites], **kw}, JAPAN)


@pytest.fixture
def engine():
    e = SliceEngine(JAPAN)
    e.admit(spec("medical", [("tokyo-dc", 1), ("osaka-dc", 1), ("sendai-dc", 1)], max_latency_ms=15, priority=7))
    e.admit(spec("retail", [("tokyo-dc", 2), ("fukuoka-dc", 1)], protection="link"))
    e.admit(spec("gov", [("sapporo-dc", 1), ("osaka-dc", 2)]))
    assert audit(e) == []
    return e


def shared_link(e):
    a, b = e.slices["medical"], e.slices["retail"]
    return next(k for k in sorted(a.tree.links, key=sorted) if k in b.tree.links)


def _tree_without_last_edge(s):
    t = s.tree
    return Tree(t.root, t.edges[:-1], t.worst_delay_ms, t.worst_pair)


ENGINE_CORRUPTIONS = {
    "residual off": (lambda e: e.residual.__setitem__(next(iter(e.slices["medical"].tree.links)),
                                                      e.residual[next(iter(e.slices["medical"].tree.links))] - 5),
                     "residual"),
    "oversubscribed": (lambda e: e.capacity.__setitem__(next(iter(e.slices["medical"].tree.links)), 1),
                       "oversubscribed"),
    "link index": (lambda e: e.ledger.by_level[next(iter(e.slices["gov"].tree.links))][e.slices["gov"].spec.priority]
                   .pop("gov"), "link index"),
    "duplicate tag": (lambda e: e.slices["retail"].tags.__setitem__(shared_link(e), e.slices["medical"].tags[shared_link(e)]),
                      "used by"),
    "missing tag": (lambda e: e.slices["gov"].tags.pop(next(iter(e.slices["gov"].tree.links))), "no tag"),
    "leaked tag": (lambda e: e.tags.allocate(next(iter(e.slices["gov"].tree.links))), "leak"),
    "link called full": (lambda e: e.tags.full.add(next(iter(e.slices["gov"].tree.links))), "calls full"),
    "tree misses a site": (lambda e: setattr(e.slices["medical"], "tree", _tree_without_last_edge(e.slices["medical"])),
                           "misses endpoint sites"),
    "tree on a down link": (lambda e: e.down_links.add(next(iter(e.slices["gov"].tree.links))), "down link"),
    "latency bound": (lambda e: setattr(e.slices["medical"], "tree", Tree(
        e.slices["medical"].tree.root, e.slices["medical"].tree.edges, 99.0, e.slices["medical"].tree.worst_pair)),
        "worst delay"),
    "backup on the primary": (lambda e: setattr(e.slices["retail"], "backup", e.slices["retail"].tree), "shares links"),
    "shared prefix": (lambda e: setattr(e.slices["gov"], "prefix", e.slices["medical"].prefix), "shares prefix"),
    "endpoint owner lost": (lambda e: e.endpoint_owner.pop(("tokyo-dc", 1, None)), "endpoint owners"),
    "endpoint owned twice": (lambda e: setattr(e.slices["gov"], "spec", spec(
        "gov", [("sapporo-dc", 1), ("tokyo-dc", 1)])), "belongs to both"),
    "shared id": (lambda e: setattr(e.slices["gov"], "number", e.slices["medical"].number), "share an id"),
    "rule key with two owners": (lambda e: e.slices["retail"].tags.__setitem__(
        shared_link(e), e.slices["medical"].tags[shared_link(e)]), "rule flow"),
}


@pytest.mark.parametrize("corruption", sorted(ENGINE_CORRUPTIONS))
def test_audit_reports_each_corruption(engine, corruption):
    corrupt, words = ENGINE_CORRUPTIONS[corruption]
    corrupt(engine)
    problems = audit(engine)
    assert any(words in p for p in problems), problems


def _replace_in_plan(plan, owner, find, change):
    entries = list(plan[owner])
    i = next(i for i, e in enumerate(entries) if find(e))
    entries[i] = change(entries[i])
    plan[owner] = tuple(entries)


def _unicast_to(e, name, site):
    """Finder: the forwarding rule of slice ``name`` toward its endpoint at ``site``."""
    s = e.slices[name]
    addr = next(a for ep, a in s.addresses.items() if ep.site == site)
    return lambda r: isinstance(r, Rule) and ("ipv4_dst", addr) in r.match and r.switch == site


PLAN_CORRUPTIONS = {
    "unicast rule dropped": (lambda e, p: p.__setitem__("medical", tuple(
        r for r in p["medical"] if not _unicast_to(e, "medical", "osaka-dc")(r))), "reached []"),
    "output to the wrong port": (lambda e, p: _replace_in_plan(
        p, "medical", _unicast_to(e, "medical", "osaka-dc"),
        lambda r: Rule(r.switch, r.table, r.priority, r.match, (("output", 2),), r.cookie)), "reached"),
    "meter rate": (lambda e, p: _replace_in_plan(
        p, "gov", lambda x: isinstance(x, Meter),
        lambda m: Meter(m.switch, m.meter_id, m.rate_kbps * 2, m.burst_kbits, m.cookie)), "want 10000 kbit/s"),
    "meter skipped": (lambda e, p: _replace_in_plan(
        p, "gov", lambda r: isinstance(r, Rule) and any(a[0] == "meter" for a in r.actions),
        lambda r: Rule(r.switch, r.table, r.priority, r.match, tuple(a for a in r.actions if a[0] != "meter"),
                       r.cookie)), "bypassed the slice's meter"),
    "broadcast into another slice": (lambda e, p: _replace_in_plan(
        p, "gov", lambda r: isinstance(r, Rule) and ("eth_dst", "ff:ff:ff:ff:ff:ff") in r.match
        and r.switch == "osaka-dc" and ("in_port", 2) in r.match,
        lambda r: Rule(r.switch, r.table, r.priority, r.match, r.actions + (("output", 1),), r.cookie)),
        "broadcast"),
}


@pytest.mark.parametrize("corruption", sorted(PLAN_CORRUPTIONS))
def test_verify_reports_each_corruption(engine, corruption):
    plan = compile_plan(engine)
    assert verify(engine, FakeNetwork(JAPAN, plan)) == []
    corrupt, words = PLAN_CORRUPTIONS[corruption]
    corrupt(engine, plan)
    problems = verify(engine, FakeNetwork(JAPAN, plan))
    assert any(words in p for p in problems), problems


def test_plan_problems_reports_a_rule_key_with_two_owners(engine):
    plan = compile_plan(engine)
    assert plan_problems(plan) == []
    plan["intruder"] = (plan["medical"][-1],)
    assert any("belongs to intruder and medical" in p for p in plan_problems(plan))
