"""``path/to/file.py:FUNCTION`` or ``package.module:FUNCTION``: your own model.

The function is called with the ``--model-arg`` options as keyword arguments
and must return an ``nn.Module``; its weights come from ``--weights FILE``
(see :mod:`frivolous.sources.weights`), or stay as the function leaves them.
This runs your code, as importing it would: name only files you trust.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from torch import nn

from frivolous.sources.base import ModelRequest, ModelSource, SourceError, one_line


def resolve(request: ModelRequest) -> ModelSource:
    target, sep, function = request.argument.rpartition(":")
    if not sep or not target or not function:
        raise SourceError(
            f"a model factory is path/to/file.py:FUNCTION or package.module:FUNCTION, got {request.argument!r}"
        )
    module = _module(target)
    build = getattr(module, function, None)
    if not callable(build):
        public = sorted(n for n, v in vars(module).items() if callable(v) and not n.startswith("_"))
        raise SourceError(f"{target} has no function {function!r}; its functions and classes: {', '.join(public)}")
    try:
        model = build(**request.options)
    except Exception as error:
        raise SourceError(f"model factory {request.argument} raised {one_line(error)}") from None
    if not isinstance(model, nn.Module):
        raise SourceError(f"model factory {request.argument} returned a {type(model).__name__}, not a torch nn.Module")
    return ModelSource(
        model=model, label=request.argument, description=f"{type(model).__name__} from {request.argument}"
    )


def _module(target: str) -> ModuleType:
    if target.endswith(".py"):
        path = Path(target).expanduser().resolve()
        if not path.is_file():
            raise SourceError(f"model factory file {target} does not exist")
        # A name of its own per file, so two factories called model.py never share a module.
        name = f"frivolous_factory_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module  # dataclasses and pickling look a class's module up here
        try:
            spec.loader.exec_module(module)
        except Exception as error:
            del sys.modules[name]
            raise SourceError(f"importing model factory file {target} raised {one_line(error)}") from None
        return module
    try:
        return importlib.import_module(target)
    except ModuleNotFoundError as error:
        raise SourceError(
            f"cannot import {target!r} for the model factory: {one_line(error)} "
            "(a file must end in .py; a module must be importable)"
        ) from None
    except Exception as error:
        raise SourceError(f"importing {target} raised {one_line(error)}") from None
