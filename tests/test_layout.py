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
    """Project modules ``path`` imports, anywhere in it; under `if TYPE_CHECKING:` too only
    with ``typing_too``."""
    tree = ast.parse(path.read_text(), str(path))
    typing_only = set() if typing_too else {
        id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
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


MAX_MODULE_LINES, MAX_FUNCTION_LINES = 500, 80


def test_modules_and_functions_stay_small():
    """Split by responsibility early (STYLE.md): no god module, no function one cannot read
    at once. Generated gRPC code aside."""
    too_big = []
    for name, path in _modules().items():
        text = path.read_text()
        if len(text.splitlines()) > MAX_MODULE_LINES:
            too_big.append(f"{name}: {len(text.splitlines())} lines")
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    too_big.append(f"{name}.{node.name}: {lines} lines")
    assert too_big == []


def test_no_module_level_mutable_settings():
    """Configuration is passed in (controller.settings, built by controller.main), never kept
    in a module's globals for others to fill: no `global` statement, and in the controller
    and its clients no module-level dict, list or set that anything changes (slices/ keeps
    two interning tables, placement's _KEYS and _EDGES: memory, not configuration)."""
    found = []
    for name, path in _modules().items():
        if not name.startswith(("controller", "slicectl")):
            continue
        tree = ast.parse(path.read_text())
        found += [f"{name}: global {', '.join(n.names)}" for n in ast.walk(tree) if isinstance(n, ast.Global)]
        mutable = {t.id for node in tree.body if isinstance(node, (ast.Assign, ast.AnnAssign))
                   for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                   if isinstance(t, ast.Name) and isinstance(node.value, (ast.Dict, ast.List, ast.Set))
                   or (isinstance(node.value, ast.Call) and getattr(node.value.func, "id", "") in ("dict", "list", "set"))}
        for node in ast.walk(tree):
            changed = None
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and isinstance(node.func.value, ast.Name):
                if node.func.attr in ("update", "clear", "append", "extend", "add", "pop", "setdefault", "remove"):
                    changed = node.func.value.id
            elif isinstance(node, (ast.Assign, ast.AugAssign)):
                for t in (node.targets if isinstance(node, ast.Assign) else [node.target]):
                    if isinstance(t, ast.Subscript) and isinstance(t.value, ast.Name):
                        changed = t.value.id
            if changed in mutable:
                found.append(f"{name}: module-level {changed} is changed")
    assert sorted(set(found)) == []


CONTROLLER_INTERNALS = {"engine", "model", "states", "plan", "wire", "link_reasons", "slices_on", "sla_status",
                        "slice_rates", "link_delays_ms", "switch_problems", "lookups", "pipeline", "network"}


def test_api_and_metrics_see_only_the_read_model():
    """controller.service and controller.metrics read through controller.readmodel's views,
    never the controller's or the engine's own maps (so one place decides what a caller
    may see)."""
    for module in ("service", "metrics"):
        tree = ast.parse((REPO / "controller" / f"{module}.py").read_text())
        reached = sorted({n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)} & CONTROLLER_INTERNALS)
        assert reached == [], (module, reached)


def test_client_commands_use_no_server_module():
    g = import_graph()
    for module in (n for n in g if n.startswith("slicectl")):
        server = sorted(t for t in g.successors(module) if t.startswith("controller"))
        if module == "slicectl.commands.controller":
            assert server == ["controller.main"], server  # `slicectl controller` starts the server
        else:
            assert server == [], (module, server)
