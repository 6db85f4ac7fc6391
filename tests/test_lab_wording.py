"""What the lab checks say (issue 29), without a network: the checks run against a
simulated WAN and controller (the Mininet runs are in test_labs.py). Lab 1's check does
not give away step 6's answer; lab 2's names hosts SITE:PORT as the lab does, prints no
Python reprs, and makes the student meet a real admission refusal."""
from __future__ import annotations

import shutil
import subprocess
from contextlib import contextmanager
from types import SimpleNamespace

import pytest

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl import lab

REPRS = ("('", "[(", ")]", "None", "h1_", "h4_")


class Checked(lab.Lab):
    """A Lab whose network is the given fake, and whose scripts answer as ``scripts`` says."""

    def __init__(self, number: str, work, net, scratch, scripts=None):
        self.lines: list[str] = []
        exercise = lab.find(number)
        super().__init__(exercise, work, exercise.module().ITEMS, scratch, self.lines.append)
        self.net, self.scripts = net, scripts or {}

    @contextmanager
    def network(self, topology, **_kw):
        yield self.net

    def script(self, argv, server, timeout=120, env=None):
        name = argv[argv.index("--name") + 1]
        code, err = self.scripts[name]
        return subprocess.CompletedProcess(argv, code, "", err)

    def run(self) -> dict:
        try:
            self.exercise.module().run(self)
        except lab.Stop:
            pass
        return {i.id: i for i in self.items}


class Geography:
    """Lab 1's WAN: every cloud pair's round trip is its model's plus 0.4 ms."""

    def __init__(self, delays):
        self.delays = delays

    def host(self, site, port):
        return site, site

    def rtt_ms(self, src, ip, count=5):
        return 2 * self.delays[src][ip] + 0.4


def lab1(tmp_path, answers: str | None):
    work = tmp_path / "lab1"
    shutil.copytree(lab.find("01").path / "solution", work)
    if answers is not None:
        (work / "answers.yaml").write_text(answers)
    from topologies import load
    check = lab.find("01").module()
    delays = check.least_delays(load(str(work / "my-wan.yaml")))
    return Checked("01", work, Geography(delays), tmp_path), delays


def test_lab1_check_does_not_give_away_step_6(tmp_path):
    checked, delays = lab1(tmp_path, "farthest_clouds: ___\nrtt_ms: ___\n")
    items = checked.run()
    assert items["emulated"].ok and items["answers"].ok is False
    far_rtt = 2 * delays["frankfurt-dc"]["paris-dc"] + 0.4
    said = "\n".join(checked.lines)
    assert f"{far_rtt:.2f}" not in said and f"{far_rtt - 0.4:.2f}" not in said
    assert not ("frankfurt-dc" in items["emulated"].detail and "paris-dc" in items["emulated"].detail)


def test_lab1_check_says_which_way_a_wrong_round_trip_is_off_not_the_figure(tmp_path):
    checked, delays = lab1(tmp_path, "farthest_clouds: [frankfurt-dc, paris-dc]\nrtt_ms: 30\n")
    items = checked.run()
    far_rtt = 2 * delays["frankfurt-dc"]["paris-dc"] + 0.4
    assert items["answers"].ok is False and "30 ms is more than the round trip" in items["answers"].detail
    assert f"{far_rtt:.2f}" not in "\n".join(checked.lines)
    assert lab1(tmp_path / "right", None)[0].run()["answers"].ok        # the reference answer passes


class TwoClouds:
    """Lab 2's controller and WAN: the trunk refuses 50 Mbit/s; nobody leaks."""

    server = "127.0.0.1:1"
    REFUSAL = "link tokyo-ix—osaka-ix has 10 of 20 Mbit/s free; too-big needs 50"

    def __init__(self):
        self.slices: dict[str, pb.Slice] = {}

    def apply(self, doc):
        if doc["bandwidth_mbps"] > 10:
            return self.REFUSAL
        spec = pb.SliceSpec(name=doc["name"], bandwidth_mbps=doc["bandwidth_mbps"],
                            endpoints=[pb.Endpoint(site=e["site"], port=e["port"]) for e in doc["endpoints"]])
        if doc.get("max_latency_ms") is not None:
            spec.max_latency_ms = doc["max_latency_ms"]
        self.slices[doc["name"]] = pb.Slice(spec=spec)
        return ""

    def state(self, name, want=None, timeout=15):
        if name == "from-client":
            self.slices.setdefault(name, pb.Slice(spec=pb.SliceSpec(name=name, endpoints=[
                pb.Endpoint(site="tokyo-dc", port=2), pb.Endpoint(site="osaka-dc", port=2)])))
        return "ACTIVE" if name in self.slices else "ABSENT"

    def get(self, name):
        return self.slices[name]

    def delete(self, name):
        self.slices.pop(name)

    def unreachable(self, docs, tries=3):
        return []

    def host(self, site, port):
        index = {"tokyo-dc": 1, "osaka-dc": 4}[site]
        return SimpleNamespace(name=f"h{index}_{port}"), f"10.0.{index}.{port}"

    def pings(self, pairs, count=3, wait_s=1.0):
        return [False] * len(pairs)


def test_lab2_check_names_hosts_as_the_lab_does_and_meets_admission_control(tmp_path):
    scripts = {"from-client": (0, ""), "too-big": (1, f"refused: {TwoClouds.REFUSAL}\n")}
    checked = Checked("02", lab.find("02").path / "solution", TwoClouds(), tmp_path, scripts)
    items = checked.run()
    assert all(i.ok for i in items.values()), [(i.id, i.detail) for i in items.values() if not i.ok]
    assert items["isolated"].detail == "4 attempts from tokyo-dc:2 and osaka-dc:2 got no answer"
    assert items["client-slice"].detail == "endpoints osaka-dc:2 and tokyo-dc:2; pings pass"
    assert items["admission"].detail == f"refused: {TwoClouds.REFUSAL}"
    assert items["bound"].detail == "bound 15 ms one way"
    said = "\n".join(checked.lines)
    assert not [r for r in REPRS if r in said], said


@pytest.mark.parametrize("bandwidth, words", [(5, "admitted (active) at 5 Mbit/s"), (1000, "bandwidth_mbps")])
def test_lab2_a_too_big_slice_the_controller_takes_or_the_validator_refuses_fails_with_a_hint(
        tmp_path, bandwidth, words):
    work = tmp_path / "lab2"
    shutil.copytree(lab.find("02").path / "solution", work)
    text = (work / "too-big.yaml").read_text().replace("bandwidth_mbps: 50", f"bandwidth_mbps: {bandwidth}")
    (work / "too-big.yaml").write_text(text)
    scripts = {"from-client": (0, ""), "too-big": (1, f"refused: {TwoClouds.REFUSAL}\n")}
    item = Checked("02", work, TwoClouds(), tmp_path, scripts).run()["admission"]
    assert item.ok is False and words in item.detail and len(item.hint) > 20
