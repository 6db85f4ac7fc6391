"""Draw each exercise's diagram (labs/NN-name/wan.svg): its WAN on a map with the reference
solution's slices as the engine places them (trees solid, backup trees dashed).

    .venv/bin/python labs/diagrams.py        # after changing a topology or a solution
"""
from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import matplotlib
import matplotlib.pyplot as plt
import yaml

from slices.engine import SliceEngine
from slices.spec import parse_spec
from slicectl.wanmap import map_figure
from topologies import load

LABS = Path(__file__).resolve().parent
EXAMPLES = LABS.parent / "examples" / "japan"
CLIENT_SLICE = {"name": "from-client", "tenant": "lab", "bandwidth_mbps": 5,
                "endpoints": [{"site": "tokyo-dc", "port": 2, "ip": "10.0.1.2"},
                              {"site": "osaka-dc", "port": 2, "ip": "10.0.4.2"}]}
# exercise directory: (topology, spec files of its solution, or spec documents)
DIAGRAMS = {
    "01-wan-from-geography": ("01-wan-from-geography/solution/my-wan.yaml", []),
    "02-first-slice": ("two-clouds", ["02-first-slice/solution/slice.yaml", CLIENT_SLICE]),
    "03-isolation-reservations": ("japan-intercloud", ["03-isolation-reservations/solution/slices.yaml"]),
    "04-latency-admission": ("japan-intercloud", ["04-latency-admission/solution/slices.yaml"]),
    "05-failures-priority": ("japan-intercloud", ["05-failures-priority/solution/slices.yaml"]),
    "06-disaster-recovery": ("japan-intercloud", ["06-disaster-recovery/solution/scale-out.yaml"]),
    "07-automated-verification": ("japan-intercloud", [EXAMPLES / "medical.yaml", EXAMPLES / "business.yaml"]),
}


def documents(sources: list) -> list[dict]:
    docs = []
    for src in sources:
        if isinstance(src, dict):
            docs.append(src)
        else:
            path = src if isinstance(src, Path) else LABS / src
            docs += [d for d in yaml.safe_load_all(path.read_text()) if d]
    return docs


def placed(topology, docs: list[dict]) -> list[SimpleNamespace]:
    """The slices as the engine places them, shaped as map_figure wants (API-like)."""
    engine, out = SliceEngine(topology), []
    for d in docs:
        spec = parse_spec(d)
        engine.admit(spec)
        s = engine.get(spec.name)
        link = lambda key: SimpleNamespace(a=sorted(key)[0], b=sorted(key)[1])  # noqa: E731
        out.append(SimpleNamespace(spec=SimpleNamespace(name=spec.name, bandwidth_mbps=spec.bandwidth_mbps,
                                                        priority=spec.priority),
                                   tree=[link(k) for k in s.tree.links],
                                   backup=[link(k) for k in s.backup.links] if s.backup else []))
    return out


def main() -> None:
    for lab, (topology, sources) in DIAGRAMS.items():
        topo = load(LABS / topology if topology.endswith(".yaml") else topology)
        fig = map_figure(topo, placed(topo, documents(sources)))
        target = LABS / lab / "wan.svg"
        with matplotlib.rc_context({"svg.fonttype": "none", "svg.hashsalt": "labs"}):
            fig.savefig(target, bbox_inches="tight", metadata={"Date": None})
        plt.close(fig)
        print(f"{target.relative_to(LABS.parent)}: {target.stat().st_size // 1024} KiB")


if __name__ == "__main__":
    main()
