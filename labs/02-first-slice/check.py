"""Self-check of lab 2: the student's slice spec, applied as `slicectl apply` would, connects
its endpoints and nobody else within the promised bound; the student's gRPC client creates
a working slice and reports a refusal cleanly."""
import sys

from slicectl.lab import last_line

TITLE = "First slice: slicectl and a 30-line gRPC client"
MINUTES = 45
ITEMS = {
    "spec": "slice.yaml is a valid slice spec named first-slice",
    "active": "applied to the controller, first-slice is ACTIVE",
    "bound": "first-slice promises round trips under 30 ms (a one-way bound of at most 15 ms)",
    "reach": "its two endpoints reach each other, both ways",
    "isolated": "the other two hosts reach neither of its endpoints",
    "client-runs": "python client.py --name from-client exits 0 (within 60 s)",
    "client-slice": "the slice from-client is ACTIVE between tokyo-dc:2 and osaka-dc:2, and they reach each other",
    "client-refusal": "python client.py --bandwidth 1000 is refused: exit 1, the controller's reason on stderr, "
                      "no traceback, no slice",
}


def run(lab) -> None:
    from topologies import load

    topo = load("two-clouds")
    docs = lab.specs("spec", "slice.yaml", topo, names=("first-slice",), stop=False)
    with lab.network(topo) as net:
        if docs:
            check_slice(lab, net, docs[0])
        check_client(lab, net)


def check_slice(lab, net, doc) -> None:
    refusal = net.apply(doc)
    state = net.state("first-slice", "ACTIVE")
    if not lab.expect("active", state == "ACTIVE", refusal or f"state {state}",
                      "read the controller's reason above: it names the field or the limit"):
        return
    s = net.get("first-slice")
    bound = s.spec.max_latency_ms if s.spec.HasField("max_latency_ms") else None
    lab.expect("bound", bound is not None and bound <= 15, f"bound {bound} ms one way" if bound else "no bound",
               "max_latency_ms is one way; a round trip crosses the path twice")
    failing = net.unreachable([doc])
    lab.expect("reach", not failing, ", ".join(failing) or "both ways", "are the endpoints' site, port "
               "and ip those of real hosts? tokyo-dc is the 1st site (10.0.1.x), osaka-dc the 4th (10.0.4.x)")
    own = {(e["site"], e["port"]) for e in doc["endpoints"]}
    others = [net.host(site, port)[0] for site in ("tokyo-dc", "osaka-dc") for port in (1, 2)
              if (site, port) not in own]
    pairs = [(h, e["ip"]) for h in others for e in doc["endpoints"]]
    leaks = [f"{h.name} → {ip}" for (h, ip), ok in zip(pairs, net.pings(pairs, count=2)) if ok]
    lab.expect("isolated", not leaks and len(others) == 2, ", ".join(leaks) or
               f"{len(pairs)} attempts from {', '.join(h.name for h in others)} got no answer",
               "a slice connects exactly its endpoints: use the first hosts (port 1) of both data centres")


def check_client(lab, net) -> None:
    python = sys.executable
    r = lab.script([python, "client.py", "--name", "from-client"], net.server, timeout=60)
    if not lab.expect("client-runs", r.returncode == 0, f"exit {r.returncode}: {last_line(r.stderr or r.stdout)}",
                      "complete the TODOs in client.py; try it with `python client.py` against a "
                      "controller and read its error"):
        return
    state = net.state("from-client", "ACTIVE")
    ok = state == "ACTIVE"
    detail = f"state {state}"
    if ok:
        eps = {(e.site, e.port) for e in net.get("from-client").spec.endpoints}
        failing = net.unreachable([{"endpoints": [{"site": "tokyo-dc", "port": 2, "ip": "10.0.1.2"},
                                                  {"site": "osaka-dc", "port": 2, "ip": "10.0.4.2"}]}])
        ok = eps == {("tokyo-dc", 2), ("osaka-dc", 2)} and not failing
        detail = f"endpoints {sorted(eps)}" + (f"; failing: {', '.join(failing)}" if failing else "; pings pass")
    lab.expect("client-slice", ok, detail, "the client must create from-client with both endpoints "
               "(site, port and ip) and wait until GetSlice says SLICE_STATE_ACTIVE")
    r = lab.script([python, "client.py", "--name", "too-big", "--bandwidth", "1000"], net.server, timeout=60)
    problems = []
    if r.returncode != 1:
        problems.append(f"exit {r.returncode}")
    if "Traceback" in r.stderr:
        problems.append("a traceback on stderr")
    elif "Mbit/s" not in r.stderr:
        problems.append(f"stderr does not give the controller's reason ({last_line(r.stderr) or 'empty'})")
    if net.state("too-big") != "ABSENT":
        problems.append(f"too-big exists ({net.state('too-big')})")
    lab.expect("client-refusal", not problems, "; ".join(problems) or f"exit 1: {last_line(r.stderr)}",
               "catch grpc.RpcError around CreateSlice, print e.details() to sys.stderr and return 1")

