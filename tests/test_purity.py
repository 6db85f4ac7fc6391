"""slices/ is pure: it imports nothing from controller/, Mininet or os-ken, and does no I/O."""
import ast
import subprocess
import sys
from pathlib import Path

SLICES = Path(__file__).resolve().parent.parent / "slices"
FORBIDDEN_MODULES = ("controller", "mininet", "os_ken", "ryu", "grpc", "socket", "subprocess",
                     "sqlite3", "topologies.emulation")


def test_importing_every_engine_module_loads_no_controller_mininet_or_os_ken():
    code = ("import sys, importlib, pkgutil, slices\n"
            "for m in pkgutil.iter_modules(slices.__path__): importlib.import_module('slices.' + m.name)\n"
            "print('\\n'.join(sorted(sys.modules)))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    bad = [m for m in loaded if m.split(".")[0] in ("controller", "mininet", "os_ken", "ryu", "grpc")
           or m.startswith("topologies.emulation")]
    assert bad == []


def test_engine_sources_have_no_io():
    for path in SLICES.glob("*.py"):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                for n in names:
                    assert not n.startswith(FORBIDDEN_MODULES), f"{path.name} imports {n}"
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
                assert node.func.id not in ("open", "print", "input"), f"{path.name} calls {node.func.id}()"


def test_engine_sources_read_no_clock():
    """Time comes in as an argument (a schedule is judged against the ``now`` it is given):
    no ``time`` module, no ``datetime.now()``/``utcnow()``/``today()`` in slices/."""
    for path in SLICES.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else [node.module or ""]
                assert "time" not in names, f"{path.name} imports time"
            if isinstance(node, ast.Attribute) and node.attr in ("now", "utcnow", "today"):
                assert not isinstance(node.ctx, ast.Load) or not isinstance(node.value, ast.Name) \
                    or node.value.id not in ("datetime", "date"), f"{path.name} reads the clock ({node.attr})"
