"""``hf:NAME_OR_PATH``: a Hugging Face transformers model (``pip install frivolous[hf]``).

A folder saved with ``save_pretrained`` or a hub name already in the local
cache (the hub is asked only when the network allows; with none, a missing
model says where the cache is). Three kinds are measured, read from the
config's ``architectures``: causal language models (``...ForCausalLM``,
``...LMHeadModel``), sequence classifiers (``...ForSequenceClassification``)
and image classifiers (``...ForImageClassification``). A folder that holds a
config but no weights gives the model untrained, built from its config.

The model is wrapped in :class:`TransformersClassifier`, which makes it look
like any classifier to :func:`frivolous.measuring`: one tensor in (token ids,
or pixel values), logits out. A causal LM's prediction is the next token at
every position, so its logits are flattened to one row per (example,
position): removability counts the positions whose next token survives.
The probed layers are the model's activation modules (the MLPs' GELU/SiLU;
a gated MLP's product, which its ``down_proj`` reads, in place of its
``act_fn``; DistilBERT's ReLU after ``pre_classifier``, made a module to
probe); their features are their last axis, which :func:`frivolous.measuring`
detects and measures as the units (see :mod:`frivolous.measuring.axes`). The
tokenizer and the image processor come from the same folder, when it has
them. A saved compression's architecture is rebuilt by :func:`rebuild`
instead: from a local folder's config only, its own code only when the
caller trusts it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, cast

import torch
from torch import nn

from frivolous.measuring.operators import is_activation_module
from frivolous.sources.base import (
    CAUSAL_LM,
    IMAGE_CLASSIFICATION,
    TEXT_CLASSIFICATION,
    ModelRequest,
    ModelSource,
    SourceError,
    one_line,
)

TASKS = {
    "ForCausalLM": CAUSAL_LM,
    "LMHeadModel": CAUSAL_LM,
    "ForSequenceClassification": TEXT_CLASSIFICATION,
    "ForImageClassification": IMAGE_CLASSIFICATION,
}
"""The end of an architecture's name, and what frivolous measures it as."""
WEIGHT_FILES = ("*.safetensors", "*.bin")


class TransformersClassifier(nn.Module):
    """A transformers model seen as a classifier: token ids (or pixel values) in, logits out."""

    def __init__(self, model: nn.Module, task: str) -> None:
        super().__init__()
        self.model, self.task = model, task
        gated = _probe_gated_products(model)
        _probe_inline_relu(model)
        activations = _activation_classes()
        self.frivolous_layers = tuple(
            f"model.{name}"
            for name, module in model.named_modules()
            if isinstance(module, InputProbe)
            or ((is_activation_module(module) or type(module) in activations) and module not in gated)
        )

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        if self.task == IMAGE_CLASSIFICATION:
            return self.model(pixel_values=inputs).logits
        if self.task == CAUSAL_LM:
            return self.model(input_ids=inputs, use_cache=False).logits.flatten(0, 1)
        return self.model(input_ids=inputs).logits


class InputProbe(nn.Identity):
    """What a module reads, as a module of its own (``down_proj.input``): it
    passes its input through, so that probing it probes that input."""


def _read_through_probe(module: nn.Module, args: tuple[Any, ...]) -> tuple[Any, ...]:
    return (module.get_submodule("input")(args[0]), *args[1:])


def _activate_through_probe(module: nn.Module, args: tuple[Any, ...], output: torch.Tensor) -> torch.Tensor:
    return module.get_submodule("activation")(output)


def _probe_gated_products(model: nn.Module) -> set[nn.Module]:
    """Give each gated MLP's ``down_proj`` an :class:`InputProbe` child, ``input``.

    A gated MLP (Llama's, Mistral's, Qwen's: ``down_proj(act_fn(gate_proj(x))
    * up_proj(x))``) has its hidden units in the product that ``down_proj``
    reads, not in ``act_fn``'s output, the gate half of it. A forward
    pre-hook passes ``down_proj``'s input through the probe (a parameterless
    child: the state dict is unchanged), so forward hooks on it measure and
    ablate the product. Returns the ``act_fn`` modules it stands in for."""
    replaced: set[nn.Module] = set()
    for module in list(model.modules()):
        down, act = getattr(module, "down_proj", None), getattr(module, "act_fn", None)
        gates = hasattr(module, "gate_proj") or hasattr(module, "gate_up_proj")
        if not (isinstance(down, nn.Linear) and isinstance(act, nn.Module) and gates):
            continue
        if not isinstance(down._modules.get("input"), InputProbe):  # not probed yet
            down.add_module("input", InputProbe())
            down.register_forward_pre_hook(_read_through_probe)
        replaced.add(act)
    return replaced


def _probe_inline_relu(model: nn.Module) -> None:
    """Give DistilBERT's ``pre_classifier`` an ``nn.ReLU`` child, ``activation``, applied to its output.

    DistilBERT's classifier head calls ``nn.ReLU()(pre_classifier(x))``: a
    module made anew at each call, which no hook can reach. Applying a ReLU
    of its own in a forward hook makes that activation a module that can be
    probed; the head's own ReLU then changes nothing (a ReLU of a ReLU's
    output, or of zeros where units are removed, is itself)."""
    head = getattr(model, "pre_classifier", None)
    if getattr(getattr(model, "config", None), "model_type", None) != "distilbert" or not isinstance(head, nn.Linear):
        return
    if "activation" not in head._modules:
        head.add_module("activation", nn.ReLU())
        head.register_forward_hook(_activate_through_probe)


def _activation_classes() -> set[type]:
    """transformers' own activation modules (``ACT2CLS``), the identity aside."""
    from transformers import activations

    # ACT2CLS maps each name to an activation class or a (class, kwargs) pair.
    classes = {cast(type, value[0] if isinstance(value, tuple) else value) for value in activations.ACT2CLS.values()}
    return classes - {activations.LinearActivation}


def resolve(request: ModelRequest) -> ModelSource:
    try:
        import transformers
    except ImportError:
        raise SourceError("hf:NAME needs the transformers package: pip install 'frivolous[hf]'") from None
    name = request.argument
    config = _config(transformers, name)
    architecture, task = _task(config, name)
    model_class = _auto_class(transformers, task)
    folder = Path(name).expanduser()
    untrained = folder.is_dir() and not any(next(folder.glob(pattern), None) for pattern in WEIGHT_FILES)
    try:
        with _quiet(transformers):
            model = (
                model_class.from_config(config, **request.options)
                if untrained
                else model_class.from_pretrained(name, **request.options)
            )
    except (OSError, ValueError, TypeError) as error:
        raise SourceError(f"cannot load the weights of Hugging Face model {name}: {one_line(error)}") from None
    tokenizer = _optional(transformers.AutoTokenizer, name) if task != IMAGE_CLASSIFICATION else None
    processor = _optional(transformers.AutoImageProcessor, name) if task == IMAGE_CLASSIFICATION else None
    labels = getattr(config, "id2label", None) or {}
    return ModelSource(
        model=TransformersClassifier(model, task),
        label=f"hf:{name}",
        description=f"transformers {architecture} from {name}"
        + (", untrained (built from its config)" if untrained else ""),
        preprocess=(lambda image: processor(images=image, return_tensors="pt")["pixel_values"][0])
        if processor
        else None,
        input_shape=_input_shape(config, task),
        task=task,
        tokenizer=tokenizer,
        categories=tuple(labels[i] for i in sorted(labels)) if task != CAUSAL_LM else (),
    )


def rebuild(folder: str | Path, *, trust_remote_code: bool = False) -> TransformersClassifier:
    """The model saved in the local ``folder``, untrained, built from its
    config alone and wrapped as :func:`resolve` wraps it: the architecture
    :func:`frivolous.compression.load_compressed` loads its own weights into.

    A saved compression names the folder, but only the caller can vouch for
    what it holds: no weights file is read, no file is fetched (a folder
    only, local files only), attention is the plain ``eager`` one (a config
    can name a hub kernel instead), and the folder's own code (its config's
    ``auto_map``) runs only with ``trust_remote_code=True``, and never code
    kept in another repository, which would be downloaded."""
    try:
        import transformers
    except ImportError:
        raise SourceError("hf:NAME needs the transformers package: pip install 'frivolous[hf]'") from None
    path = Path(folder).expanduser()
    if not (path / "config.json").is_file():
        raise SourceError(
            f"hf:{folder} is not a folder with a config.json here; a saved compression is rebuilt "
            "from a local folder only, never downloaded"
        )
    code = _own_code(path)
    if code and not trust_remote_code:
        raise SourceError(
            f"hf:{folder} runs code of its own (auto_map in its config.json: {', '.join(code)}); "
            "pass trust_remote_code=True if you trust that folder's code"
        )
    elsewhere = [reference for reference in code if "--" in reference]
    if elsewhere:
        raise SourceError(
            f"hf:{folder} takes its code from other repositories ({', '.join(elsewhere)}), which would "
            "be downloaded; copy that code into the folder"
        )
    try:
        config = transformers.AutoConfig.from_pretrained(
            str(path), local_files_only=True, trust_remote_code=trust_remote_code
        )
    except (OSError, ValueError, ImportError) as error:
        raise SourceError(f"cannot read the config of Hugging Face model hf:{folder}: {one_line(error)}") from None
    task = _task(config, str(folder))[1]
    try:
        with _quiet(transformers):
            model = _auto_class(transformers, task).from_config(
                config, trust_remote_code=trust_remote_code, attn_implementation="eager"
            )
    except (OSError, ValueError, TypeError, ImportError) as error:
        raise SourceError(f"cannot build Hugging Face model hf:{folder} from its config: {one_line(error)}") from None
    return TransformersClassifier(model, task)


def _own_code(folder: Path) -> list[str]:
    """The code a model folder's ``config.json`` names (its ``auto_map``: ``module.Class`` references)."""
    try:
        config = json.loads((folder / "config.json").read_text())
    except (OSError, ValueError) as error:
        raise SourceError(f"cannot read {folder / 'config.json'}: {one_line(error)}") from None
    named = config.get("auto_map") if isinstance(config, dict) else None
    references = named.values() if isinstance(named, dict) else [named]
    return [str(item) for value in references for item in (value if isinstance(value, list) else [value]) if item]


def local_folder(name: str) -> str:
    """The folder that holds the model ``name``: itself if it is a folder (as
    an absolute path), else its snapshot in the local hub cache (looked up
    without network), else ``name`` as given."""
    path = Path(name).expanduser()
    if path.is_dir():
        return str(path.resolve())
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(name, "config.json")
    return str(Path(cached).parent) if isinstance(cached, str) else name


def _auto_class(transformers: Any, task: str) -> Any:
    """The transformers auto class that builds a model of ``task``."""
    return {
        CAUSAL_LM: transformers.AutoModelForCausalLM,
        TEXT_CLASSIFICATION: transformers.AutoModelForSequenceClassification,
        IMAGE_CLASSIFICATION: transformers.AutoModelForImageClassification,
    }[task]


@contextmanager
def _quiet(transformers: Any) -> Iterator[None]:
    """No progress bar while the weights load (a command's output is its table, or one line of error)."""
    logging = transformers.utils.logging
    shown = logging.is_progress_bar_enabled()
    logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            logging.enable_progress_bar()


def _config(transformers: Any, name: str) -> Any:
    try:
        return transformers.AutoConfig.from_pretrained(name)
    except (OSError, ValueError) as error:
        from huggingface_hub.constants import HF_HUB_CACHE

        raise SourceError(
            f"no Hugging Face model {name!r} here ({one_line(error)}): give a folder saved with save_pretrained, or "
            f"a hub name already in the cache {HF_HUB_CACHE} (download it on a machine with network and copy it)"
        ) from None


def _task(config: Any, name: str) -> tuple[str, str]:
    for architecture in getattr(config, "architectures", None) or ():
        for ending, task in TASKS.items():
            if architecture.endswith(ending):
                return architecture, task
    raise SourceError(
        f"Hugging Face model {name} is a {getattr(config, 'architectures', None) or config.model_type}; "
        "frivolous measures causal language models, sequence classifiers and image classifiers "
        "(its config's architectures must name one)"
    )


def _optional(loader: Any, name: str) -> Any:
    """The tokenizer or image processor saved with the model, or None."""
    try:
        return loader.from_pretrained(name)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _input_shape(config: Any, task: str) -> tuple[int, ...] | None:
    if task == IMAGE_CLASSIFICATION:
        size = getattr(config, "image_size", None)
        side = size if isinstance(size, int) else None
        return (getattr(config, "num_channels", 3), side, side) if side else None
    longest = getattr(config, "max_position_embeddings", None) or getattr(config, "n_positions", None)
    return (int(longest),) if longest else None
