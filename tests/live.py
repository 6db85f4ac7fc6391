"""A controller process and an emulated WAN connected to it, for the tests marked
``mininet``: both are stopped, whatever happens, when the block ends."""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from slicectl.launcher import ControllerProcess
from topologies import load


@contextmanager
def controller_and_wan(topology: str, directory: Path, options: tuple[str, ...] = (),
                       **wan_options) -> Iterator[tuple]:
    """``(controller, wan)``: the controller on ``topology`` with its store and log in
    ``directory``, every switch of the started WAN (``wan_options``: more arguments of
    :class:`Wan`, e.g. ``bfd=False``) connected to it."""
    from topologies.emulation.wan import Wan

    ctl = ControllerProcess(topology, directory / "store.db", directory / "controller.log", options=options).start()
    wan = Wan(load(topology), controller=("127.0.0.1", ctl.of), **wan_options)
    try:
        wan.start()
        ctl.wait_switches()
        yield ctl, wan
    finally:
        ctl.stop()
        wan.stop()
