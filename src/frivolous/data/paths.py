"""Where datasets live on disk, decided in one place so that every loader agrees."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "FRIVOLOUS_DATA"


def data_root() -> Path:
    """``$FRIVOLOUS_DATA`` if it is set, else ``~/.frivolous/data``.

    Read at each call, so that a change of the environment variable takes
    effect without reimporting anything."""
    configured = os.environ.get(ENV_VAR)
    return Path(configured).expanduser() if configured else Path.home() / ".frivolous" / "data"
