"""The engine's invariants, checked: every broken one as a sentence.

Used after every operation by the property tests, and shown to fail by
tests/test_checkers.py (each kind of corruption is reported).
"""
from __future__ import annotations

from math import inf

from collections import Counter
from typing import TYPE_CHECKING

import networkx as nx

from slices.compiler import compile_plan, plan_problems
from slices.ledger import Ledger
from slices.placement import LinkKey
from slices.record import PLACED
from slices.resources import TagSpace

if TYPE_CHECKING:
    from slices.engine import SliceEngine


def audit(engine: "SliceEngine", rules: bool = True) -> list[str]:
    """Every broken invariant, as a sentence; empty when the engine's state is sound.

    Checked: bookings add up (residual = capacity - reservations, standbys' included,
    >= 0), every placed tree
    is a loop-free tree joining its endpoint sites, avoids failed links and sites, keeps
    to the allowed regions and the latency bound, protected slices' backups are disjoint,
    tags are unique per link and match the trees, prefixes, ids and endpoints are not
    shared, the endpoint owner index agrees with the slices, and no two entries of the
    compiled plan claim one key on a switch (with ``rules``: compiling every slice is
    most of the cost on a big engine).
    """
    problems = _index_problems(engine)
    booked: dict[LinkKey, float] = {k: 0.0 for k in engine.ledger.capacity}
    tag_owner: dict[tuple, str] = {}
    problems += _slice_problems(engine, booked, tag_owner)
    problems += _booking_problems(engine.ledger, booked)
    problems += _owner_problems(engine)
    try:  # one owner per entry key on a switch (a clash would overwrite another slice's rule)
        problems += [f"rule {p}" for p in plan_problems(compile_plan(engine))] if rules else []
    except Exception as e:  # a broken engine may not even compile: that is a finding too
        problems.append(f"the rule plan cannot be compiled: {type(e).__name__}: {e}")
    problems += _calendar_problems(engine, tag_owner)
    problems += _tag_problems(engine.ledger.tags, tag_owner)
    if engine.prefixes.in_use != len(engine.slices):
        problems.append(f"{engine.prefixes.in_use} prefixes allocated for {len(engine.slices)} slices: leak")
    return problems


def _index_problems(engine: "SliceEngine") -> list[str]:
    """The ledger's per-link index of holders against the slices' trees."""
    problems = []
    for key in engine.ledger.capacity:
        on = engine.ledger.holders(key)
        want = {x.name: (key in (x.tree.links if x.tree else ())) + (key in (x.backup.links if x.backup else ()))
                + (key in x.standby_links) for x in engine.slices.values()}
        if on != {n: c for n, c in want.items() if c}:
            problems.append(f"link index of {sorted(key)} says {on}, trees say {want}")
    return problems


def _slice_problems(engine: "SliceEngine", booked: dict[LinkKey, float], tag_owner: dict[tuple, str]) -> list[str]:
    """Each slice's prefix, resources and trees; adds what it books to ``booked`` and
    the tags it holds to ``tag_owner``."""
    problems = []
    prefixes: dict[str, str] = {}
    region = nx.get_node_attributes(engine.graph, "region")
    for s in engine.slices.values():
        spec = s.live_spec
        for key in s.standby_links:
            booked[key] += spec.bandwidth_mbps
        if str(s.prefix) in prefixes:
            problems.append(f"{s.name} shares prefix {s.prefix} with {prefixes[str(s.prefix)]}")
        prefixes[str(s.prefix)] = s.name
        if s.status != PLACED:
            if s.tree or s.backup or s.tags or s.backup_tags or s.standby_links:
                problems.append(f"{s.name} is {s.status} but still holds resources")
            continue
        for label, tree, tags in (("primary", s.tree, s.tags), ("backup", s.backup, s.backup_tags)):
            if tree is not None:
                problems += _tree_problems(engine, s, label, tree, tags, booked, tag_owner, region)
        if s.backup and (set(s.backup.links) & set(s.tree.links)) - s.backup_shared:
            problems.append(f"{s.name} backup shares links with its primary beyond the "
                            f"unavoidable ones recorded when it was computed")
    return problems


def _tree_problems(engine: "SliceEngine", s, label: str, tree, tags: dict, booked: dict[LinkKey, float],
                   tag_owner: dict[tuple, str], region: dict) -> list[str]:
    """One tree (``label``: primary or backup) of placed slice ``s``."""
    problems = []
    spec = s.live_spec
    t = nx.Graph(list(tree.edges))
    t.add_node(tree.root)
    if not nx.is_tree(t):
        problems.append(f"{s.name} {label} is not a tree")
    missing = set(spec.sites) - set(t)
    if missing:
        problems.append(f"{s.name} {label} misses endpoint sites {sorted(missing)}")
    for key in tree.links:
        booked[key] += spec.bandwidth_mbps
        if key in engine.down_links:
            problems.append(f"{s.name} {label} uses down link {sorted(key)}")
        if key not in tags:
            problems.append(f"{s.name} {label} has no tag on {sorted(key)}")
        elif (key, tags[key]) in tag_owner:
            problems.append(f"tag {tags[key]} on {sorted(key)} used by {s.name} and {tag_owner[(key, tags[key])]}")
        else:
            tag_owner[(key, tags[key])] = s.name
    if set(tags) != set(tree.links):
        problems.append(f"{s.name} {label} tags do not match its links")
    for site in t:
        if site in engine.down_sites:
            problems.append(f"{s.name} {label} crosses down site {site}")
        if spec.allowed_regions and region[site] not in spec.allowed_regions:
            problems.append(f"{s.name} {label} leaves its regions at {site}")
    if spec.max_latency_ms is not None and tree.worst_delay_ms > spec.max_latency_ms + 1e-6:
        problems.append(f"{s.name} {label} worst delay {tree.worst_delay_ms} > {spec.max_latency_ms}")
    return problems


def _booking_problems(ledger: Ledger, booked: dict[LinkKey, float]) -> list[str]:
    """Every link's bookings (``booked``, from the slices' trees) against its capacity
    and its residual in ``ledger``: never above capacity, residual = capacity - booked."""
    problems = []
    for key, cap in ledger.capacity.items():
        if booked[key] > cap + 1e-6:
            problems.append(f"link {sorted(key)} oversubscribed: {booked[key]:g} > {cap:g}")
        if abs(ledger.residual[key] - (cap - booked[key])) > 1e-6:
            problems.append(f"link {sorted(key)} residual {ledger.residual[key]:g} != {cap - booked[key]:g}")
    return problems


def _owner_problems(engine: "SliceEngine") -> list[str]:
    """Endpoints and ids owned once, and the owner index agreeing with the slices."""
    problems = []
    owners: dict[tuple, str] = {}
    for s in engine.slices.values():
        for key, e in [(k, e) for e in s.spec.endpoints for k in (e.key, e.standby_key) if k]:
            if key in owners:
                problems.append(f"endpoint {e} belongs to both {owners[key]} and {s.name}")
            owners[key] = s.name
    if owners != engine.endpoint_owner:
        wrong = sorted(set(owners.items()) ^ set(engine.endpoint_owner.items()), key=str)
        problems.append(f"endpoint owners disagree with the slices' endpoints: {wrong[:4]}")
    numbers = [s.number for s in engine.slices.values()]
    if len(set(numbers)) != len(numbers):
        problems.append("two slices share an id")
    return problems


def _calendar_problems(engine: "SliceEngine", tag_owner: dict[tuple, str]) -> list[str]:
    """Bookings ahead: the calendar is the sum of them, none is overbooked over its
    interval, no two overlapping ones share a tag and none shares one with a slice of
    today (their tags go to ``tag_owner``, once per link and tag)."""
    from slices.calendar import Calendar

    problems, fresh, held = [], Calendar(), {}
    for b in engine.bookings.values():
        for tree, tags in ((b.tree, b.tags), (b.backup, b.backup_tags)):
            if tree is None:
                continue
            if set(tags) != set(tree.links):
                problems.append(f"booking {b.name}: tags do not match its links")
            fresh.book(tree.links, b.t0, b.t1, b.spec.priority, b.spec.bandwidth_mbps)
            for k, tag in tags.items():
                for t0, t1, other in held.get((k, tag), ()):
                    if t0 < b.t1 and b.t0 < t1:
                        problems.append(f"tag {tag} on {sorted(k)} held by bookings {b.name} and {other} at once")
                held.setdefault((k, tag), []).append((b.t0, b.t1, b.name))
        today = engine.residual_from(b.t0)   # today's slices ending by its start are gone by then
        if b.tree is not None and any(today[k] - engine.calendar.peak(k, b.t0, b.t1) < -1e-6
                                      for k in b.tree.links):
            problems.append(f"booking {b.name} is overbooked over its interval")
    for k in set(engine.calendar.links) | set(fresh.links):
        mine, theirs = engine.calendar.links.get(k), fresh.links.get(k)
        times = sorted({*(mine.times if mine else ()), *(theirs.times if theirs else ())}) + [inf]
        for t0, t1 in zip(times, times[1:]):
            if abs(engine.calendar.peak(k, t0, t1) - fresh.peak(k, t0, t1)) > 1e-6:
                problems.append(f"calendar of {sorted(k)} is not the sum of its bookings at {t0}")
                break
    for key in held:
        if key in tag_owner:
            problems.append(f"tag {key[1]} on {sorted(key[0])} held by a booking and {tag_owner[key]}")
        tag_owner[key] = "a booking"
    return problems


def _tag_problems(tags: TagSpace, tag_owner: dict[tuple, str]) -> list[str]:
    """No tag allocated that no tree uses, and the full and scarce sets right."""
    problems = []
    if tags.in_use != len(tag_owner):
        problems.append(f"{tags.in_use} tags allocated, {len(tag_owner)} in use: leak")
    used = Counter(key for key, _tag in tag_owner)
    for name, known, free_below in (("full", tags.full, 1), ("scarce", tags.scarce, 2)):
        actual = {k for k, n in used.items() if tags.SIZE - n < free_below}
        if known != actual:
            problems.append(f"links the tag space calls {name} are not: {sorted(map(sorted, known ^ actual))[:4]}")
    return problems
