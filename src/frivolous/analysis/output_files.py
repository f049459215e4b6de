"""Every file ``frivolous analyze`` writes, named in one place.

::

    <out>/
      layers.parquet, layers.csv   one row per probed layer (see frivolous.analysis.layer_table)
      curves.parquet               every ablation curve point: layer x sampling x level
      histograms.parquet           |r| pair counts per layer and bin (1000 bins on [0, 1])
      summary.json                 model, data, settings, network means, warnings, time
      figures/                     metrics against depth, |r| histograms, ablation curves (PNG and SVG)
      report.html                  all of it in one self-contained page, written last
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class AnalysisLayout:
    root: Path

    @property
    def layers_parquet(self) -> Path:
        return self.root / "layers.parquet"

    @property
    def layers_csv(self) -> Path:
        return self.root / "layers.csv"

    @property
    def curves(self) -> Path:
        return self.root / "curves.parquet"

    @property
    def histograms(self) -> Path:
        return self.root / "histograms.parquet"

    @property
    def summary(self) -> Path:
        return self.root / "summary.json"

    @property
    def figures(self) -> Path:
        return self.root / "figures"

    @property
    def report(self) -> Path:
        return self.root / "report.html"
