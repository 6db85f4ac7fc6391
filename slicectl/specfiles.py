"""Slice spec files (YAML): read strictly, check locally, report per file and document.

Used by ``slicectl apply`` (which checks every document before sending any) and
``slicectl spec check`` (which checks against a topology too, as the controller will,
like Faucet's ``check_faucet_config``). A key written twice in one mapping is an error
here, not "the last one wins" as in plain YAML: in a spec it is almost always a slip.
"""
from __future__ import annotations

import dataclasses
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from slices.errors import SpecError
from slices.spec import SliceSpec, parse_spec
from topologies.model import Topology


class SpecFileError(Exception):
    """A file that cannot be read as slice specs, or specs in it that are invalid.
    ``lines`` are ready to print, one problem each."""

    def __init__(self, lines: list[str]):
        self.lines = lines
        super().__init__("\n".join(lines))


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping."""


def _no_duplicates(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: dict[Any, int] = {}
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                "while reading a mapping", node.start_mark,
                f"found the key {key!r} twice (first on line {seen[key] + 1})", key_node.start_mark)
        seen[key] = key_node.start_mark.line
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)


@dataclass(frozen=True)
class SpecDoc:
    """One spec document of a file: where it is (for messages) and what it says."""

    path: str
    index: int       # 1-based position among the specs of the file
    doc: Any

    @property
    def where(self) -> str:
        name = self.doc.get("name") if isinstance(self.doc, dict) else None
        return f"{self.path}: spec {self.index}" + (f" ({name})" if isinstance(name, str) and name else "")


def read_spec_docs(path: str) -> list[SpecDoc]:
    """The spec documents of a YAML file ('-' is standard input): one document, several
    (``---``), or lists of specs. Raises SpecFileError if the file cannot be read."""
    try:
        text = sys.stdin.read() if path == "-" else Path(path).read_text(encoding="utf-8")
        docs = [d for d in yaml.load_all(text, Loader=_StrictLoader) if d is not None]
    except OSError as e:
        raise SpecFileError([f"{path}: cannot read: {e.strerror or e}"]) from None
    except UnicodeDecodeError as e:
        raise SpecFileError([f"{path}: not UTF-8 text ({e.reason} at byte {e.start})"]) from None
    except yaml.YAMLError as e:
        raise SpecFileError([f"{path}: not valid YAML: {' '.join(str(e).split())}"]) from None
    specs = []
    for d in docs:
        specs += d if isinstance(d, list) else [d]
    if not specs:
        raise SpecFileError([f"{path}: no slice spec in the file"])
    return [SpecDoc(path, i + 1, d) for i, d in enumerate(specs)]


def spec_paths(paths: list[str]) -> list[str]:
    """The files ``paths`` name, as ``kubectl apply -f`` reads them: a directory stands for
    its ``*.yaml`` and ``*.yml`` files (sorted, not recursive); files and '-' as given.
    SpecFileError for a directory with no such file."""
    out, lines = [], []
    for path in paths:
        if path != "-" and Path(path).is_dir():
            found = sorted(str(p) for p in Path(path).iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
            if not found:
                lines.append(f"{path}: a directory with no *.yaml or *.yml file")
            out += found
        else:
            out.append(path)
    if lines:
        raise SpecFileError(lines)
    return out


# Stands in for a tenant left out of a spec while it is checked here: the controller fills in
# the caller's (its certificate's or token's), and it is sent empty.
_CALLERS = "the-caller"


def check_docs(docs: list[SpecDoc], topology: Topology | None = None) -> list[SliceSpec]:
    """Validate every document (against ``topology`` when given); the frozen specs, or
    SpecFileError listing every problem of every document with its field path. Names
    used twice across the documents are an error too (the second would update the first).
    A spec without ``tenant`` is the caller's: checked as if it had one, returned with
    ``tenant`` empty for the controller to fill in."""
    lines, specs, names = [], [], {}
    for d in docs:
        unowned = isinstance(d.doc, dict) and d.doc.get("tenant") is None
        try:
            spec = parse_spec({**d.doc, "tenant": _CALLERS} if unowned else d.doc, topology)
            if unowned:
                spec = dataclasses.replace(spec, tenant="")
        except SpecError as e:
            lines += [f"{d.where}: {f}: {p}" if f else f"{d.where}: {p}" for f, p in e.violations]
            continue
        if spec.name in names:
            lines.append(f"{d.where}: name: {spec.name!r} is also the name of {names[spec.name]}")
            continue
        names[spec.name] = d.where
        specs.append(spec)
    if lines:
        raise SpecFileError(lines)
    return specs
