"""Figures from a sweep's results tables: what they plot, which runs they leave out, that they are written."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from matplotlib.colors import to_hex
from matplotlib.figure import Figure

from frivolous import plots
from frivolous.experiments.presets import PaperFigure
from frivolous.measuring.measurement import ALL_LAYERS
from frivolous.plots import style
from frivolous.plots.aggregate import (
    NothingToPlot,
    ablation_summary,
    by_width,
    epoch_summary,
    parameter_counts,
    per_layer_summary,
)
from frivolous.plots.density import smooth, violins
from frivolous.plots.select import notes, usable

VARIANTS = ("glorot_normal", "he_normal", "lecun_normal")
WIDTHS = (0.25, 0.5, 1.0, 2.0, 4.0)
REPLICATES = (1, 2)
LAYERS = ("conv1", "conv2")
SAMPLINGS = (0, 1, 2)
LEVELS = np.linspace(0, 1, 7)
EPOCHS = (10, 20, 30)
BINS = 1000
NOISE = 0.01
"""Replicate r's value is the variant's value at its width plus (-1)**r * NOISE: sample std NOISE * sqrt(2)."""
FAILED = ("glorot_normal", 1.0, 2)
COLLAPSED = ("he_normal", 4.0, 2)
NOT_KEPT = ("lecun_normal", 2.0, 2)
BAD = 99.0
"""What excluded runs report, so any leak into an aggregate shows."""


def run_id(variant: str, width: float, replicate: int) -> str:
    return f"{variant}-{width:g}-{replicate}"


def value(base: float, variant: str, width: float, replicate: int) -> float:
    """A metric with a known mean over replicates: rises with width, offset per variant."""
    return base + 0.02 * math.log2(width) + 0.01 * VARIANTS.index(variant) + (-1) ** replicate * NOISE


def excluded(key: tuple[str, float, int]) -> bool:
    return key in (FAILED, COLLAPSED, NOT_KEPT)


def make_runs() -> pd.DataFrame:
    rows = []
    for variant in VARIANTS:
        for width in WIDTHS:
            for rep in REPLICATES:
                key = (variant, width, rep)
                metrics = {
                    "train_accuracy": value(0.9, *key),
                    "val_accuracy": math.nan,
                    "test_accuracy": value(0.7, *key),
                    "auc": value(0.6, *key),
                    "auc_std": 0.01,
                    "similarity": value(2.0, *key),
                    "similarity_std": 0.5,
                    "similarity_fraction": value(0.05, *key),
                    "auc_init": value(0.5, *key),
                    "similarity_init": value(1.0, *key),
                    "similarity_fraction_init": value(0.02, *key),
                }
                if excluded(key):
                    metrics = {name: BAD for name in metrics}
                rows.append(
                    {
                        "run_id": run_id(*key),
                        "preset": "fig6",
                        "variant": variant,
                        "family": "alexnet",
                        "width_factor": width,
                        "replicate": rep,
                        "params": int(7e6 * width**2),
                        **metrics,
                        "status": "failed" if key == FAILED else "done",
                        "collapsed": key == COLLAPSED,
                        "kept": key != NOT_KEPT,
                    }
                )
    return pd.DataFrame(rows)


def keys() -> list[tuple[str, float, int]]:
    return [(v, w, r) for v in VARIANTS for w in WIDTHS for r in REPLICATES]


def layer_value(key: tuple[str, float, int], layer: str, sampling: int) -> float:
    """Per-layer metric: conv2 is 0.1 above conv1; samplings spread symmetrically about the layer's value."""
    return BAD if excluded(key) else value(0.5, *key) + 0.1 * LAYERS.index(layer) + 0.01 * (sampling - 1)


def make_layers() -> pd.DataFrame:
    rows = [
        {
            "run_id": run_id(*key),
            "stage": stage,
            "layer": layer,
            "sampling": s,
            "units": 100,
            "channels": 10,
            "auc": layer_value(key, layer, s),
            "similarity": 10 * layer_value(key, layer, s),
            "similarity_std": 1.0,
            "similarity_fraction": 0.01,
            "dead": 0,
            "samples": 50_000,
        }
        for key in keys()
        for stage in ("trained", "init")
        for layer in LAYERS
        for s in SAMPLINGS
    ]
    return pd.DataFrame(rows)


def curve(key: tuple[str, float, int], layer: str) -> np.ndarray:
    """Wider networks lose fewer labels; conv2 loses half as many as conv1; all-layers loses everything."""
    if excluded(key):
        return np.full(len(LEVELS), BAD)
    if layer == ALL_LAYERS:
        return np.zeros(len(LEVELS))
    slope = 0.9 / (1 + (math.log2(key[1]) + 2) / 4) / (1 + LAYERS.index(layer))
    return 1 - slope * LEVELS


def make_curves() -> pd.DataFrame:
    frames = [
        pd.DataFrame(
            {
                "run_id": run_id(*key),
                "stage": stage,
                "layer": layer,
                "sampling": s,
                "level": LEVELS,
                "removed": np.round(LEVELS * 100).astype(int),
                "unchanged": curve(key, layer),
            }
        )
        for key in keys()
        for stage in ("trained", "init")
        for layer in (*LAYERS, ALL_LAYERS)
        for s in SAMPLINGS
    ]
    return pd.concat(frames, ignore_index=True)


EDGES = np.linspace(0, 1, BINS + 1)
CENTRES = (EDGES[:-1] + EDGES[1:]) / 2


def pairs(key: tuple[str, float, int], layer: str) -> np.ndarray:
    """conv1: every pair in one bin near 0.9. conv2 (the last layer): exponential in |r|, wider at larger width."""
    if layer == "conv1":
        counts = np.zeros(BINS, dtype=int)
        counts[900] = 4950
        return counts
    scale = 0.05 * key[1] ** 0.5 * (1 + 0.1 * (key[2] - 1))
    return np.round(1e5 * np.exp(-CENTRES / scale)).astype(int)


def make_histograms() -> pd.DataFrame:
    frames = [
        pd.DataFrame(
            {
                "run_id": run_id(*key),
                "stage": stage,
                "layer": layer,
                "low": EDGES[:-1],
                "high": EDGES[1:],
                "pairs": pairs(key, layer),
            }
        )
        for key in keys()
        for stage in ("trained", "init")
        for layer in LAYERS
    ]
    return pd.concat(frames, ignore_index=True)


def make_epochs() -> pd.DataFrame:
    """Checkpoints of one variant only, as in the paper's Fig. B2."""
    rows = [
        {
            "run_id": run_id(*key),
            "epoch": epoch,
            "test_accuracy": value(0.7, *key) + epoch / 1000,
            "auc": value(0.6, *key),
            "similarity": value(2.0, *key),
            "similarity_fraction": value(0.05, *key),
        }
        for key in keys()
        if key[0] == "he_normal"
        for epoch in EPOCHS
    ]
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def tables() -> dict[str, pd.DataFrame]:
    return {
        "runs": make_runs(),
        "layers": make_layers(),
        "curves": make_curves(),
        "histograms": make_histograms(),
        "epochs": make_epochs(),
    }


# --- which runs count --------------------------------------------------------


def test_usable_leaves_out_failed_collapsed_and_unkept_runs(tables: dict[str, pd.DataFrame]) -> None:
    kept = set(usable(tables["runs"])["run_id"])
    assert len(kept) == len(keys()) - 3
    assert not kept & {run_id(*FAILED), run_id(*COLLAPSED), run_id(*NOT_KEPT)}


def test_notes_name_the_collapsed_run_and_the_error_bars(tables: dict[str, pd.DataFrame]) -> None:
    errors, left_out = notes(tables["runs"])
    assert "standard deviation over replicates (1–2 per point)" in errors
    assert left_out == "left out 1 collapsed run: he_normal 4x #2"


def test_series_add_the_family_when_families_mix(tables: dict[str, pd.DataFrame]) -> None:
    runs = tables["runs"].assign(family=np.where(tables["runs"]["variant"] == "he_normal", "resnet56", "alexnet"))
    runs.loc[runs["variant"] == "lecun_normal", "variant"] = ""
    assert set(usable(runs)["series"]) == {"alexnet, glorot_normal", "resnet56, he_normal", "alexnet"}


# --- what is plotted ---------------------------------------------------------


@pytest.mark.parametrize("column, base", [("test_accuracy", 0.7), ("auc", 0.6), ("similarity_init", 1.0)])
def test_by_width_is_mean_and_std_over_usable_replicates(
    tables: dict[str, pd.DataFrame], column: str, base: float
) -> None:
    summary = by_width(tables["runs"], column).set_index(["series", "width_factor"])
    assert len(summary) == len(VARIANTS) * len(WIDTHS)
    for variant in VARIANTS:
        for width in WIDTHS:
            point = summary.loc[(variant, width)]
            if excluded((variant, width, 2)):  # only replicate 1 is left
                assert point["n"] == 1 and math.isnan(point["std"])
                assert point["mean"] == pytest.approx(value(base, variant, width, 1))
            else:
                assert point["n"] == 2
                assert point["mean"] == pytest.approx(value(base, variant, width, 1) + NOISE)
                assert point["std"] == pytest.approx(NOISE * math.sqrt(2))


def test_by_width_drops_points_without_values(tables: dict[str, pd.DataFrame]) -> None:
    assert by_width(tables["runs"], "val_accuracy").empty


def test_ablation_summary_averages_layers_and_leaves_out_the_all_layers_curve(
    tables: dict[str, pd.DataFrame],
) -> None:
    summary = ablation_summary(tables["runs"], tables["curves"]).set_index(["series", "width_factor", "level"])
    assert summary["mean"].max() <= 1 and summary["mean"].min() > 0
    for width in WIDTHS:
        expected = np.mean([curve(("he_normal", width, 1), layer) for layer in LAYERS], axis=0)
        assert summary.loc[("he_normal", width)]["mean"].to_numpy() == pytest.approx(expected)
    assert summary.loc[("he_normal", 4.0)]["n"].eq(1).all()
    one = ablation_summary(tables["runs"], tables["curves"], layer="conv2").set_index(["series", "width_factor"])
    expected = curve(("glorot_normal", 2.0, 1), "conv2")
    assert one.loc[("glorot_normal", 2.0)]["mean"].to_numpy() == pytest.approx(expected)
    every = ablation_summary(tables["runs"], tables["curves"], layer=ALL_LAYERS)
    assert (every["mean"] == 0).all()


def test_per_layer_summary_averages_samplings_then_replicates(tables: dict[str, pd.DataFrame]) -> None:
    summary = per_layer_summary(tables["runs"], tables["layers"], "auc").set_index(["series", "layer", "width_factor"])
    assert len(summary) == len(VARIANTS) * len(LAYERS) * len(WIDTHS)
    point = summary.loc[("lecun_normal", "conv2", 1.0)]
    assert point["mean"] == pytest.approx(value(0.5, "lecun_normal", 1.0, 1) + NOISE + 0.1)
    assert point["std"] == pytest.approx(NOISE * math.sqrt(2))
    left = summary.loc[("lecun_normal", "conv2", 2.0)]
    assert left["n"] == 1 and left["mean"] < 1


def test_epoch_summary_per_width_and_epoch(tables: dict[str, pd.DataFrame]) -> None:
    summary = epoch_summary(tables["runs"], tables["epochs"], "test_accuracy").set_index(
        ["series", "width_factor", "epoch"]
    )
    assert set(summary.index.get_level_values("series")) == {"he_normal"}
    assert summary.loc[("he_normal", 0.5, 20), "mean"] == pytest.approx(value(0.7, "he_normal", 0.5, 1) + NOISE + 0.02)
    assert summary.loc[("he_normal", 4.0, 30), "n"] == 1


def test_violins_integrate_to_one_and_show_the_last_layer(tables: dict[str, pd.DataFrame]) -> None:
    shapes = violins(tables["runs"], tables["histograms"])
    assert len(shapes) == len(VARIANTS) * len(WIDTHS)
    for v in shapes:
        assert v.layer == "conv2"
        assert v.integral == pytest.approx(1)
        assert (v.density >= 0).all()
    means = {(v.series, v.width_factor): v.mean for v in shapes}
    assert means[("he_normal", 0.25)] < means[("he_normal", 1.0)] < means[("he_normal", 4.0)]
    assert [v.runs for v in shapes if (v.series, v.width_factor) == ("he_normal", 4.0)] == [1]


def test_violin_mean_comes_from_the_histogram(tables: dict[str, pd.DataFrame]) -> None:
    (spike,) = [
        v
        for v in violins(tables["runs"], tables["histograms"], layer="conv1", smoothing=0)
        if (v.series, v.width_factor) == ("glorot_normal", 1.0)
    ]
    assert spike.mean == pytest.approx(CENTRES[900])
    assert spike.density[900] == pytest.approx(BINS) and spike.density.sum() == pytest.approx(BINS)
    (exact,) = [
        v
        for v in violins(tables["runs"], tables["histograms"], smoothing=0)
        if (v.series, v.width_factor) == ("he_normal", 4.0)
    ]
    counts = pairs(("he_normal", 4.0, 1), "conv2")
    assert exact.mean == pytest.approx((CENTRES * counts).sum() / counts.sum())


def test_smoothing_keeps_mass_and_spreads_a_spike() -> None:
    spike = np.zeros(BINS)
    spike[0] = BINS
    smoothed = smooth(spike, np.full(BINS, 1 / BINS), sigma=0.01)
    assert (smoothed / BINS).sum() == pytest.approx(1)
    assert smoothed[0] < BINS and smoothed[0] == smoothed.max() and smoothed[50] < 1e-3


def test_parameter_counts_from_runs_and_from_the_zoo(tables: dict[str, pd.DataFrame]) -> None:
    counts = parameter_counts(tables["runs"])
    assert list(counts["family"].unique()) == ["alexnet"] and list(counts["width_factor"]) == list(WIDTHS)
    runs = tables["runs"].copy()
    runs.loc[runs["variant"] == "he_normal", "params"] += 1  # a variant that changes the architecture
    assert set(parameter_counts(runs)["family"]) == {f"alexnet, {variant}" for variant in VARIANTS}
    table = plots.parameter_table(["alexnet", "inception_v3"])
    alexnet = table[table["family"] == "alexnet"].set_index("width_factor")["params"]
    assert alexnet[1.0] == 6_989_642
    for family, group in table.groupby("family"):
        assert group.sort_values("width_factor")["params"].is_monotonic_increasing, family
    assert table[table["family"] == "inception_v3"]["params"].max() > 3e8


# --- style -------------------------------------------------------------------


def test_width_axis_ticks_read_as_fractions() -> None:
    ax = Figure().subplots()
    style.width_axis(ax, WIDTHS)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1/4", "1/2", "1", "2", "4"]
    assert ax.get_xscale() == "log"


@pytest.mark.parametrize(
    "values, scale, linthresh",
    [
        ([1.0, 50.0, math.nan], "linear", None),  # less than two decades
        ([0.02, 3.0, 30.0], "log", None),
        ([0.0, 0.02, 30.0], "symlog", 0.01),  # zero kept, linear up to the smallest value's decade
        ([0.0, 0.0], "linear", None),
    ],
)
def test_values_spanning_orders_of_magnitude_get_a_log_axis(
    values: list[float], scale: str, linthresh: float | None
) -> None:
    ax = Figure().subplots()
    style.spread_axis(ax, values)
    assert ax.get_yscale() == scale
    if linthresh is not None:
        assert ax.yaxis.get_transform().linthresh == pytest.approx(linthresh)


def test_palette_depends_only_on_the_set_of_labels() -> None:
    assert style.palette(["b", "a", "c", "a"]) == style.palette(["c", "a", "b"])


def test_unknown_metric_is_refused(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="similarity_fraction"):
        plots.metric_vs_width(tables["runs"], tmp_path / "x", metric="accuracy")


# --- files ---------------------------------------------------------------------

REPORT = {
    "accuracy",
    "ablation-curves",
    "violins",
    "auc",
    "similarity",
    "similarity-fraction",
    "summary",
    "per-layer-auc",
    "per-layer-similarity",
    "parameters",
    "epochs",
}
RUN_LEVEL = {"accuracy", "auc", "similarity", "similarity-fraction", "summary", "parameters"}


@pytest.fixture(scope="module")
def report(tables: dict[str, pd.DataFrame], tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    return plots.plot_all(tables, tmp_path_factory.mktemp("report"))


def assert_written(paths: list[Path], stem: Path) -> None:
    assert paths == [stem.with_name(stem.name + ".png"), stem.with_name(stem.name + ".svg")]
    png, svg = paths
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    assert "<svg" in svg.read_text()[:1000]


def test_plot_all_writes_every_figure_type(report: list[Path]) -> None:
    assert sorted(p.name for p in report) == sorted(f"{name}.{fmt}" for name in REPORT for fmt in ("png", "svg"))
    for png, svg in zip(report[::2], report[1::2]):
        assert_written([png, svg], png.with_suffix(""))


def test_plot_all_skips_figures_without_data(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    written = plots.plot_all({"runs": tables["runs"], "epochs": tables["epochs"].iloc[:0]}, tmp_path)
    assert {p.name.rsplit(".", 1)[0] for p in written} == RUN_LEVEL
    everything_collapsed = {**tables, "runs": tables["runs"].assign(collapsed=True)}
    assert plots.plot_all(everything_collapsed, tmp_path / "none") == []


VARIATIONS = {
    "titled-accuracy": lambda t, stem: plots.accuracy_vs_width(t["runs"], stem, title="AlexNet, CIFAR-10"),
    "one-layer-curves": lambda t, stem: plots.ablation_curves(t["runs"], t["curves"], stem, layer="conv1"),
    "one-layer-violins": lambda t, stem: plots.similarity_violins(t["runs"], t["histograms"], stem, layer="conv1"),
    "fraction-with-init": lambda t, stem: plots.metric_vs_width(t["runs"], stem, "similarity_fraction", show_init=True),
    "zoo-parameters": lambda t, stem: plots.params_vs_width(plots.parameter_table(["mlp", "alexnet"]), stem),
}


@pytest.mark.parametrize("name", VARIATIONS)
def test_figure_options_write_png_and_svg(tables: dict[str, pd.DataFrame], tmp_path: Path, name: str) -> None:
    stem = tmp_path / "nested" / name
    assert_written(VARIATIONS[name](tables, stem), stem)


def test_a_figure_of_only_excluded_runs_is_refused(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    runs = tables["runs"].assign(collapsed=True)
    with pytest.raises(NothingToPlot):
        plots.metric_vs_width(runs, tmp_path / "auc")
    with pytest.raises(NothingToPlot):
        plots.similarity_violins(runs, tables["histograms"], tmp_path / "violins")


# --- the paper's figures -------------------------------------------------------

INITS = PaperFigure("B4", "AlexNets: inits", {"LeCun": "lecun_normal", "He": "he_normal"}, "claims")
"""Lines in an order that is not sorted, named otherwise than their variants."""
SHARED = PaperFigure("B11", "AlexNets: He again", {"He, again": "he_normal", "Glorot": "glorot_normal"})
"""Shares he_normal's runs with INITS."""


def expected_means(base: float, variant: str) -> list[float]:
    """A variant's plotted means at each width: over its usable replicates only."""
    return [
        float(np.mean([value(base, variant, w, r) for r in REPLICATES if not excluded((variant, w, r))]))
        for w in WIDTHS
    ]


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch) -> list[Figure]:
    """Every figure built while the fixture is active, kept instead of saved (save returns the bare stem)."""
    figures: list[Figure] = []

    def keep(fig: Figure, stem: str | Path) -> list[Path]:
        figures.append(fig)
        return [Path(stem)]

    monkeypatch.setattr(style, "save", keep)
    return figures


def line_data(fig: Figure, panel: int) -> dict[str, tuple[np.ndarray, np.ndarray, str]]:
    """A panel's lines by label: x, y and line style (the last line of a label wins)."""
    return {c.get_label(): (*c.lines[0].get_data(), c.lines[0].get_linestyle()) for c in fig.axes[panel].containers}


def test_paper_figure_draws_three_panels_one_line_per_entry(
    tables: dict[str, pd.DataFrame], drawn: list[Figure]
) -> None:
    plots.paper_figure(tables["runs"], INITS, "B4")
    (fig,) = drawn
    assert fig.get_suptitle() == "Fig. B4: AlexNets: inits"
    assert [ax.get_title(loc="left") for ax in fig.axes] == ["(a) accuracy", "(b) removability", "(c) similarity"]
    assert [c.get_label() for c in fig.axes[0].containers] == ["LeCun", "He"] * 2  # test, then train accuracy
    colours = [to_hex(c.lines[0].get_color()) for c in fig.axes[1].containers]
    assert colours == ["#1f77b4", "#ff7f0e"]  # tab10's first two, in the figure's order
    for panel, base in ((1, 0.6), (2, 2.0)):
        assert [c.get_label() for c in fig.axes[panel].containers] == ["LeCun", "He"]
        for label, variant in INITS.lines.items():
            x, y, linestyle = line_data(fig, panel)[label]
            assert y == pytest.approx(expected_means(base, variant)) and linestyle == "-"
            assert x == pytest.approx(WIDTHS, rel=0.03)  # nudged apart, never by a tick
    legend = [t.get_text() for t in fig.legends[0].get_texts()]
    assert legend[:2] == ["LeCun", "He"] and "glorot_normal" not in " ".join(legend)
    assert "left out 1 collapsed run: He 4x #2" in fig.texts[-1].get_text()


def test_paper_figure_draws_the_untrained_control_only_on_request(
    tables: dict[str, pd.DataFrame], drawn: list[Figure]
) -> None:
    plots.paper_figure(tables["runs"], INITS, "plain")
    plots.paper_figure(tables["runs"], INITS, "with-init", show_init=True)
    plain, with_init = drawn
    assert len(plain.axes[2].containers) == 2
    assert [c.lines[0].get_linestyle() for c in with_init.axes[2].containers] == ["-", "-", "--", "--"]
    assert line_data(with_init, 2)["He"][1] == pytest.approx(expected_means(1.0, "he_normal"))  # similarity_init


def test_runs_shared_by_two_paper_figures_are_drawn_in_both(
    tables: dict[str, pd.DataFrame], drawn: list[Figure]
) -> None:
    stems = plots.plot_all({"runs": tables["runs"]}, "figures", paper_figures=(INITS, SHARED))
    assert [p.name for p in stems[:2]] == ["B4", "B11"]
    inits, shared = drawn[:2]
    assert line_data(shared, 2)["He, again"][1] == pytest.approx(line_data(inits, 2)["He"][1])
    assert line_data(shared, 1)["Glorot"][1] == pytest.approx(expected_means(0.6, "glorot_normal"))
    he = [c.lines[0].get_color() for c in inits.axes[2].containers if c.get_label() == "He"]
    assert he != [c.lines[0].get_color() for c in shared.axes[2].containers if c.get_label() == "Glorot"]


def test_plot_all_leaves_out_the_overlaid_figures_only_when_paper_figures_draw_every_variant(
    tables: dict[str, pd.DataFrame], drawn: list[Figure]
) -> None:
    every = plots.plot_all({"runs": tables["runs"]}, "figures", paper_figures=(INITS, SHARED))
    assert [p.name for p in every] == ["B4", "B11", "parameters"]
    some = plots.plot_all({"runs": tables["runs"]}, "figures", paper_figures=(INITS,))
    assert [p.name for p in some] == ["B4", *sorted(RUN_LEVEL, key=list(plots.all_figures.FIGURES).index)]


def test_paper_figure_leaves_out_lines_the_sweep_did_not_run(
    tables: dict[str, pd.DataFrame], drawn: list[Figure]
) -> None:
    partly = PaperFigure("B5", "partly run", {"LeCun": "lecun_normal", "σ=1e4": "not run at this scale"})
    plots.paper_figure(tables["runs"], partly, "B5")
    assert [c.get_label() for c in drawn[0].axes[1].containers] == ["LeCun"]
    assert "LeCun" in [t.get_text() for t in drawn[0].legends[0].get_texts()]  # a lone line is still named
    absent = PaperFigure("B6", "not run", {"a": "nothing", "b": "nothing either"})
    with pytest.raises(NothingToPlot, match="B6"):
        plots.paper_figure(tables["runs"], absent, "B6")
    assert next(iter(plots.plot_all({"runs": tables["runs"]}, "f", paper_figures=(absent, partly)))).name == "B5"


def test_plot_all_writes_the_paper_figures_first(tables: dict[str, pd.DataFrame], tmp_path: Path) -> None:
    runs = tables["runs"][tables["runs"]["variant"].isin(INITS.lines.values())]
    written = plots.plot_all({"runs": runs}, tmp_path, paper_figures=(INITS,))
    assert [p.name for p in written] == ["B4.png", "B4.svg", "parameters.png", "parameters.svg"]
    assert_written(written[:2], tmp_path / "B4")


@pytest.mark.parametrize(
    "label, shown",
    [
        ("σ=1e-4", "σ=$10^{-4}$"),
        ("10k-dim, σ=1e+02", "10k-dim, σ=$10^{2}$"),
        ("lr 2.5e-3", r"lr $2.5\times10^{-3}$"),
        ("σ=1", "σ=1"),
        ("resnet56e2", "resnet56e2"),
        ("k=1/4", "k=1/4"),
        ("", "default"),
    ],
)
def test_series_names_set_e_notation_as_powers_of_ten(label: str, shown: str) -> None:
    assert style.series_name(label) == shown


def test_a_presets_sweep_folder_gets_its_paper_figures_first(tmp_path: Path, drawn: list[Figure]) -> None:
    from frivolous.common.files import write_json
    from frivolous.experiments.presets import preset
    from frivolous.experiments.runner import SWEEP_INFO
    from frivolous.reproduce import figures
    from frivolous.results.results_table import TABLES, table_path

    teacher = preset("mlp-teacher")
    variants = sorted({variant for figure in teacher.paper_figures for variant in figure.lines.values()})
    runs = make_runs().iloc[: 2 * len(variants)].assign(variant=[v for v in variants for _ in range(2)], family="mlp")
    for kind in TABLES:
        (runs if kind == "runs" else pd.DataFrame()).to_parquet(table_path(tmp_path, kind))
    write_json(tmp_path / SWEEP_INFO, {"preset": "mlp-teacher"})
    names = [p.name for p in figures(tmp_path)]
    assert names == [figure.name for figure in teacher.paper_figures] + ["parameters"]
    write_json(tmp_path / SWEEP_INFO, {"preset": "no-such-preset"})
    assert "summary" in [p.name for p in figures(tmp_path)]
