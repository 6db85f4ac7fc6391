"""Mininet ``--custom`` entry point for the built-in WANs, with real delay on any kernel.

    sudo mn --custom topologies/mininet_topos.py --topo japan --controller none --test pingall
    sudo mn --custom topologies/mininet_topos.py --topo japan \\
            --controller remote,ip=127.0.0.1,port=6653

With ``--controller none`` the switches forward on static least-delay routes; with a
remote controller they are fail-secure and wait for it. ``mn`` runs under Debian's
Python, so this file puts the repository and the project venv on ``sys.path``.
"""
import glob
import inspect
import os
import sys

# mn exec()s this file without __file__; the compiled code still knows its file name.
_HERE = globals().get("__file__") or inspect.currentframe().f_code.co_filename
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(_HERE)))
sys.path.insert(0, _ROOT)
sys.path[1:1] = glob.glob(os.path.join(_ROOT, ".venv", "lib", "python3*", "site-packages"))

from topologies.loader import load  # noqa: E402
from topologies.emulation.plan import make_plan  # noqa: E402
from topologies.emulation.topo import WanTopo  # noqa: E402
from topologies.emulation.wan import choose_delay_mechanism  # noqa: E402


def _factory(name):
    def make(hosts=None):
        plan = make_plan(load(name), hosts_per_site=None if hosts is None else int(hosts))
        return WanTopo(plan, delay_mechanism=choose_delay_mechanism("auto"))
    make.__doc__ = f"The {name} WAN (optional argument: hosts per site)."
    return make


topos = {
    "two-clouds": _factory("two-clouds"),
    "fabric": _factory("fabric-two-clouds"),
    "japan": _factory("japan-intercloud"),
    "global": _factory("global-intercloud"),
}
