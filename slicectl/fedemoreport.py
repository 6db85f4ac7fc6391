"""The federation demo's figures judged against issue 26's goals, and the summary table,
from its run record alone (pure: no Mininet, no controller), so that what the demo claims
can be tested, and recomputed from ``results/demo-federation.json`` after the fact.

The run record (what :mod:`slicectl.fedemo` writes) holds, per part of the demo:

- ``ttc``: ``slices`` (name, sites, ``baseline_s``, ``federation_s``; None: never connected),
  ``baseline`` / ``federation`` (p50, max) and ``ratio`` (ratio of the medians);
- ``border_cut``: the border, ``outage_s``, ``lost``, ``sent``, the slice's domains before and after;
- ``domain_down``: the domain, ``lost``, ``sent``, the refusal (``details``), after the
  restart ``pairs_ok`` / ``pairs`` and ``watched_again``;
- ``isolation``: ``tries`` and ``crossed`` (pings that should have failed and passed).
"""
from __future__ import annotations

import statistics
from dataclasses import dataclass

from slicectl.report import render_table

TTC_RATIO = 3.0          # federation's median time to connectivity at most 3x one controller's
BORDER_OUTAGE_S = 1.0    # a cut border: traffic back within 1 s (10 ms ping stream)
LOST_DOMAIN_DOWN = 0     # probes lost while a domain's controller is down


@dataclass(frozen=True)
class Goal:
    """One claim of the demo: what was measured, against what, and whether it held."""

    name: str
    measured: str
    target: str
    met: bool


def ttc_summary(baseline: list[float | None], federation: list[float | None]) -> dict:
    """p50 and max of each series (connected slices only) and the ratio of the medians;
    a series with a slice that never connected has ``connected`` < ``slices``, and no ratio
    is given unless both connected fully (a ratio over survivors would flatter)."""
    def stats(xs: list[float | None]) -> dict:
        ok = [x for x in xs if x is not None]
        return {"slices": len(xs), "connected": len(ok), "p50_s": statistics.median(ok) if ok else None,
                "max_s": max(ok) if ok else None}
    base, fed = stats(baseline), stats(federation)
    full = base["connected"] == base["slices"] > 0 and fed["connected"] == fed["slices"] > 0
    ratio = fed["p50_s"] / base["p50_s"] if full and base["p50_s"] else None
    return {"baseline": base, "federation": fed, "ratio": ratio}


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f} ms"


def goals(record: dict) -> list[Goal]:
    """Every goal of the demo, in the order the demo runs them; a part missing from the
    record (the run stopped before it) is a goal not met."""
    out = []
    ttc = record.get("ttc") or {}
    ratio = ttc.get("ratio")
    out.append(Goal("time to connectivity, federation / one controller (p50)",
                    "-" if ratio is None else f"{ratio:.2f}x", f"<= {TTC_RATIO:g}x",
                    ratio is not None and ratio <= TTC_RATIO))
    cut = record.get("border_cut") or {}
    out.append(Goal(f"border {cut.get('border', '?')} cut: outage",
                    f"{_ms(cut.get('outage_s'))} ({cut.get('lost', '?')}/{cut.get('sent', '?')} lost)",
                    f"<= {BORDER_OUTAGE_S * 1000:.0f} ms",
                    cut.get("outage_s") is not None and cut["outage_s"] <= BORDER_OUTAGE_S))
    after, via = cut.get("domains_after") or [], cut.get("via", "west")
    out.append(Goal("cut border: the slice re-routed through another domain", ", ".join(after) or "-",
                    f"through {via}", via in after))
    down = record.get("domain_down") or {}
    domain = down.get("domain", "?")
    lost = down.get("lost")
    out.append(Goal(f"{domain}'s controller down: probes lost", f"{lost if lost is not None else '-'}/"
                    f"{down.get('sent', '-')}", f"{LOST_DOMAIN_DOWN}", lost is not None and lost <= LOST_DOMAIN_DOWN))
    details = (down.get("refused") or {}).get("details") or ""
    out.append(Goal(f"{domain} down: a new slice that needs it is refused naming it",
                    (details[:60] + "...") if len(details) > 60 else details or "not refused",
                    f"names domain {domain}", f"domain {domain}" in details))
    ok, pairs = down.get("pairs_ok"), down.get("pairs")
    out.append(Goal(f"{domain} back: every endpoint pair passes, {domain} watched again",
                    f"{ok if ok is not None else '-'}/{pairs if pairs is not None else '-'} pairs, watched "
                    f"{'yes' if down.get('watched_again') else 'no'}", "all pairs, watched",
                    pairs is not None and pairs > 0 and ok == pairs and bool(down.get("watched_again"))))
    iso = record.get("isolation") or {}
    out.append(Goal("isolation: hosts outside the slices reach none of them (and back)",
                    f"{iso.get('crossed', '-')}/{iso.get('tries', '-')} pings crossed", "0",
                    bool(iso.get("tries")) and iso.get("crossed") == 0))
    return out


def all_met(record: dict) -> bool:
    return all(g.met for g in goals(record))


def format_ttc(record: dict) -> str:
    """Per slice: its sites and the two times to connectivity, then p50 and max."""
    ttc = record.get("ttc") or {}
    rows = [(s["name"], ", ".join(s["sites"]), _ms(s.get("baseline_s")), _ms(s.get("federation_s")))
            for s in ttc.get("slices", [])]
    for key in ("p50_s", "max_s"):
        rows.append((key.removesuffix("_s"), "", _ms((ttc.get("baseline") or {}).get(key)),
                     _ms((ttc.get("federation") or {}).get(key))))
    return render_table(("slice", "sites", "one controller", "federation (3 controllers)"), rows, rule=True)


def format_goals(record: dict) -> str:
    rows = [(g.name, g.measured, g.target, "met" if g.met else "MISSED") for g in goals(record)]
    return render_table(("goal", "measured", "target", ""), rows, rule=True)


def format_summary(record: dict) -> str:
    """The closing summary: times to connectivity, then every goal, then PASS or FAIL."""
    met = goals(record)
    verdict = "PASS" if all(g.met for g in met) else "FAIL"
    return "\n".join([f"Time to connectivity on {record.get('federation', '?')}, one sitting "
                      f"(each slice deleted before the next, in both runs)", format_ttc(record), "",
                      "Goals of issue 26", format_goals(record), "",
                      f"{verdict}: {sum(g.met for g in met)}/{len(met)} goals met"])


__all__ = ["BORDER_OUTAGE_S", "Goal", "LOST_DOMAIN_DOWN", "TTC_RATIO", "all_met", "format_summary", "goals",
           "ttc_summary"]
