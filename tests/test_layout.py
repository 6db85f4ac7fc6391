"""The layout shows the one-way flow: no module imports one that imports it back (directly
or round a longer loop), and the clients in slicectl/ reach the server's code only
through the shared conversion beside proto/ (`slicectl controller` itself aside: it runs
the server)."""
from __future__ import annotations

import ast
from pathlib import Path

import networkx as nx

from tests.conftest import REPO

PACKAGES = ("controller", "slices", "slicectl", "topologies", "proto")


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in PACKAGES:
        for path in (REPO / pkg).rglob("*.py"):
            if "_pb2" in path.name:
                continue
            parts = path.relative_to(REPO).with_suffix("").parts
            out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(path: Path, known: set[str], typing_too: bool = False) -> set[str]:
    """Project modules ``path`` imports, anywhere in it except under `if TYPE_CHECKING:`
    (there too with ``typing_too``)."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If) and not typing_too
                   and getattr(node.test, "id", "") == "TYPE_CHECKING" for n in ast.walk(node)}
    found = set()
    for node in ast.walk(tree):
        if id(node) in typing_only:
            continue
        names = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for n in names:
            while n and n not in known:
                n = n.rpartition(".")[0]
            if n:
                found.add(n)
    return found


def import_graph(typing_too: bool = False) -> nx.DiGraph:
    mods = _modules()
    g = nx.DiGraph()
    for name, path in mods.items():
        g.add_node(name)
        for target in _imports(path, set(mods), typing_too):
            if target != name and not name.startswith(target + "."):  # a package's own __init__
                g.add_edge(name, target)
    return g


def test_no_module_imports_one_that_imports_it_back():
    cycles = sorted(sorted(c) for c in nx.simple_cycles(import_graph()))
    assert cycles == []


def test_client_commands_use_no_server_module():
    g = import_graph()
    for module in (n for n in g if n.startswith("slicectl")):
        server = sorted(t for t in g.successors(module) if t.startswith("controller"))
        if module == "slicectl.cli":
            assert server == ["controller.main"], server  # `slicectl controller` starts the server
        else:
            assert server == [], (module, server)
