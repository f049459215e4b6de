"""Scaling layer widths by a width factor."""

from __future__ import annotations

import math


def scaled(units: int, width_factor: float) -> int:
    """``units * width_factor`` rounded to whole units (at least one)."""
    if not (isinstance(width_factor, (int, float)) and math.isfinite(width_factor) and width_factor > 0):
        raise ValueError(f"width_factor must be a positive number, got {width_factor!r}")
    return max(1, round(units * width_factor))
