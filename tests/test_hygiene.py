"""Secrets and leftovers (issue 29): git ignores everything the documented commands write
(tokens first); `wan clean` names only the topologies it cleaned; dpids read as hex."""
from __future__ import annotations

import argparse
import shutil
import subprocess

import pytest

from tests.conftest import REPO

WRITTEN = ["acme-ci.token", "certs/acme.key", "certs/ca.pem", "server.key", "client.pem", "wan.json",
           "verify.xml", "report.xml", "default.etcd/member/snap/db", "results/demo-run.json", "lab7.db",
           "intercloud-slicing.db-wal", "labs/.work/status.json", ".coverage"]


@pytest.mark.skipif(shutil.which("git") is None, reason="needs git")
def test_git_ignores_what_the_documented_commands_write_and_nothing_tracked():
    r = subprocess.run(["git", "check-ignore", "--no-index", "--verbose", "--non-matching", *WRITTEN], cwd=REPO,
                       capture_output=True, text=True)
    not_ignored = [line.split("\t")[-1] for line in r.stdout.splitlines() if line.startswith("::")]
    assert not_ignored == []
    tracked = subprocess.run(["git", "ls-files", "--cached", "--ignored", "--exclude-standard"], cwd=REPO,
                             capture_output=True, text=True).stdout.split()
    assert tracked == [], "tracked files the .gitignore would hide"


def test_wan_clean_names_only_the_topologies_it_cleaned(monkeypatch, capsys):
    """Nothing left of two-clouds, leftovers of japan-intercloud, global-intercloud up:
    only japan-intercloud is said to be cleaned."""
    from slicectl.commands import wan
    from topologies.emulation import wan as emulation

    present = {"japan-intercloud": ["bridge s1", "interface s1-eth1"]}
    monkeypatch.setattr(emulation, "running_owner",
                        lambda plan: "WAN of global-intercloud, process 7" if plan.topology == "global-intercloud"
                        else "")
    monkeypatch.setattr(emulation, "leftovers", lambda plan: list(present.get(plan.topology, [])))
    monkeypatch.setattr(emulation, "sweep", lambda plan: present.pop(plan.topology, None))
    monkeypatch.setattr("topologies.emulation.plan.make_plan", lambda topo, **kw: argparse.Namespace(topology=topo.name))
    monkeypatch.setattr("topologies.builtin_names", lambda: ["two-clouds", "japan-intercloud", "global-intercloud"])
    assert wan.cmd_wan_clean(argparse.Namespace(topology=None, prefix="")) == 0
    err = capsys.readouterr().err
    assert "cleaned japan-intercloud (2 items)" in err
    assert "two-clouds" not in err and "global-intercloud: left alone" in err
    assert "cleaned" not in err.replace("cleaned japan-intercloud", "")
    assert wan.cmd_wan_clean(argparse.Namespace(topology="two-clouds", prefix="")) == 0
    assert capsys.readouterr().err.strip() == "[slicectl] nothing to clean of two-clouds"


def test_dpids_are_printed_as_hex_with_0x():
    from proto.intercloud.slicing.v1 import slicing_pb2 as pb
    from slicectl.client import topology_rows

    t = pb.Topology(name="x")
    t.sites.add(name="tokyo-dc", kind="cloud", region="JP", dpid=26, connected=True)
    assert "0x1a" in topology_rows(t).splitlines()[3]
