"""The YAML topology format: built-ins, derived delays, and clear errors for bad files."""
import subprocess
import sys
import textwrap

import pytest

from topologies import TopologyError, builtin_names, load
from topologies.loader import parse_yaml

GOOD = """
name: tiny
defaults: {bandwidth_mbps: 100, route_factor: 1.4}
sites:
  tokyo-dc:  {kind: cloud, lat: 35.68, lon: 139.76, region: JP}
  tokyo-ix:  {kind: core,  lat: 35.66, lon: 139.74, region: JP}
  osaka-ix:  {kind: core,  lat: 34.70, lon: 135.49, region: JP}
  shibuya-edge: {kind: edge, lat: 35.66, lon: 139.70, region: JP}
links:
  - {a: tokyo-dc, b: tokyo-ix, bandwidth_mbps: 1000}
  - {a: tokyo-ix, b: osaka-ix}
  - {a: tokyo-ix, b: shibuya-edge, bandwidth_mbps: 50, delay_ms: 12}
"""


def test_design_card_example_loads_with_derived_and_given_delays():
    t = parse_yaml(GOOD)
    assert [s.name for s in t.sites] == ["tokyo-dc", "tokyo-ix", "osaka-ix", "shibuya-edge"]
    assert t.link("tokyo-ix", "osaka-ix").bandwidth_mbps == 100          # default
    assert t.link("osaka-ix", "tokyo-ix").delay_source == "distance"
    assert t.link("tokyo-ix", "osaka-ix").delay_ms == pytest.approx(2.8, abs=0.05)
    given = t.link("tokyo-ix", "shibuya-edge")
    assert (given.delay_ms, given.delay_source) == (12, "configured")
    assert {s.name: s.hosts for s in t.sites} == {"tokyo-dc": 2, "tokyo-ix": 0, "osaka-ix": 0,
                                                  "shibuya-edge": 1}
    assert [s.dpid for s in t.sites] == [1, 2, 3, 4]


def test_builtins_are_shipped_and_sized_as_promised():
    assert {"two-clouds", "japan-intercloud", "global-intercloud"} <= set(builtin_names())
    japan = load("japan-intercloud")
    clouds = [s for s in japan.sites if s.kind == "cloud"]
    assert len(clouds) >= 6
    assert {"core", "edge"} <= {s.kind for s in japan.sites}
    world = load("global-intercloud")
    delays = [l.delay_ms for l in world.links]
    assert max(delays) > 50 and len(world.regions) >= 5


def test_graph_view_feeds_networkx():
    g = load("japan-intercloud").graph()
    assert g.number_of_nodes() == 18 and g.number_of_edges() == 21
    assert g["tokyo-ix"]["osaka-ix"]["bandwidth_mbps"] == 100


BAD = [
    ("links[0].b", "unknown site 'nowhere'",
     "sites: {a: {kind: cloud, lat: 1, lon: 1, region: X}}\nlinks: [{a: a, b: nowhere, bandwidth_mbps: 1}]"),
    ("sites.a.kind", "unknown kind 'dc'", "sites: {a: {kind: dc, lat: 1, lon: 1, region: X}}"),
    ("sites.a.kind", "kind is required", "sites: {a: {lat: 1, lon: 1, region: X}}"),
    ("sites.a.lat", "must be <= 90", "sites: {a: {kind: cloud, lat: 91, lon: 1, region: X}}"),
    ("sites.a.lon", "must be >= -180", "sites: {a: {kind: cloud, lat: 1, lon: -181, region: X}}"),
    ("sites.a.lon", "lat and lon go together", "sites: {a: {kind: cloud, lat: 1, region: X}}"),
    ("sites.a.region", "region is required", "sites: {a: {kind: cloud, lat: 1, lon: 1}}"),
    ("sites.a.color", "unknown key 'color'", "sites: {a: {kind: cloud, region: X, color: red}}"),
    ("sitez", "unknown key 'sitez'", "sitez: {}"),
    ("sites", "at least one site", "name: x\nsites: {}"),
    ("sites", "must be a mapping", "sites: [a, b]"),
    ("sites.a.hosts", "between 0 and 64", "sites: {a: {kind: cloud, region: X, hosts: 65}}"),
    ("sites.b.dpid", "also used by site 'a'",
     "sites: {a: {kind: cloud, region: X, dpid: 7}, b: {kind: cloud, region: X, dpid: '0x7'}}"),
    ("links[0].bandwidth_mbps", "must be > 0",
     "sites: {a: {kind: cloud, region: X}, b: {kind: cloud, region: X}}\n"
     "links: [{a: a, b: b, bandwidth_mbps: -5, delay_ms: 1}]"),
    ("links[0].bandwidth_mbps", "must be a number",
     "sites: {a: {kind: cloud, region: X}, b: {kind: cloud, region: X}}\n"
     "links: [{a: a, b: b, bandwidth_mbps: fast, delay_ms: 1}]"),
    ("links[0].bandwidth_mbps", "is required",
     "sites: {a: {kind: cloud, region: X}, b: {kind: cloud, region: X}}\n"
     "links: [{a: a, b: b, delay_ms: 1}]"),
    ("links[0].delay_ms", "must be >= 0",
     "sites: {a: {kind: cloud, region: X}, b: {kind: cloud, region: X}}\n"
     "links: [{a: a, b: b, bandwidth_mbps: 5, delay_ms: -1}]"),
    ("links[0].delay_ms", "site 'a' has no lat/lon",
     "sites: {a: {kind: cloud, region: X}, b: {kind: cloud, region: X}}\n"
     "links: [{a: a, b: b, bandwidth_mbps: 5}]"),
    ("links[0].b", "cannot join site 'a' to itself",
     "sites: {a: {kind: cloud, region: X}}\nlinks: [{a: a, b: a, bandwidth_mbps: 5, delay_ms: 1}]"),
    ("links[1]", "duplicate link",
     "sites: {a: {kind: cloud, region: X}, b: {kind: cloud, region: X}}\n"
     "links: [{a: a, b: b, bandwidth_mbps: 5, delay_ms: 1}, {a: b, b: a, bandwidth_mbps: 5, delay_ms: 1}]"),
    ("defaults.route_factor", "must be >= 1",
     "defaults: {route_factor: 0.5}\nsites: {a: {kind: cloud, region: X}}"),
    ("links", "sites not connected to 'a': c",
     "sites: {a: {kind: cloud, region: X}, b: {kind: cloud, region: X}, c: {kind: cloud, region: X}}\n"
     "links: [{a: a, b: b, bandwidth_mbps: 5, delay_ms: 1}]"),
    ("line 3, column", "invalid YAML", "sites:\n  a: {kind: cloud\n"),
    ("", "file is empty", ""),
]


@pytest.mark.parametrize("field,problem,text", BAD, ids=[f"{b[0]}:{b[1][:20]}" for b in BAD])
def test_bad_file_names_file_field_and_problem(write, field, problem, text):
    path = write("bad.yaml", text)
    with pytest.raises(TopologyError) as err:
        load(str(path))
    message = str(err.value)
    assert message.startswith(f"{path}: "), message
    assert field in message and problem in message, message
    assert err.value.field.startswith(field.split(",")[0]) or not field


def test_unknown_name_lists_builtins():
    with pytest.raises(TopologyError, match="built-ins: .*japan-intercloud"):
        load("no-such-topology")


def test_cli_reports_bad_file_without_traceback(write):
    path = write("broken.yaml", textwrap.dedent("""
        sites: {a: {kind: cloud, region: X}}
        links: [{a: a, b: osaka-dc, bandwidth_mbps: 1}]
    """))
    r = subprocess.run([sys.executable, "-m", "slicectl", "topology", "show", str(path)],
                       capture_output=True, text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"slicectl: error: {path}: links[0].b: unknown site 'osaka-dc'"
    assert "Traceback" not in r.stderr + r.stdout


def test_cli_shows_a_topology():
    r = subprocess.run([sys.executable, "-m", "slicectl", "topology", "show", "japan-intercloud"],
                       capture_output=True, text=True, check=True)
    assert "japan-intercloud: 18 sites, 21 links" in r.stdout
    assert "tokyo-ix — sapporo-ix" in r.stdout and "(configured" in r.stdout
