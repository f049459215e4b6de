"""load_compressed reads a file anyone can write: it runs no code and fetches
nothing unless the caller asks, whatever ``compressed.json`` says."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file
from torch import nn

from frivolous.compression.saved import load_compressed
from frivolous.sources import SourceError

EVIL_CODE = """
from pathlib import Path

from torch import nn
from transformers import BertConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput

Path({marker!r}).write_text("the model folder's code ran")


class EvilForSequenceClassification(PreTrainedModel):
    config_class = BertConfig

    def __init__(self, config):
        super().__init__(config)
        self.score = nn.Linear(4, 2)
        self.post_init()

    def forward(self, input_ids):
        return SequenceClassifierOutput(logits=self.score(input_ids.float()))
"""


def evil_model_folder(root: Path, marker: Path) -> Path:
    """A Hugging Face model folder whose config (a BERT's, which transformers
    reads without the folder's code) has an ``auto_map`` that points the model
    at its own Python file, which writes ``marker`` when it is imported."""
    folder = root / "evil-model"
    folder.mkdir()
    (folder / "evil.py").write_text(EVIL_CODE.format(marker=str(marker)))
    (folder / "config.json").write_text(
        json.dumps(
            {
                "model_type": "bert",
                "architectures": ["EvilForSequenceClassification"],
                "auto_map": {"AutoModelForSequenceClassification": "evil.EvilForSequenceClassification"},
            }
        )
    )
    return folder


def saved(root: Path, architecture: dict, state: dict[str, torch.Tensor]) -> Path:
    """A saved compression, written by hand as anyone could write one."""
    folder = root / "small"
    folder.mkdir()
    save_file(state, str(folder / "model.safetensors"))
    (folder / "compressed.json").write_text(json.dumps({"architecture": architecture}))
    return folder


EVIL_STATE = {"model.score.weight": torch.ones(2, 4), "model.score.bias": torch.zeros(2)}


def test_a_stored_trust_remote_code_runs_nothing_and_is_refused(tmp_path) -> None:
    marker = tmp_path / "ran"
    model = evil_model_folder(tmp_path, marker)
    out = saved(tmp_path, {"source": f"hf:{model}", "options": {"trust_remote_code": True}}, EVIL_STATE)
    with pytest.raises(SourceError, match="trust_remote_code, which a saved compression may not set") as refused:
        load_compressed(out)
    assert not marker.exists() and "\n" not in str(refused.value)
    with pytest.raises(SourceError, match="trust_remote_code, which a saved compression may not set"):
        load_compressed(out, trust_remote_code=True)  # the caller's trust does not make the file's options acceptable
    assert not marker.exists()


def test_a_folders_own_code_runs_only_when_the_caller_trusts_it(tmp_path) -> None:
    marker = tmp_path / "ran"
    model = evil_model_folder(tmp_path, marker)
    out = saved(tmp_path, {"source": f"hf:{model}"}, EVIL_STATE)
    with pytest.raises(
        SourceError,
        match=r"runs code of its own \(auto_map .*: evil\.EvilForSequenceClassification\); pass trust_remote_code",
    ):
        load_compressed(out)
    assert not marker.exists()
    small = load_compressed(out, trust_remote_code=True)  # what the refusal prevented: the folder's code runs
    assert marker.exists()
    torch.testing.assert_close(small(torch.ones(3, 4)), torch.full((3, 2), 4.0))


def test_code_kept_in_another_repository_is_never_fetched(tmp_path) -> None:
    marker = tmp_path / "ran"
    model = evil_model_folder(tmp_path, marker)
    config = json.loads((model / "config.json").read_text())
    config["auto_map"]["AutoModelForSequenceClassification"] = "someone/else--evil.EvilForSequenceClassification"
    (model / "config.json").write_text(json.dumps(config))
    out = saved(tmp_path, {"source": f"hf:{model}"}, EVIL_STATE)
    with pytest.raises(SourceError, match="takes its code from other repositories .*someone/else--evil"):
        load_compressed(out, trust_remote_code=True)
    assert not marker.exists()


@pytest.mark.parametrize(
    ("source", "options", "message"),
    [
        (
            "timm:resnet18",
            {"num_classes": 10, "checkpoint_path": "/tmp/evil.pth"},
            "builds timm:resnet18 with checkpoint_path, which a saved compression may not set (it could fetch files or "
            "run code); timm models take num_classes, in_chans, img_size, drop_rate, drop_path_rate from it",
        ),
        ("torchvision:resnet18", {"weights_backbone": "DEFAULT"}, "torchvision models take num_classes, image_size"),
        (
            "torchvision:resnet18",
            {"num_classes": "10"},
            "builds torchvision:resnet18 with num_classes='10'; it must be a positive integer",
        ),
        ("timm:resnet18", {"img_size": [32, 0]}, "it must be a positive integer or [height, width]"),
    ],
    ids=["timm checkpoint_path", "torchvision weights_backbone", "a number as text", "a size of 0"],
)
def test_a_stored_option_outside_the_allow_list_is_refused(tmp_path, source: str, options: dict, message: str) -> None:
    out = saved(tmp_path, {"source": source, "options": options}, {})
    with pytest.raises(SourceError, match="compressed.json builds") as refused:
        load_compressed(out)
    assert message in str(refused.value)


@pytest.fixture
def no_network(monkeypatch) -> list[object]:
    """Every attempt to open a connection, refused and recorded; the hub told it is offline."""
    attempts: list[object] = []

    def refuse(self, address) -> None:
        attempts.append(address)
        raise OSError(f"no network in this test (tried {address})")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return attempts


@pytest.mark.parametrize(
    ("source", "message"),
    [
        (
            "hf:some-org/some-model",
            "hf:some-org/some-model is not a folder with a config.json here; a saved compression "
            "is rebuilt from a local folder only, never downloaded",
        ),
        (
            "torchvision:resnet18:IMAGENET1K_V1",
            "names torchvision:resnet18:IMAGENET1K_V1, whose weights would be fetched",
        ),
        ("timm:resnet18:pretrained", "names timm:resnet18:pretrained, whose weights would be fetched"),
    ],
    ids=["hub name", "torchvision weights", "timm pretrained"],
)
def test_nothing_is_downloaded(tmp_path, no_network: list[object], source: str, message: str) -> None:
    out = saved(tmp_path, {"source": source}, {})
    with pytest.raises(SourceError) as refused:
        load_compressed(out)
    assert message in str(refused.value) and not no_network


@pytest.mark.parametrize(
    ("source", "build"),
    [
        ("timm:test_resnet.r160_in1k", lambda: __import__("timm").create_model("test_resnet", num_classes=4)),
        ("torchvision:squeezenet1_1", lambda: __import__("torchvision").models.squeezenet1_1(num_classes=4)),
    ],
    ids=["timm with a pretrained tag", "torchvision"],
)
def test_an_untrained_builder_loads_without_the_network(tmp_path, no_network: list[object], source: str, build) -> None:
    original: nn.Module = build().eval()
    out = saved(tmp_path, {"source": source, "options": {"num_classes": 4}}, original.state_dict())
    small = load_compressed(out)
    x = torch.randn(2, 3, 64, 64)
    with torch.no_grad():
        torch.testing.assert_close(small(x), original(x))
    assert not no_network


def test_a_run_folder_is_never_what_a_saved_compression_names(tmp_path) -> None:
    (tmp_path / "somewhere").mkdir()
    out = saved(tmp_path, {"source": str(tmp_path / "somewhere")}, {})
    with pytest.raises(SourceError, match=r"\(run\), which a saved compression never names; refusing to build it"):
        load_compressed(out)


def test_a_hugging_face_model_is_recorded_by_its_local_folder(tmp_path, monkeypatch, no_network: list[object]) -> None:
    """So that load_compressed finds it from any folder, and never needs the hub."""
    from frivolous.compression.named import architecture_spec

    (tmp_path / "models" / "mine").mkdir(parents=True)
    (tmp_path / "models" / "mine" / "config.json").write_text("{}")
    monkeypatch.chdir(tmp_path)
    assert architecture_spec("hf:models/mine") == f"hf:{tmp_path.resolve() / 'models' / 'mine'}"
    assert architecture_spec("hf:some-org/not-in-the-cache") == "hf:some-org/not-in-the-cache" and not no_network


TINY_CODE = """
from torch import nn
from transformers import BertConfig, PreTrainedModel
from transformers.modeling_outputs import SequenceClassifierOutput


class TinyForSequenceClassification(PreTrainedModel):
    config_class = BertConfig

    def __init__(self, config):
        super().__init__(config)
        self.hidden, self.act, self.score = nn.Linear(6, 12), nn.ReLU(), nn.Linear(12, 3)
        self.post_init()

    def forward(self, input_ids):
        return SequenceClassifierOutput(logits=self.score(self.act(self.hidden(input_ids))))
"""


def test_a_model_with_its_own_code_compresses_when_trusted_and_loads_back_only_when_trusted_again(tmp_path) -> None:
    """The caller's trust at compress time is not written down for whoever loads the folder."""
    from frivolous.compression.named import compress_named
    from frivolous.compression.saved import save_compressed

    model = tmp_path / "tiny"
    model.mkdir()
    (model / "tiny.py").write_text(TINY_CODE)
    (model / "config.json").write_text(
        json.dumps(
            {
                "model_type": "bert",
                "architectures": ["TinyForSequenceClassification"],
                "auto_map": {"AutoModelForSequenceClassification": "tiny.TinyForSequenceClassification"},
            }
        )
    )
    named = compress_named(
        f"hf:{model}", "random:6", options={"trust_remote_code": True}, units=4, examples=100, held_out=50, device="cpu"
    )
    assert named.architecture == {"source": f"hf:{model.resolve()}", "options": {}}
    out = save_compressed(named.result, tmp_path / "small", named.architecture, named.record)
    with pytest.raises(SourceError, match="pass trust_remote_code=True if you trust that folder's code"):
        load_compressed(out)
    small = load_compressed(out, trust_remote_code=True)
    assert small.model.hidden.out_features == 4 == small.model.score.in_features
    x = torch.randn(5, 6)
    with torch.no_grad():
        torch.testing.assert_close(small(x), named.result.model.eval()(x))
