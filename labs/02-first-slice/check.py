"""Self-check of lab 2: the student's slice spec, applied as `slicectl apply` would, connects
its endpoints and nobody else within the promised bound; a valid spec the network cannot
carry is refused by admission control; the student's gRPC client creates a working slice
and reports such a refusal cleanly. Hosts are named as the lab names them, SITE:PORT."""
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
    "admission": "too-big.yaml is a valid spec that admission control refuses, naming the link that is short; "
                 "nothing of it is kept",
    "client-refusal": "python client.py --name too-big --bandwidth 50 is refused by admission control: exit 1, "
                      "the controller's reason (the link that is short) on stderr, no traceback, no slice",
    "client-runs": "python client.py --name from-client exits 0 (within 60 s)",
    "client-slice": "the slice from-client is ACTIVE between tokyo-dc:2 and osaka-dc:2, and they reach each other",
}
REFUSED_MBPS = 50              # valid as a spec, more than the trunk has left
TRUNK = ("tokyo-ix", "osaka-ix", "Mbit/s")   # the controller's refusal names the link and what is free


def run(lab) -> None:
    from topologies import load

    topo = load("two-clouds")
    docs = lab.specs("spec", "slice.yaml", topo, names=("first-slice",), stop=False)
    big = lab.specs("admission", "too-big.yaml", topo, names=("too-big",), stop=False)
    with lab.network(topo) as net:
        if docs:
            check_slice(lab, net, docs[0])
        if big:
            check_admission(lab, net, big[0])
        check_client(lab, net)


def check_slice(lab, net, doc) -> None:
    refusal = net.apply(doc)
    state = net.state("first-slice", "ACTIVE")
    if not lab.expect("active", state == "ACTIVE", refusal or f"state {state}",
                      "read the controller's reason above: it names the field or the limit"):
        return
    s = net.get("first-slice")
    bound = s.spec.max_latency_ms if s.spec.HasField("max_latency_ms") else None
    lab.expect("bound", bound is not None and bound <= 15, f"bound {bound:g} ms one way" if bound else "no bound",
               "max_latency_ms is one way; a round trip crosses the path twice")
    failing = net.unreachable([doc])
    lab.expect("reach", not failing, ", ".join(failing) or "both ways", "are the endpoints' site, port "
               "and ip those of real hosts? tokyo-dc is the 1st site (10.0.1.x), osaka-dc the 4th (10.0.4.x)")
    own = {(e["site"], e["port"]) for e in doc["endpoints"]}
    # hosts named as the lab names them, SITE:PORT (not Mininet's h1_2)
    others = [(f"{site}:{port}", net.host(site, port)[0]) for site in ("tokyo-dc", "osaka-dc") for port in (1, 2)
              if (site, port) not in own]
    pairs = [(where, h, e["ip"]) for where, h in others for e in doc["endpoints"]]
    answered = net.pings([(h, ip) for _, h, ip in pairs], count=2)
    leaks = [f"{where} → {ip}" for (where, _, ip), ok in zip(pairs, answered) if ok]
    lab.expect("isolated", not leaks and len(others) == 2, ", ".join(leaks) or
               f"{len(pairs)} attempts from {' and '.join(where for where, _ in others)} got no answer",
               "a slice connects exactly its endpoints: use the first hosts (port 1) of both data centres")


def check_admission(lab, net, doc) -> None:
    """A spec the validator accepts and the controller's admission refuses: the student
    meets the refusal, its words name the trunk and what is free on it."""
    refusal = net.apply(doc)
    state = net.state("too-big")
    if state != "ABSENT":
        net.delete("too-big")      # it must not hold the second hosts' ports for the client
    named = refusal and all(word in refusal for word in TRUNK)
    lab.expect("admission", bool(named) and state == "ABSENT",
               f"refused: {refusal}" if refusal else f"admitted ({state.lower()}) at {doc['bandwidth_mbps']:g} Mbit/s",
               "ask for more than the tokyo-ix—osaka-ix trunk has left (20 Mbit/s, first-slice holds 10) "
               "but no more than 100 Mbit/s, the largest link: a larger figure is an invalid spec, not a refusal")


def check_client(lab, net) -> None:
    python = sys.executable
    check_refusal(lab, net, python)   # first, as the README has it: from-client takes the same ports
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
        detail = (f"endpoints {' and '.join(f'{site}:{port}' for site, port in sorted(eps))}"
                  + (f"; failing: {', '.join(failing)}" if failing else "; pings pass"))
    lab.expect("client-slice", ok, detail, "the client must create from-client with both endpoints "
               "(site, port and ip) and wait until GetSlice says SLICE_STATE_ACTIVE")


def check_refusal(lab, net, python: str) -> None:
    """50 Mbit/s passes the spec's checks (two-clouds' largest link carries 100) but not
    admission: the 20 Mbit/s trunk has 10 left. The student's client must pass on the
    controller's own reason, which names that link. Run before from-client exists: the
    client asks for the same ports, and a taken port would be refused first."""
    r = lab.script([python, "client.py", "--name", "too-big", "--bandwidth", str(REFUSED_MBPS)], net.server,
                   timeout=60)
    problems = []
    if r.returncode != 1:
        problems.append(f"exit {r.returncode}")
    if "Traceback" in r.stderr:
        problems.append("a traceback on stderr")
    elif not all(word in r.stderr for word in TRUNK):
        problems.append(f"stderr does not give the controller's reason ({last_line(r.stderr) or 'empty'})")
    if net.state("too-big") != "ABSENT":
        problems.append(f"too-big exists ({net.state('too-big')})")
    lab.expect("client-refusal", not problems, "; ".join(problems) or f"exit 1: {last_line(r.stderr)}",
               "catch grpc.RpcError around CreateSlice, print e.details() to sys.stderr and return 1")

