"""`frivolous analyze`: models and data named on the command line, measured layer by layer, reported.

Nothing is downloaded: torchvision models are built untrained (weights=None),
at small input sizes; pretrained-weight handling is tested on files made here.
"""

from __future__ import annotations

import json
import pickle
import re
import subprocess
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

from conftest import TINY_SWEEP, conv_net
from frivolous.analysis import measure_by_layer, measure_source
from frivolous.analysis.options import parse_size
from frivolous.cli import app
from frivolous.experiments.run import measure_run, train_run
from frivolous.measuring import measure, probes
from frivolous.runs.spec import RunSpec
from frivolous.sources import SourceError, resolve_data, resolve_model
from test_report import CHROMIUM_FLAGS, chromium

FAST = ["--samplings", "1", "--levels", "3", "--device", "cpu"]
"""Measurement options that keep a test to seconds."""


def analyze_cli(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, ["analyze", *args])
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def resnet_folder(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("resnet18")
    code, output = analyze_cli(
        "torchvision:resnet18", "--data", "random:3,16,16", "--examples", "6", "--out", str(out), *FAST
    )
    assert code == 0, output
    return out, output


def test_resnet18_end_to_end(resnet_folder: tuple[Path, str]) -> None:
    out, output = resnet_folder
    table = pd.read_parquet(out / "layers.parquet")
    assert len(table) == 17 and table["depth"].tolist() == list(range(1, 18))  # the stem's ReLU and 16 in the blocks
    assert table["layer"].iloc[[0, -1]].tolist() == ["relu", "layer4.1.relu#1"]
    assert table["auc"].between(0, 1).all() and (table["units"] >= table["channels"]).all()
    pd.testing.assert_frame_equal(pd.read_csv(out / "layers.csv"), table, check_dtype=False)
    assert "layer4.1.relu#1" in output and "mean over layers" in output and "report:" in output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["examples"] == 6 and summary["settings"]["samplings"] == 1 and summary["layers"] == 17
    assert summary["network"]["auc"] == pytest.approx(table["auc"].mean())
    curves = pd.read_parquet(out / "curves.parquet")
    assert set(curves["layer"]) == set(table["layer"]) and sorted(curves["level"].unique()) == [0, 0.5, 1]
    html = (out / "report.html").read_text()
    assert html.index("random noise") < html.index("<h2>Summary</h2>")  # the noise warning comes first
    assert "warning" in output and "random noise" in output


def test_the_report_reads_well(resnet_folder: tuple[Path, str]) -> None:
    out, _ = resnet_folder
    html = (out / "report.html").read_text()
    table = pd.read_parquet(out / "layers.parquet")
    # Every figure is a link to its full-size file, the headline figure of widths first.
    linked = re.findall(r"<a href='([^']+)' title='open the full-size figure'>", html)
    stems = ["widths-by-depth", "metrics-by-depth", "similarity-histograms", "ablation-curves"]
    assert linked == [f"figures/{stem}.png" for stem in stems] and all((out / f).is_file() for f in linked)
    assert all(f"<a href='figures/{stem}.svg'>SVG</a>" in html for stem in stems)
    # The settings are a table of their own, not a Python dict.
    settings = html[html.index("<h3>Settings</h3>") :]
    assert "<table class='pairs'>" in settings and "<th>samplings</th><td>1</td>" in settings
    assert "<th>levels</th><td>0, 0.5, 1</td>" in settings and "{'levels'" not in html
    # The layer table is compact; its words for the fraction are what the numbers are.
    assert "<table class='compact'>" in html and "features" not in html[html.index("<table class='compact'>") :]
    assert "fraction: similarity / (live units − 1), the live units being the channels less the dead ones" in html
    assert "channels − 1" not in html
    live = table["channels"] - table["dead"]
    np.testing.assert_allclose(table["similarity_fraction"], table["similarity"] / (live - 1))  # one sampling


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium package is not installed")
def test_report_figures_load_in_headless_chromium(resnet_folder: tuple[Path, str], tmp_path: Path) -> None:
    out, _ = resnet_folder
    dom = subprocess.run(
        [
            chromium(),
            *CHROMIUM_FLAGS,
            f"--user-data-dir={tmp_path / 'profile'}",
            "--virtual-time-budget=10000",
            "--dump-dom",
            (out / "report.html").resolve().as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    ).stdout
    images = re.findall(r"<img[^>]*>", dom)
    assert len(images) == 4 and all('data-loaded="1"' in image for image in images)
    assert "layer4.1.relu#1" in dom


@pytest.mark.skipif(chromium() is None, reason="Debian's chromium package is not installed")
def test_the_report_fits_a_1400_pixel_window(resnet_folder: tuple[Path, str], tmp_path: Path) -> None:
    """Laid out by the browser: the layer table needs no sideways scrolling and the figures are drawn
    large (the widest spans the page), none wider than the page."""
    out, _ = resnet_folder
    page = out / "report-measured.html"
    script = (
        "<script>window.addEventListener('load', () => { const t = document.querySelector('table.compact');"
        "document.body.dataset.table = t.parentElement.scrollWidth - t.parentElement.clientWidth;"
        "document.body.dataset.page = document.body.clientWidth;"
        "document.body.dataset.figures = [...document.querySelectorAll('figure img')].map(i => i.width).join(',');"
        "});</script>"
    )
    page.write_text((out / "report.html").read_text().replace("</body>", script + "</body>"))
    try:
        dom = subprocess.run(
            [
                chromium(),
                *CHROMIUM_FLAGS,
                f"--user-data-dir={tmp_path / 'profile'}",
                "--window-size=1400,3000",
                "--virtual-time-budget=10000",
                "--dump-dom",
                page.resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout
    finally:
        page.unlink()
    found = re.search(r'<body data-table="(-?\d+)" data-page="(\d+)" data-figures="([\d,]+)"', dom)
    assert found, dom[:500]
    overflow, width, figures = int(found[1]), int(found[2]), [int(w) for w in found[3].split(",")]
    assert overflow <= 0 and width >= 1200
    assert len(figures) == 4 and max(figures) >= 0.9 * width - 60 and all(w <= width for w in figures)
    assert min(figures) >= 700  # no figure squeezed (they were 540 pixels wide)


def test_mobilenet_through_the_api() -> None:
    source = resolve_model("torchvision:mobilenet_v3_small")
    data = resolve_data("random:3,32,32", source, examples=4)
    every = probes(source.model, data.inputs, device="cpu")
    chosen = [every[0], every[len(every) // 2], every[-1]]  # the stem, a block, the classifier's hidden layer
    table = measure_source(source, data, layers=chosen, samplings=1, levels=2, device="cpu", progress=False).table
    assert len(every) > 30 and table["layer"].tolist() == chosen
    assert table["shape"].iloc[[0, -1]].tolist() == ["16x16x16", "1024"] and table["auc"].between(0, 1).all()


def test_untrained_vit_warns_that_it_answers_one_class(tmp_path: Path) -> None:
    """torchvision's ViT starts with a zero head: every input gets class 0, and every AUC reads 1."""
    code, output = analyze_cli(
        "torchvision.models.vision_transformer:VisionTransformer",
        "--data",
        "random:3,32,32",
        "--examples",
        "4",
        "--model-arg",
        "image_size=32",
        "--model-arg",
        "patch_size=16",
        "--model-arg",
        "num_layers=1",
        "--model-arg",
        "num_heads=2",
        "--model-arg",
        "hidden_dim=16",
        "--model-arg",
        "mlp_dim=32",
        "--out",
        str(tmp_path),
        *FAST,
    )
    assert code == 0, output
    assert "predicts class 0 for 100.0% of the 4 inputs" in output
    html = (tmp_path / "report.html").read_text()
    assert html.index("predicts class 0") < html.index("<h2>Summary</h2>")
    assert pd.read_parquet(tmp_path / "layers.parquet")["auc"].eq(1).all()


def test_a_run_folder_gives_the_numbers_of_frivolous_measure(tmp_path: Path) -> None:
    spec = {key: TINY_SWEEP[key] for key in ("data", "train")}
    spec |= {
        "model": TINY_SWEEP["model"] | {"hidden_layers": 2},
        "measure": {"samplings": 2, "levels": 4, "max_examples": 40},
        "seed": 3,
    }
    layout = train_run(RunSpec.from_dict(spec), tmp_path / "runs", device="cpu", progress=False).layout
    measured = measure_run(layout.root, device="cpu", progress=False).frame("layers")
    code, output = analyze_cli(str(layout.root), "--out", str(tmp_path / "analysis"), "--device", "cpu")
    assert code == 0, output
    analysed = pd.read_parquet(tmp_path / "analysis" / "layers.parquet")
    per_layer = (
        measured.groupby("layer", sort=False)
        .agg(auc=("auc", "mean"), similarity=("similarity", "mean"), units=("units", "first"))
        .reset_index()
    )
    assert analysed["layer"].tolist() == per_layer["layer"].tolist() == ["hidden1", "hidden2"]
    np.testing.assert_allclose(
        analysed[["auc", "similarity", "units"]], per_layer[["auc", "similarity", "units"]], rtol=1e-12
    )
    assert json.loads((tmp_path / "analysis" / "summary.json").read_text())["examples"] == 40


def test_measuring_layer_by_layer_gives_the_numbers_of_one_call(images: torch.Tensor) -> None:
    net = conv_net()
    options = {"samplings": 2, "levels": 4, "device": "cpu", "seed": 5}
    together, apart = measure(net, images, **options), measure_by_layer(net, images, None, progress=False, **options)
    assert list(apart.layers) == list(together.layers) == ["relu1", "relu2"]
    for name, layer in together.layers.items():
        np.testing.assert_array_equal(apart.layers[name].ablation.curves, layer.ablation.curves)
        assert apart.layers[name].similarity == layer.similarity and apart.layers[name].dead == layer.dead
    assert apart.predicted == together.predicted and apart.all_layers is None


# ---- bad inputs: one clear line, exit status 2 --------------------------------------------------------------


def one_line_error(*args: str) -> str:
    code, output = analyze_cli(*args, *FAST)
    assert code == 2, output
    lines = output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), output
    return lines[0]


def factory_file(tmp_path: Path) -> Path:
    path = tmp_path / "models.py"
    path.write_text(
        "import torch\n"
        "from torch import nn\n\n"
        "def build(classes=3):\n"
        "    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Linear(10, 16), nn.ReLU(), nn.Linear(16, classes))\n\n"
        "def broken():\n"
        "    raise RuntimeError('no such checkpoint: /nowhere/model.ckpt')\n"
    )
    return path


def test_unknown_model_names(tmp_path: Path) -> None:
    assert "unknown torchvision model 'resnet19' (closest: resnet18" in one_line_error(
        "torchvision:resnet19", "--data", "random:3,8,8"
    )
    assert "unknown weights 'IMAGENET9K' for torchvision resnet18" in one_line_error(
        "torchvision:resnet18:IMAGENET9K", "--data", "random:3,8,8"
    )
    assert "unknown model scheme 'torchvison' (closest: torchvision)" in one_line_error(
        "torchvison:resnet18", "--data", "random:3,8,8"
    )
    assert "run folder runs/nothing-here does not exist" in one_line_error("runs/nothing-here")
    assert "has no function 'build2'" in one_line_error(f"{factory_file(tmp_path)}:build2", "--data", "random:10")


def test_data_that_does_not_fit_the_model(tmp_path: Path) -> None:
    line = one_line_error("torchvision:resnet18", "--data", "random:10", "--out", str(tmp_path))
    assert "data random:10 (inputs of shape 10, float32) does not fit model torchvision:resnet18: RuntimeError" in line
    assert "unknown data 'imagefolde:x' (closest: imagefolder)" in one_line_error(
        "torchvision:resnet18", "--data", "imagefolde:x"
    )
    assert "--data is required" in one_line_error("torchvision:resnet18")


def test_a_factory_that_raises(tmp_path: Path) -> None:
    line = one_line_error(f"{factory_file(tmp_path)}:broken", "--data", "random:10")
    assert line.endswith("models.py:broken raised RuntimeError: no such checkpoint: /nowhere/model.ckpt")


def test_weights_that_do_not_match(tmp_path: Path) -> None:
    factory = f"{factory_file(tmp_path)}:build"
    torch.manual_seed(1)
    other = torch.nn.Sequential(torch.nn.Linear(10, 16), torch.nn.ReLU(), torch.nn.Linear(16, 5))
    save_file(other.state_dict(), str(tmp_path / "other.safetensors"))
    line = one_line_error(factory, "--data", "random:10", "--weights", str(tmp_path / "other.safetensors"))
    assert "does not match the model: shapes differ (2): 2.weight (5, 16) in the file, (3, 16) in the model" in line
    # The same weights fit when the factory is asked for 5 classes, and the model is then the file's.
    source = resolve_model(factory, weights=tmp_path / "other.safetensors", options={"classes": 5})
    assert torch.equal(source.model[2].weight, other[2].weight)


def test_pickled_weights_only_through_weights_only(tmp_path: Path) -> None:
    factory = f"{factory_file(tmp_path)}:build"
    model = resolve_model(factory).model
    torch.save({"state_dict": {f"module.{k}": v for k, v in model.state_dict().items()}}, tmp_path / "ckpt.pt")
    loaded = resolve_model(factory, weights=tmp_path / "ckpt.pt").model  # unwrapped, DataParallel prefix dropped
    assert all(torch.equal(a, b) for a, b in zip(loaded.state_dict().values(), model.state_dict().values()))
    (tmp_path / "evil.pt").write_bytes(pickle.dumps(Path("anything")))  # a global torch.load must refuse
    line = one_line_error(factory, "--data", "random:10", "--weights", str(tmp_path / "evil.pt"))
    assert "torch.load(weights_only=True), which refuses anything but tensors" in line


def test_pretrained_torchvision_weights_come_from_the_cache_or_say_where_to_put_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))

    def offline(*args: object, **kwargs: object) -> None:
        raise OSError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", offline)
    place = tmp_path / "torch" / "hub" / "checkpoints" / "resnet18-f37072fd.pth"
    line = one_line_error("torchvision:resnet18:DEFAULT", "--data", "random:3,8,8")
    assert line.endswith(f"download https://download.pytorch.org/models/resnet18-f37072fd.pth and put it at {place}")
    place.write_bytes(b"not the real file")  # a file that is not the one torchvision published is never unpickled
    assert "refusing to unpickle it" in one_line_error("torchvision:resnet18:DEFAULT", "--data", "random:3,8,8")


# ---- sources ------------------------------------------------------------------------------------------------


def test_tensor_files_and_class_stratified_examples(tmp_path: Path) -> None:
    source = resolve_model(f"{factory_file(tmp_path)}:build")
    inputs, labels = torch.randn(30, 10), torch.arange(30) % 3
    save_file({"inputs": inputs, "labels": labels}, str(tmp_path / "x.safetensors"))
    data = resolve_data(str(tmp_path / "x.safetensors"), source, examples=9)
    chosen = [int(np.flatnonzero((inputs == row).all(1))[0]) for row in data.inputs]
    assert data.examples == 9 and np.bincount(labels[chosen].numpy()).tolist() == [3, 3, 3]
    np.save(tmp_path / "x.npy", inputs.double().numpy())
    whole = resolve_data(str(tmp_path / "x.npy"), source)
    assert whole.inputs.dtype == torch.float32 and torch.allclose(whole.inputs, inputs)
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(SourceError, match="cannot read data file .*objects.npy"):
        resolve_data(str(tmp_path / "objects.npy"), source)


def test_a_safetensors_file_without_inputs_is_an_error_listing_its_keys(tmp_path: Path) -> None:
    save_file({"x": torch.randn(6, 10), "y": torch.arange(6)}, str(tmp_path / "weights.safetensors"))
    save_file({"weight": torch.randn(6, 10)}, str(tmp_path / "one.safetensors"))  # one tensor: still not a guess
    error = one_line_error(f"{factory_file(tmp_path)}:build", "--data", str(tmp_path / "weights.safetensors"))
    assert "has no tensor named 'inputs' (it holds x (6, 10), y (6,))" in error
    with pytest.raises(SourceError, match=r"no tensor named 'inputs' \(it holds weight \(6, 10\)\)"):
        resolve_data(str(tmp_path / "one.safetensors"), resolve_model(f"{factory_file(tmp_path)}:build"))


def test_untrained_builders_are_built_under_the_seed(tmp_path: Path) -> None:
    pytest.importorskip("timm")
    for spec, options in (("torchvision:squeezenet1_1", {}), ("timm:test_vit", {"img_size": 32})):
        before = torch.get_rng_state()
        one, same, other = (resolve_model(spec, options=options, seed=seed).model.state_dict() for seed in (1, 1, 2))
        assert torch.equal(torch.get_rng_state(), before)  # the global generator is left as it was
        assert all(torch.equal(one[key], same[key]) for key in one)
        assert not all(torch.equal(one[key], other[key]) for key in one if one[key].is_floating_point())
    tables = []
    for name in ("first", "second"):
        code, output = analyze_cli(
            "torchvision:squeezenet1_1",
            "--data",
            "random:3,32,32",
            "--examples",
            "4",
            "--layers",
            "features.1,features.12.expand3x3_activation",
            "--out",
            str(tmp_path / name),
            *FAST,
        )
        assert code == 0, output
        tables.append(pd.read_parquet(tmp_path / name / "layers.parquet"))
    pd.testing.assert_frame_equal(*tables)


def test_imagefolder_uses_the_weights_preprocessing(tmp_path: Path) -> None:
    from PIL import Image

    for label, colour in (("cat", (255, 0, 0)), ("dog", (0, 0, 255))):
        (tmp_path / "images" / label).mkdir(parents=True)
        for i in range(3):
            Image.new("RGB", (40 + 10 * i, 30), colour).save(tmp_path / "images" / label / f"{i}.png")
    source = resolve_model("torchvision:squeezenet1_1")  # preprocessing of its default weights: 224 px, ImageNet stats
    data = resolve_data(f"imagefolder:{tmp_path / 'images'}", source, examples=4)
    batch, labels = next(iter(data.inputs))
    assert batch.shape == (4, 3, 224, 224) and labels.tolist() == [0, 0, 1, 1]
    assert batch[0, 0].mean() == pytest.approx((1 - 0.485) / 0.229, abs=1e-4)  # red, normalised
    plain = resolve_data(f"imagefolder:{tmp_path / 'images'}", resolve_model(f"{factory_file(tmp_path)}:build"))
    assert next(iter(plain.inputs))[0].shape == (6, 3, 224, 224) and "not normalised" in plain.description


def test_frivolous_data_sources_fit_the_model(tmp_path: Path) -> None:
    source = resolve_model(f"{factory_file(tmp_path)}:build")
    teacher = resolve_data("teacher:n_test=50", source, examples=20)
    assert teacher.inputs.shape == (20, 10) and "teacher:n_test=50" == teacher.label
    with pytest.raises(SourceError, match=r"data teacher: unknown option\(s\) \['colour'\]"):
        resolve_data("teacher:colour=red", source)
    with pytest.raises(SourceError, match="random:3,x: expected positive sizes"):
        resolve_data("random:3,x", source)


def test_option_parsing() -> None:
    assert parse_size("2GiB") == 2 << 30 and parse_size("500MB") == 500_000_000 and parse_size("4096") == 4096
    with pytest.raises(SourceError, match="--max-memory must be a size"):
        parse_size("lots")


# ---- every torchvision classification builder (not in the default run: pytest -m torchvision_zoo) -------------


def torchvision_builders() -> list[str]:
    from torchvision import models

    return models.list_models(module=models)


@pytest.mark.torchvision_zoo
@pytest.mark.parametrize("name", torchvision_builders())
def test_every_torchvision_builder(name: str, tmp_path: Path) -> None:
    from torchvision import models

    meta = models.get_model_weights(name).DEFAULT.meta
    side = max(32, *meta["min_size"])
    code, output = analyze_cli(
        f"torchvision:{name}",
        "--data",
        f"random:3,{side},{side}",
        "--examples",
        "2",
        "--max-samples",
        "200",
        "--out",
        str(tmp_path),
        *FAST,
    )
    assert code == 0, output
    table = pd.read_parquet(tmp_path / "layers.parquet")
    assert len(table) > 0 and table["auc"].between(0, 1).all()


# ---- features in the last axis: transformers, ViT and ConvNeXt blocks ----------------------------------------


class TokenMLP(torch.nn.Module):
    """Linear -> ReLU on (batch, tokens, features), then the mean over tokens: a feature-last hidden layer
    whose second half of units copies the first half."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.hidden, self.act, self.out = torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3)
        with torch.no_grad():
            self.hidden.weight[4:] = self.hidden.weight[:4]
            self.hidden.bias[4:] = self.hidden.bias[:4]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(self.act(self.hidden(x))).mean(1)


def test_feature_last_layers_are_measured_with_their_features_as_units() -> None:
    from frivolous.sources.base import DataSource, ModelSource

    model = TokenMLP()
    act = model.act
    inputs = torch.randn(50, 5, 4, generator=torch.Generator().manual_seed(1))
    analysis = measure_source(
        ModelSource(model, "token-mlp", "token-mlp"),
        DataSource(inputs, "x", "x", 50),
        threshold=0.99,
        samplings=1,
        device="cpu",
        progress=False,
    )
    row = analysis.table.iloc[0]
    assert row["layer"] == "act" and row["features_last"] and row["shape"] == "8x5" and row["channels"] == 8
    assert row["similarity"] == 1.0  # every unit has exactly its copy; read as tokens, there would be 5 "units"
    assert model.act is act  # the model is handed back as it was


def test_channel_units_take_batches_of_different_lengths() -> None:
    from frivolous.sources.text import Batches

    torch.manual_seed(0)
    net = torch.nn.Sequential(
        torch.nn.Conv1d(3, 6, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.AdaptiveAvgPool1d(1),
        torch.nn.Flatten(),
        torch.nn.Linear(6, 4),
    )
    batches = Batches([torch.randn(4, 3, 8), torch.randn(4, 3, 12)])  # two of one size: not an (inputs, labels) pair
    result = measure(net, batches, ["1"], unit="channel", samplings=1, levels=3, device="cpu")
    assert result.examples == 8 and result.layers["1"].ablation.units == 6
    assert result.layers["1"].similarities[0].samples == 4 * 8 + 4 * 12  # every position of both batches
    with pytest.raises(ValueError, match=r"changed shape between batches \(\(6, 8\) -> \(6, 12\)\)"):
        measure(net, batches, ["1"], unit="element", samplings=1, device="cpu")


def test_timm_models_built_locally() -> None:
    pytest.importorskip("timm")
    source = resolve_model("timm:vit_tiny_patch16_224", options={"img_size": 32, "depth": 1, "num_classes": 5})
    assert source.input_shape == (3, 32, 32) and source.preprocess.transforms[1].size == (32, 32)
    analysis = measure_source(
        source, resolve_data("random:3,32,32", source, examples=4), samplings=1, levels=2, device="cpu", progress=False
    )
    assert analysis.table[["layer", "shape", "features_last"]].values.tolist() == [["blocks.0.mlp.act", "768x5", True]]
    assert "unknown timm model 'resnet19' (closest: resnet18" in one_line_error(
        "timm:resnet19", "--data", "random:3,8,8"
    )


@pytest.fixture(scope="module")
def hf_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny GPT-2, BERT classifier and ViT classifier with a word-level tokenizer, saved locally; texts."""
    pytest.importorskip("transformers")
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import (
        BertConfig,
        BertForSequenceClassification,
        GPT2Config,
        GPT2LMHeadModel,
        PreTrainedTokenizerFast,
        ViTConfig,
        ViTForImageClassification,
        ViTImageProcessor,
    )

    root = tmp_path_factory.mktemp("hf")
    words = "the cat sat on a mat and dog ran to big red house small blue".split()
    vocab = {w: i for i, w in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", *words])}
    tokenizer = Tokenizer(models.WordLevel(vocab, unk_token="[UNK]"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tokenizer, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]", sep_token="[SEP]"
    )
    torch.manual_seed(0)
    GPT2LMHeadModel(
        GPT2Config(
            vocab_size=len(vocab), n_embd=16, n_layer=2, n_head=2, n_positions=16, bos_token_id=0, eos_token_id=0
        )
    ).save_pretrained(root / "gpt2")
    BertForSequenceClassification(
        BertConfig(
            vocab_size=len(vocab),
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=32,
            num_labels=3,
        )
    ).save_pretrained(root / "bert")
    for name in ("gpt2", "bert"):
        fast.save_pretrained(root / name)
    ViTForImageClassification(
        ViTConfig(
            image_size=16,
            patch_size=8,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            num_labels=4,
        )
    ).save_pretrained(root / "vit")
    ViTImageProcessor(size={"height": 16, "width": 16}).save_pretrained(root / "vit")
    lines = [" ".join(words[(3 * i + j) % len(words)] for j in range(3 + i % 6)) for i in range(40)]
    (root / "text.txt").write_text("\n".join(lines))
    return root


def test_a_causal_lm_predicts_the_next_token_at_every_position(hf_folder: Path, tmp_path: Path) -> None:
    code, output = analyze_cli(
        f"hf:{hf_folder / 'gpt2'}",
        "--data",
        str(hf_folder / "text.txt"),
        "--examples",
        "6",
        "--out",
        str(tmp_path),
        *FAST,
    )
    assert code == 0, output
    summary = json.loads((tmp_path / "summary.json").read_text())
    assert summary["examples"] == 6 and summary["predictions"] == 6 * 16  # windows of the model's 16 positions
    table = pd.read_parquet(tmp_path / "layers.parquet")
    assert table["layer"].tolist() == ["model.transformer.h.0.mlp.act", "model.transformer.h.1.mlp.act"]
    assert table["features_last"].all() and table["shape"].eq("64x16").all() and table["channels"].eq(64).all()


def test_a_sequence_classifier_on_unpadded_batches_of_each_length(hf_folder: Path, tmp_path: Path) -> None:
    import datasets

    labels = [i % 3 for i in range(40)]
    lines = (hf_folder / "text.txt").read_text().splitlines()
    datasets.Dataset.from_dict({"sentence": lines, "label": labels}).save_to_disk(str(tmp_path / "texts"))
    source = resolve_model(f"hf:{hf_folder / 'bert'}")
    data = resolve_data(f"hf-dataset:{tmp_path / 'texts'}", source, examples=12)
    lengths = [batch.shape[1] for batch in data.inputs]
    assert data.positions_vary and lengths == sorted(set(lengths)) and sum(len(b) for b in data.inputs) == 12
    assert all((batch != source.tokenizer.pad_token_id).all() for batch in data.inputs)  # nothing padded
    analysis = measure_source(source, data, samplings=1, levels=2, device="cpu", progress=False)
    assert analysis.result.settings["unit"] == "channel" and analysis.result.examples == 12
    rows = analysis.table[["layer", "channels", "features_last"]].values.tolist()  # the MLP's 32 features; a 2-D pooler
    assert rows == [
        ["model.bert.encoder.layer.0.intermediate.intermediate_act_fn", 32, True],
        ["model.bert.pooler.activation", 16, False],
    ]
    assert len(set(lengths)) > 1  # the positions of the MLP vary with the batch, the pooler's one vector does not
    assert analysis.table["shape"].tolist() == [f"32x{min(lengths)}..{max(lengths)}", "16"]
    assert "only channel units can measure" in one_line_error(
        f"hf:{hf_folder / 'bert'}", "--data", f"hf-dataset:{tmp_path / 'texts'}", "--unit", "element"
    )


def test_an_image_classifier_with_its_image_processor(hf_folder: Path, tmp_path: Path) -> None:
    import datasets
    from PIL import Image

    rng = np.random.default_rng(0)
    images = [Image.fromarray(rng.integers(0, 255, (20, 24, 3), dtype=np.uint8)) for _ in range(8)]
    datasets.DatasetDict({"test": datasets.Dataset.from_dict({"image": images, "label": [0, 1] * 4})}).save_to_disk(
        str(tmp_path / "images")
    )
    source = resolve_model(f"hf:{hf_folder / 'vit'}")
    data = resolve_data(f"hf-dataset:{tmp_path / 'images'}", source, examples=4)
    assert next(iter(data.inputs)).shape == (4, 3, 16, 16)  # the image processor's size
    table = measure_source(source, data, samplings=1, levels=2, device="cpu", progress=False).table
    assert table["shape"].tolist() == ["32x5"] and table["features_last"].all()  # 4 patches and the class token
    assert "no Hugging Face model" in one_line_error("hf:" + str(tmp_path / "nothing"), "--data", "random:3,16,16")


def test_many_layers_are_keyed_by_a_colour_bar(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from frivolous.analysis import figures

    drawn = []
    monkeypatch.setattr(figures.style, "save", lambda fig, stem: drawn.append(fig) or [])
    for count in (5, 20):
        layers = [f"block{i}.relu" for i in range(count)]
        curves = pd.DataFrame(
            [
                {"layer": layer, "level": level, "unchanged": 1 - level, "sampling": 0}
                for layer in layers
                for level in (0, 1)
            ]
        )
        figures.ablation_curves(curves, layers, tmp_path / "curves")
    few, many = drawn
    assert len(few.legends) == 1 and len(few.axes) == 1  # five layers: named in a legend
    assert not many.legends and len(many.axes) == 2  # twenty: the second axes is the colour bar
    assert "depth (1 = block0.relu, 20 = block19.relu)" == many.axes[1].get_ylabel()


def test_transformers_probes_where_the_units_are(tmp_path: Path) -> None:
    """DistilBERT's ReLU after pre_classifier (an nn.ReLU() made at each call) is
    probed; a gated MLP (Llama) is probed at the product that down_proj reads."""
    pytest.importorskip("transformers")
    from transformers import DistilBertConfig, DistilBertForSequenceClassification, LlamaConfig, LlamaForCausalLM

    from frivolous.sources.hf_models import TransformersClassifier

    torch.manual_seed(0)
    tokens = torch.randint(0, 30, (6, 5))
    distilbert = DistilBertForSequenceClassification(
        DistilBertConfig(
            vocab_size=30, dim=16, n_layers=1, n_heads=2, hidden_dim=32, max_position_embeddings=16, num_labels=3
        )
    ).eval()
    llama = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=30,
            hidden_size=16,
            intermediate_size=24,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=16,
        )
    ).eval()
    with torch.no_grad():
        plain = [distilbert(input_ids=tokens).logits, llama(input_ids=tokens).logits.flatten(0, 1)]
    wrapped = [TransformersClassifier(distilbert, "text-classification"), TransformersClassifier(llama, "causal-lm")]
    assert wrapped[0].frivolous_layers == (
        "model.distilbert.transformer.layer.0.ffn.activation",
        "model.pre_classifier.activation",
    )
    assert wrapped[1].frivolous_layers == ("model.model.layers.0.mlp.down_proj.input",)  # not act_fn, the gate half
    seen: dict[str, torch.Tensor] = {}

    def keep(name: str):
        return lambda _module, _args, output: seen.__setitem__(name, output)

    mlp = llama.model.layers[0].mlp
    for name, module in (
        ("relu", distilbert.pre_classifier.activation),
        ("linear", distilbert.pre_classifier),
        ("product", mlp.down_proj.input),
        ("gate", mlp.act_fn),
        ("up", mlp.up_proj),
    ):
        module.register_forward_hook(keep(name))
    with torch.no_grad():
        for model, logits in zip(wrapped, plain):
            assert torch.allclose(model(tokens), logits, atol=1e-6)  # probing changes no answer
    # pre_classifier's own output now reads after the ReLU too (a ReLU of it changes nothing)
    assert (seen["relu"] >= 0).all() and (seen["relu"] == 0).any() and torch.equal(seen["relu"], seen["linear"])
    assert torch.allclose(seen["product"], seen["gate"] * seen["up"])
    mlp.down_proj.input.register_forward_hook(lambda _module, _args, output: torch.zeros_like(output))
    with torch.no_grad():  # removing the product's units is what down_proj reads
        assert not torch.allclose(wrapped[1](tokens), plain[1], atol=1e-4)

    config = DistilBertConfig(vocab_size=30, dim=16, n_layers=1, n_heads=2, hidden_dim=32, max_position_embeddings=16)
    config.architectures = ["DistilBertForSequenceClassification"]
    config.save_pretrained(tmp_path / "distilbert")  # no weights: built from its config
    save_file({"inputs": tokens}, str(tmp_path / "tokens.safetensors"))
    source = resolve_model(f"hf:{tmp_path / 'distilbert'}")
    data = resolve_data(str(tmp_path / "tokens.safetensors"), source)
    table = measure_source(source, data, samplings=1, levels=2, unit="channel", device="cpu", progress=False).table
    assert table["layer"].tolist()[-1] == "model.pre_classifier.activation" and table["shape"].tolist()[-1] == "16"
