"""The training loop.

Every random choice of an epoch (batch order, augmentation, dropout) is drawn
from generators seeded by ``(seed, epoch)``, never carried over from the
previous epoch. So a run resumed from the checkpoint of epoch ``n`` replays
epochs ``n+1, ...`` exactly as an uninterrupted run would: on a CPU, it ends
with the very same weights.

Small datasets are whole tensors on the training device and batches are
slices of them: no host round trip per batch. Losses and accuracies are
summed on the device and read once per epoch.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator, Sequence, Sized
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from frivolous.common.seeding import generator, stream_seed
from frivolous.data.bundle import Augment, DataBundle, Split, TensorSplit
from frivolous.runs.spec import TrainSpec
from frivolous.train.distributed import SINGLE, Shard
from frivolous.train.optim import learning_rate, make_optimizer, set_learning_rate
from frivolous.train.penalty import L2Penalty
from frivolous.train.stopping import TRAIN_EVAL_ACCURACY, EarlyStopping

EVAL_BATCH_SIZE = 1000


@dataclass
class TrainState:
    """What survives a restart besides the tensors."""

    epoch: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    best_accuracy: float = -math.inf
    best_epoch: int = 0
    stopped_early: bool = False
    diverged: bool = False
    """The training loss became non-finite: the run ended there, its weights mean nothing."""

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TrainState:
        """The state from a checkpoint's JSON, which holds more besides (and,
        written by an older version, may lack a field that has a default)."""
        return cls(**{f.name: values[f.name] for f in fields(cls) if f.name in values})


class TrainerLike(Protocol):
    """What a :class:`Callback` is handed: a :class:`Trainer`, or a member of a
    batch (:class:`~frivolous.train.batched.Member`), which stands for its run's own trainer."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    state: TrainState
    best_weights: dict[str, torch.Tensor] | None
    device: torch.device


class Callback:
    """Hooks around the loop: checkpointing and the like plug in here."""

    def on_start(self, trainer: TrainerLike) -> None:
        """Before the first epoch that runs (after any restore)."""

    def on_epoch_end(self, trainer: TrainerLike) -> None:
        """After an epoch and its validation; ``trainer.state`` is up to date."""

    def on_improvement(self, trainer: TrainerLike) -> None:
        """When the monitored accuracy is the best so far (early stopping)."""


@dataclass(frozen=True)
class Evaluation:
    loss: float
    accuracy: float


def _autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    if precision == "bf16":
        return torch.autocast(device_type=device.type, dtype=torch.bfloat16)
    return contextlib.nullcontext()


def batch_indices(
    n: int,
    batch_size: int,
    *,
    order: torch.Generator | None = None,
    shard: Shard = SINGLE,
    whole: bool = False,
    device: torch.device | str = "cpu",
) -> Iterator[torch.Tensor]:
    """The example indices of each batch for this process (on ``device``):
    global batches of ``batch_size`` (shuffled by ``order``), each split
    across the processes. With ``whole``, a last global batch too small to
    give every process an example is dropped, so that every process takes
    the same number of steps."""
    index = (torch.randperm(n, generator=order) if order is not None else torch.arange(n)).to(device)
    for start in range(0, n, batch_size):
        chosen = index[start : start + batch_size]
        if whole and len(chosen) < shard.world:
            return
        part = shard.take(chosen)
        if len(part):
            yield part


def batches(
    split: Split,
    batch_size: int,
    device: torch.device,
    *,
    order: torch.Generator | None = None,
    augment: Augment | None = None,
    augment_generator: torch.Generator | None = None,
    workers: int = 0,
    shard: Shard = SINGLE,
    whole: bool = False,
) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
    """(inputs, labels) batches on ``device`` (see :func:`batch_indices`)."""
    assert isinstance(split, Sized)  # a TensorSplit, or a map-style Dataset with a length
    parts = batch_indices(
        len(split),
        batch_size,
        order=order,
        shard=shard,
        whole=whole,
        device=split.labels.device if isinstance(split, TensorSplit) else "cpu",
    )
    if isinstance(split, TensorSplit):
        for part in parts:
            x, y = split.inputs[part], split.labels[part]
            if augment is not None:
                assert augment_generator is not None  # an augmentation draws from its generator
                x = augment(x, augment_generator)
            yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        return
    loader = DataLoader(
        split, batch_sampler=[part.tolist() for part in parts], num_workers=workers, pin_memory=device.type == "cuda"
    )
    for x, y in loader:
        yield x.to(device, non_blocking=True), y.to(device, non_blocking=True)


def evaluate(
    model: nn.Module,
    split: Split,
    device: torch.device,
    *,
    precision: str = "fp32",
    channels_last: bool = False,
    workers: int = 0,
    shard: Shard = SINGLE,
) -> Evaluation:
    """Loss and top-1 accuracy in eval mode (the model's mode is restored);
    split across the processes of ``shard`` and summed."""
    training = model.training
    model.eval()
    sums = torch.zeros(3, device=device, dtype=torch.float64)  # loss, correct, count
    with torch.inference_mode(), _autocast(device, precision):
        for x, y in batches(split, EVAL_BATCH_SIZE, device, workers=workers, shard=shard):
            if channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            logits = model(x).float()
            sums[0] += F.cross_entropy(logits, y, reduction="sum").double()
            sums[1] += (logits.argmax(1) == y).sum()
            sums[2] += len(y)
    model.train(training)
    loss, correct, count = shard.sum(sums).tolist()
    if count == 0:
        raise ValueError("cannot evaluate on an empty split")
    return Evaluation(loss / count, correct / count)


class Trainer:
    """Trains ``model`` on ``data.train`` as ``spec`` says, validating on
    ``data.val`` each epoch when there is one. Early stopping follows
    :class:`~frivolous.train.stopping.EarlyStopping`; an ``l2`` term
    (:class:`~frivolous.train.penalty.L2Penalty`) is added to the loss."""

    def __init__(
        self,
        model: nn.Module,
        data: DataBundle,
        spec: TrainSpec,
        *,
        seed: int,
        device: torch.device,
        callbacks: Sequence[Callback] = (),
        progress: bool | None = None,
        shard: Shard = SINGLE,
    ) -> None:
        self.stopping = EarlyStopping.of(spec)
        if self.stopping and spec.monitor == "val_accuracy" and data.val is None:
            raise ValueError(f"early stopping on val_accuracy needs a validation split, and {data.name!r} has none")
        self.model = model.to(device)
        if spec.channels_last:
            self.model = self.model.to(memory_format=torch.channels_last)
        self.shard = shard
        # the model that computes the loss: DDP's wrapper averages gradients across processes
        self.network = DistributedDataParallel(self.model) if shard.active else self.model
        self.data = data
        self.spec = spec
        self.seed = seed
        self.device = device
        self.callbacks = list(callbacks)
        self.progress = progress if shard.main else False
        self.optimizer = make_optimizer(self.model, spec)
        self.penalty = L2Penalty.of(self.model, spec)
        self.state = TrainState()
        self.best_weights: dict[str, torch.Tensor] | None = None

    def _epoch(self, epoch: int) -> dict[str, Any]:
        spec, device = self.spec, self.device
        lr = learning_rate(spec, epoch)
        set_learning_rate(self.optimizer, lr)
        torch.manual_seed(stream_seed(self.seed, "dropout", epoch))
        self.model.train()
        sums = torch.zeros(3, device=device, dtype=torch.float64)  # loss, correct, seen
        started = time.perf_counter()
        stream = batches(
            self.data.train,
            spec.effective_batch_size,
            device,
            order=generator(self.seed, "shuffle", epoch),
            augment=self.data.augment,
            augment_generator=generator(self.seed, "augment", epoch),
            workers=spec.workers,
            shard=self.shard,
            whole=True,
        )
        assert isinstance(self.data.train, Sized)  # a TensorSplit, or a map-style Dataset with a length
        total = math.ceil(len(self.data.train) / spec.effective_batch_size)
        bar = tqdm(
            stream,
            total=total,
            desc=f"epoch {epoch}/{spec.epochs}",
            unit="batch",
            leave=False,
            disable=None if self.progress is None else not self.progress,
        )
        for step, (x, y) in enumerate(bar):
            if spec.channels_last and x.ndim == 4:
                x = x.contiguous(memory_format=torch.channels_last)
            with _autocast(device, spec.precision):
                logits = self.network(x)
                loss = F.cross_entropy(logits.float(), y)
            self.optimizer.zero_grad(set_to_none=True)
            (loss if self.penalty is None else loss + self.penalty()).backward()
            self.optimizer.step()
            sums[0] += loss.detach().double() * len(y)
            sums[1] += (logits.detach().argmax(1) == y).sum()
            sums[2] += len(y)
            if step % 25 == 24:
                bar.set_postfix(loss=f"{float(sums[0] / sums[2]):.4f}", acc=f"{float(sums[1] / sums[2]):.3f}")
        loss_sum, correct, seen = self.shard.sum(sums).tolist()
        record = {"epoch": epoch, "lr": lr, "loss": loss_sum / max(seen, 1), "train_accuracy": correct / max(seen, 1)}
        if not math.isfinite(record["loss"]):
            return record | {"seconds": time.perf_counter() - started}  # diverged: nothing to validate
        if self.data.val is not None:
            val = evaluate(
                self.model,
                self.data.val,
                device,
                precision=spec.precision,
                channels_last=spec.channels_last,
                workers=spec.workers,
                shard=self.shard,
            )
            record |= {"val_loss": val.loss, "val_accuracy": val.accuracy}
        if self.stopping is not None and self.stopping.needs_train_evaluation:
            record[TRAIN_EVAL_ACCURACY] = evaluate(
                self.model,
                self.data.train,
                device,
                precision=spec.precision,
                channels_last=spec.channels_last,
                workers=spec.workers,
                shard=self.shard,
            ).accuracy
        record["seconds"] = time.perf_counter() - started
        return record

    def run(self) -> TrainState:
        for callback in self.callbacks:
            callback.on_start(self)
        spec = self.spec
        epochs = range(self.state.epoch + 1, spec.epochs + 1)
        bar = tqdm(
            epochs,
            total=spec.epochs,
            initial=self.state.epoch,
            desc="training",
            unit="epoch",
            disable=None if self.progress is None else not self.progress,
        )
        for epoch in bar:
            if self.state.stopped_early:
                break
            record = self._epoch(epoch)
            self.state.epoch = epoch
            self.state.history.append(record)
            if not math.isfinite(record["loss"]):
                self.state.diverged = True  # a deterministic end, not an error: a rerun would diverge again
                break
            if self.stopping is not None:
                keep_if_best(self, record)
            for callback in self.callbacks:
                callback.on_epoch_end(self)
            bar.set_postfix(
                {k: f"{v:.4f}" for k, v in record.items() if k in ("loss", "train_accuracy", "val_accuracy")}
            )
        if self.stopping is not None and self.best_weights is not None:
            self.model.load_state_dict(self.best_weights)
        return self.state


def keep_if_best(trainer: Any, record: dict[str, Any]) -> None:
    """Follow the early-stopping rule after an epoch: keep the weights of an
    improvement (and tell the callbacks), stop when the rule says so.
    ``trainer`` is a :class:`Trainer`, or anything with its ``stopping``,
    ``state``, ``model``, ``best_weights`` and ``callbacks`` (a member of a
    batch: :mod:`frivolous.train.batched`)."""
    decision = trainer.stopping.decide(record, trainer.state.best_accuracy, trainer.state.best_epoch)
    if decision.improved:
        trainer.state.best_accuracy, trainer.state.best_epoch = decision.value, record["epoch"]
        trainer.best_weights = {n: t.detach().clone() for n, t in trainer.model.state_dict().items()}
        for callback in trainer.callbacks:
            callback.on_improvement(trainer)
    if decision.stop:
        trainer.state.stopped_early = True
