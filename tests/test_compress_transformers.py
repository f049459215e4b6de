"""Known answers for compressing transformers' MLP blocks: units that come in
exact copies (or positive multiples) fold away with the logits unchanged, in
GPT-2, Llama (both ways of treating its bias-free down-projection), BERT and
ViTs (Hugging Face's and timm's); padding is never a sample; a saved
compression loads back; the command line compresses an ``hf:`` folder on a
text file."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

import frivolous as fv
from frivolous.cli import app
from frivolous.compression import load_compressed, save_compressed
from frivolous.compression.transformer_mlp import find_blocks

transformers = pytest.importorskip("transformers")

HIDDEN, WIDTH, VOCAB, LENGTH = 32, 64, 50, 12
HALF = WIDTH // 2


def _gpt2(activation: str = "gelu_new") -> torch.nn.Module:
    """A tiny GPT-2 whose second half of MLP units repeats the first (times 2
    after a ReLU: a positive multiple; a copy before a GELU: a copy after it)."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=VOCAB,
        n_positions=32,
        n_embd=HIDDEN,
        n_layer=2,
        n_head=2,
        n_inner=WIDTH,
        activation_function=activation,
        bos_token_id=0,
        eos_token_id=0,
    )
    model = transformers.GPT2LMHeadModel(config).double().eval()
    scale = 2.0 if activation == "relu" else 1.0
    with torch.no_grad():
        for block in model.transformer.h:
            weight, bias = block.mlp.c_fc.weight, block.mlp.c_fc.bias  # Conv1D: (in, out)
            weight.normal_(0, 0.3), bias.normal_(0, 0.3)
            weight[:, HALF:], bias[HALF:] = scale * weight[:, :HALF], scale * bias[:HALF]
    return model


def _llama() -> torch.nn.Module:
    """A tiny Llama whose second half of gated units is twice the first (gate rows copied, up rows doubled)."""
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=32,
        bos_token_id=0,
        eos_token_id=0,
        pad_token_id=0,
    )
    model = transformers.LlamaForCausalLM(config).double().eval()
    with torch.no_grad():
        for layer in model.model.layers:
            layer.mlp.gate_proj.weight[HALF:] = layer.mlp.gate_proj.weight[:HALF]
            layer.mlp.up_proj.weight[HALF:] = 2.0 * layer.mlp.up_proj.weight[:HALF]
    return model


def _copied_rows(linear: torch.nn.Linear) -> None:
    with torch.no_grad():
        linear.weight[HALF:], linear.bias[HALF:] = linear.weight[:HALF], linear.bias[:HALF]


def _tokens(examples: int = 24, seed: int = 1) -> torch.Tensor:
    return torch.randint(1, VOCAB, (examples, LENGTH), generator=torch.Generator().manual_seed(seed))


def _logits(model: torch.nn.Module, *args, **kwargs) -> torch.Tensor:
    with torch.no_grad():
        output = model(*args, **kwargs)
    return output if isinstance(output, torch.Tensor) else output.logits


@pytest.mark.parametrize("activation", ["gelu_new", "relu"])
def test_gpt2_copies_fold_away_with_unchanged_logits(activation: str) -> None:
    model, ids = _gpt2(activation), _tokens()
    result = fv.compress(model, ids, units=HALF, device="cpu")
    assert list(result.layers["units_after"]) == [HALF, HALF]
    assert result.model.transformer.h[0].mlp.c_fc.weight.shape == (HIDDEN, HALF)
    assert type(result.model) is type(model) and model.transformer.h[0].mlp.c_fc.weight.shape == (HIDDEN, WIDTH)
    assert torch.allclose(_logits(result.model, ids), _logits(model, ids), atol=1e-6, rtol=0)
    assert result.agreement == 1.0 and result.held_out_positions == 6 * LENGTH
    assert result.perplexity_after == pytest.approx(result.perplexity_before, rel=1e-9)
    assert result.mlp_params_before / result.mlp_params_after == pytest.approx(2.0, rel=0.02)
    assert "perplexity" in result.summary() and "MLP parameters" in result.summary()


def test_gpt2_agreement_search_keeps_the_next_tokens() -> None:
    model, ids = _gpt2(), _tokens()
    result = fv.compress(model, ids, agreement=1.0, device="cpu")
    assert result.calibration_agreement == 1.0
    assert all(result.layers["units_after"] <= HALF)


@pytest.mark.parametrize("spread", ["uniform", "error"])
def test_ratio_counts_mlp_parameters(spread: str) -> None:
    model, ids = _gpt2(), _tokens()
    result = fv.compress(model, ids, ratio=1.5, spread=spread, device="cpu")
    assert result.mlp_params_before / result.mlp_params_after == pytest.approx(1.5, rel=0.05)
    if spread == "error":  # the copies cost nothing: every removal is one of them
        assert torch.allclose(_logits(result.model, ids), _logits(model, ids), atol=1e-6, rtol=0)


@pytest.mark.parametrize("intercept", ["bias", "none"])
def test_llama_gated_multiples_fold_with_either_intercept(intercept: str) -> None:
    model, ids = _llama(), _tokens()
    result = fv.compress(model, ids, units=HALF, intercept=intercept, device="cpu")
    mlp = result.model.model.layers[0].mlp
    assert (mlp.gate_proj.out_features, mlp.up_proj.out_features, mlp.down_proj.in_features) == (HALF, HALF, HALF)
    assert (mlp.down_proj.bias is not None) == (intercept == "bias")
    assert torch.allclose(_logits(result.model, ids), _logits(model, ids), atol=1e-6, rtol=0)
    assert result.settings["intercept"] == intercept


def test_bert_classifier_with_padding() -> None:
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=32,
        num_labels=3,
    )
    model = transformers.BertForSequenceClassification(config).double().eval()
    for layer in model.bert.encoder.layer:
        _copied_rows(layer.intermediate.dense)
    ids, mask = _tokens(), torch.ones(24, LENGTH, dtype=torch.long)
    mask[::2, 8:] = 0
    result = fv.compress(model, {"input_ids": ids, "attention_mask": mask}, units=HALF, device="cpu")
    assert [b.name for b in find_blocks(model)] == [f"bert.encoder.layer.{i}.intermediate" for i in range(2)]
    assert list(result.layers["units_after"]) == [HALF, HALF]
    expected = _logits(model, input_ids=ids, attention_mask=mask)
    assert torch.allclose(_logits(result.model, input_ids=ids, attention_mask=mask), expected, atol=1e-6, rtol=0)


def test_hugging_face_and_timm_vits() -> None:
    torch.manual_seed(0)
    config = transformers.ViTConfig(
        image_size=16,
        patch_size=8,
        hidden_size=HIDDEN,
        intermediate_size=WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        num_labels=3,
    )
    hf = transformers.ViTForImageClassification(config).double().eval()
    timm = pytest.importorskip("timm")
    small = timm.models.vision_transformer.VisionTransformer(
        img_size=16, patch_size=8, embed_dim=HIDDEN, depth=2, num_heads=2, mlp_ratio=2, num_classes=3
    )
    small = small.double().eval()
    for model in (hf, small):
        for block in find_blocks(model):
            _copied_rows(model.get_submodule(block.producers[0]))
    images = torch.randn(12, 3, 16, 16, dtype=torch.float64)
    for model in (hf, small):
        result = fv.compress(model, images, units=HALF, device="cpu")
        assert list(result.layers["units_after"]) == [HALF, HALF]
        assert torch.allclose(_logits(result.model, images), _logits(model, images), atol=1e-6, rtol=0)


def test_padding_is_never_a_sample() -> None:
    """Right-padded sequences whose padding holds other tokens fit exactly as
    the same sequences unpadded; counting the padding would change the fit."""
    torch.manual_seed(0)
    config = transformers.GPT2Config(
        vocab_size=VOCAB, n_positions=32, n_embd=HIDDEN, n_layer=2, n_head=2, n_inner=WIDTH, bos_token_id=0
    )
    model = transformers.GPT2LMHeadModel(config).double().eval()
    lengths = [12, 12, 7, 7, 7, 9, 9, 12, 5, 5]
    ids = _tokens(len(lengths))
    mask = (torch.arange(LENGTH) < torch.tensor(lengths)[:, None]).long()
    unpadded = [ids[torch.tensor(lengths) == n][:, :n] for n in sorted(set(lengths), key=lengths.index)]
    padded = [{"input_ids": ids[torch.tensor(lengths) == n], "attention_mask": mask[torch.tensor(lengths) == n]}
              for n in sorted(set(lengths), key=lengths.index)]  # fmt: skip
    judged = _tokens(4, seed=2)
    settings = {"units": 40, "held_out": judged, "device": "cpu", "ridge": 1e-6}
    clean = fv.compress(model, unpadded, **settings).model.state_dict()
    masked = fv.compress(model, padded, **settings).model.state_dict()
    garbage = fv.compress(model, [p["input_ids"] for p in padded], **settings).model.state_dict()
    weight = "transformer.h.1.mlp.c_proj.weight"
    assert torch.allclose(masked[weight], clean[weight], atol=1e-9)
    assert not torch.allclose(garbage[weight], clean[weight], atol=1e-4)


@pytest.mark.parametrize("family", ["gpt2", "llama"])
def test_saved_compression_loads_back(tmp_path: Path, family: str) -> None:
    """Float32, as built from a config: a float64 Llama's rotary frequencies,
    computed in float32 and cast, would differ from a rebuild's in the last bits."""
    model, ids = (_gpt2() if family == "gpt2" else _llama()).float(), _tokens()
    folder = tmp_path / family
    model.save_pretrained(folder)
    block = find_blocks(model)[1].name
    result = fv.compress(model, ids, units={block: 20}, device="cpu")  # Llama's down_proj gains a bias
    out = save_compressed(result, tmp_path / "small", {"source": f"hf:{folder}", "options": {}})
    loaded = load_compressed(out)
    assert loaded.get_submodule(find_blocks(loaded)[1].consumer).weight.shape == (
        result.model.get_submodule(find_blocks(result.model)[1].consumer).weight.shape
    )
    loaded.set_attn_implementation(result.model.config._attn_implementation)  # rebuilt with eager attention
    assert torch.equal(_logits(loaded, ids), _logits(result.model, ids))


def _tokenizer_folder(model: torch.nn.Module, folder: Path) -> None:
    """``model`` saved with a word-level tokenizer of its vocabulary (words ``w1`` ... ``w49``)."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    vocabulary = {"<unk>": 0, **{f"w{i}": i for i in range(1, VOCAB)}}
    tokenizer = Tokenizer(models.WordLevel(vocabulary, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    fast = transformers.PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>")
    model.save_pretrained(folder)
    fast.save_pretrained(folder)


def test_command_line_compresses_an_hf_folder_on_text(tmp_path: Path) -> None:
    model = _gpt2()
    folder = tmp_path / "gpt2"
    _tokenizer_folder(model, folder)
    words = torch.randint(1, VOCAB, (40, 30), generator=torch.Generator().manual_seed(3))
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("\n".join(" ".join(f"w{int(i)}" for i in line) for line in words) + "\n")
    out = tmp_path / "small"
    done = CliRunner().invoke(
        app,
        ["compress", f"hf:{folder}", "--data", str(corpus), "--ratio", "1.5", "--out", str(out), "--device", "cpu"],
    )
    assert done.exit_code == 0, done.output
    assert "perplexity" in done.output and "MLP parameters" in done.output
    saved = json.loads((out / "compressed.json").read_text())
    assert saved["mlp_params_before"] / saved["mlp_params_after"] == pytest.approx(1.5, rel=0.05)
    loaded = load_compressed(out)
    assert loaded.model.transformer.h[0].mlp.c_fc.weight.shape[1] < WIDTH


def test_command_line_compresses_a_classifier_on_lines_of_several_lengths(tmp_path: Path) -> None:
    """Lines of text come in batches of one length each: they are padded into one
    tensor with an attention mask, and the padding is never a sample."""
    torch.manual_seed(0)
    config = transformers.BertConfig(
        vocab_size=VOCAB,
        hidden_size=HIDDEN,
        intermediate_size=WIDTH,
        num_hidden_layers=2,
        num_attention_heads=2,
        max_position_embeddings=32,
        num_labels=3,
    )
    model = transformers.BertForSequenceClassification(config).eval()
    for layer in model.bert.encoder.layer:
        _copied_rows(layer.intermediate.dense)
    folder = tmp_path / "bert"
    _tokenizer_folder(model, folder)
    rng = torch.Generator().manual_seed(4)
    lines = [torch.randint(1, VOCAB, (int(n),), generator=rng) for n in torch.randint(3, 12, (60,), generator=rng)]
    corpus = tmp_path / "lines.txt"
    corpus.write_text("\n".join(" ".join(f"w{int(i)}" for i in line) for line in lines) + "\n")
    out = tmp_path / "small"
    command = ["compress", f"hf:{folder}", "--data", str(corpus), "--units", str(HALF), "--out", str(out)]
    done = CliRunner().invoke(app, [*command, "--device", "cpu"])
    assert done.exit_code == 0, done.output
    saved = json.loads((out / "compressed.json").read_text())
    assert saved["agreement"] == 1.0
    assert [layer["units_after"] for layer in saved["layers"]] == [HALF, HALF]
