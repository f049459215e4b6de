"""Models and data named on the command line, turned into what :func:`frivolous.measuring` takes.

    source = resolve_model("torchvision:resnet50:IMAGENET1K_V2")
    data = resolve_data("imagefolder:~/photos", source, examples=500)
    fv.measure(source.model, data.inputs)

One resolver per scheme, in one registry per kind (:data:`MODELS`,
:data:`DATA`); each resolver imports the library it needs only when used,
so a missing optional library (timm, transformers) costs nothing until its
scheme is named. Every failure is a :class:`SourceError` whose message is one
line naming the bad value and what would work.
"""

from frivolous.sources.base import DataSource, ModelSource, SourceError
from frivolous.sources.data import DATA, resolve_data
from frivolous.sources.models import MODELS, resolve_model

__all__ = ["DATA", "MODELS", "DataSource", "ModelSource", "SourceError", "resolve_data", "resolve_model"]
