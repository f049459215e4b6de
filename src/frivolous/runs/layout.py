"""Every file a run writes, named in one place, and the run folder's name.

A run's folder is ``<family>-<hash>``, the hash taken over the canonical
spec with default values left out: a spec written with or without a default
value is the same run, and adding a field with a default to a later version
of frivolous does not rename existing runs.

::

    <root>/<family>-<hash>/
      spec.yaml                 the full spec (defaults included)
      status.json               {"state": "trained", ..., "files": {name: sha256}}, written last,
                                atomically; "files" vouches for the weights and history
                                (see experiments/integrity.py)
      weights.safetensors       the final weights (after early stopping: the best)
      history.json              per-epoch loss, accuracies, learning rate, seconds
      checkpoints/
        last.json               epoch, optimizer settings, early-stopping state, history,
                                and the name of the tensor file it belongs with:
        last-<n>.safetensors    model and optimizer tensors at the end of epoch n
        best.safetensors        weights of the best epoch of early stopping (validation or training accuracy)
        epoch-<n>.safetensors   weights kept at the spec's checkpoint epochs (0: initialisation)
      measure/                  the trained network's measurements:
        layers.parquet, curves.parquet, histograms.parquet
        summary.json            written last, atomically
      measure-init/             the same for the network at initialisation (the control)
      measure-epoch-<n>/        the same at a kept checkpoint epoch
      effective-width.json      units kept per layer by fv.compress at the spec's
                                measure.effective_width agreement (when set)
      record.json               the run's row of a sweep's results table, written last
      failed.json               why the last attempt failed (removed when it succeeds)
      run.lock                  locked (flock) by the process completing the run; stays after it
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from frivolous.runs.spec import RunSpec

HASH_LENGTH = 12


def spec_hash(spec: RunSpec) -> str:
    canonical = json.dumps(spec.model_dump(mode="json", exclude_defaults=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:HASH_LENGTH]


def run_name(spec: RunSpec) -> str:
    return f"{spec.model.family}-{spec_hash(spec)}"


@dataclass(frozen=True)
class RunLayout:
    """The paths of one run folder."""

    root: Path

    @classmethod
    def of(cls, spec: RunSpec, root: str | Path) -> RunLayout:
        return cls(Path(root) / run_name(spec))

    @property
    def spec(self) -> Path:
        return self.root / "spec.yaml"

    @property
    def status(self) -> Path:
        return self.root / "status.json"

    @property
    def weights(self) -> Path:
        return self.root / "weights.safetensors"

    @property
    def history(self) -> Path:
        return self.root / "history.json"

    @property
    def checkpoints(self) -> Path:
        return self.root / "checkpoints"

    @property
    def last_state(self) -> Path:
        return self.checkpoints / "last.json"

    @property
    def best_weights(self) -> Path:
        return self.checkpoints / "best.safetensors"

    def epoch_weights(self, epoch: int) -> Path:
        return self.checkpoints / f"epoch-{epoch}.safetensors"

    def measurements(self, stage: str = "trained") -> Path:
        """The folder of one stage's measurements: ``trained``, ``init`` or ``epoch-<n>``."""
        return self.root / ("measure" if stage == "trained" else f"measure-{stage}")

    def measure_table(self, kind: str, stage: str = "trained") -> Path:
        return self.measurements(stage) / f"{kind}.parquet"

    def measure_summary(self, stage: str = "trained") -> Path:
        return self.measurements(stage) / "summary.json"

    @property
    def effective_width(self) -> Path:
        return self.root / "effective-width.json"

    @property
    def record(self) -> Path:
        return self.root / "record.json"

    @property
    def failure(self) -> Path:
        return self.root / "failed.json"

    @property
    def lock(self) -> Path:
        return self.root / "run.lock"

    def measurement_folders(self) -> list[Path]:
        """The measurement folders present, of every stage."""
        return sorted(p for p in self.root.glob("measure*") if p.is_dir())
