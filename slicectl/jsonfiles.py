"""Reading the JSON files the clients take (inventories, run records, benchmark output)
with one kind of message for a missing or garbled file: its path and what was wrong."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def read_json(path: str | Path, what: str, error: type[Exception]) -> Any:
    """The document in ``path``; ``error`` with the path and the problem if it cannot be
    read or is not JSON (``what`` names the file for people: "inventory", ...)."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise error(f"{path}: cannot read the {what} ({e.strerror})") from None
    except ValueError as e:
        raise error(f"{path}: the {what} is not JSON ({e})") from None
