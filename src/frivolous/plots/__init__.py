"""One function per figure type of the paper, drawn from a sweep's results tables.

    from frivolous import plots
    plots.plot_all({"runs": runs, "layers": layers, "curves": curves,
                    "histograms": histograms, "epochs": epochs}, "figures/",
                   paper_figures=preset.paper_figures)

Each figure function takes the tables it needs and an output path stem,
writes ``<stem>.png`` and ``<stem>.svg`` and returns their paths. Only runs
that finished, were kept and did not collapse are drawn; error bars are the
standard deviation over replicates; a variant has the same colour in every
figure of a report. A preset's paper figures (B4, B5, B11 ...) are drawn
first, each from the variants it names, labelled as the paper labels them.
"""

from frivolous.plots.ablation import ablation_curves
from frivolous.plots.aggregate import NothingToPlot
from frivolous.plots.all_figures import plot_all
from frivolous.plots.epochs import metrics_across_epochs
from frivolous.plots.layers import per_layer_vs_width
from frivolous.plots.paper import paper_figure
from frivolous.plots.params import parameter_table, params_vs_width
from frivolous.plots.used import effective_width_vs_width, units_used_vs_width
from frivolous.plots.violins import similarity_violins
from frivolous.plots.width import accuracy_vs_width, metric_vs_width, removability_and_repetition

__all__ = [
    "NothingToPlot",
    "ablation_curves",
    "accuracy_vs_width",
    "effective_width_vs_width",
    "metric_vs_width",
    "metrics_across_epochs",
    "paper_figure",
    "parameter_table",
    "params_vs_width",
    "per_layer_vs_width",
    "plot_all",
    "removability_and_repetition",
    "similarity_violins",
    "units_used_vs_width",
]
