"""Verdicts on the hypothesis, from synthetic run tables with known trends."""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from frivolous.results.paired import minimum_detectable
from frivolous.results.verdicts import (
    KEYS,
    LAYER_KEYS,
    MARGINS,
    PARTS,
    RULE,
    Margin,
    counted,
    describe_verdict,
    holm,
    layer_verdicts,
    lost_groups,
    verdicts,
)

WIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0)
PERMUTATIONS = 2_000
TREND_KEYS = (
    "test_accuracy",
    "auc",
    "similarity",
    "similarity_fraction",
    "auc_beyond_init",
    "similarity_fraction_beyond_init",
)


def sweep(
    *,
    auc: float = 0.0,
    similarity: float = 0.0,
    accuracy: float = 0.0,
    fraction: float = 0.0,
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
    trend in it (smallest p about 0.4) while its small spread shows every
    slope without a trend to lie well inside the equivalence margins."""
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
            "seed": np.tile(np.arange(replicates), len(widths)),
            "status": "done",
            "collapsed": False,
            "kept": True,
            "test_accuracy": metric(0.9, accuracy),
            "auc": metric(0.5, auc),
            "similarity": metric(2.0, similarity),
            "similarity_fraction": metric(0.1, fraction),
            "auc_init": metric(0.4, auc_init),
            "similarity_init": metric(1.0, 0.0),
            "similarity_fraction_init": metric(0.05, 0.0),
        }
    )


def noise_sweep(seed: int) -> pd.DataFrame:
    """Every metric drawn uniformly at random, whatever the width, over a
    range far wider than its equivalence margin: data that cannot tell."""
    rng = np.random.default_rng(seed)
    runs = sweep()
    for column, high in (
        ("test_accuracy", 1.0),
        ("auc", 1.0),
        ("auc_init", 1.0),
        ("similarity", 4.0),
        ("similarity_init", 4.0),
        ("similarity_fraction", 0.5),
        ("similarity_fraction_init", 0.5),
    ):
        runs[column] = rng.uniform(0.0, high, size=len(runs))
    return runs


def verdict(runs: pd.DataFrame, **options: Any) -> pd.Series:
    table = verdicts(runs, permutations=PERMUTATIONS, **options)
    assert len(table) == 1
    return table.iloc[0]


def trends(row: pd.Series) -> list[str]:
    return [row[f"{key}_trend"] for key in TREND_KEYS]


def test_columns() -> None:
    table = verdicts(sweep(auc=0.05), permutations=PERMUTATIONS)
    expected = [
        "preset",
        "variant",
        "alpha",
        "n",
        "widths",
        "failed",
        "diverged",
        "pending",
        "collapsed",
        "not_kept",
        "collapsed_init",
        "lost_groups",
    ]
    expected += [f"{key}_{part}" for key in (*TREND_KEYS, "effective_width_fraction") for part in PARTS]
    expected += [
        "auc_init_slope",
        "similarity_fraction_init_slope",
        "hypothesis",
        "hypothesis_controlled",
        "effective_width_slower",
    ]
    assert list(table.columns) == expected and KEYS == (*TREND_KEYS, "effective_width_fraction")
    for word in ("Spearman", "permutation", "Holm", "±δ", "inconclusive", "beyond init", "fraction"):
        assert word in RULE
    assert set(MARGINS) == set(KEYS) and all(margin.reason for margin in MARGINS.values())


def test_rising_removability_holds() -> None:
    row = verdict(sweep(auc=0.05))
    assert row["auc_trend"] == "rises"
    assert row["auc_rho"] > 0.8 and row["auc_p"] < 0.01 and row["auc_p"] <= row["auc_p_holm"] < 0.05
    assert row["auc_slope"] == pytest.approx(0.05, abs=0.01)
    assert row["auc_ci_low"] < 0.05 < row["auc_ci_high"] and row["auc_ci_low"] > 0.01
    assert row["similarity_trend"] == "flat"
    assert row["hypothesis"] == "holds" and row["hypothesis_controlled"] == "holds"
    assert row["n"] == 15 and row["widths"] == WIDTHS


def test_rho_is_the_mean_of_each_seeds_spearman_rho() -> None:
    # With every seed at every width, the within-seed rho is the mean of the seeds' own Spearman correlations.
    runs = sweep(auc=0.02)
    row = verdict(runs)
    own = [stats.spearmanr(seed["width_factor"], seed["auc"]).statistic for _, seed in runs.groupby("seed")]
    assert row["auc_rho"] == pytest.approx(np.mean(own), abs=1e-12)
    assert (row["auc_n"], row["auc_seeds"], row["auc_unpaired"]) == (15, 3, 0)


def fixed_effects(runs: pd.DataFrame, metric: str) -> Any:
    """statsmodels' least-squares fit of ``metric`` on log2 width with one intercept per seed."""
    import statsmodels.formula.api as smf

    data = runs.assign(x=np.log2(runs["width_factor"]), y=runs[metric]).dropna(subset=["y"])
    return smf.ols("y ~ x + C(seed)", data=data).fit()


def test_slope_and_interval_are_those_of_least_squares_with_one_intercept_per_seed() -> None:
    runs = sweep(auc=0.004, noise=0.02)
    runs["auc"] += runs["seed"].map({0: -0.3, 1: 0.0, 2: 0.2})  # seed offsets, and two missing cells
    runs = runs.drop(index=runs.index[(runs["seed"] == 0) & (runs["width_factor"] >= 2)])
    row = verdict(runs)
    fit = fixed_effects(runs, "auc")
    assert fit.df_resid == len(runs) - 3 - 1
    assert row["auc_slope"] == pytest.approx(fit.params["x"], rel=1e-9)
    assert row["auc_se"] == pytest.approx(fit.bse["x"], rel=1e-9)
    low, high = fit.conf_int(alpha=0.10).loc["x"]
    assert (row["auc_ci_low"], row["auc_ci_high"]) == pytest.approx((low, high), rel=1e-9)
    # Equivalence is shown exactly when the 90% interval lies inside +-delta.
    bound = max(-row["auc_ci_low"], row["auc_ci_high"])
    assert verdict(runs, deltas={"auc": bound * 1.001})["auc_trend"] == "flat"
    assert verdict(runs, deltas={"auc": bound * 0.999})["auc_trend"] == "inconclusive"


def test_rising_repetition_alone_holds() -> None:
    row = verdict(sweep(similarity=0.5))
    assert (row["auc_trend"], row["similarity_trend"], row["hypothesis"]) == ("flat", "rises", "holds")


def test_metrics_shown_flat_fail_the_hypothesis() -> None:
    # No trend, and runs precise enough to show it: every slope's interval lies inside its margin.
    row = verdict(sweep())
    assert trends(row) == ["flat"] * 6
    assert (row["hypothesis"], row["hypothesis_controlled"]) == ("fails", "fails")


@pytest.mark.parametrize("seed", range(12))
def test_pure_noise_never_fails(seed: int) -> None:
    row = verdict(noise_sweep(seed))
    assert "flat" not in trends(row)
    assert row["hypothesis"] != "fails" and row["hypothesis_controlled"] != "fails"


def test_falling_removability_fails() -> None:
    row = verdict(sweep(auc=-0.05))
    assert row["auc_trend"] == "falls"
    assert row["auc_rho"] < -0.8 and row["auc_slope"] == pytest.approx(-0.05, abs=0.01)
    assert row["hypothesis"] == "fails"


def test_falling_accuracy() -> None:
    row = verdict(sweep(auc=0.05, accuracy=-0.03))
    assert row["test_accuracy_trend"] == "falls"
    assert row["hypothesis"] == "holds"


def test_rise_that_the_untrained_network_already_has() -> None:
    row = verdict(sweep(auc=0.05, auc_init=0.05))
    assert row["auc_trend"] == "rises"
    assert row["auc_beyond_init_trend"] == "flat"
    assert row["auc_init_slope"] == pytest.approx(0.05, abs=0.01)
    assert abs(row["auc_beyond_init_slope"]) < 0.01
    assert (row["hypothesis"], row["hypothesis_controlled"]) == ("holds", "fails")


def test_rise_beyond_the_untrained_network() -> None:
    row = verdict(sweep(auc=0.05))
    assert row["auc_beyond_init_trend"] == "rises"
    assert row["auc_beyond_init_slope"] == pytest.approx(0.05, abs=0.015)
    assert row["hypothesis_controlled"] == "holds"


def test_similar_units_counted_more_only_because_there_are_more_units() -> None:
    # The count rises with width, the fraction of units it covers does not.
    row = verdict(sweep(similarity=0.5))
    assert (row["similarity_trend"], row["similarity_fraction_beyond_init_trend"]) == ("rises", "flat")
    assert (row["hypothesis"], row["hypothesis_controlled"]) == ("holds", "fails")
    row = verdict(sweep(similarity=0.5, fraction=0.02))
    assert row["similarity_fraction_beyond_init_trend"] == "rises" and row["hypothesis_controlled"] == "holds"


def test_left_out_runs_are_counted_not_used() -> None:
    clean = sweep(auc=0.05)
    # Runs that would turn the trend around if they were used.
    bad = pd.concat([sweep(auc=-0.2, widths=(4.0,), replicates=2, seed=5)] * 5, ignore_index=True)
    bad["status"] = ["failed", "failed", "diverged", "diverged", "done", "done", "done", "done", "pending", "pending"]
    bad["collapsed"] = [None, True, None, None, True, True, False, False, False, False]
    bad["kept"] = [True, True, False, True, True, False, False, False, False, False]
    mixed = pd.concat([clean, bad], ignore_index=True).sample(frac=1.0, random_state=0)
    row, reference = verdict(mixed), verdict(clean)
    counts = ["failed", "diverged", "pending", "collapsed", "not_kept"]
    assert list(row[counts]) == [2, 2, 2, 2, 2]
    assert row["n"] == 15
    assert row.drop(counts).equals(reference.drop(counts))


def test_runs_collapsed_at_initialisation_are_left_out_of_the_controlled_verdict() -> None:
    runs = sweep(auc=0.05)
    widest = runs["width_factor"] == 4.0
    # A collapsed untrained network has AUC 1: subtracted, it would turn the rise beyond init into a fall.
    runs["collapsed_init"] = widest
    runs.loc[widest, ["auc_init", "similarity_fraction_init"]] = [1.0, 1.0]
    row = verdict(runs)
    assert row["collapsed_init"] == 3
    assert (row["auc_n"], row["auc_beyond_init_n"], row["similarity_fraction_beyond_init_n"]) == (15, 12, 12)
    reference = sweep(auc=0.05)
    reference.loc[widest, ["auc_init", "similarity_fraction_init"]] = np.nan  # dropped per metric
    assert row.drop("collapsed_init").equals(verdict(reference).drop("collapsed_init"))
    assert row["auc_beyond_init_trend"] == "rises"
    assert "3 collapsed at initialisation" in describe_verdict(row)


def test_missing_collapsed_init_reads_as_false() -> None:
    runs = sweep(auc=0.05)
    assert "collapsed_init" not in runs
    assert verdict(runs).equals(verdict(runs.assign(collapsed_init=False)))


def test_groups_whose_every_candidate_diverged_or_collapsed_are_counted() -> None:
    runs = sweep(auc=0.05)
    runs["group"] = [f"w{w}-r{r}" for w, r in zip(runs["width_factor"], runs["replicate"])]
    runs.loc[runs["group"] == "w4.0-r0", "status"] = "diverged"
    candidates = pd.DataFrame(
        [
            {
                **runs.iloc[0].to_dict(),
                "group": "w0.25-r0",
                "status": "diverged",
                "kept": False,
            },  # a kept run beside it
            {**runs.iloc[0].to_dict(), "group": "w0.5-lost", "status": "diverged", "kept": False},
            {**runs.iloc[0].to_dict(), "group": "w0.5-lost", "status": "done", "collapsed": True, "kept": True},
        ]
    )
    runs = pd.concat([runs, candidates], ignore_index=True)
    assert lost_groups(runs) == ["w0.5-lost", "w4.0-r0"]
    row = verdict(runs)
    assert (row["lost_groups"], row["diverged"], row["collapsed"], row["n"]) == (2, 3, 1, 14)
    assert "2 groups with every candidate diverged or collapsed" in describe_verdict(row)
    assert lost_groups(runs.drop(columns=["group"])) == []


def test_single_width_is_inconclusive() -> None:
    row = verdict(sweep(auc=0.05, widths=(1.0,), replicates=6))
    assert (row["hypothesis"], row["hypothesis_controlled"]) == ("inconclusive", "inconclusive")
    assert trends(row) == ["inconclusive"] * 6
    assert np.isnan(row["auc_rho"]) and np.isnan(row["auc_p"]) and np.isnan(row["auc_slope"])
    assert "not tested" in describe_verdict(row)


@pytest.mark.parametrize(("widths", "replicates"), [((1.0, 2.0, 4.0), 1), ((1.0, 2.0), 2)])
def test_too_few_runs_are_inconclusive_even_when_exactly_flat(widths: tuple[float, ...], replicates: int) -> None:
    # One seed at 3 widths, or 2 seeds at 2: one degree of freedom left after one intercept per seed.
    runs = sweep(widths=widths, replicates=replicates)
    runs[["auc", "similarity"]] = 0.5
    row = verdict(runs)
    assert row["hypothesis"] == "inconclusive" and np.isnan(row["auc_slope"])
    assert (row["auc_trend"], row["similarity_trend"]) == ("inconclusive", "inconclusive")
    assert "not tested" in describe_verdict(row)


def test_exactly_flat_metrics_with_enough_runs_are_flat() -> None:
    runs = sweep(auc=0.05)
    runs["similarity"] = 3.0
    runs["similarity_fraction"] = runs["similarity_fraction_init"] = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        row = verdict(runs)
    assert np.isnan(row["similarity_rho"])
    assert (row["similarity_p"], row["similarity_slope"], row["similarity_p_flat"]) == (1.0, 0.0, 0.0)
    assert (row["similarity_ci_low"], row["similarity_ci_high"]) == (0.0, 0.0)
    assert row["similarity_trend"] == "flat" and row["similarity_fraction_beyond_init_trend"] == "flat"
    assert "similarity flat (constant within every seed" in describe_verdict(row)
    runs["auc"] = 0.5
    assert verdict(runs)["hypothesis"] == "fails"


@pytest.mark.parametrize(("widths", "replicates"), [((0.5, 1.0, 2.0, 4.0), 1), ((1.0, 2.0, 4.0), 2)])
def test_runs_that_cannot_reach_alpha_are_inconclusive(widths: tuple[float, ...], replicates: int) -> None:
    # The best p of one seed at 4 widths is 2/4! = 0.083, of 2 seeds at 3 widths 2/(3!3!) = 0.056.
    row = verdict(sweep(auc=0.05, noise=0.0, widths=widths, replicates=replicates))
    assert np.isnan(row["auc_p"]) and row["auc_trend"] == "inconclusive"
    assert row["auc_slope"] == pytest.approx(0.05)
    assert row["hypothesis"] == "inconclusive"
    assert "too few runs for the rank test" in describe_verdict(row)
    # At a larger alpha they can (Holm doubles p: similarity, constant here, has p = 1 and is in the family).
    row = verdict(sweep(auc=0.05, noise=0.0, widths=widths, replicates=replicates), alpha=0.25)
    assert row["auc_trend"] == "rises" and row["auc_p_holm"] == pytest.approx(2 * row["auc_p"])


def test_no_usable_runs() -> None:
    runs = sweep(auc=0.05)
    runs["status"] = "failed"
    row = verdict(runs)
    assert row["n"] == 0 and row["failed"] == 15 and row["hypothesis"] == "inconclusive"
    assert describe_verdict(row).startswith("no usable runs; left out: 15 failed")


def test_same_seed_same_p_values() -> None:
    runs = sweep()
    first, again = verdicts(runs, permutations=500, seed=3), verdicts(runs, permutations=500, seed=3)
    pd.testing.assert_frame_equal(first, again)
    other = verdicts(runs, permutations=500, seed=4)
    assert other["auc_p"].iloc[0] != first["auc_p"].iloc[0]
    shuffled = verdicts(runs.sample(frac=1.0, random_state=0), permutations=500, seed=3)
    pd.testing.assert_frame_equal(shuffled, first)
    # The raw p-values do not depend on the other variants of the table either.
    both = verdicts(pd.concat([sweep(auc=0.05, variant="a"), runs.assign(variant="b")]), permutations=500, seed=3)
    assert both["auc_p"].iloc[1] == first["auc_p"].iloc[0]


def test_few_runs_get_the_exact_test() -> None:
    # 5 runs have 120 orderings, fewer than the resamples asked for: the
    # strictly increasing one and its reverse give p = 2/120 whatever the seed.
    runs = sweep(auc=0.05, noise=0.0, replicates=1)
    p_values = [verdict(runs, seed=seed)["auc_p"] for seed in (0, 1)]
    assert p_values == pytest.approx([2 / 120, 2 / 120])


def test_nan_metrics_are_dropped_per_metric() -> None:
    runs = sweep(auc=0.05, fraction=0.02)
    runs.loc[[0, 7], "auc"] = np.nan
    runs.loc[[3], "similarity_fraction_init"] = np.nan
    row = verdict(runs)
    assert (row["auc_n"], row["similarity_n"], row["similarity_fraction_beyond_init_n"]) == (13, 15, 14)
    assert row["auc_trend"] == "rises" and row["similarity_fraction_beyond_init_trend"] == "rises"


def test_unmeasured_metric_leaves_hypothesis_inconclusive_unless_other_rises() -> None:
    runs = sweep()
    runs["similarity"] = np.nan
    assert verdict(runs)["hypothesis"] == "inconclusive"
    runs = sweep(auc=0.05)
    runs["similarity"] = np.nan
    assert verdict(runs)["hypothesis"] == "holds"


def test_holm_adjustment() -> None:
    # Sorted: 0.005 * 4, 0.01 * 3, 0.03 * 2, 0.04 * 1 made non-decreasing; NaN is not in the family.
    adjusted = holm([0.01, 0.04, np.nan, 0.03, 0.005])
    assert adjusted[[0, 1, 3, 4]] == pytest.approx([0.03, 0.06, 0.06, 0.02]) and np.isnan(adjusted[2])
    assert holm([0.5, 0.6]) == pytest.approx([1.0, 1.0]) and holm([]).size == 0
    # Against Holm's step-down procedure at several levels: reject the k-th
    # smallest while every p up to it is <= level / (m - k + 1).
    p = np.random.default_rng(0).uniform(0, 0.1, size=12)
    for level in (0.01, 0.05, 0.1, 0.2):
        ranked = np.sort(p) <= level / (len(p) - np.arange(len(p)))
        rejected = np.sort(p)[np.cumprod(ranked).astype(bool)]
        assert set(p[holm(p) <= level]) == set(rejected)


def test_holm_makes_a_borderline_trend_across_many_variants_not_significant() -> None:
    borderline = sweep(auc=0.015, noise=0.04, seed=7, variant="borderline")
    alone = verdict(borderline)
    assert 0.005 < alone["auc_p"] < 0.02 and alone["auc_trend"] == "rises"
    others = [sweep(noise=0.04, seed=100 + i, variant=f"noise {i}") for i in range(9)]
    table = verdicts(pd.concat([borderline, *others], ignore_index=True), permutations=PERMUTATIONS)
    row = table.set_index("variant").loc["borderline"]
    assert row["auc_p"] == alone["auc_p"] and row["auc_p_holm"] > 0.05
    assert row["auc_trend"] != "rises" and row["hypothesis"] != "holds"


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


def test_margins() -> None:
    runs = sweep(noise=0.05)
    row = verdict(runs)
    assert row["auc_trend"] == "inconclusive" and row["auc_delta"] == 0.01 and row["auc_margin"] == "±0.01"
    assert row["similarity_delta"] == pytest.approx(0.05 * runs["similarity"].mean())
    assert row["similarity_margin"] == "±5% of the mean"
    wider = verdict(runs, deltas={"auc": 0.1, "similarity": Margin(0.5, relative=True)})
    assert wider["auc_trend"] == "flat" and wider["auc_delta"] == 0.1
    assert wider["similarity_delta"] == pytest.approx(0.5 * runs["similarity"].mean())
    with pytest.raises(ValueError, match="'accuracy'.*test_accuracy"):
        verdicts(runs, deltas={"accuracy": 0.01})
    with pytest.raises(ValueError, match="-0.1"):
        Margin(-0.1)


def test_describe_verdict() -> None:
    runs = sweep(auc=0.05)
    runs.loc[0, "status"] = "failed"
    sentence = describe_verdict(verdict(runs))
    assert "AUC rises (within-seed rho +1.00" in sentence and "Holm p" in sentence
    assert "per doubling, 90% CI [" in sentence and "14 runs of 3 seeds)" in sentence
    assert "similarity flat (" in sentence and "δ ±5% of the mean = ±0.1" in sentence
    assert "δ ±0.01, equivalence Holm p" in sentence
    mde = verdict(runs)["auc_mde"]
    assert f"smallest detectable slope ±{mde:.2g} per doubling at 80% power" in sentence
    assert sentence.count("Hypothesis holds (controlled: holds)") == 1
    assert "14 runs at widths 0.25/0.5/1/2/4; left out: 1 failed" in sentence


def test_missing_columns_are_named() -> None:
    with pytest.raises(ValueError, match="auc_init"):
        verdicts(sweep().drop(columns=["auc_init"]))


def layers_for(runs: pd.DataFrame, slopes: dict[str, float], samplings: int = 2, seed: int = 0) -> pd.DataFrame:
    """A layers table for ``runs``: each layer's trained AUC changes by its
    slope per doubling (plus noise), its similarity and its values at
    initialisation only carry noise; every sampling is a row."""
    rng = np.random.default_rng(seed)
    rows = []
    for run_id, width in zip(runs["run_id"], runs["width_factor"]):
        for layer, slope in slopes.items():
            for stage in ("trained", "init"):
                for sampling in range(samplings):
                    auc = 0.5 + (slope * np.log2(width) if stage == "trained" else 0.0)
                    rows.append(
                        {
                            "run_id": run_id,
                            "stage": stage,
                            "layer": layer,
                            "sampling": sampling,
                            "auc": auc + 0.01 * rng.normal(),
                            "similarity": 2.0 + 0.01 * rng.normal(),
                            "similarity_fraction": 0.1 + 0.01 * rng.normal(),
                        }
                    )
    return pd.DataFrame(rows)


def test_layer_verdicts() -> None:
    runs = sweep().assign(run_id=lambda t: [f"run-{i}" for i in range(len(t))])
    runs.loc[0, "status"] = "failed"
    runs["collapsed_init"] = runs["run_id"] == "run-14"
    layers = layers_for(runs, {"features.conv": 0.05, "classifier.fc": 0.0})
    table = layer_verdicts(runs, layers, permutations=PERMUTATIONS)
    assert list(table["layer"]) == ["features.conv", "classifier.fc"]  # the network's order
    assert {f"{key}_{part}" for key in LAYER_KEYS for part in PARTS} <= set(table.columns)
    conv, fc = table.iloc[0], table.iloc[1]
    assert (conv["n"], conv["auc_n"], conv["auc_beyond_init_n"]) == (14, 14, 13)
    assert (conv["auc_trend"], conv["similarity_trend"], conv["hypothesis"]) == ("rises", "flat", "holds")
    assert conv["auc_slope"] == pytest.approx(0.05, abs=0.01) and conv["hypothesis_controlled"] == "holds"
    assert (fc["auc_trend"], fc["hypothesis"], fc["hypothesis_controlled"]) == ("flat", "fails", "fails")
    # A layer's run value is its mean over samplings.
    conv_runs = layers[(layers["layer"] == "features.conv") & (layers["stage"] == "trained")]
    means = conv_runs.groupby("run_id")["auc"].mean().drop("run-0").rename("layer_auc")
    fit = fixed_effects(runs.merge(means, left_on="run_id", right_index=True), "layer_auc")
    assert conv["auc_slope"] == pytest.approx(fit.params["x"], rel=1e-9)
    # Holm's family spans the layers: the same rows tested alone give smaller adjusted p-values.
    alone = layer_verdicts(runs, layers[layers["layer"] == "classifier.fc"], permutations=PERMUTATIONS).iloc[0]
    assert alone["auc_p"] == fc["auc_p"] and alone["auc_p_holm"] <= fc["auc_p_holm"]


def test_layer_verdicts_without_layers_or_init_stage() -> None:
    runs = sweep().assign(run_id=lambda t: [f"run-{i}" for i in range(len(t))])
    empty = layer_verdicts(runs, pd.DataFrame())
    assert empty.empty and "auc_trend" in empty.columns
    layers = layers_for(runs, {"fc": 0.05})
    row = layer_verdicts(runs, layers[layers["stage"] == "trained"], permutations=PERMUTATIONS).iloc[0]
    assert row["auc_trend"] == "rises" and row["auc_beyond_init_trend"] == "inconclusive"
    assert row["auc_beyond_init_n"] == 0


def test_effective_width_growing_slower_than_width() -> None:
    """The AAAI claim: the fraction of its units that a network needs falls with width."""
    runs = sweep()
    runs["effective_width_fraction"] = 0.8 - 0.1 * np.log2(runs["width_factor"])
    row = verdict(runs)
    assert row["effective_width_fraction_trend"] == "falls" and row["effective_width_slower"] == "yes"
    runs["effective_width_fraction"] = 0.5  # effective width exactly in proportion to width
    row = verdict(runs)
    assert row["effective_width_fraction_trend"] == "flat" and row["effective_width_slower"] == "no"


def test_a_sweep_without_effective_width_cannot_tell() -> None:
    row = verdict(sweep(auc=0.05))
    assert row["effective_width_fraction_n"] == 0 and row["effective_width_slower"] == "inconclusive"


def test_report_details_name_the_effective_width_only_where_it_was_measured() -> None:
    from frivolous.results.sweep_report import _tested

    assert "effective_width_fraction" not in _tested(verdict(sweep(auc=0.05)))
    runs = sweep()
    runs["effective_width_fraction"] = 0.8 - 0.1 * np.log2(runs["width_factor"])
    assert _tested(verdict(runs))[-1] == "effective_width_fraction"


# ---- runs paired by seed


def offset_sweep(offsets: np.ndarray, *, rise: float, base: float, noise: float, seed: int = 0) -> pd.DataFrame:
    """A sweep with one seed per offset whose similarity is ``base``, plus the
    seed's offset (shared by all its widths), plus ``rise`` per doubling,
    plus Gaussian noise; the other metrics as :func:`sweep` makes them."""
    runs = sweep(replicates=len(offsets), seed=seed)
    rng = np.random.default_rng(seed)
    doublings = np.log2(runs["width_factor"].to_numpy())
    runs["similarity"] = base + offsets[runs["seed"]] + rise * doublings + noise * rng.normal(size=len(runs))
    return runs


def test_missing_wide_runs_of_low_seeds_do_not_make_a_rise() -> None:
    # 20 seeds, offsets -45..+45, no width effect; the 10 lowest seeds lost their 2x and 4x runs.
    runs = offset_sweep(np.linspace(-45, 45, 20), rise=0.0, base=50.0, noise=2.0)
    runs = runs[~((runs["seed"] < 10) & (runs["width_factor"] >= 2))]
    pooled = stats.spearmanr(np.log2(runs["width_factor"]), runs["similarity"])
    assert pooled.statistic > 0.3 and pooled.pvalue < 0.01  # a test pooling the runs would find a rise
    row = verdict(runs)
    assert (row["similarity_n"], row["similarity_seeds"]) == (80, 20)
    assert row["similarity_ci_low"] < 0 < row["similarity_ci_high"]
    assert row["similarity_trend"] == "flat" and row["hypothesis"] == "fails"


def test_a_rise_within_every_seed_hidden_by_larger_seed_offsets_is_found() -> None:
    # 2 similar units more per doubling in every seed; the seeds lie up to 60 apart.
    runs = offset_sweep(np.linspace(-30, 30, 5), rise=2.0, base=36.0, noise=1.0)
    pooled = stats.spearmanr(np.log2(runs["width_factor"]), runs["similarity"])
    assert pooled.pvalue > 0.05  # a test pooling the runs cannot tell
    row = verdict(runs)
    assert row["similarity_trend"] == "rises" and row["hypothesis"] == "holds"
    assert row["similarity_ci_low"] < 2.0 < row["similarity_ci_high"]
    assert row["similarity_delta"] == pytest.approx(0.05 * runs["similarity"].mean()) and row["similarity_delta"] < 2


def test_seed_offsets_change_nothing() -> None:
    runs = sweep(auc=0.03, similarity=0.05, noise=0.02)
    shifted = runs.copy()
    for column, offsets in (("auc", [-0.3, 0.1, 0.25]), ("similarity", [5.0, -2.0, 0.0])):
        shifted[column] += shifted["seed"].map(dict(enumerate(offsets)))
    row, moved = verdict(runs), verdict(shifted)
    for key in ("auc", "similarity"):
        for part in ("rho", "p", "slope", "se", "ci_low", "ci_high", "mde"):
            assert moved[f"{key}_{part}"] == pytest.approx(
                row[f"{key}_{part}"], rel=1e-8, abs=1e-12
            )  # verdicts.json keeps 10 digits, part
        assert moved[f"{key}_trend"] == row[f"{key}_trend"]
    assert row["auc_trend"] == "rises" and row["similarity_trend"] == "rises, within the margin"


def test_a_seed_with_a_single_width_left_is_left_out() -> None:
    runs = sweep(auc=0.02)
    lone = runs[runs["seed"] == 0].iloc[[2]].assign(seed=7, auc=5.0)  # an outlier, alone at its width
    row, with_lone = verdict(runs), verdict(pd.concat([runs, lone], ignore_index=True))
    assert (with_lone["n"], with_lone["auc_n"], with_lone["auc_unpaired"], with_lone["auc_seeds"]) == (16, 15, 1, 3)
    for part in ("rho", "p", "slope", "ci_low", "ci_high", "trend"):
        assert with_lone[f"auc_{part}"] == row[f"auc_{part}"], part
    assert "15 runs of 3 seeds; 1 left out, their seed with a single width left" in describe_verdict(with_lone)


def brute_force_p(runs: pd.DataFrame, metric: str) -> float:
    """The two-sided p-value of the within-seed rank statistic over every
    arrangement of the metric's values within their seeds, enumerated."""
    seeds = [group for _, group in runs.groupby("seed")]
    centred = [
        (stats.rankdata(g["width_factor"]) - (len(g) + 1) / 2, stats.rankdata(g[metric]) - (len(g) + 1) / 2)
        for g in seeds
    ]
    observed = sum(float(x @ y) for x, y in centred)
    arrangements = itertools.product(*(itertools.permutations(y) for _, y in centred))
    totals = np.array(
        [sum(float(x @ np.array(order)) for (x, _), order in zip(centred, orders)) for orders in arrangements]
    )
    return min(1.0, 2 * min(np.mean(totals >= observed - 1e-9), np.mean(totals <= observed + 1e-9)))


def tiny_paired_table() -> pd.DataFrame:
    """Three seeds with cells missing (4, 4 and 3 runs: 24 * 24 * 6 = 3,456
    arrangements), a tie in the metric, and a weak rise within seeds."""
    cells = [
        (0, 0.25),
        (0, 0.5),
        (0, 1.0),
        (0, 4.0),
        (1, 0.5),
        (1, 1.0),
        (1, 2.0),
        (1, 4.0),
        (2, 0.25),
        (2, 1.0),
        (2, 2.0),
    ]
    runs = sweep(widths=(1.0,), replicates=len(cells))
    runs["seed"], runs["width_factor"] = [s for s, _ in cells], [w for _, w in cells]
    runs["auc"] = [0.50, 0.52, 0.51, 0.53, 0.60, 0.58, 0.61, 0.62, 0.40, 0.40, 0.41]
    return runs


def test_stratified_permutation_p_is_the_enumerated_one() -> None:
    runs = tiny_paired_table()
    expected = brute_force_p(runs, "auc")
    assert 0.005 < expected < 0.5
    exact = verdicts(runs, permutations=10_000).iloc[0]  # more resamples than arrangements: every one
    assert exact["auc_p"] == pytest.approx(expected, abs=1e-12)
    sampled = verdicts(runs, permutations=3_000, seed=1).iloc[0]  # fewer: seeded random arrangements
    assert sampled["auc_p"] == pytest.approx(expected, abs=0.03) and sampled["auc_p"] != exact["auc_p"]
    # With the values shuffled across seeds the enumeration and the implementation still agree.
    runs["auc"] = np.random.default_rng(3).permutation(runs["auc"].to_numpy())
    assert verdicts(runs, permutations=10_000).iloc[0]["auc_p"] == pytest.approx(brute_force_p(runs, "auc"))


@pytest.mark.parametrize("df", [3, 11, 50])
def test_the_smallest_detectable_slope_is_detected_with_80_percent_power(df: int) -> None:
    se = 0.01
    mde = minimum_detectable(se, df, alpha=0.05, power=0.8)
    critical = stats.t.ppf(0.975, df)
    power = stats.nct.sf(critical, df, mde / se) + stats.nct.cdf(-critical, df, mde / se)
    assert power == pytest.approx(0.8, abs=0.02)


def test_each_trend_states_its_smallest_detectable_slope() -> None:
    runs = sweep(auc=0.02, noise=0.02)
    row = verdict(runs)
    df = 15 - 3 - 1
    expected = (stats.t.ppf(0.975, df) + stats.t.ppf(0.8, df)) * row["auc_se"]
    assert row["auc_mde"] == pytest.approx(expected, rel=1e-12)
    fewer = verdict(runs[runs["seed"] < 2])  # fewer runs: a larger slope needed
    assert fewer["auc_mde"] > row["auc_mde"]


def test_a_significant_slope_inside_the_margin_rises_within_the_margin() -> None:
    runs = sweep(auc=0.02)
    row = verdict(runs)
    assert row["auc_trend"] == "rises" and row["auc_p_holm"] < 0.05 and row["auc_slope"] > row["auc_delta"]
    slope, high = row["auc_slope"], row["auc_ci_high"]
    # A margin beyond the whole interval: the rise is real and shown smaller than delta; the hypothesis reads
    # it as flat, and with similarity flat too it fails.
    row = verdict(runs, deltas={"auc": high * 1.01})
    assert row["auc_trend"] == "rises, within the margin" and row["hypothesis"] == "fails"
    # A margin between the slope and the interval's top: smaller than delta, not shown to be: cannot tell.
    row = verdict(runs, deltas={"auc": (slope + high) / 2})
    assert row["auc_trend"] == "rises, within the margin" and row["hypothesis"] == "inconclusive"
    # A fall within the margin is still a fall: not a rise.
    falling = sweep(auc=-0.02)
    row = verdict(falling, deltas={"auc": -verdict(falling)["auc_slope"] * 1.01})
    assert row["auc_trend"] == "falls, within the margin" and row["hypothesis"] == "fails"


def test_effective_width_fraction_falling_within_the_margin_is_not_slower() -> None:
    runs = sweep()
    runs["effective_width_fraction"] = 0.5 - 0.004 * np.log2(runs["width_factor"])
    row = verdict(runs)
    assert row["effective_width_fraction_trend"] == "falls, within the margin"
    assert row["effective_width_slower"] == "no"


def test_how_a_question_reads_a_trend_within_the_margin() -> None:
    assert counted("rises, within the margin", flat_shown=True) == "flat"
    assert counted("rises, within the margin", flat_shown=False) == "inconclusive"
    assert counted("falls, within the margin", flat_shown=False) == "falls"
    assert counted("falls, within the margin", flat_shown=True, asked="falls") == "flat"
    assert counted("rises, within the margin", flat_shown=False, asked="falls") == "rises"
    assert [counted(word, flat_shown=True) for word in ("rises", "falls", "flat", "inconclusive")] == [
        "rises",
        "falls",
        "flat",
        "inconclusive",
    ]


def test_runs_without_a_seed_are_refused() -> None:
    with pytest.raises(ValueError, match="seed"):
        verdicts(sweep().drop(columns=["seed"]))


def test_the_paper_scale_tables_in_the_repository_give_the_verdicts_docs_fidelity_reports() -> None:
    """docs/fidelity.md's verdicts are recomputed from the committed tables of
    the paper-scale MLP sweep, not from run folders nobody else has: a change
    to the analysis that moves one of them must show up here (and then in the
    docs, with the reason)."""
    folder = Path(__file__).resolve().parents[1] / "docs" / "experiments" / "mlp-teacher-paper"
    recorded = {row["variant"]: row for row in json.loads((folder / "verdicts.json").read_text())}
    table = verdicts(pd.read_parquet(folder / "results.parquet"))
    assert len(table) == len(recorded) == 12
    for _, row in table.iterrows():
        expected = recorded[row["variant"]]
        for key in TREND_KEYS:
            assert row[f"{key}_trend"] == expected[f"{key}_trend"], (row["variant"], key)
            # verdicts.json keeps 10 decimals
            assert row[f"{key}_slope"] == pytest.approx(expected[f"{key}_slope"], abs=1e-9)
        assert row["hypothesis"] == expected["hypothesis"]
        assert row["hypothesis_controlled"] == expected["hypothesis_controlled"]
    adam = recorded["10k-dim, Adam"]
    assert (adam["auc_trend"], adam["hypothesis"]) == ("rises", "holds")
