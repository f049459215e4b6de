"""Checks of family options: a bad option fails when the model is built,
with a message that names it, never later as a shape error."""

from __future__ import annotations


def check_count(name: str, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")


def check_dropout(value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value < 1.0:
        raise ValueError(f"dropout must lie in [0, 1), got {value!r}")
