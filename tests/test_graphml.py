"""Topology Zoo import: every shipped file loads, and each gap is treated and warned about."""
import networkx as nx
import pytest

from tests.conftest import ZOO
from topologies import TopologyError, load

ZOO_FILES = {  # file: (sites, links)
    "Abilene.graphml": (11, 14),
    "Geant2012.graphml": (40, 61),
    "Internet2.graphml": (20, 26),
    "Sinet.graphml": (74, 76),
    "WideJpn.graphml": (30, 33),
}


@pytest.mark.parametrize("name", sorted(ZOO_FILES))
def test_every_zoo_file_loads_connected(name):
    t = load(ZOO / name)
    assert (len(t.sites), len(t.links)) == ZOO_FILES[name]
    assert len({s.name for s in t.sites}) == len(t.sites)
    assert nx.is_connected(t.graph())
    assert all(l.bandwidth_mbps > 0 and l.delay_ms >= 0 for l in t.links)
    assert "CC BY 4.0" in t.description


def test_abilene_has_all_coordinates_and_default_speeds():
    t = load(ZOO / "Abilene.graphml")
    assert all(s.located for s in t.sites)
    assert all(l.delay_source == "distance" for l in t.links)
    assert {l.bandwidth_mbps for l in t.links} == {1000.0}
    assert any("14 links have no speed; set to 1000 Mbit/s (default)" in w for w in t.warnings)
    ny_chi = t.link("new-york", "chicago")
    assert ny_chi.distance_km == pytest.approx(1145, rel=0.02)


def test_geant_guesses_coordinates_from_neighbours_and_uses_known_speeds():
    t = load(ZOO / "Geant2012.graphml")
    warning = next(w for w in t.warnings if "no coordinates; placed at the centroid" in w)
    assert "ua" in warning and "md" in warning and "by" in warning
    assert t.site("ua").located and 40 < t.site("ua").lat < 60
    assert any("most common known speed" in w for w in t.warnings)
    assert 10000.0 in {l.bandwidth_mbps for l in t.links}
    assert "Austria" in t.regions


def test_internet2_without_any_coordinates_gets_guessed_delays():
    t = load(ZOO / "Internet2.graphml")
    assert not any(s.located for s in t.sites)
    assert {l.delay_source for l in t.links} == {"guessed"}
    assert any("named by node id" in w for w in t.warnings)
    assert any("delay set to 5.00 ms (default)" in w for w in t.warnings)


def test_widejpn_external_nodes_become_edge_sites():
    t = load(ZOO / "WideJpn.graphml")
    assert sum(s.kind == "edge" for s in t.sites) == 11
    assert any("11 external nodes (Internal=0) imported as edge sites" in w for w in t.warnings)


def test_parallel_edges_merge_and_self_loops_drop(tmp_path):
    g = nx.MultiGraph(label="Lab")
    g.add_node("0", label="Alpha", Latitude=35.0, Longitude=139.0, Country="Japan", Internal=1)
    g.add_node("1", label="Beta", Latitude=34.0, Longitude=135.0, Country="Japan", Internal=1)
    g.add_node("2", label="Gamma", Internal=1)
    g.add_edge("0", "1", LinkSpeedRaw=1e9)
    g.add_edge("0", "1", LinkSpeedRaw=1e9)
    g.add_edge("1", "2")
    g.add_edge("2", "2")
    path = tmp_path / "lab.graphml"
    nx.write_graphml(g, path)
    t = load(path)
    assert t.link("alpha", "beta").bandwidth_mbps == 2000.0
    assert t.link("beta", "gamma").bandwidth_mbps == 1000.0   # most common known speed
    assert t.site("gamma").located and t.site("gamma").lat == pytest.approx(34.0, abs=0.01)
    assert t.site("gamma").region == "unknown"
    text = "\n".join(t.warnings)
    assert "parallel edge bundles merged" in text and "alpha—beta x2" in text
    assert "self-loops dropped at: gamma" in text


def test_unreadable_graphml_names_the_file(tmp_path):
    path = tmp_path / "junk.graphml"
    path.write_text("<graphml><oops")
    with pytest.raises(TopologyError, match=r"junk.graphml: not a readable GraphML file"):
        load(path)
