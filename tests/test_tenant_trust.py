"""Issue 25's attacks of one tenant on another, rows 1 and 2 of its "Why", each red on the
code before the tenant policy and namespaces: a self-declared priority 7 preempting
another tenant, the winner and the loser naming each other's slices, an endpoint conflict
naming the owner's slice, a slice name as an existence oracle, GetTopology showing others'
bookings link by link, /metrics naming every slice and served beyond loopback in plaintext.

Tenants acme and beta and the operator ops call one controller (tests/harness.py, every
switch simulated) with bearer tokens, over loopback."""
from __future__ import annotations

import subprocess
import sys
import urllib.request

import grpc
import pytest
from prometheus_client import generate_latest

from controller.auth import Authenticator, Token
from controller.metrics import Metrics
from controller.readmodel import ReadModel
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from proto.tokens import new_secret
from slicectl.launcher import free_port
from tests.harness import JAPAN, Running
from tests.rawspec import raw_spec


class Tenants(Running):
    """The API with tokens for tenants acme, beta and nobody and the admin ops; ``as_(who)`` the metadata of
    each; ``policy``: a controller.tenancy.TenantPolicy (None: the default one)."""

    def __init__(self, tmp_path, policy=None):
        self.secrets, tokens = {}, []
        for name, tenant in (("acme", "acme"), ("beta", "beta"), ("nobody", "nobody"), ("ops", None)):
            self.secrets[name], digest = new_secret()
            tokens.append(Token(name, tenant, tenant is None, digest))
        super().__init__(tmp_path / "store.db", authenticator=Authenticator(tokens, False, set()),
                         **({"policy": policy} if policy is not None else {}))   # (the default policy)

    def as_(self, who: str) -> list[tuple[str, str]]:
        return [("authorization", f"Bearer {self.secrets[who]}")]

    def create(self, who: str, name: str, bw: float, *ports, priority: int = 3, sites=("tokyo-dc", "osaka-dc"),
               **extra):
        spec = {"name": name, "bandwidth_mbps": bw, "priority": priority, **extra,
                "endpoints": [{"site": s, "port": p} for s, p in zip(sites, ports if len(ports) > 1 else
                                                                      (ports or (1,)) * len(sites))]}
        return self.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(spec)), metadata=self.as_(who), timeout=10)

    def get(self, who: str, name: str) -> pb.Slice:
        return self.slices.GetSlice(pb.GetSliceRequest(name=name), metadata=self.as_(who), timeout=10)

    def link(self, who: str, a: str, b: str) -> pb.LinkState:
        topology = self.topology.GetTopology(pb.GetTopologyRequest(), metadata=self.as_(who), timeout=10)
        return next(l for l in topology.links if {l.a, l.b} == {a, b})


@pytest.fixture
def tenants(tmp_path):
    t = Tenants(tmp_path)
    yield t
    t.close()


def refused(call) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as e:
        call()
    return e.value


def events_until(stream, done) -> list[pb.SliceEvent]:
    """Events of ``stream`` up to the first ``done(event)`` (the stream has a deadline)."""
    seen = []
    for event in stream:
        seen.append(event)
        if done(event):
            break
    stream.cancel()
    return seen


def test_a_self_declared_priority_cannot_preempt_another_tenant(tenants):
    """Row 1: beta asks for priority 7 on the tokyo-dc access link acme fills: refused,
    naming the rule, and acme's slice untouched."""
    tenants.create("acme", "erp", 80, 1)
    err = refused(lambda: tenants.create("beta", "grab", 50, 2, priority=7, sites=("tokyo-dc", "nagoya-dc")))
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED
    assert err.details().startswith("tenant beta may use priority up to 3, asked 7"), err.details()
    assert tenants.get("acme", "erp").state == pb.SLICE_STATE_ACTIVE
    # at the priority it may use, beta's slice does not fit and preempts nobody
    err = refused(lambda: tenants.create("beta", "grab", 50, 2, sites=("tokyo-dc", "nagoya-dc")))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "erp" not in err.details()
    assert "has too little of its 100 Mbit/s free" in err.details(), err.details()   # not acme's 80
    assert tenants.get("acme", "erp").state == pb.SLICE_STATE_ACTIVE


def test_the_highest_priority_a_tenant_may_claim_displaces_only_its_own_slices(tenants):
    """The issue's case below the grant: acme's slice at priority 1, beta's at 3 (what
    every tenant may use): beta preempts nobody of acme's, while acme's own priority-3
    slice may displace acme's priority-1 one (slices.preemption: other tenants' slices
    only from priority 4, which only a policy grants)."""
    tenants.create("acme", "batch", 80, 1, priority=1)
    err = refused(lambda: tenants.create("beta", "grab", 50, 2, sites=("tokyo-dc", "nagoya-dc")))
    assert err.code() == grpc.StatusCode.RESOURCE_EXHAUSTED and "batch" not in err.details(), err.details()
    assert tenants.get("acme", "batch").state == pb.SLICE_STATE_ACTIVE
    made = tenants.create("acme", "urgent", 50, 2, sites=("tokyo-dc", "nagoya-dc"))
    assert made.state == pb.SLICE_STATE_ACTIVE, made.reason
    assert tenants.get("acme", "batch").state == pb.SLICE_STATE_PREEMPTED


def test_with_a_grant_it_preempts_and_neither_side_learns_the_others_slice(tmp_path):
    """Granted priority 7 (the policy file), beta's slice preempts acme's; acme is told
    "preempted by a higher-priority slice", beta that it preempted a slice of another
    tenant: neither event names the other's slice."""
    from controller.tenancy import TenantPolicy

    (tmp_path / "policy.yaml").write_text("tenants:\n  beta: {max_priority: 7}\n")
    t = Tenants(tmp_path, TenantPolicy(JAPAN, tmp_path / "policy.yaml"))
    try:
        t.create("acme", "erp", 80, 1)
        acme_events = t.slices.WatchSlices(pb.WatchSlicesRequest(), metadata=t.as_("acme"), timeout=10)
        beta_events = t.slices.WatchSlices(pb.WatchSlicesRequest(), metadata=t.as_("beta"), timeout=10)
        t.create("beta", "lifeline", 50, 2, priority=7, sites=("tokyo-dc", "nagoya-dc"))
        erp = t.get("acme", "erp")
        assert erp.state == pb.SLICE_STATE_PREEMPTED and erp.reason.startswith("preempted by a higher-priority slice")
        seen = events_until(acme_events, lambda e: e.kind == "preempted")
        assert seen[-1].slice == "erp" and seen[-1].reason.startswith("preempted by a higher-priority slice")
        assert not any("lifeline" in e.reason or "beta" in e.reason or e.slice != "erp" for e in seen)
        seen = events_until(beta_events, lambda e: e.kind == "admitted")
        assert "preempting 1 lower-priority slice of other tenants" in seen[-1].reason, seen[-1].reason
        assert not any("erp" in e.reason or "acme" in e.reason or e.slice != "lifeline" for e in seen)
    finally:
        t.close()


def test_a_slice_an_operator_grants_preempts_without_naming_either_side(tenants):
    """An admin creates beta's lifeline slice (an operator's grant, whatever beta's policy):
    it preempts acme's, and still neither tenant's events or state name the other's slice."""
    tenants.create("acme", "erp", 80, 1)
    acme_events = tenants.slices.WatchSlices(pb.WatchSlicesRequest(), metadata=tenants.as_("acme"), timeout=10)
    beta_events = tenants.slices.WatchSlices(pb.WatchSlicesRequest(), metadata=tenants.as_("beta"), timeout=10)
    spec = {"name": "lifeline", "tenant": "beta", "bandwidth_mbps": 50, "priority": 7,
            "endpoints": [{"site": "tokyo-dc", "port": 2}, {"site": "nagoya-dc", "port": 2}]}
    tenants.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(spec)), metadata=tenants.as_("ops"), timeout=10)
    # told it lost to a higher priority and that nothing else had room: not whose, nor how much was free
    told = "preempted by a higher-priority slice; no room elsewhere: link tokyo-dc—tokyo-ix has too little " \
           "of its 100 Mbit/s free; erp needs 80"
    assert tenants.get("acme", "erp").reason == told
    seen = events_until(acme_events, lambda e: e.kind == "preempted")
    assert [e.reason for e in seen if e.kind == "preempted"] == [told]
    seen = events_until(beta_events, lambda e: e.kind == "admitted")
    assert seen[-1].slice == "lifeline" and "erp" not in seen[-1].reason, seen[-1].reason
    assert tenants.get("beta", "lifeline").spec.priority == 7


def test_an_endpoint_in_use_by_another_tenant_is_not_named(tenants):
    """Row 2: the conflict says the port is in use, not by which slice."""
    tenants.create("acme", "acme-a", 5, 1)
    err = refused(lambda: tenants.create("beta", "mine", 5, 1, 2))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "endpoint tokyo-dc:1 is in use by another tenant's slice" in err.details(), err.details()
    assert "acme" not in err.details()


def test_slice_names_live_in_each_tenants_namespace(tenants):
    """Row 2: another tenant's name is as free as any (no oracle); each tenant sees its
    own ``web``, the admin both by full name."""
    acme_web = tenants.create("acme", "web", 5, 1)
    beta_web = tenants.create("beta", "web", 7, 2)
    assert acme_web.spec.name == beta_web.spec.name == "web"
    assert acme_web.id != beta_web.id
    assert tenants.get("acme", "web").spec.bandwidth_mbps == 5
    assert tenants.get("beta", "web").spec.bandwidth_mbps == 7
    listed = tenants.slices.ListSlices(pb.ListSlicesRequest(), metadata=tenants.as_("ops"), timeout=10)
    assert [s.spec.name for s in listed.slices] == ["acme/web", "beta/web"]
    # a tenant cannot reach into another's namespace: answered as for any invalid name
    err = refused(lambda: tenants.get("beta", "acme/web"))
    assert err.code() == grpc.StatusCode.NOT_FOUND and err.details() == "no slice named 'acme/web'"
    tenants.slices.DeleteSlice(pb.DeleteSliceRequest(name="web"), metadata=tenants.as_("beta"), timeout=10)
    assert tenants.get("acme", "web").spec.bandwidth_mbps == 5


def test_a_tenants_topology_shows_its_own_bookings_only(tenants):
    """Row 2: GetTopology's free capacity for a tenant is the link's less its own slices'."""
    tenants.create("acme", "big", 30, 1)
    assert tenants.link("beta", "tokyo-dc", "tokyo-ix").residual_mbps == 100
    tenants.create("beta", "small", 10, 2)
    assert tenants.link("beta", "tokyo-dc", "tokyo-ix").residual_mbps == 90
    assert tenants.link("acme", "tokyo-dc", "tokyo-ix").residual_mbps == 70
    assert tenants.link("ops", "tokyo-dc", "tokyo-ix").residual_mbps == 60


def test_metrics_name_no_slice_and_no_tenant(tenants):
    """Row 2: whoever scrapes sees slices by id, never a name or a tenant."""
    tenants.create("acme", "secret-project", 5, 1, max_latency_ms=50)
    metrics = Metrics()
    metrics.watch(ReadModel(tenants.ctl))
    text = generate_latest(metrics.registry).decode()
    number = tenants.get("acme", "secret-project").id
    assert f'intercloud_slice_delay_bound_seconds{{slice_id="{number}"}} 0.05' in text, text
    assert "secret-project" not in text and "acme" not in text


def test_plaintext_metrics_beyond_loopback_are_refused(tmp_path):
    """Row 2: /metrics on 0.0.0.0 without TLS is refused like the API (before, it served
    every slice's series to anyone who could reach the port)."""
    r = subprocess.run([sys.executable, "-m", "slicectl.cli", "controller", "--topology", "two-clouds",
                        "--grpc", f"127.0.0.1:{free_port()}", "--openflow", f"127.0.0.1:{free_port()}",
                        "--store", str(tmp_path / "s.db"), "--metrics", f"0.0.0.0:{free_port()}"],
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 2 and "the metrics (--metrics) on 0.0.0.0 would be plaintext" in r.stderr, r.stderr


def test_metrics_over_tls_want_a_client_certificate_when_the_api_does(tmp_path):
    """Protected as the API is: the API's certificate, and its client CA."""
    import ssl

    from controller.main import metrics_tls
    from slicectl.certs import make_all

    make_all(tmp_path, ["prometheus"])
    tls = metrics_tls(tls_cert=str(tmp_path / "server.pem"), tls_key=str(tmp_path / "server.key"),
                      client_ca=str(tmp_path / "ca.pem"))
    port = free_port()
    server = Metrics().serve("127.0.0.1", port, tls)
    try:
        with pytest.raises(Exception):      # plaintext: no answer
            urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        anonymous = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        with pytest.raises(Exception):      # TLS without a client certificate: refused
            urllib.request.urlopen(f"https://localhost:{port}/metrics", timeout=5, context=anonymous).read()
        scraper = ssl.create_default_context(cafile=str(tmp_path / "ca.pem"))
        scraper.load_cert_chain(str(tmp_path / "prometheus.pem"), str(tmp_path / "prometheus.key"))
        body = urllib.request.urlopen(f"https://localhost:{port}/metrics", timeout=5, context=scraper).read()
        assert b"intercloud_api_request_seconds" in body
    finally:
        server.shutdown()
    assert metrics_tls() is None     # a plaintext API: plaintext metrics (loopback only, or --insecure)


def test_an_update_onto_another_tenants_endpoint_is_not_told_whose(tenants):
    tenants.create("acme", "acme-a", 5, 1)
    tenants.create("beta", "b", 5, 2)
    spec = {"name": "b", "bandwidth_mbps": 5, "endpoints": [{"site": "tokyo-dc", "port": 2},
                                                             {"site": "osaka-dc", "port": 1}]}
    err = refused(lambda: tenants.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec(spec)),
                                                     metadata=tenants.as_("beta"), timeout=10))
    assert err.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "endpoint osaka-dc:1 is in use by another tenant's slice" in err.details() and "acme" not in err.details()


def test_the_engines_texts_name_only_the_winners_own_tenants_slices():
    """slices.preemption: what a victim and the winner are told (also used by repair,
    failback and drain)."""
    from types import SimpleNamespace as S

    from slices.preemption import outranked_by, preempting, victims_text

    winner = S(name="acme/big", tenant="acme", priority=7)
    mine, theirs = S(name="acme/small", spec=S(tenant="acme", priority=1)), S(name="beta/web", spec=S(
        tenant="beta", priority=2))
    why = outranked_by(winner)
    assert why(mine) == "preempted by acme/big (priority 7 > 1)"
    assert why(theirs) == "preempted by a higher-priority slice"
    assert preempting(winner, [mine, theirs]) == ", preempting acme/small, 1 lower-priority slice of other tenants"
    assert victims_text("acme", [theirs, theirs]) == "2 lower-priority slices of other tenants"
    assert preempting(winner, []) == ""
