"""Shared fixtures. Tests marked ``mininet`` need root, Open vSwitch and Mininet: they run
in CI (as root) and are never skipped there; a developer without root is told to use sudo."""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
ZOO = REPO / "topologies" / "zoo"  # CC BY 4.0 copies of ../shared/topologyzoo, attribution beside them


def pytest_collection_modifyitems(config, items):
    if os.geteuid() == 0:
        return
    if os.environ.get("CI"):
        raise pytest.UsageError("CI must run the tests as root: Mininet tests are not skipped there")
    skip = pytest.mark.skip(reason="needs root: run `sudo make test`")
    for item in items:
        if "mininet" in item.keywords:
            item.add_marker(skip)


@pytest.fixture
def api(tmp_path):
    """The API harness (tests/harness.py) with default settings, closed after the test."""
    from tests.harness import Running

    r = Running(tmp_path / "store.db")
    yield r
    r.close()


@pytest.fixture
def write(tmp_path):
    """Write a text file under tmp_path and return its path."""
    def _write(name: str, text: str) -> Path:
        p = tmp_path / name
        p.write_text(text)
        return p
    return _write


def pytest_addoption(parser):
    parser.addoption("--update-golden", action="store_true", default=False,
                     help="rewrite tests/golden/*.txt from the current compiler (review the diff)")
