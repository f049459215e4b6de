"""Argument checks shared by the measurement functions: a bad input must
raise a clear error before any work starts, never yield a wrong number."""

from __future__ import annotations

import math

import torch


def check_threshold(threshold: float) -> None:
    if not isinstance(threshold, (int, float)) or not (0.0 < threshold <= 1.0) or math.isnan(threshold):
        raise ValueError(f"threshold must lie in (0, 1], got {threshold!r}")


def check_positive(name: str, value: int, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")


def check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}, got {value!r}")


def check_finite(values: torch.Tensor, what: str) -> None:
    """Refuse NaN and inf: a correlation or a label computed from them means nothing."""
    if values.is_floating_point() and not bool(torch.isfinite(values).all()):
        bad = int((~torch.isfinite(values)).sum())
        raise ValueError(f"{what} contain {bad} NaN or infinite values; measurements would be meaningless")
