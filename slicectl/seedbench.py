"""`slicectl bench seed` (issue 28 item 2): the programme's scale, live. On the ``seed-scale``
WAN in Mininet (12 clouds, each a leaf-spine fabric, 9 exchanges: 69 real Open vSwitch
switches) with the controller, it creates ~3,600 application slices with more than 10,000
VLAN-tagged endpoints (:mod:`slicectl.seedload`), most in CreateSlices batches and the last
ones one CreateSlice at a time, and then, at that load, measures:

* the time to connectivity of new slices (p50, p99): from the CreateSlice call until a
  ping is answered both ways between two real host interfaces (VLAN subinterfaces made in
  the Mininet hosts for each probe slice), as `bench connectivity` measures it;
* a lost cloud: every switch of :data:`~slicectl.seedload.LOST_CLOUD` (border, spines,
  leaves) goes; every slice with an endpoint there, all of which have standbys, must be
  re-homed: how many, how long until the controller reports them all re-homed, and the
  outage a 10 ms ping stream between hosts saw on one re-homed probe slice;
* the controller's memory (RSS now and peak), flow entries per switch (max, median,
  total, from ``ovs-ofctl dump-aggregate``), meters, and entries per slice.

Settings, and why (the same as `bench batch` where it has them):

* link liveness from port status alone: the WAN's BFD and the controller's link probes are
  off (``bfd=False``, ``--no-probes``). One ovs-vswitchd emulates every switch on two
  cores, and hundreds of thousands of flow changes stall it for longer than BFD's 150 ms
  detection time, so every link would "fail" (measured at ~300 slices on 18 switches,
  see :mod:`slicectl.batchbench`); real switches have a CPU each and BFD in hardware.
  The lost cloud goes the way a power cut takes it: every switch of the cloud drops
  its controller connection at once, then every link of the cloud goes down (only the
  switches outside it can report theirs); the controller declares a cloud with a fabric
  lost when none of its switches answers and every link out of it is down, its inner
  links unheard of (controller.network).
* no SLA probes and no periodic reads (``--sla-interval 0 --stats-interval 0
  --audit-interval 0``): the SLA monitor sends an in-band probe both ways between every
  two endpoint sites of every slice each second (~20,000 frames a second at this load),
  and the audit and counters read every switch's tables (300,000 entries) every 5-10 s;
  both would measure the Python controller parsing its own reads, not slicing. They are
  what a deployment at this scale would have to run less often.
* node names prefixed (``sd`` by default), so that other WANs on the machine are left alone.
"""
from __future__ import annotations

import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Callable

import grpc

from proto.convert import doc_to_spec
from proto.defaults import MAX_BATCH
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.batchbench import create_batched, create_one_by_one, flows_per_switch
from slicectl.client import every_slice
from slicectl.failover import STREAM_INTERVAL_S, Stream, host_at, outage_of
from slicectl.launcher import ControllerProcess
from slicectl.report import percentile, render_table
from slicectl.seedload import (APPS_PER_CLOUD, LOST_CLOUD, TOPOLOGY, Load, expected_rehomes, lost_sites,
                               make_load)
from slicectl.targets import RECOVERY_TARGET_S, TTC_TARGET_S
from slicectl.verifyhosts import until_connected
from topologies import load
from topologies.emulation.links import OFFLOADS

Progress = Callable[[str], None]
CONTROLLER_OPTIONS = ("--no-probes", "--sla-interval", "0", "--stats-interval", "0", "--audit-interval", "0")
ONE_BY_ONE = 300          # slices created one CreateSlice at a time, after the batches
REHOME_TIMEOUT_S = 600.0
VLANTAP = str(Path(__file__).resolve().parent.parent / "topologies" / "emulation" / "vlantap.py")
STREAM_MAX_S = 600.0      # the re-home probe's stream runs until the slices are re-homed, at most this


# -- what the hosts and switches hold ---------------------------------------------------------

class VlanInterface:
    """A virtual server's interface in a Mininet host: ``v<vlan>`` (with ``ip``/24, if
    given), whose frames leave the host's interface tagged with ``vlan``. This kernel has
    no 8021q, so the tagging runs in userspace (:mod:`topologies.emulation.vlantap`) between
    ``v<vlan>``'s veth peer ``w<vlan>`` and the host's interface."""

    def __init__(self, host, vlan: int, ip: str | None):
        self.host, self.name = host, f"v{vlan}"
        out = host.cmd(f"ip link add {self.name} type veth peer name w{vlan} && ip link set w{vlan} up && "
                       f"ip link set {self.name} up && ethtool -K {self.name} {OFFLOADS} >/dev/null 2>&1; "
                       + (f"ip addr add {ip}/24 dev {self.name}" if ip else "true"))
        if out.strip():
            raise RuntimeError(f"{host.name}: cannot make {self.name}: {out.strip()}")
        self.proc = host.popen([sys.executable, VLANTAP, host.defaultIntf().name, str(vlan), f"w{vlan}"],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        if self.proc.stdout.readline().strip() != "ready":
            raise RuntimeError(f"{host.name}: the VLAN {vlan} tagger did not start")

    def remove(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        self.host.cmd(f"ip link del {self.name}")


def meters_per_switch(wan) -> dict[str, int]:
    """OpenFlow meters in each switch of the WAN."""
    out = {}
    for s in wan.plan.switches:
        text = subprocess.run(["ovs-ofctl", "-O", "OpenFlow13", "dump-meters", s.name],
                              capture_output=True, text=True, check=True).stdout
        out[s.name] = text.count("meter=")
    return out


def rss_mb(pid: int) -> dict[str, float]:
    """Resident memory of process ``pid`` now and at its peak (VmRSS, VmHWM), MB."""
    fields = dict(re.findall(r"^(VmRSS|VmHWM):\s+(\d+) kB", Path(f"/proc/{pid}/status").read_text(), re.M))
    return {"now": round(int(fields["VmRSS"]) / 1024, 1), "peak": round(int(fields["VmHWM"]) / 1024, 1)}


def ovs_rss_mb() -> dict[str, float] | None:
    pid = subprocess.run(["pidof", "ovs-vswitchd"], capture_output=True, text=True).stdout.split()
    return rss_mb(int(pid[0])) if pid else None


def spread(values: dict[str, int], base: dict[str, int] | None = None) -> dict:
    """Max, median and total over switches (less ``base``, the empty WAN's, if given)."""
    v = [n - (base or {}).get(k, 0) for k, n in values.items()]
    return {"max": max(v), "median": statistics.median(v), "total": sum(v)}


# -- the phases -------------------------------------------------------------------------------

def create_load(ctl: ControllerProcess, docs: list[dict], one_by_one: int, batch: int, progress: Progress) -> dict:
    """All but the last ``one_by_one`` in CreateSlices of ``batch``, then those one by one."""
    split = len(docs) - one_by_one
    out = {}
    for key, part, create in (("batched", docs[:split], lambda d: create_batched(ctl, d, batch, progress, 900)),
                              ("one_by_one", docs[split:], lambda d: create_one_by_one(ctl, d, progress, 120))):
        if not part:
            continue
        progress(f"creating {len(part):,} slices {'in batches of ' + str(batch) if key == 'batched' else 'one by one'}")
        started = time.monotonic()
        made = create(part)
        seconds = time.monotonic() - started
        active = sum(1 for s in made if s.state == pb.SLICE_STATE_ACTIVE)
        out[key] = {"slices": len(made), "seconds": round(seconds, 2), "slices_per_s": round(len(made) / seconds, 1),
                    "active": active}
        progress(f"  {len(made):,} in {seconds:.1f} s ({len(made) / seconds:,.1f}/s), {active:,} ACTIVE")
    return out


def time_to_connectivity(ctl: ControllerProcess, wan, probes: list[dict], progress: Progress) -> dict:
    """Each probe slice: its VLAN interfaces made in its hosts, created, timed until both
    ways answer a ping, deleted (and its interfaces)."""
    samples, failed = [], 0
    for i, doc in enumerate(probes):
        ends = [(host_at(wan, e["site"], e["port"])[0], e) for e in doc["endpoints"]]
        intfs = [VlanInterface(host, e["vlan"], e["ip"]) for host, e in ends]
        started = time.monotonic()
        ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(doc)), timeout=120)
        took, _ok = until_connected([(ends[0][0], ends[1][1]["ip"]), (ends[1][0], ends[0][1]["ip"])], started, 60)
        if took is None:
            failed += 1
        else:
            samples.append(took)
        ctl.slices.DeleteSlice(pb.DeleteSliceRequest(name=doc["name"]), timeout=120)
        for intf in intfs:
            intf.remove()
        if (i + 1) % 5 == 0:
            progress(f"  time to connectivity: {i + 1}/{len(probes)}, median so far "
                     f"{statistics.median(samples) if samples else float('nan'):.3f} s")
    return {"probes": len(probes), "connected": len(samples), "failed": failed,
            "samples_s": [round(t, 4) for t in samples],
            "p50_s": percentile(samples, 50), "p99_s": percentile(samples, 99),
            "max_s": max(samples, default=None), "target_s": TTC_TARGET_S}


def rehomed(ctl: ControllerProcess, expected: dict[str, int]) -> int:
    """How many of the ``expected`` slices are ACTIVE with that many endpoints at their standbys."""
    n = 0
    for s in every_slice(lambda request: ctl.slices.ListSlices(request, timeout=120), page_size=1000):
        name = s.spec.name.rpartition("/")[2]   # the tenant's namespace, if shown, left out
        if name in expected and s.state == pb.SLICE_STATE_ACTIVE \
                and sum(1 for e in s.endpoints if e.location == "standby") >= expected[name]:
            n += 1
    return n


class EventLog:
    """Every slice event of a WatchSlices stream (slice, kind, state, the controller's time),
    read in a thread of its own so that the stream never waits for the bench."""

    def __init__(self, ctl: ControllerProcess):
        self.events: list[tuple[str, str, int, float]] = []
        self.call = ctl.slices.WatchSlices(pb.WatchSlicesRequest())
        self.thread = threading.Thread(target=self._read, name="seed-events", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        try:
            for ev in self.call:
                self.events.append((ev.slice.rpartition("/")[2], ev.kind, ev.state,
                                    ev.time.seconds + ev.time.nanos / 1e9))
        except grpc.RpcError:
            pass   # cancelled by close()

    def close(self) -> None:
        self.call.cancel()
        self.thread.join(timeout=10)


def rehome_times(events: list[tuple[str, str, int, float]], expected: dict[str, int], since: float) -> list[float]:
    """For each expected slice whose every moved endpoint the controller announced
    (``endpoint-moved``), the seconds from ``since`` until it next said ACTIVE; sorted."""
    moved: dict[str, int] = {}
    done: dict[str, float] = {}
    for name, kind, state, at in events:
        if at < since or name not in expected or name in done:
            continue
        if kind == "endpoint-moved":
            moved[name] = moved.get(name, 0) + 1
        if moved.get(name, 0) >= expected[name] and state == pb.SLICE_STATE_ACTIVE:
            done[name] = at - since
    return sorted(done.values())


def lose_cloud(wan, sites: set[str]) -> None:
    """Every switch of ``sites`` without its controller, then every link of them cut: a
    cloud whose power failed (its switches report nothing; their neighbours outside it
    report their ports down)."""
    from topologies.emulation.faults import link_fault

    for sw in wan.plan.switches:
        if sw.site in sites:
            subprocess.run(["ovs-vsctl", "--timeout=10", "del-controller", sw.name], check=True, capture_output=True)
    inventory = wan.inventory()
    for link in wan.topo.links:
        if link.a in sites or link.b in sites:
            link_fault(inventory, link.a, link.b, "cut")


def _stream_outage(stream: Stream) -> tuple[float, int, int]:
    """End the ping stream now; (longest run lost x interval, lost, sent)."""
    if stream.proc.poll() is None:
        stream.proc.send_signal(signal.SIGINT)
    stream.proc.wait(timeout=30)
    text = stream.record.read_text()
    sent = int(m.group(1)) if (m := re.search(r"(\d+) packets transmitted", text)) else stream.count
    return outage_of(text, sent)


def lost_cloud(ctl: ControllerProcess, wan, load_: Load, work: Path, progress: Progress) -> dict:
    """The re-home probe set up and connected, a stream on it, then LOST_CLOUD lost: how many
    slices the controller re-homed, how soon, and the stream's outage."""
    doc = load_.rehome_probe
    near, far = doc["endpoints"]
    near_host = host_at(wan, near["site"], near["port"])[0]
    far_host = host_at(wan, far["site"], far["port"])[0]
    standby_host = host_at(wan, far["standby"]["site"], far["standby"]["port"])[0]
    intfs = [VlanInterface(near_host, near["vlan"], near["ip"]), VlanInterface(far_host, far["vlan"], far["ip"]),
             VlanInterface(standby_host, far["vlan"], None)]
    standby_intf = intfs[-1].name
    started = time.monotonic()
    ctl.slices.CreateSlice(pb.CreateSliceRequest(spec=doc_to_spec(doc)), timeout=120)
    took, _ok = until_connected([(near_host, far["ip"]), (far_host, near["ip"])], started, 60)
    sites = lost_sites(wan.topo)
    expected = expected_rehomes(load_.slices + [doc], sites)
    progress(f"lost cloud {LOST_CLOUD}: probe slice connected in {_s(took)}; {len(expected):,} slices have "
             f"endpoints there with standbys; losing its {len(sites)} switches")
    stream = Stream(near_host, far["ip"], STREAM_MAX_S, work / "rehome-stream.txt")
    events = EventLog(ctl)
    time.sleep(1.0)
    t0, wall0 = time.monotonic(), time.time()
    lose_cloud(wan, sites)
    # the standby's service takes the address and announces it, as keepalived would
    arping = standby_host.cmd(f"ip addr add {far['ip']}/24 dev {standby_intf}; arping -q -U -I {standby_intf} "
                              f"-c {int(STREAM_MAX_S)} {far['ip']} > /dev/null 2>&1 & echo $!").split()[-1]
    fault_s = time.monotonic() - t0
    done, seconds = 0, None
    while time.monotonic() - t0 < REHOME_TIMEOUT_S:
        done = rehomed(ctl, expected)
        progress(f"  {time.monotonic() - t0:6.1f} s: {done:,}/{len(expected):,} slices re-homed")
        if done == len(expected):
            seconds = time.monotonic() - t0
            break
        time.sleep(1.0)
    time.sleep(3.0)   # the stream sees traffic again after the re-home, if it does
    outage, lost, sent = _stream_outage(stream)
    events.close()
    said = rehome_times(events.events, expected, wall0)
    standby_host.cmd(f"kill {arping}")
    for intf in intfs:
        intf.remove()
    return {"cloud": LOST_CLOUD, "switches": len(sites), "slices_with_standbys": len(expected),
            "rehomed": done, "seconds_to_rehomed": round(seconds, 2) if seconds is not None else None,
            "rehomed_by_events": len(said), "events_rehomed_p50_s": percentile(said, 50),
            "events_rehomed_last_s": round(said[-1], 3) if said else None,
            "fault_injection_s": round(fault_s, 2), "probe_outage_ms": round(outage * 1000),
            "probe_lost": lost, "probe_sent": sent, "stream_interval_ms": STREAM_INTERVAL_S * 1000,
            "target_s": RECOVERY_TARGET_S}


# -- the whole run ----------------------------------------------------------------------------

def _counts(ctl: ControllerProcess, wan, base: dict[str, int], slices: int, progress: Progress) -> dict:
    """Flow entries and meters in the switches, entries per slice, the memory."""
    flows, meters = flows_per_switch(wan), meters_per_switch(wan)
    states: dict[str, int] = {}
    for s in every_slice(lambda request: ctl.slices.ListSlices(request, timeout=120), page_size=1000):
        name = pb.SliceState.Name(s.state).removeprefix("SLICE_STATE_").lower()
        states[name] = states.get(name, 0) + 1
    out = {"flow_entries_per_switch": spread(flows), "flow_entries_empty_wan": sum(base.values()),
           "slice_entries_per_switch": spread(flows, base),
           "entries_per_slice": round((sum(flows.values()) - sum(base.values())) / max(1, slices), 1),
           "busiest_switch": next(s.site for s in wan.plan.switches if s.name == max(flows, key=flows.get)),
           "meters_per_switch": spread(meters), "states": states,
           "controller_rss_mb": rss_mb(ctl.proc.pid), "ovs_vswitchd_rss_mb": ovs_rss_mb()}
    progress(f"  switches hold {out['flow_entries_per_switch']['total']:,} flow entries (at most "
             f"{out['flow_entries_per_switch']['max']:,} on one), {out['meters_per_switch']['total']:,} meters; "
             f"slices {states}; controller RSS {out['controller_rss_mb']['now']} MB")
    return out


def run_seed_bench(progress: Progress, apps_per_cloud: int = APPS_PER_CLOUD, one_by_one: int = ONE_BY_ONE,
                   probes: int = 20, batch: int = MAX_BATCH, seed: int = 1, prefix: str = "sd",
                   work: Path | None = None) -> dict:
    """The whole benchmark (see the module text); the figures. ``work``: where the
    controller's log and the ping records go (default: a temporary directory)."""
    from topologies.emulation.wan import Wan

    topo = load(TOPOLOGY)
    load_ = make_load(topo, apps_per_cloud, probes, seed)
    docs = load_.slices
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="slicing-seed-") as tmp:
        work = Path(work or tmp)
        work.mkdir(parents=True, exist_ok=True)
        with ControllerProcess(TOPOLOGY, Path(tmp) / "store.db", work / "controller.log",
                               CONTROLLER_OPTIONS) as ctl, \
                Wan(topo, controller=("127.0.0.1", ctl.of), progress=progress, bfd=False, prefix=prefix) as wan:
            up_s = ctl.wait_switches(timeout=300)
            progress(f"{len(wan.plan.switches)} switches connected in {up_s:.1f} s; "
                     f"{len(docs):,} slices with {load_.endpoints:,} endpoints to create")
            base = flows_per_switch(wan)
            created = create_load(ctl, docs, min(one_by_one, len(docs)), batch, progress)
            counts = _counts(ctl, wan, base, len(docs), progress)
            progress(f"time to connectivity of {len(load_.probes)} new slices at this load")
            ttc = time_to_connectivity(ctl, wan, load_.probes, progress)
            lost = lost_cloud(ctl, wan, load_, work, progress)
            after = _counts(ctl, wan, base, len(docs) + 1, progress)
    return {"topology": topo.name, "clouds": sum(1 for s in topo.sites if s.kind == "cloud"),
            "switches": len(topo.sites), "links": len(topo.links), "seed": seed,
            "apps_per_cloud": apps_per_cloud, "slices": len(docs), "endpoints": load_.endpoints,
            "standbys": sum(1 for d in docs for e in d["endpoints"] if "standby" in e),
            "controller_options": list(CONTROLLER_OPTIONS), "switches_connected_s": round(up_s, 1),
            "created": created, "at_load": counts, "ttc": ttc, "lost_cloud": lost, "after_lost_cloud": after,
            "controller_rss_peak_mb": after["controller_rss_mb"]["peak"],
            "total_s": round(time.monotonic() - started, 1)}


def format_report(r: dict) -> str:
    c, a, t, l = r["created"], r["at_load"], r["ttc"], r["lost_cloud"]
    f, m = a["flow_entries_per_switch"], a["meters_per_switch"]
    rows = [("clouds / switches / links", f"{r['clouds']} / {r['switches']} / {r['links']}"),
            ("slices / endpoints (standbys)", f"{r['slices']:,} / {r['endpoints']:,} ({r['standbys']:,})")]
    for key, label in (("batched", "created in CreateSlices"), ("one_by_one", "created one CreateSlice each")):
        if key in c:
            p = c[key]
            rows.append((label, f"{p['slices']:,} in {p['seconds']:.1f} s, {p['slices_per_s']:,.1f}/s, "
                                f"{p['active']:,} ACTIVE"))
    rows += [("slices by state at load", ", ".join(f"{k} {v:,}" for k, v in a["states"].items())),
             ("time to connectivity", f"p50 {_s(t['p50_s'])}, p99 {_s(t['p99_s'])}, max {_s(t['max_s'])} "
                                      f"({t['connected']}/{t['probes']} connected; target 10 min)"),
             (f"lost cloud {l['cloud']} ({l['switches']} switches)",
              f"{l['rehomed']:,}/{l['slices_with_standbys']:,} slices re-homed (ListSlices showed all at "
              f"{_s(l['seconds_to_rehomed'])}); by the controller's events half in {_s(l['events_rehomed_p50_s'])}, "
              f"all {l['rehomed_by_events']:,} in {_s(l['events_rehomed_last_s'])}; "
              f"probe outage {l['probe_outage_ms']:,} ms ({l['probe_lost']}/{l['probe_sent']} pings lost)"),
             ("flow entries per switch", f"max {f['max']:,}, median {f['median']:,.0f}, total {f['total']:,} "
                                         f"({a['entries_per_slice']} per slice)"),
             ("meters per switch", f"max {m['max']:,}, median {m['median']:,.0f}, total {m['total']:,}"),
             ("controller RSS", f"{a['controller_rss_mb']['now']} MB at load, peak {r['controller_rss_peak_mb']} MB"),
             ("ovs-vswitchd RSS", f"{(a['ovs_vswitchd_rss_mb'] or {}).get('now', '?')} MB"),
             ("whole run", f"{r['total_s'] / 60:.1f} min")]
    return f"seed scale on {r['topology']} (real Open vSwitch, port status only)\n" + render_table(("", ""), rows)


def _s(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds:.3f} s" if seconds < 10 else f"{seconds:.1f} s"


def healthy(r: dict) -> bool:
    """Every slice created ACTIVE and still ACTIVE at load and after the lost cloud; every
    probe slice connected; every slice with a standby in the lost cloud re-homed, and the
    probe stream saw traffic again; the switches hold entries and meters."""
    created = sum(p["slices"] for p in r["created"].values())
    active = sum(p["active"] for p in r["created"].values())
    t, l = r["ttc"], r["lost_cloud"]
    return (created == active == r["slices"]
            and r["at_load"]["states"] == {"active": r["slices"]}
            and r["after_lost_cloud"]["states"] == {"active": r["slices"] + 1}
            and t["failed"] == 0 and t["connected"] == t["probes"]
            and l["rehomed"] == l["slices_with_standbys"] and l["seconds_to_rehomed"] is not None
            and l["probe_lost"] < l["probe_sent"]
            and r["at_load"]["flow_entries_per_switch"]["total"] > r["slices"]
            and r["at_load"]["meters_per_switch"]["total"] >= r["slices"])
