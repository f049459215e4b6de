"""Verdicts on the hypothesis, from synthetic run tables with known trends."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from frivolous.results.verdicts import RULE, describe_verdict, verdicts

WIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0)
PERMUTATIONS = 2_000


def sweep(
    *,
    auc: float = 0.0,
    similarity: float = 0.0,
    accuracy: float = 0.0,
    auc_init: float = 0.0,
    widths: tuple[float, ...] = WIDTHS,
    replicates: int = 3,
    noise: float = 0.01,
    seed: int = 4,
    preset: str = "mlp",
    variant: str = "",
) -> pd.DataFrame:
    """A finished sweep whose metrics change by the given amount per doubling
    of width, plus Gaussian noise; other metrics only carry noise. The noise
    does not depend on the slopes, and with the default seed no test finds a
    trend in it (smallest p about 0.4)."""
    rng = np.random.default_rng(seed)
    width = np.repeat(np.asarray(widths, float), replicates)
    doublings = np.log2(width)

    def metric(base: float, slope: float) -> np.ndarray:
        return base + slope * doublings + noise * rng.normal(size=width.size)

    return pd.DataFrame(
        {
            "preset": preset,
            "variant": variant,
            "width_factor": width,
            "replicate": np.tile(np.arange(replicates), len(widths)),
            "status": "done",
            "collapsed": False,
            "kept": True,
            "test_accuracy": metric(0.9, accuracy),
            "auc": metric(0.5, auc),
            "similarity": metric(2.0, similarity),
            "similarity_fraction": metric(0.1, 0.0),
            "auc_init": metric(0.4, auc_init),
            "similarity_init": metric(1.0, 0.0),
            "similarity_fraction_init": metric(0.05, 0.0),
        }
    )


def verdict(runs: pd.DataFrame, **options: Any) -> pd.Series:
    table = verdicts(runs, permutations=PERMUTATIONS, **options)
    assert len(table) == 1
    return table.iloc[0]


def test_columns() -> None:
    table = verdicts(sweep(auc=0.05), permutations=PERMUTATIONS)
    metrics = ("test_accuracy", "auc", "similarity", "similarity_fraction")
    expected = ["preset", "variant", "n", "widths", "failed", "pending", "collapsed", "not_kept"]
    expected += [f"{m}_{part}" for m in metrics for part in ("n", "rho", "p", "slope", "trend")]
    for m in metrics[1:]:
        expected += [f"{m}_excess_{part}" for part in ("n", "rho", "p", "slope")]
        expected += [f"{m}_beyond_init", f"{m}_init_slope"]
    expected += ["accuracy_holds", "hypothesis", "hypothesis_beyond_init"]
    assert list(table.columns) == expected
    assert "Spearman" in RULE and "permutation" in RULE


def test_rising_removability_holds() -> None:
    row = verdict(sweep(auc=0.05))
    assert row["auc_trend"] == "rises"
    assert row["auc_rho"] > 0.8 and row["auc_p"] < 0.01
    assert row["auc_slope"] == pytest.approx(0.05, abs=0.01)
    assert row["similarity_trend"] == "flat"
    assert row["hypothesis"] == "holds"
    assert row["n"] == 15 and row["widths"] == WIDTHS
    assert row["accuracy_holds"]


def test_rho_is_spearmans() -> None:
    runs = sweep(auc=0.02)
    row = verdict(runs)
    expected = stats.spearmanr(runs["width_factor"], runs["auc"]).statistic
    assert row["auc_rho"] == pytest.approx(expected, abs=1e-12)


def test_rising_repetition_alone_holds() -> None:
    row = verdict(sweep(similarity=0.5))
    assert (row["auc_trend"], row["similarity_trend"], row["hypothesis"]) == ("flat", "rises", "holds")


def test_pure_noise_is_flat_and_fails() -> None:
    row = verdict(sweep())
    assert [row[f"{m}_trend"] for m in ("test_accuracy", "auc", "similarity", "similarity_fraction")] == ["flat"] * 4
    assert row["hypothesis"] == "fails"
    assert row["accuracy_holds"]


def test_falling_removability() -> None:
    row = verdict(sweep(auc=-0.05))
    assert row["auc_trend"] == "falls"
    assert row["auc_rho"] < -0.8 and row["auc_slope"] == pytest.approx(-0.05, abs=0.01)
    assert row["hypothesis"] == "fails"


def test_falling_accuracy() -> None:
    row = verdict(sweep(auc=0.05, accuracy=-0.03))
    assert row["test_accuracy_trend"] == "falls"
    assert not row["accuracy_holds"]
    assert row["hypothesis"] == "holds"


def test_rise_that_the_untrained_network_already_has() -> None:
    row = verdict(sweep(auc=0.05, auc_init=0.05))
    assert row["auc_trend"] == "rises"
    assert row["auc_beyond_init"] == "flat"
    assert row["auc_init_slope"] == pytest.approx(0.05, abs=0.01)
    assert abs(row["auc_excess_slope"]) < 0.01
    assert (row["hypothesis"], row["hypothesis_beyond_init"]) == ("holds", "fails")


def test_rise_beyond_the_untrained_network() -> None:
    row = verdict(sweep(auc=0.05))
    assert row["auc_beyond_init"] == "rises"
    assert row["auc_excess_slope"] == pytest.approx(0.05, abs=0.015)
    assert row["hypothesis_beyond_init"] == "holds"


def test_left_out_runs_are_counted_not_used() -> None:
    clean = sweep(auc=0.05)
    # Runs that would turn the trend around if they were used.
    bad = pd.concat([sweep(auc=-0.2, widths=(4.0,), replicates=2, seed=5)] * 4, ignore_index=True)
    bad["status"] = ["failed", "failed", "done", "done", "done", "done", "pending", "pending"]
    bad["collapsed"] = [None, True, True, True, False, False, False, False]
    bad["kept"] = [True, True, True, False, False, False, False, False]
    mixed = pd.concat([clean, bad], ignore_index=True).sample(frac=1.0, random_state=0)
    row, reference = verdict(mixed), verdict(clean)
    counts = ["failed", "pending", "collapsed", "not_kept"]
    assert list(row[counts]) == [2, 2, 2, 2]
    assert row["n"] == 15
    assert row.drop(counts).equals(reference.drop(counts))


def test_single_width_is_undecided() -> None:
    row = verdict(sweep(auc=0.05, widths=(1.0,), replicates=6))
    assert row["hypothesis"] == "undecided" and row["hypothesis_beyond_init"] == "undecided"
    assert row["auc_trend"] == "flat"
    assert np.isnan(row["auc_rho"]) and np.isnan(row["auc_p"]) and np.isnan(row["auc_slope"])
    assert row["accuracy_holds"]
    assert "not tested" in describe_verdict(row)


def test_too_few_runs_is_undecided() -> None:
    row = verdict(sweep(auc=0.05, widths=(1.0, 2.0, 4.0), replicates=1))
    assert row["n"] == 3 and row["hypothesis"] == "undecided"


@pytest.mark.parametrize(("widths", "replicates"), [((0.5, 1.0, 2.0, 4.0), 1), ((1.0, 4.0), 3)])
def test_runs_that_cannot_reach_alpha_are_undecided(widths: tuple[float, ...], replicates: int) -> None:
    # The best p of 4 runs at 4 widths is 2/24, of 6 runs at 2 widths 2 * 3!3!/6! = 0.1.
    row = verdict(sweep(auc=0.05, noise=0.0, widths=widths, replicates=replicates))
    assert np.isnan(row["auc_p"]) and row["auc_trend"] == "flat"
    assert row["auc_slope"] == pytest.approx(0.05)
    assert row["hypothesis"] == "undecided"
    row = verdict(sweep(auc=0.05, noise=0.0, widths=widths, replicates=replicates), alpha=0.2)
    assert row["auc_trend"] == "rises"


def test_no_usable_runs() -> None:
    runs = sweep(auc=0.05)
    runs["status"] = "failed"
    row = verdict(runs)
    assert row["n"] == 0 and row["failed"] == 15 and row["hypothesis"] == "undecided"
    assert describe_verdict(row).startswith("no usable runs")


def test_same_seed_same_p_values() -> None:
    runs = sweep()
    first, again = verdicts(runs, permutations=500, seed=3), verdicts(runs, permutations=500, seed=3)
    pd.testing.assert_frame_equal(first, again)
    other = verdicts(runs, permutations=500, seed=4)
    assert other["auc_p"].iloc[0] != first["auc_p"].iloc[0]
    shuffled = verdicts(runs.sample(frac=1.0, random_state=0), permutations=500, seed=3)
    pd.testing.assert_frame_equal(shuffled, first)


def test_few_runs_get_the_exact_test() -> None:
    # 5 runs have 120 orderings, fewer than the resamples asked for: the
    # strictly increasing one and its reverse give p = 2/120 whatever the seed.
    runs = sweep(auc=0.05, noise=0.0, replicates=1)
    p_values = [verdict(runs, seed=seed)["auc_p"] for seed in (0, 1)]
    assert p_values == pytest.approx([2 / 120, 2 / 120])


def test_nan_metrics_are_dropped_per_metric() -> None:
    runs = sweep(auc=0.05, similarity=0.5)
    runs.loc[[0, 7], "auc"] = np.nan
    runs.loc[[3], "similarity_init"] = np.nan
    row = verdict(runs)
    assert (row["auc_n"], row["similarity_n"], row["similarity_excess_n"]) == (13, 15, 14)
    assert row["auc_trend"] == "rises" and row["similarity_beyond_init"] == "rises"


def test_unmeasured_metric_leaves_hypothesis_undecided_unless_other_rises() -> None:
    runs = sweep()
    runs["similarity"] = np.nan
    assert verdict(runs)["hypothesis"] == "undecided"
    runs = sweep(auc=0.05)
    runs["similarity"] = np.nan
    assert verdict(runs)["hypothesis"] == "holds"


def test_constant_metric_is_flat_without_warnings() -> None:
    runs = sweep(auc=0.05)
    runs["similarity"] = 0.0
    runs["similarity_init"] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = verdict(runs)
    assert np.isnan(row["similarity_rho"])
    assert (row["similarity_p"], row["similarity_slope"], row["similarity_trend"]) == (1.0, 0.0, "flat")
    assert row["similarity_beyond_init"] == "flat"
    assert "similarity flat (constant)" in describe_verdict(row)


def test_one_row_per_preset_and_variant() -> None:
    runs = pd.concat(
        [
            sweep(auc=0.05, preset="mlp", variant="sigma=0.01"),
            sweep(preset="mlp", variant="sigma=1"),
            sweep(similarity=-0.5, preset="alexnet", variant=""),
        ],
        ignore_index=True,
    )
    table = verdicts(runs, permutations=PERMUTATIONS).set_index(["preset", "variant"])
    assert list(table.index) == [("alexnet", ""), ("mlp", "sigma=0.01"), ("mlp", "sigma=1")]
    assert list(table["hypothesis"]) == ["fails", "holds", "fails"]
    assert table.loc[("alexnet", ""), "similarity_trend"] == "falls"
    assert (table["n"] == 15).all()


def test_describe_verdict() -> None:
    runs = sweep(auc=0.05)
    runs.loc[0, "status"] = "failed"
    sentence = describe_verdict(verdict(runs))
    assert "AUC rises (rho 0.9" in sentence and "per doubling" in sentence
    assert sentence.count("hypothesis holds") == 1
    assert "14 runs at widths 0.25/0.5/1/2/4" in sentence
    assert "left out: 1 failed, 0 pending, 0 collapsed, 0 not kept" in sentence


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="auc_init"):
        verdicts(sweep().drop(columns=["auc_init"]))
