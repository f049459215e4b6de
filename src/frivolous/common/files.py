"""Files written atomically: a crash never leaves a half-written file under its final name."""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any


def write_atomically(path: Path, write: Any) -> None:
    """Write a file through a temporary in the same folder and rename it, so
    that a crash never leaves a half-written file under the final name.
    ``write`` is text, bytes, or a function that writes to a given path.
    The file is readable as any file the user creates (the umask decides)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    # a fresh name rather than mkstemp, whose 0600 mode the rename would keep: the file gets the umask's mode
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex}.tmp"
    try:
        if isinstance(write, str):
            temporary.write_text(write)
        elif isinstance(write, bytes):
            temporary.write_bytes(write)
        else:
            write(temporary)
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise


def write_json(path: Path, value: Any) -> None:
    write_atomically(path, json.dumps(value, indent=2, sort_keys=True) + "\n")


def read_json(path: Path) -> Any:
    return json.loads(path.read_text())
