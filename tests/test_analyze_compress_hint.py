"""`frivolous analyze` on a transformer says what compress would keep of its MLP blocks.

A tiny GPT-2 whose MLP units come in exact copies (the second half of each
block's units repeats the first, and every unit matters to the next token)
keeps exactly half of them at 0.99 agreement: the column says so, per probed
layer, and the report points to ``frivolous compress``. A CNN gets no column;
``--no-compress-hint`` skips it; the probes of other transformers map to
their blocks where they read the hidden units.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from pathlib import Path

import pandas as pd
import pytest
import torch
from safetensors.torch import save_file
from typer.testing import CliRunner

import frivolous as fv
from conftest import conv_net
from frivolous.analysis import analyze
from frivolous.analysis.compress_hint import (
    COLUMN,
    CompressHint,
    command_line,
    examples_of,
    probed_blocks,
)
from frivolous.cli import app
from frivolous.compression.transformer_mlp import find_blocks
from frivolous.sources.base import DataSource, ModelSource

transformers = pytest.importorskip("transformers")

HIDDEN, WIDTH, VOCAB, LENGTH, EXAMPLES = 32, 16, 50, 16, 24
HALF = WIDTH // 2
FAST = ["--samplings", "1", "--levels", "3", "--device", "cpu"]
LAYERS = ["model.transformer.h.0.mlp.act", "model.transformer.h.1.mlp.act"]


@pytest.fixture(scope="module")
def gpt2_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A saved GPT-2 (hidden 32, 2 layers, 16 MLP units) whose units 8..15 copy units 0..7, with
    weights large enough that each distinct unit changes next tokens; and token ids to analyse."""
    root = tmp_path_factory.mktemp("gpt2")
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=LENGTH,
        n_embd=HIDDEN,
        n_layer=2,
        n_head=2,
        n_inner=WIDTH,
        activation_function="gelu_new",
        bos_token_id=0,
        eos_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config).eval()
    with torch.no_grad():
        for block in model.transformer.h:
            weight, bias = block.mlp.c_fc.weight, block.mlp.c_fc.bias  # Conv1D: (in, out)
            weight.normal_(0, 0.5), bias.normal_(0, 0.5)
            weight[:, HALF:], bias[HALF:] = weight[:, :HALF], bias[:HALF]
            block.mlp.c_proj.weight.normal_(0, 1.0)
    model.save_pretrained(root / "gpt2")
    tokens = torch.randint(1, VOCAB, (EXAMPLES, LENGTH), generator=torch.Generator().manual_seed(1))
    save_file({"inputs": tokens}, str(root / "tokens.safetensors"))
    return root


def _analyze(folder: Path, out: Path, *extra: str) -> str:
    model, data = f"hf:{folder / 'gpt2'}", str(folder / "tokens.safetensors")
    result = CliRunner().invoke(app, ["analyze", model, "--data", data, "--out", str(out), *FAST, *extra])
    assert result.exit_code == 0, result.output
    return result.output


def test_copies_are_what_compress_folds_away_and_the_report_points_to_it(gpt2_folder: Path, tmp_path: Path) -> None:
    output = _analyze(gpt2_folder, tmp_path)
    table = pd.read_parquet(tmp_path / "layers.parquet")
    assert table["layer"].tolist() == LAYERS and table[COLUMN].tolist() == [HALF, HALF]
    assert pd.read_csv(tmp_path / "layers.csv")[COLUMN].tolist() == [HALF, HALF]
    # The same as compress itself at 0.99 on the same examples
    model = transformers.GPT2LMHeadModel.from_pretrained(gpt2_folder / "gpt2").eval()
    tokens = torch.randint(1, VOCAB, (EXAMPLES, LENGTH), generator=torch.Generator().manual_seed(1))
    assert list(fv.compress(model, tokens, agreement=0.99, device="cpu").widths.values()) == [HALF, HALF]
    hint = json.loads((tmp_path / "summary.json").read_text())["compress_hint"]
    assert hint["mlp_units_before"] == 2 * WIDTH and hint["mlp_units_after"] == WIDTH and hint["many"]
    assert hint["held_out_agreement"] == 1.0 and hint["examples"] == EXAMPLES
    command = (
        f"frivolous compress hf:{gpt2_folder / 'gpt2'} --data {gpt2_folder / 'tokens.safetensors'} "
        "--agreement 0.99 --out small/"
    )
    assert hint["command"] == command
    html = (tmp_path / "report.html").read_text()
    assert "could be ~49% smaller" in html and "0.99 next-token agreement" in html  # 1,104 of 2,144 parameters
    assert f"<code>{command}</code>" in html and html.index("could be ~") < html.index("<h2>Layers</h2>")
    assert "<th>compress keeps</th>" in html and "compress keeps: the units of the layer" in html
    assert "could be ~49% smaller" in " ".join(output.split()) and "compress keeps" in output.replace("\n", " ")


def test_the_hint_is_opt_out(gpt2_folder: Path, tmp_path: Path) -> None:
    _analyze(gpt2_folder, tmp_path, "--no-compress-hint")
    assert COLUMN not in pd.read_parquet(tmp_path / "layers.parquet")
    assert json.loads((tmp_path / "summary.json").read_text())["compress_hint"] is None
    html = (tmp_path / "report.html").read_text()
    assert "frivolous compress" not in html and "compress keeps" not in html


def test_a_cnn_has_no_column(tmp_path: Path) -> None:
    model = ModelSource(model=conv_net().eval(), label="tiny", description="a tiny CNN")
    data = DataSource(inputs=torch.randn(12, 3, 8, 8), label="noise", description="12 noise images", examples=12)
    analysis = analyze(model, data, tmp_path, samplings=1, levels=3, device="cpu", progress=False)
    assert analysis.hint is None and COLUMN not in analysis.table
    assert json.loads((tmp_path / "summary.json").read_text())["compress_hint"] is None
    assert "frivolous compress" not in (tmp_path / "report.html").read_text()


def _hint(units_after: int) -> CompressHint:
    return CompressHint(
        kept={"a.act": units_after},
        units={"a.act": 100},
        units_before=100,
        units_after=units_after,
        params_before=1000,
        params_after=10 * units_after,
        agreement=0.99,
        held_out=5,
        positions=None,
        perplexity_before=None,
        perplexity_after=None,
        examples=20,
        seconds=1.0,
        command=command_line("timm:vit_tiny_patch16_224", "imagefolder:my photos"),
    )


def test_the_pointer_needs_many_prunable_units() -> None:
    assert _hint(81).sentence() == "" and not _hint(81).many
    assert replace(_hint(50), telling=False).sentence() == ""  # noise, or one label for every input: no pointer
    assert replace(_hint(50), agreement=0.94).sentence() == ""  # the width fitted the calibration examples only
    assert replace(_hint(50), agreement=0.95).sentence() != ""
    sentence = _hint(80).sentence()
    assert sentence.startswith("The MLP blocks could be ~20% smaller (their units 100 -> 80) at 0.99 top-1 agreement")
    assert sentence.endswith(
        "frivolous compress timm:vit_tiny_patch16_224 --data 'imagefolder:my photos' --agreement 0.99 --out small/"
    )
    table = pd.DataFrame({"layer": ["a.act", "head"]})
    assert _hint(80).with_column(table)[COLUMN].iloc[0] == 80 and math.isnan(_hint(80).with_column(table)[COLUMN][1])


def test_probes_map_to_the_blocks_whose_units_they_read() -> None:
    """A gated MLP's units are the product down_proj reads (its probe), not act_fn (the gate half);
    BERT's are after intermediate_act_fn; GPT-2's after mlp.act, not its dropout."""
    from frivolous.sources.hf_models import TransformersClassifier

    llama = transformers.LlamaForCausalLM(
        transformers.LlamaConfig(
            vocab_size=30,
            hidden_size=16,
            intermediate_size=24,
            num_hidden_layers=1,
            num_attention_heads=2,
            num_key_value_heads=2,
            max_position_embeddings=16,
        )
    )
    bert = transformers.BertForSequenceClassification(
        transformers.BertConfig(
            vocab_size=30,
            hidden_size=16,
            num_hidden_layers=1,
            num_attention_heads=2,
            intermediate_size=32,
            max_position_embeddings=16,
        )
    )
    gpt2 = transformers.GPT2LMHeadModel(transformers.GPT2Config(vocab_size=30, n_embd=16, n_layer=1, n_head=2))
    for model, task, probed, unit_layer, block in (
        (llama, "causal-lm", "model.model.layers.0.mlp.act_fn", "model.model.layers.0.mlp.down_proj.input", 24),
        (
            bert,
            "text-classification",
            "model.bert.pooler.activation",
            "model.bert.encoder.layer.0.intermediate.intermediate_act_fn",
            32,
        ),
        (gpt2, "causal-lm", "model.transformer.h.0.mlp.dropout", "model.transformer.h.0.mlp.act", 64),
    ):
        wrapped = TransformersClassifier(model, task)
        mapped = probed_blocks(wrapped, [probed, unit_layer], find_blocks(wrapped))
        assert list(mapped) == [unit_layer] and mapped[unit_layer].units == block


def test_text_of_several_lengths_is_padded_for_compress() -> None:
    batches = [torch.ones(3, 4, dtype=torch.long), 2 * torch.ones(2, 6, dtype=torch.long)]
    data = DataSource(inputs=batches, label="t", description="t", examples=5, positions_vary=True)
    inputs = examples_of(data)
    assert isinstance(inputs, dict) and inputs["input_ids"].shape == (5, 6)
    assert inputs["attention_mask"].sum(1).tolist() == [4, 4, 4, 6, 6]
