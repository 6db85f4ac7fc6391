"""The tenant policy (controller.tenancy): its file, each rule a tenant's request is held
to (PERMISSION_DENIED naming it, nothing changed), the admin API that sets it (written to
the file), and a reload that takes a changed file or keeps the old policy and says why."""
from __future__ import annotations

import subprocess
import sys

import grpc
import pytest
import yaml

from controller.reload import Reloads
from controller.tenancy import Limits, PolicyError, TenantPolicy
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.launcher import free_port
from tests.harness import JAPAN
from tests.test_tenant_trust import Tenants, refused

POLICY = """\
default:
  max_priority: 2
tenants:
  acme:
    max_priority: 6
    max_slice_mbps: 40
    max_total_mbps: 60
    max_slices: 2
    regions: [JP]
  beta:
    sites: [tokyo-dc, osaka-dc]
"""


@pytest.fixture
def policed(tmp_path):
    (tmp_path / "policy.yaml").write_text(POLICY)
    t = Tenants(tmp_path, TenantPolicy(JAPAN, tmp_path / "policy.yaml"))
    yield t
    t.close()


def denied(call) -> str:
    err = refused(call)
    assert err.code() == grpc.StatusCode.PERMISSION_DENIED, err
    return err.details()


def names(t: Tenants) -> list[str]:
    listed = t.slices.ListSlices(pb.ListSlicesRequest(), metadata=t.as_("ops"), timeout=10)
    return [s.spec.name for s in listed.slices]


def test_each_rule_is_named_and_a_refused_request_changes_nothing(policed):
    t = policed
    assert denied(lambda: t.create("acme", "a", 10, 1, priority=7)).startswith(
        "tenant acme may use priority up to 6, asked 7 (slice a)")
    assert "up to 40 Mbit/s per slice, asked 50" in denied(lambda: t.create("acme", "a", 50, 1))
    assert "may attach only at regions JP, asked seoul-dc" in denied(
        lambda: t.create("acme", "a", 10, 1, sites=("tokyo-dc", "seoul-dc")))
    t.create("acme", "a", 40, 1, priority=6)
    assert "up to 60 Mbit/s in total, would hold 80" in denied(lambda: t.create("acme", "b", 40, 2))
    t.create("acme", "b", 20, 2)
    assert "may hold up to 2 slices, holds 2 and asks for 1 more" in denied(
        lambda: t.create("acme", "c", 1, 1, sites=("nagoya-dc", "sendai-dc")))
    # an update is held to the same rules, counting the slice it replaces
    spec = {"name": "b", "bandwidth_mbps": 21, "endpoints": [{"site": "tokyo-dc", "port": 2},
                                                              {"site": "osaka-dc", "port": 2}]}
    from tests.rawspec import raw_spec
    assert "would hold 61" in denied(lambda: t.slices.UpdateSlice(
        pb.UpdateSliceRequest(spec=raw_spec(spec)), metadata=t.as_("acme"), timeout=10))
    t.slices.UpdateSlice(pb.UpdateSliceRequest(spec=raw_spec({**spec, "bandwidth_mbps": 15})),
                         metadata=t.as_("acme"), timeout=10)
    # beta: listed sites only; fields it leaves out are the default's (priority 2)
    assert "may attach only at sites osaka-dc, tokyo-dc, asked nagoya-dc" in denied(
        lambda: t.create("beta", "x", 5, 1, priority=2, sites=("osaka-dc", "nagoya-dc")))
    assert "tenant beta may use priority up to 2, asked 3" in denied(lambda: t.create("beta", "x", 5, 1,
                                                                                     sites=("nagoya-dc", "sendai-dc")))
    # a tenant nobody listed: the file's default
    t.create("nobody", "x", 5, 1, priority=2, sites=("nagoya-dc", "sendai-dc"))
    assert names(t) == ["acme/a", "acme/b", "nobody/x"]
    # a batch is refused whole when one spec breaks a rule
    batch = [raw_spec({"name": n, "priority": p, "bandwidth_mbps": 1,
                       "endpoints": [{"site": "fukuoka-dc", "port": 1 + i}, {"site": "sapporo-dc", "port": 1 + i}]})
             for i, (n, p) in enumerate((("ok", 2), ("greedy", 7)))]
    assert "asked 7 (slice greedy)" in denied(lambda: t.slices.CreateSlices(
        pb.CreateSlicesRequest(specs=batch), metadata=t.as_("nobody"), timeout=10))
    assert names(t) == ["acme/a", "acme/b", "nobody/x"]


def test_admins_are_not_held_to_a_tenants_policy(policed):
    """An operator's slice for a tenant is the operator's grant."""
    spec = {"name": "acme/lifeline", "tenant": "acme", "priority": 7, "bandwidth_mbps": 45,
            "endpoints": [{"site": "tokyo-dc", "port": 2}, {"site": "seoul-dc", "port": 2}]}
    from tests.rawspec import raw_spec
    made = policed.slices.CreateSlice(pb.CreateSliceRequest(spec=raw_spec(spec)), metadata=policed.as_("ops"),
                                      timeout=10)
    assert made.spec.priority == 7
    assert policed.get("acme", "lifeline").spec.name == "lifeline"   # in acme's namespace


def test_the_default_policy_caps_priority_at_3(tmp_path):
    """No --tenant-policy: a tenant uses priority 3 (every spec's default) at most."""
    t = Tenants(tmp_path)
    try:
        t.create("acme", "std", 5, 1)
        assert "tenant acme may use priority up to 3, asked 4" in denied(lambda: t.create("acme", "biz", 5, 2,
                                                                                         priority=4))
        err = refused(lambda: t.slices.SetTenantPolicy(pb.SetTenantPolicyRequest(
            policy=pb.TenantPolicy(tenant="acme", limits=pb.TenantLimits(max_priority=7))),
            metadata=t.as_("ops"), timeout=10))
        assert err.code() == grpc.StatusCode.FAILED_PRECONDITION and "--tenant-policy FILE" in err.details()
    finally:
        t.close()


def test_admins_set_the_policy_over_the_api_and_it_is_written_to_the_file(policed, tmp_path):
    t, path = policed, tmp_path / "policy.yaml"
    grant = pb.SetTenantPolicyRequest(policy=pb.TenantPolicy(tenant="beta", limits=pb.TenantLimits(
        max_priority=7, max_total_mbps=100, regions=["JP"])))
    assert "set by admins" in denied(lambda: t.slices.SetTenantPolicy(grant, metadata=t.as_("beta"), timeout=10))
    assert yaml.safe_load(path.read_text())["tenants"]["beta"] == {"sites": ["tokyo-dc", "osaka-dc"]}
    got = t.slices.SetTenantPolicy(grant, metadata=t.as_("ops"), timeout=10)
    assert got.limits.max_priority == 7 and not got.limits.HasField("max_slices") and list(got.limits.regions) == ["JP"]
    assert yaml.safe_load(path.read_text())["tenants"]["beta"] == {
        "max_priority": 7, "max_total_mbps": 100.0, "regions": ["JP"]}
    t.create("beta", "life", 5, 1, priority=7, sites=("tokyo-dc", "nagoya-dc"))
    # a tenant reads its own limits, not another's; an admin reads all
    own = t.slices.GetTenantPolicy(pb.GetTenantPolicyRequest(), metadata=t.as_("beta"), timeout=10)
    assert [(p.tenant, p.limits.max_priority) for p in own.tenants] == [("beta", 7)]
    assert "admin's to read" in denied(lambda: t.slices.GetTenantPolicy(
        pb.GetTenantPolicyRequest(tenant="acme"), metadata=t.as_("beta"), timeout=10))
    every = t.slices.GetTenantPolicy(pb.GetTenantPolicyRequest(), metadata=t.as_("ops"), timeout=10)
    assert every.default.limits.max_priority == 2 and [p.tenant for p in every.tenants] == ["acme", "beta"]
    # a bad change is refused whole, naming the field; the file and the policy stay
    before = path.read_text()
    bad = pb.SetTenantPolicyRequest(policy=pb.TenantPolicy(tenant="beta", limits=pb.TenantLimits(sites=["mars"])))
    err = refused(lambda: t.slices.SetTenantPolicy(bad, metadata=t.as_("ops"), timeout=10))
    assert err.code() == grpc.StatusCode.INVALID_ARGUMENT and "policy.sites: 'mars' is not a site" in err.details()
    assert path.read_text() == before and t.slices.GetTenantPolicy(
        pb.GetTenantPolicyRequest(tenant="beta"), metadata=t.as_("ops"), timeout=10).tenants[0].limits.max_priority == 7
    # removing an entry: the default applies again, and a restart reads the same file
    t.slices.SetTenantPolicy(pb.SetTenantPolicyRequest(policy=pb.TenantPolicy(tenant="beta"), remove=True),
                             metadata=t.as_("ops"), timeout=10)
    assert TenantPolicy(JAPAN, path).limits("beta") == Limits(max_priority=2)


def test_a_reload_takes_the_edited_file_or_keeps_the_policy_and_says_why(tmp_path, caplog):
    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    policy = TenantPolicy(JAPAN, path)
    reloads = Reloads()                 # what SIGHUP runs (controller.main registers the policy)
    reloads.add("the tenant policy", policy.reload)
    path.write_text("tenants:\n  acme: {max_priority: 1}\n")
    assert reloads.reload_all() == {"the tenant policy": ""}
    assert policy.limits("acme").max_priority == 1 and policy.limits("nobody").max_priority == 3
    path.write_text("tenants:\n  acme: {max_priority: 9}\n")
    assert reloads.reload_all()["the tenant policy"]     # SIGHUP with a bad file: logged, never raised
    assert policy.limits("acme").max_priority == 1
    assert "tenants.acme.max_priority: must be a whole number 0-7" in caplog.text


@pytest.mark.parametrize("text, problem", [
    ("default: {max_priority: 8}\n", "default.max_priority: must be a whole number 0-7"),
    ("tenants:\n  acme: {max_prio: 3}\n", "tenants.acme.max_prio: unknown field"),
    ("tenants:\n  acme: {sites: [atlantis]}\n", "tenants.acme.sites: 'atlantis' is not a site of japan-intercloud"),
    ("tenants:\n  acme: {regions: [EU]}\n", "tenants.acme.regions: 'EU' is not a region"),
    ("tenants:\n  acme: {max_slice_mbps: -1}\n", "tenants.acme.max_slice_mbps: must be a number of Mbit/s > 0"),
    ("tenant:\n  acme: {}\n", "tenant: unknown field"),
    ("tenants: [acme]\n", "tenants: must map each tenant to its limits"),
    ("tenants: {acme: {max_priority: 7}\n", "not YAML"),
])
def test_a_bad_file_is_refused_in_one_line_naming_it_and_the_field(tmp_path, text, problem):
    path = tmp_path / "policy.yaml"
    path.write_text(text)
    with pytest.raises(PolicyError) as e:
        TenantPolicy(JAPAN, path)
    assert str(e.value).startswith(str(path)) and problem in str(e.value) and "\n" not in str(e.value)


def test_the_controller_refuses_to_start_with_a_bad_policy_file(tmp_path):
    (tmp_path / "policy.yaml").write_text("tenants:\n  acme: {max_priority: seven}\n")
    r = subprocess.run([sys.executable, "-m", "slicectl.cli", "controller", "--topology", "japan-intercloud",
                        "--grpc", f"127.0.0.1:{free_port()}", "--openflow", f"127.0.0.1:{free_port()}",
                        "--store", str(tmp_path / "s.db"), "--metrics", "off",
                        "--tenant-policy", str(tmp_path / "policy.yaml")], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1, r.stderr
    assert "policy.yaml: tenants.acme.max_priority: must be a whole number 0-7" in r.stderr
    assert not (tmp_path / "s.db").exists()


def test_slicectl_policy_sets_and_shows_the_policy(policed, tmp_path, capsys):
    from slicectl.cli import main

    ops = tmp_path / "ops.token"
    ops.write_text(policed.secrets["ops"])
    client = ["--server", policed.addr, "--token-file", str(ops)]
    assert main(["policy", "set", "beta", "--max-priority", "7", "--region", "JP", *client]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[1].split() == ["beta", "7", "-", "-", "-", "region", "JP"], out
    assert main(["policy", "get", *client]) == 0
    rows = [line.split()[0] for line in capsys.readouterr().out.splitlines()[1:]]
    assert rows == ["(default)", "acme", "beta"]
    assert main(["policy", "remove", "acme", *client]) == 0
    assert "the default policy applies" in capsys.readouterr().out
    beta = tmp_path / "beta.token"
    beta.write_text(policed.secrets["beta"])
    assert main(["policy", "set", "beta", "--max-priority", "7", "--server", policed.addr,
                 "--token-file", str(beta)]) == 1
    assert "set by admins" in capsys.readouterr().err


def test_the_readmes_policy_example_is_a_valid_policy():
    import re

    from controller.tenancy import parse_policy
    from tests.conftest import REPO

    readme = (REPO / "README.md").read_text()
    section = readme[readme.index("**Tenant policy: priority is granted"):]
    example = re.search(r"```yaml\n(.*?)```", section, re.S).group(1)
    policy = parse_policy(yaml.safe_load(example), "README.md", JAPAN)
    assert policy.default.max_priority == 3 and policy.limits("ministry-of-health").max_priority == 7


def test_a_clusters_instance_refuses_to_change_its_own_policy_alone(tmp_path):
    """Each instance of a cluster reads its own file: a SetTenantPolicy on one would leave
    the next leader with another policy, so it is refused, saying what to do instead."""
    from controller.tenancy import NoPolicyFile

    path = tmp_path / "policy.yaml"
    path.write_text(POLICY)
    policy = TenantPolicy(JAPAN, path, clustered=True)
    with pytest.raises(NoPolicyFile, match="change the file on every instance"):
        policy.set("beta", {"max_priority": 7})
    assert path.read_text() == POLICY and policy.limits("beta") == TenantPolicy(JAPAN, path).limits("beta")
