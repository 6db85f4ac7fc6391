"""Mininet emulation of a :class:`topologies.Topology` as a wide-area network.

Needs root, Open vSwitch and Mininet. Delay is real on every kernel: netem where the
kernel has it, otherwise a userspace delay relay (:mod:`topologies.emulation.relay`).
"""
