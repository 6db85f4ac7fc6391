"""The federation file: domains are ordinary topology files, borders join DOMAIN/SITE ends,
and every mistake is one line naming the file and the field path."""
from pathlib import Path

import pytest

from topologies import TopologyError
from topologies.federation import BorderPoint, load_federation

FED = Path(__file__).resolve().parent.parent / "topologies" / "federations" / "japan-korea.yaml"


def test_the_example_has_three_domains_joined_by_four_borders():
    fed = load_federation(FED)
    assert [d.name for d in fed.domains] == ["east", "west", "korea"]
    assert fed.domain("korea").topology.site("seoul-dc").region == "KR"
    assert fed.border_points("east") == (BorderPoint("east", "tokyo-ix"),)
    assert [str(p) for p in fed.border_points("west")] == ["west/fukuoka-ix", "west/nagoya-ix", "west/osaka-ix"]
    by_name = {b.name: b for b in fed.borders}
    assert by_name["east/tokyo-ix—west/osaka-ix"].delay_ms == 6            # given
    assert by_name["east/tokyo-ix—korea/seoul-ix"].distance_km == 1160      # given distance
    # from the two sites' coordinates: Tokyo-Nagoya ~262 km at 1.4 route factor, ~1.8 ms
    assert 1.7 < by_name["east/tokyo-ix—west/nagoya-ix"].delay_ms < 2.0


def _write(tmp_path, text, **domains):
    for name, body in domains.items():
        (tmp_path / f"{name}.yaml").write_text(body)
    path = tmp_path / "fed.yaml"
    path.write_text(text)
    return path


A = "name: a\ndefaults: {bandwidth_mbps: 10, region: JP}\nsites:\n  x: {kind: cloud, dpid: 1}\n  y: {kind: core, dpid: 2}\nlinks:\n  - {a: x, b: y, delay_ms: 1}\n"
B = "name: b\ndefaults: {bandwidth_mbps: 10, region: KR}\nsites:\n  z: {kind: core, dpid: 3}\n"
GOOD = "domains:\n  a: {topology: a.yaml}\n  b: {topology: b.yaml}\nborders:\n  - {a: a/y, b: b/z, bandwidth_mbps: 5, delay_ms: 2}\n"


def test_a_good_file_loads(tmp_path):
    fed = load_federation(_write(tmp_path, GOOD, a=A, b=B))
    assert fed.name == "fed" and fed.borders[0].name == "a/y—b/z"


@pytest.mark.parametrize("text,domains,where", [
    (GOOD.replace("a/y, b:", "a/nowhere, b:"), {}, "borders[0].a: unknown site 'nowhere' in domain 'a'"),
    (GOOD.replace("b/z", "c/z"), {}, "borders[0].b: unknown domain 'c'"),
    (GOOD.replace("b/z", "z"), {}, "borders[0].b: must be DOMAIN/SITE"),
    (GOOD.replace("b/z", "a/x"), {}, "borders[0].b: both ends are in domain 'a'"),
    (GOOD.replace("bandwidth_mbps: 5, ", ""), {}, "borders[0].bandwidth_mbps: is required"),
    (GOOD.replace("bandwidth_mbps: 5", "bandwidth_mbps: -5"), {}, "borders[0].bandwidth_mbps: must be > 0"),
    (GOOD.replace(", delay_ms: 2", ""), {}, "borders[0].delay_ms: delay_ms or distance_km is required"),
    (GOOD.replace("delay_ms: 2", "colour: red"), {}, "borders[0].colour: unknown key"),
    (GOOD + "  - {a: b/z, b: a/y, bandwidth_mbps: 5, delay_ms: 2}\n", {}, "borders[1]: duplicate border"),
    (GOOD.replace("b.yaml", "missing.yaml"), {}, "domains.b.topology: missing.yaml: no such file"),
    (GOOD.replace("  b: {topology: b.yaml}\n", ""), {}, "domains: a federation needs at least two domains"),
    (GOOD.replace("borders:\n  - {a: a/y, b: b/z, bandwidth_mbps: 5, delay_ms: 2}\n", "borders: []\n"), {},
     "borders: must be a non-empty list"),
    (GOOD, {"b": B.replace("dpid: 3", "dpid: 2")}, "domains.b.topology: dpid 0x2 of b/z is also a/y's"),
    (GOOD.replace("  b: {topology: b.yaml}\n", "  b: {topology: b.yaml}\n  c: {topology: b2.yaml}\n"),
     {"b2": B.replace("dpid: 3", "dpid: 9")}, "borders: domains not reachable from 'a' over borders: c"),
    (GOOD.replace("a: {topology", "a/1: {topology"), {}, "domains.a/1: domain names must be non-empty"),
    (GOOD, {"b": B.replace("kind: core", "kind: hub")}, "domains.b.topology:"),
    ("domains: [", {}, "invalid YAML"),
])
def test_a_bad_file_is_one_line_naming_the_file_and_field(tmp_path, text, domains, where):
    path = _write(tmp_path, text, **{"a": A, "b": B, **domains})
    with pytest.raises(TopologyError) as e:
        load_federation(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(str(path) + ": ")
    assert where in message
