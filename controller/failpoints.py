"""Fault injection for tests (as etcd's gofail): a named point in the controller waits
while a file of that name exists in the directory ``$INTERCLOUD_FAILPOINTS`` names. Off
(one environment lookup) unless that variable is set; tests set it to their own
directory, create the file, and so stop the controller at a moment no outside signal can
pick, e.g. the home of a slice across domains between Reserve and Commit."""
from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from proto.defaults import FAILPOINTS_ENV

ENV = FAILPOINTS_ENV
MAX_WAIT_S = 60.0
log = logging.getLogger("intercloud.failpoints")


def wait_at(name: str) -> None:
    """Wait while ``$INTERCLOUD_FAILPOINTS/name`` exists (at most MAX_WAIT_S)."""
    where = os.environ.get(ENV)
    if not where:
        return
    flag = Path(where) / name
    if not flag.exists():
        return
    log.warning("failpoint %s: waiting while %s exists", name, flag)
    deadline = time.monotonic() + MAX_WAIT_S
    while flag.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
