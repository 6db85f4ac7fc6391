"""The example slices are valid, fit japan-intercloud together, and use the addresses the
emulation gives the hosts on their ports (so the demo's pings mean something)."""


from slicectl.demo import load_examples
from slices.engine import SliceEngine
from slices.spec import parse_spec
from topologies import load
from topologies.emulation.plan import make_plan

JAPAN = load("japan-intercloud")


def test_examples_are_valid_fit_together_and_match_the_emulation():
    docs = load_examples()
    assert {d["name"] for d in docs} == {"medical-lifeline", "retail-erp", "gov-domestic", "backup-sync"}
    assert [d["priority"] for d in docs] == sorted((d["priority"] for d in docs), reverse=True)
    plan = make_plan(JAPAN)
    address = {(h.site, h.port): h.address for h in plan.hosts}
    engine = SliceEngine(JAPAN)
    for d in docs:
        spec = parse_spec(d, JAPAN)
        assert all(e.ip == address[(e.site, e.port)] for e in spec.endpoints), d["name"]
        engine.admit(spec)
    medical = engine.slices["medical-lifeline"]
    assert medical.spec.priority == 7 and medical.spec.bandwidth_mbps == 20 and medical.spec.max_latency_ms == 15
    assert {"tokyo-dc", "osaka-dc", "sendai-dc"} == set(medical.spec.sites)
    gov = engine.slices["gov-domestic"]
    assert gov.spec.allowed_regions == ("JP",)
    assert all(JAPAN.site(x).region == "JP" for x in gov.tree.sites)
