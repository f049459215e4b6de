"""``timm:NAME[:pretrained]``: a model of PyTorch Image Models (``pip install frivolous[timm]``).

``NAME`` is any of ``timm.list_models()``, with a pretrained tag if you like
(``resnet50.a1_in1k``). Without ``:pretrained`` the model is built untrained,
as ``torchvision:NAME`` without weights is, so that nothing is fetched unless
asked for; with it, timm loads its weights through its own cache (the
Hugging Face hub cache), and with no network a missing file says where the
cache is. The preprocessing is the model's own data config
(``timm.data.resolve_model_data_config``: resize, crop, mean and std), at
``img_size`` when that option is given.
"""

from __future__ import annotations

from frivolous.sources.base import ModelRequest, ModelSource, SourceError, closest, one_line

PRETRAINED = "pretrained"


def resolve(request: ModelRequest) -> ModelSource:
    try:
        import timm
        from timm.data import create_transform, resolve_model_data_config
    except ImportError:
        raise SourceError("timm:NAME needs the timm package: pip install 'frivolous[timm]'") from None
    name, _, flag = request.argument.partition(":")
    if flag not in ("", PRETRAINED):
        raise SourceError(f"timm:NAME takes only ':{PRETRAINED}' after the name, got {flag!r}")
    architecture = name.partition(".")[0]
    if not timm.is_model(architecture):
        raise SourceError(
            f"unknown timm model {name!r}{closest(architecture, timm.list_models())}; see timm.list_models()"
        )
    try:
        model = timm.create_model(name, pretrained=bool(flag), **request.options)
    except (TypeError, ValueError) as error:
        raise SourceError(f"timm model {name} with {dict(request.options)}: {one_line(error)}") from None
    except Exception as error:
        from huggingface_hub.constants import HF_HUB_CACHE

        raise SourceError(
            f"timm cannot load the pretrained weights of {name} ({one_line(error)}); with no network they must "
            f"already be in the Hugging Face cache {HF_HUB_CACHE}: run timm.create_model({name!r}, pretrained=True) "
            "on a machine with network and copy that folder here (or set HF_HOME)"
        ) from None
    size = request.options.get("img_size")  # timm's data config keeps the pretrained size otherwise
    side = (size, size) if isinstance(size, int) else tuple(size) if size else None
    config = resolve_model_data_config(model, args={"input_size": (3, *side)} if side else None)
    return ModelSource(
        model=model,
        label=f"timm:{request.argument}",
        description=f"timm {name}, {'pretrained' if flag else 'untrained'}",
        preprocess=create_transform(**config),
        input_shape=tuple(config["input_size"]),
    )
