"""No import cycle, counting every import: those under `if TYPE_CHECKING:` and those inside
functions too (tests/test_layout.py leaves out the typing-only ones). A cycle hidden under
TYPE_CHECKING still ties the modules together: neither can be understood, tested or
replaced without the other. Over controller/, slices/, slicectl/, topologies/ and proto/
(its generated code aside)."""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

from tests.conftest import REPO

PACKAGES = ("controller", "slices", "slicectl", "topologies", "proto")


def modules() -> dict[str, Path]:
    """Every project module by dotted name (generated proto/intercloud code left out)."""
    out = {}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            parts = path.relative_to(REPO).with_suffix("").parts
            if parts[:2] == ("proto", "intercloud"):
                continue
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def imported(path: Path, name: str, known: set[str]) -> set[str]:
    """Project modules the module ``name`` at ``path`` imports, anywhere in it."""
    found = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:   # relative: from the package, up level - 1
                up = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join(up + ([base] if base else []))
            names = [base] + [f"{base}.{a.name}" for a in node.names]
        else:
            continue
        for n in names:
            while n and n not in known:
                n = n.rpartition(".")[0]
            if n:
                found.add(n)
    return found


def import_graph() -> nx.DiGraph:
    mods = modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        for target in imported(path, name, set(mods)):
            if target != name and not name.startswith(target + "."):  # a package's own __init__
                g.add_edge(name, target)
    return g


def cycles() -> list[list[str]]:
    return sorted(sorted(c) for c in nx.simple_cycles(import_graph()))


def test_the_graph_sees_typing_only_and_function_level_imports():
    g = import_graph()
    assert g.has_edge("slices.audit", "slices.engine")       # under TYPE_CHECKING
    assert g.has_edge("slices.compiler", "slices.engine")    # under TYPE_CHECKING
    assert g.has_edge("slices.fakenet", "slices.record")     # inside a function


def test_no_import_cycle_at_all():
    assert cycles() == []
