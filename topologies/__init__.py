"""Topologies: the network model, its loaders (YAML, Topology Zoo GraphML) and the
built-in inter-cloud WANs. The Mininet emulation lives in ``topologies.emulation`` and is
imported only by those who need it."""
from topologies.errors import TopologyError
from topologies.model import Link, Site, Topology
from topologies.loader import builtin_names, load

__all__ = ["Link", "Site", "Topology", "TopologyError", "builtin_names", "load"]
