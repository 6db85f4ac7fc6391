"""The demo's map: PNG and SVG, every site placed (with or without coordinates), each
slice's tree in its colour and named in the legend."""
import xml.etree.ElementTree as ET

from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from slicectl.wanmap import site_positions, write_map
from topologies import load
from topologies.model import Site, Topology


def medical():
    return pb.Slice(spec=pb.SliceSpec(name="medical", bandwidth_mbps=20, priority=7),
                    tree=[pb.Link(a="tokyo-dc", b="tokyo-ix"), pb.Link(a="tokyo-ix", b="osaka-ix")],
                    backup=[pb.Link(a="tokyo-ix", b="nagoya-ix")])


def test_map_is_written_as_png_and_svg_with_labels_and_legend(tmp_path):
    topo = load("japan-intercloud")
    png, svg = write_map(topo, [medical()], tmp_path / "m.svg")
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    texts = " ".join(t.text or "" for t in ET.parse(svg).getroot().iter("{http://www.w3.org/2000/svg}text"))
    assert "medical (20 Mbit/s, priority 7)" in texts and "backup tree" in texts
    assert all(s.name in texts for s in topo.sites if s.kind == "cloud")


def test_sites_without_coordinates_are_placed_and_marked(tmp_path):
    topo = load("japan-intercloud")
    lost = Site("lost-dc", "cloud", None, None, "JP", hosts=1, dpid=99)
    alone = Site("alone-dc", "cloud", None, None, "JP", hosts=1, dpid=98)
    links = topo.links + (type(topo.links[0])("lost-dc", "tokyo-ix", 10, 1.0),)
    t = Topology("partly-located", topo.sites + (lost, alone), links)
    pos, guessed = site_positions(t)
    assert guessed == {"lost-dc", "alone-dc"} and set(pos) == {s.name for s in t.sites}
    tokyo = pos["tokyo-ix"]
    assert abs(pos["lost-dc"][0] - tokyo[0]) < 2 and abs(pos["lost-dc"][1] - tokyo[1]) < 2  # beside its neighbour
    _png, svg = write_map(t, [medical()], tmp_path / "p")
    assert "lost-dc (no coordinates)" in svg.read_text()
