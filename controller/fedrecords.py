"""A provider's connection records (issue 26), kept in a JSON file beside the store:
whose each booked part is, for which slice, whether committed and provisioned, so a
restarted domain keeps its committed parts and releases the rest
(controller.federation). Plain data."""
from __future__ import annotations

import json
import logging
import os
from pathlib import Path

log = logging.getLogger("intercloud.federation")


def write_connections(path: Path, domain: str, parts: dict) -> None:
    """A provider's booked connections (controller.federation's parts): whose, which slice,
    committed, provisioned; written whole and renamed into place."""
    doc = {"domain": domain, "connections": {
        c: {"peer": p.peer, "global_id": p.global_id, "committed": p.state.committed,
            "provisioned": p.state.provision.value == "Provisioned"}
        for c, p in sorted(parts.items()) if p.booked}}
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True))
    os.replace(tmp, path)


def read_connections(path: Path) -> dict:
    """The records :func:`write_connections` wrote (none if absent or unreadable: then
    only uncommitted parts are released, as a lost record makes a part look uncommitted)."""
    if not path.exists():
        return {}
    try:
        return json.loads(path.read_text()).get("connections", {})
    except (OSError, ValueError) as e:
        log.error("federation records %s unreadable (%s): parts without a record are released", path, e)
        return {}


__all__ = ["read_connections", "write_connections"]
