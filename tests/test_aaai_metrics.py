"""The AAAI version's metrics: prunable units (where the ablation curve crosses
0.8 agreement) and redundancy by PCA (components explaining 95% and 80% of the
variance), checked on hand-made curves, brute-force references and known answers."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from torch import nn

import frivolous as fv
from conftest import seeded
from frivolous import plots
from frivolous.constructions import duplicated, small_network
from frivolous.measuring.measurement import AblationCurve, LayerResult
from frivolous.measuring.pca import components, variance_spectrum
from frivolous.measuring.samples import as_rows
from frivolous.plots.aggregate import NothingToPlot
from frivolous.plots.used import used_units_summary


def curve(rows: list[list[float]], levels: list[float] | None = None, units: int = 10) -> AblationCurve:
    values = np.array(rows, dtype=float)
    levels = np.linspace(0, 1, values.shape[1]) if levels is None else np.array(levels)
    return AblationCurve("l", "element", units, levels, np.round(levels * units).astype(int), values, 100)


def released_components(eigenvalues: np.ndarray, energy: float) -> int:
    """``get_redundancy.pca``'s counting loop, verbatim in spirit (eigenvalues ascending)."""
    accum, k, total = 0.0, 1, eigenvalues.sum()
    while accum <= energy:
        accum += eigenvalues[-k] / total
        k += 1
    return k - 1


def test_crossing_interpolates_linearly_between_levels() -> None:
    c = curve([[1.0, 0.9, 0.7, 0.1, 0.0]])  # levels 0, .25, .5, .75, 1
    np.testing.assert_allclose(c.crossings(0.8), [0.25 + 0.25 * (0.8 - 0.9) / (0.7 - 0.9)])
    assert c.prunable(0.8) == pytest.approx(3.75)
    np.testing.assert_allclose(c.crossings(0.9), [0.25])  # exactly at a level: still >= there


def test_crossing_takes_the_first_fall_and_the_max_over_samplings() -> None:
    c = curve([[1.0, 0.7, 0.9, 0.5, 0.0], [1.0, 1.0, 1.0, 0.6, 0.0]])
    first = 0.0 + 0.25 * (0.2 / 0.3)  # the first fall, as the released notebooks; not the later one
    second = 0.5 + 0.25 * (0.2 / 0.4)
    np.testing.assert_allclose(c.crossings(0.8), [first, second])
    assert c.prunable(0.8) == pytest.approx(second * 10)


def test_a_curve_that_never_falls_makes_every_unit_prunable() -> None:
    assert curve([[1.0, 1.0, 0.95]]).prunable() == 10.0
    np.testing.assert_allclose(curve([[0.5, 0.4]], levels=[0.2, 1.0]).crossings(), [0.2])  # starts below
    with pytest.raises(ValueError, match="agreement"):
        curve([[1.0, 0.0]]).crossings(0.0)


@pytest.mark.parametrize("energy", [0.5, 0.8, 0.95, 0.99])
def test_components_count_as_the_released_code(energy: float) -> None:
    rng = np.random.default_rng(3)
    for _ in range(20):
        eigenvalues = np.sort(rng.exponential(size=12) ** 3)
        assert components(eigenvalues[::-1], energy) == released_components(eigenvalues, energy)
    assert components(np.zeros(4), energy) == 0  # no variance: nothing to explain


def test_variance_spectrum_is_numpy_covariance_eigenvalues() -> None:
    rows = torch.randn(500, 7, generator=seeded(1)) @ torch.randn(7, 7, generator=seeded(2)) + 100.0
    expected = np.linalg.eigvalsh(np.cov(rows.double().numpy(), rowvar=False))[::-1]
    np.testing.assert_allclose(variance_spectrum(rows), expected, rtol=1e-10, atol=1e-9)


def test_a_layer_spanning_k_dimensions_needs_k_components() -> None:
    """An affine image of a 3-dim signal in 20 units, each direction with about the
    same variance: 3 components at 95% and at 80% (2 explain only about 2/3)."""
    k, units = 3, 20
    model = nn.Sequential(nn.Linear(10, k), nn.Linear(k, units), nn.ReLU(), nn.Linear(units, 2))
    with torch.no_grad():
        model[0].weight.copy_(torch.eye(k, 10))  # k independent standard-normal coordinates
        model[1].weight.copy_(torch.linalg.qr(torch.randn(units, k, generator=seeded(3)))[0])  # orthonormal columns
    inputs = torch.randn(2000, 10, generator=seeded(4))
    result = fv.measure(model, inputs, ["1"], device="cpu", all_layers=False)
    layer = result.layers["1"]
    assert layer.pca95 == k and layer.pca80 == k
    assert result.pca95 == k
    frame = result.frame()
    assert (frame["pca95"] == k).all() and (frame["pca80"] == k).all()


def test_conv_layer_pca_uses_examples_times_positions_as_samples() -> None:
    model = nn.Sequential(nn.Conv1d(2, 6, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(6 * 8, 3))
    inputs = torch.randn(40, 2, 8, generator=seeded(5))
    result = fv.measure(model, inputs, ["1"], device="cpu", all_layers=False, samplings=2)
    with torch.no_grad():
        rows = as_rows(model[1](model[0](inputs))).double().numpy()  # 320 rows fit: every sampling keeps all
    expected = np.linalg.eigvalsh(np.cov(rows, rowvar=False))[::-1]
    for spectrum in result.layers["1"].spectra:
        np.testing.assert_allclose(spectrum, expected, rtol=1e-6, atol=1e-9)
    assert result.layers["1"].pca95 == released_components(expected[::-1].copy(), 0.95)


def test_the_added_half_of_u_u_w_0_is_all_prunable() -> None:
    """[u,u] with [w,0]: the added half never reaches the output, so all its units
    (half of the layer) are prunable, and the first half is exactly S's layer."""
    small = small_network(hidden=12, input_dim=16, signal_dim=4, seed=1)
    inputs = torch.randn(600, 16, generator=seeded(7))
    wide = fv.measure(duplicated(small), inputs, ["hidden.first", "hidden.second"], device="cpu", all_layers=False)
    second, first = wide.layers["hidden.second"], wide.layers["hidden.first"]
    assert second.prunable == 12 and second.non_prunable == 0
    assert 0 < first.non_prunable <= 12
    assert first.pca95 == second.pca95  # the same activations, so the same spectrum
    assert wide.non_prunable == pytest.approx(first.non_prunable / 2)
    frame = wide.frame()
    assert (frame.loc[frame["layer"] == "hidden.second", "prunable"] == 12).all()
    np.testing.assert_allclose(frame["prunable"] + frame["non_prunable"], frame["units"])
    per_sampling = frame.loc[frame["layer"] == "hidden.first", "prunable"]
    assert first.prunable == pytest.approx(per_sampling.max())  # the layer value is the max over samplings


def test_metrics_are_nan_when_not_measured() -> None:
    layer = LayerResult("x", (5,), ablation=None)
    assert math.isnan(layer.prunable) and math.isnan(layer.non_prunable)
    assert math.isnan(layer.pca95) and math.isnan(layer.pca80)


def used_tables() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two widths, two replicates, one layer whose prunable count differs per sampling."""
    runs, rows = [], []
    for width in (1.0, 2.0):
        for rep in (1, 2):
            run = f"w{width}-{rep}"
            runs.append(
                {
                    "run_id": run,
                    "variant": "",
                    "family": "mlp",
                    "width_factor": width,
                    "replicate": rep,
                    "status": "done",
                    "kept": True,
                    "collapsed": False,
                }
            )
            units = int(32 * width)
            for s, prunable in enumerate((0.25 * units, 0.5 * units + rep, 0.1 * units)):
                for stage in ("trained", "init"):
                    rows.append(
                        {
                            "run_id": run,
                            "stage": stage,
                            "layer": "fc1",
                            "sampling": s,
                            "units": units,
                            "channels": units,
                            "prunable": prunable,
                            "pca95": 4.0 * width + s,
                        }
                    )
    return pd.DataFrame(runs), pd.DataFrame(rows)


def test_used_units_summary_takes_the_max_prunable_then_the_mean_over_replicates() -> None:
    runs, layers = used_tables()
    summary = used_units_summary(runs, layers).set_index(["quantity", "width_factor"])
    # width 1: 32 units, best sampling prunes 16 + rep: non-prunable 15 and 14
    assert summary.loc[("non_prunable", 1.0), "mean"] == pytest.approx(14.5)
    assert summary.loc[("non_prunable", 2.0), "mean"] == pytest.approx(64 - 32 - 1.5)
    assert summary.loc[("non_prunable", 2.0), "x"] == 64
    assert summary.loc[("pca95", 2.0), "mean"] == pytest.approx(9.0)  # mean over samplings 8, 9, 10
    assert summary.loc[("pca95", 1.0), "n"] == 2


def test_units_used_figure_is_written_and_skipped_without_the_columns(tmp_path: Path) -> None:
    runs, layers = used_tables()
    paths = plots.units_used_vs_width(runs, layers, tmp_path / "units-used")
    assert [p.name for p in paths] == ["units-used.png", "units-used.svg"] and paths[0].stat().st_size > 10_000
    needs, draw = plots.all_figures.FIGURES["units-used"]  # what plot_all draws for a sweep
    assert needs == ("runs", "layers")
    assert [p.name for p in draw({"runs": runs, "layers": layers}, tmp_path / "u")] == ["u.png", "u.svg"]
    with pytest.raises(NothingToPlot):
        plots.units_used_vs_width(runs, layers.drop(columns=["pca95"]), tmp_path / "none")
