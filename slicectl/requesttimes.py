"""Where a request's time goes, from the controller's own histograms (controller.metrics):
scraped before and after a run of one kind of request, the mean of each part over the run.

The parts of one request, as the controller times them: the API call as the server sees
it (``api``), within it the engine's decision, the compile (plan and diff), the push
(every make-before-break round: sending to every switch it touches, then waiting for the
last barrier reply) and the store (states, write, commit); ``other`` is the API call less
those (gRPC, the owner thread's queue, the answer)."""
from __future__ import annotations

import urllib.request

from prometheus_client.parser import text_string_to_metric_families

Scrape = dict[tuple[str, tuple], float]


def scrape(url: str, timeout: float = 60) -> Scrape:
    """The sums and counts of every histogram at ``url`` (a /metrics page); empty if it
    does not answer in ``timeout`` seconds (a controller busy with a thousand slices on a
    loaded machine can take that long): the figures are then left out, not the run."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return parsed(r.read().decode())
    except OSError:   # TimeoutError, URLError, a refused connection
        return {}


def parsed(text: str) -> Scrape:
    """The sums and counts of every histogram of a /metrics page's ``text``."""
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for family in text_string_to_metric_families(text) for s in family.samples
            if s.name.endswith(("_sum", "_count"))}


def _delta(before: Scrape, after: Scrape, name: str, **labels) -> tuple[float, float]:
    """How many observations ``name`` (with ``labels``) got between the scrapes, and their sum."""
    key = tuple(sorted(labels.items()))
    return tuple(after.get((f"{name}_{x}", key), 0.0) - before.get((f"{name}_{x}", key), 0.0)
                 for x in ("count", "sum"))


def breakdown(before: Scrape, after: Scrape, method: str) -> dict[str, float]:
    """Mean milliseconds per ``method`` request (OK ones) of each part between the scrapes;
    empty when there were none."""
    n, api = _delta(before, after, "intercloud_api_request_seconds", method=method, code="OK")
    if not before or not after or not n:
        return {}
    out = {"api": api}
    out["engine"] = _delta(before, after, "intercloud_engine_decision_seconds")[1]
    for part in ("compile", "push", "store"):
        out[part] = _delta(before, after, "intercloud_request_part_seconds", part=part)[1]
    out["other"] = out["api"] - sum(out[p] for p in ("engine", "compile", "push", "store"))
    rounds, send = _delta(before, after, "intercloud_push_round_seconds", part="send")
    out["push_send"], out["push_wait"] = send, _delta(before, after, "intercloud_push_round_seconds", part="wait")[1]
    barriers, waited = _delta(before, after, "intercloud_barrier_wait_seconds")
    ms = {k: round(v / n * 1000, 2) for k, v in out.items()}
    ms["rounds_per_request"] = round(rounds / n, 2)
    ms["barriers_per_request"] = round(barriers / n, 2)
    ms["barrier_reply_mean_ms"] = round(waited / barriers * 1000, 2) if barriers else 0.0
    return ms
