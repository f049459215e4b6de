"""Analyse anyone's model: which layers carry removable or repeated units.

    from frivolous.sources import resolve_model, resolve_data
    from frivolous.analysis import analyze
    source = resolve_model("torchvision:resnet18:DEFAULT")
    analysis = analyze(source, resolve_data("imagefolder:photos", source), "analysis/resnet18")

The command ``frivolous analyze`` does the same from the command line.
"""

from frivolous.analysis.by_layer import measure_by_layer
from frivolous.analysis.pipeline import Analysis, Measured, analyze, measure_source, write_analysis

__all__ = ["Analysis", "Measured", "analyze", "measure_by_layer", "measure_source", "write_analysis"]
