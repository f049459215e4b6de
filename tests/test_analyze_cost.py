"""``frivolous analyze`` says its cost first: the estimate line, what would
cut an estimate over an hour, and progress as plain lines in a log."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode
from typer.testing import CliRunner

import frivolous.measuring.cost as cost_module
from frivolous.analysis import measure_by_layer
from frivolous.cli import app
from frivolous.common.progress import Lines
from frivolous.measuring.cost import distinct_masks, duration, estimate
from frivolous.measuring.graph import GraphNetwork


def cnn() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 16, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(16, 16, 3, padding=1),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(16, 10),
    )


def factory(tmp_path: Path) -> str:
    path = tmp_path / "nets.py"
    path.write_text(
        "import torch\nfrom torch import nn\n\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    return nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3, padding=1), "
        "nn.ReLU(), nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(8, 4))\n"
    )
    return f"{path}:build"


FAST = ["--data", "random:3,8,8", "--examples", "8", "--levels", "3", "--samplings", "1", "--device", "cpu"]


def test_masks_and_durations() -> None:
    assert distinct_masks(7, 3) == 16  # the paper's settings: 5 inner levels x 3 samplings, and removing everything
    assert distinct_masks(3, 1) == 2 and distinct_masks([0.0, 0.25, 1.0], 2) == 3
    assert [duration(s) for s in (40, 600, 3.2 * 3600, 5 * 86400)] == ["40 s", "10 min", "3.2 h", "5.0 days"]


@pytest.mark.parametrize(("levels", "samplings"), [(3, 1), (7, 3)])
def test_the_estimate_counts_what_the_measurement_executes(
    monkeypatch: pytest.MonkeyPatch, levels: int, samplings: int
) -> None:
    """N, in forward passes of every example, against FLOPs counted while
    measuring: the ablated re-runs plus one unablated pass shared by every
    layer (the floor) match it within 5%; the whole measurement, with its
    trace and checks, executes between N and 1.3 N."""
    model, inputs = cnn().eval(), torch.randn(8, 3, 12, 12)
    with FlopCounterMode(display=False) as one, torch.no_grad():
        model(inputs)
    cost = estimate(model, inputs, levels=levels, samplings=samplings, device="cpu")
    assert cost.examples == 8 and cost.masks == distinct_masks(levels, samplings) and len(cost.layers) == 3

    ablated = [0]
    ablate = GraphNetwork.ablate

    def counted(self, capture, keeps):  # type: ignore[no-untyped-def]
        with FlopCounterMode(display=False) as counter:
            out = ablate(self, capture, keeps)
        ablated[0] += counter.get_total_flops()
        return out

    monkeypatch.setattr(GraphNetwork, "ablate", counted)
    with FlopCounterMode(display=False) as whole:
        measure_by_layer(model, inputs, None, device="cpu", progress=False, levels=levels, samplings=samplings)
    floor = ablated[0] / one.get_total_flops() + 1
    assert cost.passes == pytest.approx(floor, rel=0.05)
    assert cost.passes <= whole.get_total_flops() / one.get_total_flops() <= 1.3 * cost.passes


def test_analyze_says_the_cost_first_and_logs_progress(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["analyze", factory(tmp_path), *FAST, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    lines = result.stderr.splitlines()
    assert lines[0].startswith("estimate: ~") and "forward passes of 8 examples (2 layers, 2 masks each)" in lines[0]
    assert "on this machine" in lines[0] and not any("over an hour" in line for line in lines)
    # stderr is not a terminal: progress over layers comes as plain lines, one per layer and the end
    progress = [line for line in lines if line.startswith("layers:")]
    assert progress[-1].startswith("layers: 100%") and "2/2" in progress[-1]
    assert all("\r" not in line for line in progress) and len(progress) >= 3


def test_an_estimate_over_an_hour_says_what_would_cut_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cost_module, "seconds_per_example", lambda seconds, examples: 3600.0)
    result = CliRunner().invoke(app, ["analyze", factory(tmp_path), *FAST, "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    suggestion = result.stderr.splitlines()[1]
    assert suggestion.startswith("over an hour:") and "--examples" in suggestion and "--layers" in suggestion
    assert "--device cuda" in suggestion and "--estimator" not in suggestion
    assert " h on this machine" in result.stderr.splitlines()[0] or "days on this machine" in result.stderr


def test_lines_write_each_state_once() -> None:
    class Sink:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> None:
            self.text += text

        def flush(self) -> None:
            pass

    sink = Sink()
    stream = Lines(sink)  # type: ignore[arg-type]
    for text in ("\rlayers: 1/2", "\rlayers: 1/2", "\n", "\rlayers: 2/2"):
        stream.write(text)
    assert sink.text == "layers: 1/2\nlayers: 2/2\n"
