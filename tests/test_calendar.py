"""The per-link calendar against a brute-force model: a list of bookings, the level at
each moment summed by hand."""
import math
import random

from slices.calendar import Calendar, LinkCalendar, overlaps
from slices.placement import link_key

INF = math.inf


def level_at(bookings, t, from_priority=0):
    return sum(m for a, b, p, m in bookings if a <= t < b and p >= from_priority)


def brute_peak(bookings, t0, t1, from_priority=0):
    moments = {t0} | {a for a, _b, _p, _m in bookings if t0 <= a < t1} | {b for _a, b, _p, _m in bookings if t0 <= b < t1}
    return max(0.0, max(level_at(bookings, t, from_priority) for t in moments))


def test_peak_matches_brute_force_over_random_bookings_and_releases():
    rng = random.Random(27)
    for _round in range(30):
        cal, model = LinkCalendar(), []
        for _ in range(rng.randint(1, 40)):
            if model and rng.random() < 0.3:        # release one
                a, b, p, m = model.pop(rng.randrange(len(model)))
                cal.add(a, b, p, -m)
                continue
            a = float(rng.randint(0, 100))
            b = INF if rng.random() < 0.1 else a + rng.randint(1, 30)
            p, m = rng.randint(0, 7), float(rng.choice([1, 2, 5, 10]))
            cal.add(a, b, p, m)
            model.append((a, b, p, m))
        for _ in range(20):
            t0 = float(rng.randint(-5, 120))
            t1 = INF if rng.random() < 0.1 else t0 + rng.randint(1, 40)
            p = rng.randint(0, 7)
            assert math.isclose(cal.peak(t0, t1, p), brute_peak(model, t0, t1, p), abs_tol=1e-9), (t0, t1, p)
            assert math.isclose(cal.peak(t0, t1), brute_peak(model, t0, t1), abs_tol=1e-9)
            booked, a, z = cal.busiest(t0, t1)
            if booked > 0:
                assert t0 <= a < z <= t1 and math.isclose(level_at(model, a), booked, abs_tol=1e-9)
        assert math.isclose(cal.peak(-INF, INF), brute_peak(model, -INF, INF), abs_tol=1e-9)


def test_residual_shortcut_keeps_every_answer_placement_asks():
    # placement asks "need left?" and, for a primary and backup on one link, "twice need?"
    rng = random.Random(3)
    key = link_key("a", "b")
    for _ in range(200):
        c = Calendar()
        for _ in range(rng.randint(1, 6)):
            a = float(rng.randint(0, 50))
            c.book([key], a, a + rng.randint(1, 20), rng.randint(0, 7), float(rng.randint(1, 40)))
        t0 = float(rng.randint(0, 60))
        t1 = t0 + rng.randint(1, 20)
        need = float(rng.randint(1, 30))
        exact = c.residual({key: 100.0}, t0, t1)[key]
        fast = c.residual({key: 100.0}, t0, t1, need=need)[key]
        assert (fast >= need) == (exact >= need) and (fast >= 2 * need) == (exact >= 2 * need), (exact, fast, need)
        assert fast <= exact + 1e-9


def test_one_tags_intervals_overlap_only_by_the_last_before_the_end():
    held = [(0.0, 10.0, "a"), (20.0, 30.0, "b"), (40.0, 50.0, "c")]
    assert overlaps(held, 5, 6) and overlaps(held, 29, 35) and overlaps(held, -5, 0.5)
    assert not overlaps(held, 10, 20) and not overlaps(held, 30, 40) and not overlaps(held, 50, INF)
    assert overlaps(held, 35, INF)
