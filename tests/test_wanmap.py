"""The demo's map: valid SVG, every located site drawn, each slice's tree in its colour."""
import xml.etree.ElementTree as ET

from slicectl.wanmap import COLOURS, write_map
from proto.intercloud.slicing.v1 import slicing_pb2 as pb
from topologies import load


def test_map_draws_sites_links_and_slice_trees(tmp_path):
    topo = load("japan-intercloud")
    s = pb.Slice(spec=pb.SliceSpec(name="medical", bandwidth_mbps=20, priority=7),
                 tree=[pb.Link(a="tokyo-dc", b="tokyo-ix"), pb.Link(a="tokyo-ix", b="osaka-ix")],
                 backup=[pb.Link(a="tokyo-ix", b="nagoya-ix")])
    root = ET.parse(write_map(topo, [s], tmp_path / "m.svg")).getroot()
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}circle")) == len(topo.sites)
    lines = root.findall(f"{ns}line")
    assert sum(l.get("stroke") == "#ccc" for l in lines) == len(topo.links)
    mine = [l for l in lines if l.get("stroke") == COLOURS[0]]
    assert len(mine) == 3 and sum(l.get("stroke-dasharray") is not None for l in mine) == 1
    assert any("medical" in (t.text or "") for t in root.findall(f"{ns}text"))
