"""Measure every emulated link and compare it with its configuration.

For each link a probe host on one end pings the probe on the other (min RTT over a burst,
pinned to that link by :func:`plan.static_flows`), then runs iperf3 TCP across it.

The ping path also crosses the two software switches each way. On a userspace datapath
one ovs-vswitchd thread polls every port of every bridge in turn, so a pass costs from
~0.1 ms (4 bridges) to ~1 ms (18 bridges, 150 ports), depending on where in that round
the frame arrives. That is the instrument, not the link. So the check also measures the
very same path - same probes, ports, switches and relay - with the link switched for a
moment to a known reference delay (:meth:`WanLink.use_reference_delay`, 1 ms); that RTT
less 2 x 1 ms is the baseline, subtracted from the raw RTT. Both raw RTT
and baseline are reported, to 0.01 ms, and the link RTT is their difference as printed
(not clamped: on a link of no delay it may come out a little below zero). A zero-delay twin link was tried first and dropped: its ports
sit elsewhere in the switch's polling round, which biased the baseline by up to ±1 ms.

Targets: min RTT within max(1 ms, 5 %) of 2 x one-way delay; TCP goodput between 90 %
and 105 % of the configured bandwidth for links up to 100 Mbit/s (faster links are
reported, not judged: the userspace datapath tops out near 400-700 Mbit/s).
"""
from __future__ import annotations

import json
import math
import os
import re
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from topologies.emulation.relay import REFERENCE_DELAY_MS
from topologies.emulation.wan import Progress, Wan

RTT_ABS_MS = 1.0
RTT_REL = 0.05
BW_LOW, BW_HIGH = 0.90, 1.05
BW_JUDGED_UP_TO_MBPS = 100.0
PINGS = 50
MAX_ROUNDS = 3  # noise only ever adds to a min RTT: off target, pool more samples
SETTLE_S = 0.05  # after switching a link's delay, let frames in flight drain
IPERF_SECONDS = 3
_RTT = re.compile(r"= ([\d.]+)/([\d.]+)/([\d.]+)/")


@dataclass
class LinkResult:
    a: str
    b: str
    bandwidth_mbps: float
    delay_ms: float
    mechanism: str
    measured_rtt_ms: float | None   # raw_rtt_ms - baseline_rtt_ms: the link's own RTT
    raw_rtt_ms: float | None
    baseline_rtt_ms: float | None
    measured_mbps: float | None
    delay_ok: bool
    bandwidth_ok: bool | None   # None: not judged (above 100 Mbit/s)
    rounds: int = 1
    error: str = ""

    @property
    def ok(self) -> bool:
        return self.delay_ok and self.bandwidth_ok is not False and not self.error


def rtt_target(delay_ms: float) -> tuple[float, float]:
    """Allowed (low, high) link RTT for a one-way delay: 2 x delay within max(1 ms, 5 %).
    Where that reaches zero there is no low end (-inf): a link RTT is the difference of
    two measurements, and on a link of (almost) no delay the baseline may come out above
    the raw RTT; too little delay cannot be told from the measuring path's noise there."""
    want = 2 * delay_ms
    slack = max(RTT_ABS_MS, RTT_REL * want)
    return (want - slack if want > slack else -math.inf), want + slack


def link_rtt(raw: float | None, baseline: float | None) -> float | None:
    """The link's own RTT: raw min RTT less the baseline, both to 0.01 ms as reported, so
    the figures printed side by side add up exactly. Not clamped at zero: a negative value
    is the measuring path's noise on a link that adds (almost) nothing, and is judged as
    measured."""
    if raw is None or baseline is None:
        return None
    return round(round(raw, 2) - round(baseline, 2), 2)


def delay_line(i: int, total: int, a: str, b: str, delay_ms: float, rtt: float | None, raw: float | None,
               baseline: float | None) -> str:
    """One progress line of the delay pass: the arithmetic, the target and the verdict."""
    low, high = rtt_target(delay_ms)
    ok = rtt is not None and low <= rtt <= high
    sums = ("no reply" if rtt is None else
            f"link RTT {rtt:.2f} ms = raw {raw:.2f} - baseline {baseline:.2f}")
    note = " (below zero: the measuring path's noise, this link adds almost nothing)" if rtt is not None and rtt < 0 else ""
    want = f"want {2 * delay_ms:.2f} ± {high - 2 * delay_ms:.2f}" if low > -math.inf else f"want ≤ {high:.2f}"
    return f"delay [{i}/{total}] {a}—{b}: {sums}{note}; {want}: {'ok' if ok else 'OFF TARGET'}"


def judge_bandwidth(configured: float, measured: float | None) -> bool | None:
    if configured > BW_JUDGED_UP_TO_MBPS:
        return None
    return measured is not None and BW_LOW * configured <= measured <= BW_HIGH * configured


def _ping_cmd(dst_ip: str, count: int) -> list[str]:
    return ["ping", "-c", str(count), "-i", "0.01", "-W", "3", "-q", dst_ip]


def _parse_min(out: str) -> float | None:
    m = _RTT.search(out)
    return float(m.group(1)) if m else None


def min_rtt(src, dst_ip: str, count: int = PINGS) -> float | None:
    return _parse_min(src.cmd(" ".join(_ping_cmd(dst_ip, count))))


def tcp_goodput(src, dst, rtt_ms: float, seconds: int = IPERF_SECONDS) -> tuple[float | None, str]:
    """Receiver-side TCP goodput in Mbit/s, slow start omitted."""
    omit = max(1, math.ceil(10 * rtt_ms / 1000))  # ~10 RTTs of slow start
    # the server's pid file names the one process to stop afterwards (pkill -f would find
    # every WAN's iperf3 on this machine: hosts share the PID namespace)
    pidfile = Path(tempfile.gettempdir()) / f"intercloud-iperf3-{os.getpid()}-{dst.name}.pid"
    dst.cmd(f"iperf3 -s -1 -D -p 5201 -I {pidfile} >/dev/null 2>&1")
    out = ""
    for _ in range(20):  # the daemon needs a moment to listen
        out = src.cmd(f"iperf3 -c {dst.IP()} -p 5201 -t {seconds} -O {omit} -C cubic -J")
        if "Connection refused" not in out and "unable to connect" not in out:
            break
        time.sleep(0.1)
    dst.cmd(f"kill $(cat {pidfile} 2>/dev/null) >/dev/null 2>&1; rm -f {pidfile}")
    try:
        result = json.loads(out[out.index("{"):])
        return result["end"]["sum_received"]["bits_per_second"] / 1e6, ""
    except (ValueError, KeyError) as e:
        return None, f"iperf3 failed: {str(out).strip()[-200:] or e}"


def check_links(wan: Wan, progress: Progress) -> list[LinkResult]:
    """Delay of every link first, then throughput of every link: a TCP test leaves a full
    queue draining through the datapath for a while, which would load the next ping."""
    if not any(h.probe for h in wan.plan.hosts):
        raise ValueError("the fidelity check needs a WAN built with probes=True")
    plan, total = wan.plan, len(wan.plan.links)
    rtts = []
    for i, l in enumerate(plan.links, start=1):
        pa, pb = wan.host(plan.probe_of(l.a).name), wan.host(plan.probe_of(l.b).name)
        link = wan.link(l.a, l.b)
        min_rtt(pa, pb.IP(), count=2)  # warm ARP and the datapath's flow cache
        low, high = rtt_target(l.delay_ms)
        baseline = raw = rtt = None
        for rounds in range(1, MAX_ROUNDS + 1):
            if link.mechanism == "none":  # a plain veth: nothing to switch, judged raw
                baseline = 0.0
            else:
                link.use_reference_delay(True)
                time.sleep(SETTLE_S + 2 * l.delay_ms / 1000)
                try:
                    ref = min_rtt(pa, pb.IP())
                finally:
                    link.use_reference_delay(False)
                if ref is not None:
                    baseline = _min(baseline, round(ref - 2 * REFERENCE_DELAY_MS, 2))
                time.sleep(SETTLE_S)
            raw = _min(raw, _rounded(min_rtt(pa, pb.IP())))
            rtt = link_rtt(raw, baseline)
            if rtt is not None and low <= rtt <= high:
                break
        rtts.append((rtt, raw, baseline, rounds))
        progress(delay_line(i, total, l.a, l.b, l.delay_ms, rtt, raw, baseline))
    results = []
    for i, (l, (rtt, raw, baseline, rounds)) in enumerate(zip(plan.links, rtts), start=1):
        pa, pb = wan.host(plan.probe_of(l.a).name), wan.host(plan.probe_of(l.b).name)
        mbps, err = tcp_goodput(pa, pb, raw or 2 * l.delay_ms)
        low, high = rtt_target(l.delay_ms)
        r = LinkResult(a=l.a, b=l.b, bandwidth_mbps=l.bandwidth_mbps, delay_ms=l.delay_ms,
                       mechanism=wan.link_mechanisms[(l.a, l.b)], measured_rtt_ms=rtt,
                       raw_rtt_ms=raw, baseline_rtt_ms=baseline,
                       measured_mbps=None if mbps is None else round(mbps, 2),
                       delay_ok=rtt is not None and low <= rtt <= high,
                       bandwidth_ok=judge_bandwidth(l.bandwidth_mbps, mbps), rounds=rounds,
                       error=err if rtt is not None else "no ping reply")
        results.append(r)
        progress(throughput_line(i, total, l.a, l.b, l.bandwidth_mbps, mbps, err))
    return results


def throughput_line(i: int, total: int, a: str, b: str, configured: float, mbps: float | None, err: str = "") -> str:
    """One progress line of the throughput pass: measured against configured, the share,
    and the throughput's own verdict (the delay had its line)."""
    judged = judge_bandwidth(configured, mbps)
    if mbps is None:
        return f"throughput [{i}/{total}] {a}—{b}: no transfer ({err or 'iperf3 failed'}): OFF TARGET"
    verdict = {True: "ok", False: "OFF TARGET", None: f"not judged (above {BW_JUDGED_UP_TO_MBPS:g} Mbit/s)"}[judged]
    return (f"throughput [{i}/{total}] {a}—{b}: {mbps:.1f} of {configured:g} Mbit/s ({mbps / configured:.0%}; "
            f"want {BW_LOW:.0%}-{BW_HIGH:.0%}): {verdict}")


def _rounded(v: float | None) -> float | None:
    return None if v is None else round(v, 2)


def _min(a: float | None, b: float | None) -> float | None:
    return b if a is None else a if b is None else min(a, b)


def run_check(wan_factory, progress: Progress) -> dict:
    """Build the WAN (with probes), measure every link, tear down; return the report."""
    started = time.monotonic()
    with wan_factory() as wan:
        results = check_links(wan, progress)
        mechanism = wan.delay_mechanism
        name = wan.topo.name
    return {
        "topology": name,
        "delay_mechanism": mechanism,
        "targets": {"rtt": f"within max({RTT_ABS_MS:g} ms, {RTT_REL:.0%}) of 2 x delay_ms",
                    "bandwidth": f"{BW_LOW:.0%}-{BW_HIGH:.0%} of bandwidth_mbps for links "
                                 f"<= {BW_JUDGED_UP_TO_MBPS:g} Mbit/s"},
        "links": [asdict(r) | {"ok": r.ok} for r in results],
        "ok": all(r.ok for r in results),
        "duration_s": round(time.monotonic() - started, 1),
    }

