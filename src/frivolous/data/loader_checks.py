"""Validation of loader options, with errors that name the option."""

from __future__ import annotations

from numbers import Integral


def count(option: str, value: object, minimum: int = 0) -> int:
    """``value`` as an int of at least ``minimum``; a ValueError naming ``option`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise ValueError(f"{option} must be an integer, got {value!r}")
    if value < minimum:
        raise ValueError(f"{option} must be at least {minimum}, got {value}")
    return int(value)
