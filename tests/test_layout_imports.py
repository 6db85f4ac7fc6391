"""No import cycle, counting every import: those under `if TYPE_CHECKING:` and those inside
functions too (tests/test_layout.py leaves out the typing-only ones). A cycle hidden under
TYPE_CHECKING still ties the modules together: neither can be understood, tested or
replaced without the other. Over controller/, slices/, slicectl/, topologies/ and proto/
(its generated code aside), as tests/test_layout.py reads them."""
from __future__ import annotations

import networkx as nx

from tests.test_layout import import_graph


def test_the_graph_sees_typing_only_and_function_level_imports():
    g = import_graph(typing_too=True)
    assert g.has_edge("slices.audit", "slices.engine")       # under TYPE_CHECKING
    assert g.has_edge("slices.compiler", "slices.engine")    # under TYPE_CHECKING
    assert g.has_edge("slices.fakenet", "slices.record")     # inside a function
    assert not import_graph().has_edge("slices.audit", "slices.engine")


def test_no_import_cycle_at_all():
    assert sorted(sorted(c) for c in nx.simple_cycles(import_graph(typing_too=True))) == []
