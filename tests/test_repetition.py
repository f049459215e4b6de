"""Repetition: blocked similarity against the released code's numpy method."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import frivolous as fv
from frivolous.measuring.reference import similarity_counts
from frivolous.measuring.repetition import HISTOGRAM_BINS


def planted(samples: int = 400, units: int = 40, seed: int = 0) -> np.ndarray:
    """Random ReLU-like data with planted repeats (scaled copies plus noise,
    one negated) and dead units (constant columns, zero and non-zero)."""
    rng = np.random.default_rng(seed)
    latent = rng.normal(size=(samples, 6))
    x = np.maximum(latent @ rng.normal(size=(6, units)) + rng.normal(size=(samples, units)), 0)
    x[:, 1] = 3.0 * x[:, 0]  # exact repeat, |r| = 1
    x[:, 2] = -x[:, 0] + 0.05 * rng.normal(size=samples)  # anti-correlated repeat
    x[:, 3] = x[:, 0] + 2.0 * rng.normal(size=samples)  # a weaker relative
    x[:, 5] = 0.0  # dead: a ReLU that never fires
    x[:, 9] = 1.5  # dead: constant but not zero
    return x.astype(np.float32)


def brute_force(x: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-unit counts among live units, the dead mask, and |r| of live pairs, in float64."""
    dead = x.max(0) == x.min(0)
    r = np.abs(np.corrcoef(x[:, ~dead].astype(np.float64), rowvar=False))
    counts = (r >= threshold).sum(1) - 1
    pairs = r[np.triu_indices(r.shape[0], 1)]
    return counts, dead, pairs


@pytest.mark.parametrize("threshold", [0.1, 0.5, 0.9])
def test_counts_match_brute_force_reference(threshold: float) -> None:
    x = planted()
    counts, dead, pairs = brute_force(x, threshold)
    result = fv.similarity(x, threshold)
    assert result.dead == 2 and np.array_equal(result.dead_mask, dead)
    assert np.array_equal(result.counts[~dead], counts)
    assert np.isnan(result.counts[dead]).all()
    assert result.mean == pytest.approx(counts.mean())
    assert result.std == pytest.approx(counts.std())
    assert result.fraction == pytest.approx(counts.mean() / (len(counts) - 1))
    assert result.pairs == len(pairs) == result.histogram_counts.sum()
    expected_hist, _ = np.histogram(pairs, bins=HISTOGRAM_BINS, range=(0, 1))
    # float32 and float64 may put a pair within ~1e-6 of a bin edge into neighbouring bins
    assert np.abs(expected_hist - result.histogram_counts).sum() <= 2


def test_legacy_mode_reproduces_the_released_code() -> None:
    x = planted()
    released = similarity_counts(x)  # numpy.corrcoef over all units: dead units count -1
    result = fv.similarity(x, dead="legacy")
    assert np.array_equal(result.counts, released)
    assert result.mean == pytest.approx(released.mean())
    assert result.std == pytest.approx(released.std())
    assert (result.counts[result.dead_mask] == -1).all()


def test_planted_repeats_are_found() -> None:
    result = fv.similarity(planted(), 0.99)
    assert result.counts[0] >= 2 and result.counts[1] >= 2  # 0, 1 (scaled copy), 2 (negated copy)


@pytest.mark.parametrize("block", [1, 3, 7, 16, 64])
def test_blocks_do_not_change_the_answer(block: int) -> None:
    x = planted(units=37)
    whole = fv.similarity(x)
    blocked = fv.similarity(x, block=block)
    assert np.array_equal(whole.counts, blocked.counts, equal_nan=True)
    assert np.array_equal(whole.histogram_counts, blocked.histogram_counts)


def test_pairs_near_the_threshold_are_decided_like_float64() -> None:
    # Column 1 correlates with column 0 at r = 0.6 (by construction); thresholds 5e-6
    # either side must be decided as float64 decides them, through the refinement band.
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(2, 5000))
    a, b = a - a.mean(), b - b.mean()
    b -= a * (a @ b) / (a @ a)  # orthogonal to a
    a, b = a / np.linalg.norm(a), b / np.linalg.norm(b)
    x = np.stack([a, 0.6 * a + 0.8 * b, b], 1)
    r01 = abs(np.corrcoef(x, rowvar=False)[0, 1])
    below = fv.similarity(x, threshold=float(r01) - 5e-6)
    above = fv.similarity(x, threshold=float(r01) + 5e-6)
    assert below.counts[0] == 1 and below.refined_pairs > 0
    assert above.counts[0] == 0 and above.refined_pairs > 0


def test_torch_numpy_and_integer_inputs_agree() -> None:
    x = planted()
    as_numpy = fv.similarity(x)
    as_tensor = fv.similarity(torch.from_numpy(x))
    as_float64 = fv.similarity(x.astype(np.float64))
    assert np.array_equal(as_numpy.counts, as_tensor.counts, equal_nan=True)
    assert np.array_equal(as_numpy.counts, as_float64.counts, equal_nan=True)
    integers = fv.similarity(np.round(x * 10).astype(np.int64))
    assert integers.units == x.shape[1]


def test_input_is_left_untouched() -> None:
    x = torch.from_numpy(planted())
    copy = x.clone()
    fv.similarity(x)
    assert torch.equal(x, copy)


def test_all_dead_and_single_live_unit() -> None:
    all_dead = fv.similarity(np.zeros((10, 4)))
    assert all_dead.dead == 4 and np.isnan(all_dead.mean)
    assert fv.similarity(np.zeros((10, 4)), dead="legacy").mean == -1.0
    one_live = np.zeros((10, 3))
    one_live[:, 1] = np.arange(10)
    result = fv.similarity(one_live)
    assert result.counts[1] == 0 and result.mean == 0.0 and result.dead == 2


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 0.0}, "threshold"),
        ({"threshold": 1.5}, "threshold"),
        ({"threshold": float("nan")}, "threshold"),
        ({"dead": "ignore"}, "dead"),
    ],
)
def test_bad_arguments(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fv.similarity(planted(), **kwargs)


def test_bad_inputs() -> None:
    with pytest.raises(ValueError, match="2-D"):
        fv.similarity(np.zeros((4, 3, 2)))
    with pytest.raises(ValueError, match="at least 2 samples"):
        fv.similarity(np.ones((1, 3)))
    x = planted()
    x[7, 4] = np.nan
    with pytest.raises(ValueError, match="NaN or infinite"):
        fv.similarity(x)
    x = planted()
    x[:, 6] = np.inf  # constant, but not a dead unit: infinite
    with pytest.raises(ValueError, match="NaN or infinite"):
        fv.similarity(x)
