"""The engine and the topology code stay readable in pieces: no module in slices/ or
topologies/ over 500 lines, no function there over 80."""
from __future__ import annotations

import ast

from tests.conftest import REPO

MAX_MODULE_LINES, MAX_FUNCTION_LINES = 500, 80


def _sources():
    for pkg in ("slices", "topologies"):
        yield from sorted((REPO / pkg).rglob("*.py"))


def test_no_module_over_500_lines():
    long = {p.relative_to(REPO).as_posix(): n for p in _sources()
            if (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES}
    assert long == {}


def test_no_function_over_80_lines():
    long = {}
    for p in _sources():
        for node in ast.walk(ast.parse(p.read_text(), str(p))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                n = node.end_lineno - node.lineno + 1
                if n > MAX_FUNCTION_LINES:
                    long[f"{p.relative_to(REPO).as_posix()}:{node.name}"] = n
    assert long == {}
