"""The original architecture of a saved compression, rebuilt from what its
``compressed.json`` names without running or fetching anything the caller
did not ask for.

``compressed.json`` is a file anyone can write, and a model spec with its
builder's options can name code (a factory, a Hugging Face folder's own
modelling file) or files to fetch or read (pretrained weights, a hub name, a
timm ``checkpoint_path``, unpickled by older timm). So :func:`original`
rebuilds only:

- a zoo network (``{"family", "width_factor", "options"}``) with the options
  its family declares (:func:`frivolous.zoo.create` refuses any other);
- ``torchvision:NAME`` and ``timm:NAME`` untrained (a weights tag or
  ``:pretrained`` is refused: it would download), with the builder options
  of :data:`OPTIONS` only;
- ``hf:FOLDER``, a local folder, built from its config alone and with no
  options (:func:`frivolous.sources.hf_models.rebuild`): the folder's own
  code runs only when the caller passes ``trust_remote_code=True``, never
  because the file says so;
- a factory (``file.py:build``), which is code, only when the caller passes
  ``run_factory=True``, and then with its stored options (the caller
  trusts that code).

Anything else is refused with a one-line :class:`~frivolous.sources.SourceError`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Any, NamedTuple

from torch import nn

from frivolous import zoo
from frivolous.sources.base import SourceError


class Allowed(NamedTuple):
    """An option a saved compression may set: the test its value must pass, and what that value is."""

    check: Callable[[Any], bool]
    what: str


def _count(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _rate(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0.0 <= value < 1.0


def _flag(value: Any) -> bool:
    return isinstance(value, bool)


def _size(value: Any) -> bool:
    return _count(value) or (isinstance(value, list) and len(value) == 2 and all(map(_count, value)))


COUNT, RATE = Allowed(_count, "a positive integer"), Allowed(_rate, "a number in [0, 1)")
FLAG, SIZE = Allowed(_flag, "true or false"), Allowed(_size, "a positive integer or [height, width]")

OPTIONS: Mapping[str, Mapping[str, Allowed]] = MappingProxyType(
    {
        "torchvision": MappingProxyType(
            {"num_classes": COUNT, "image_size": COUNT, "aux_logits": FLAG, "dropout": RATE}
        ),
        "timm": MappingProxyType(
            {"num_classes": COUNT, "in_chans": COUNT, "img_size": SIZE, "drop_rate": RATE, "drop_path_rate": RATE}
        ),
        "hf": MappingProxyType({}),
    }
)
"""The builder options a saved compression may set, per scheme: they shape the
architecture, and none of them makes a builder read a file, fetch one or run code."""


def original(
    architecture: Mapping[str, Any], origin: str, *, run_factory: bool = False, trust_remote_code: bool = False
) -> nn.Module:
    """The original (uncompressed) architecture that ``architecture`` (read
    from the file ``origin``) names, with whatever weights its builder gives
    it untrained (see the module's docstring for what is refused)."""
    options = architecture.get("options") or {}
    if not isinstance(options, Mapping):
        raise SourceError(f"{origin}: the architecture's options must be a mapping, got {options!r}")
    if "source" not in architecture:
        return zoo.create(architecture["family"], architecture["width_factor"], **options)
    from frivolous.sources import resolve_model  # imported here: only a named model needs the sources
    from frivolous.sources.hf_models import rebuild
    from frivolous.sources.models import model_scheme

    spec = str(architecture["source"])
    scheme, argument = model_scheme(spec)
    if scheme == "factory":
        if not run_factory:
            raise SourceError(
                f"{origin} rebuilds the network by calling the factory {spec}, which runs its code; "
                "pass run_factory=True if you trust it"
            )
        return resolve_model(spec, options=options).model
    if scheme not in OPTIONS:
        raise SourceError(
            f"{origin} names {spec} ({scheme}), which a saved compression never names; refusing to build it"
        )
    _check_options(scheme, spec, options, origin)
    if scheme == "hf":
        return rebuild(argument, trust_remote_code=trust_remote_code)
    if ":" in argument:
        raise SourceError(
            f"{origin} names {spec}, whose weights would be fetched; a saved compression rebuilds "
            f"{scheme}:NAME untrained and loads its own weights"
        )
    return resolve_model(spec, options=options).model


def _check_options(scheme: str, spec: str, options: Mapping[str, Any], origin: str) -> None:
    """Refuse a stored option outside :data:`OPTIONS`, or of the wrong kind, in one line."""
    allowed = OPTIONS[scheme]
    refused = sorted(set(options) - set(allowed))
    if refused:
        trust = (
            "; trust_remote_code is the caller's to give: drop it from the file and pass "
            "trust_remote_code=True to load_compressed if you trust the folder's code"
            if "trust_remote_code" in refused
            else ""
        )
        raise SourceError(
            f"{origin} builds {spec} with {', '.join(refused)}, which a saved compression may not set "
            f"(it could fetch files or run code); {scheme} models take "
            f"{', '.join(allowed) or 'no options'} from it{trust}"
        )
    for name, value in options.items():
        if not allowed[name].check(value):
            raise SourceError(f"{origin} builds {spec} with {name}={value!r}; it must be {allowed[name].what}")
