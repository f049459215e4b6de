"""Many runs trained at once, as one batched model.

Runs whose batches come from the same data stream (the same data and seed,
so the same examples in the same order: :func:`~frivolous.train.loop.batch_indices`
seeded by ``(seed, "shuffle", epoch)``) and whose networks have the same
shape differ only in their initial weights and in how they step: optimiser,
learning rate and schedule, momentum, weight decay, early stopping. Such
runs train here together: each parameter of the network is one tensor with
a leading member dimension, every batch goes through all members in a few
batched products, and each member's update is computed as its own run's
would be (to float rounding: a product computed in a batch sums in another
order). A batch may hold several streams (the replicates of a sweep, one
seed each): a stream's members share its batches.

What is shared with :class:`~frivolous.train.loop.Trainer`, not copied:

- **Optimisers**: each member's settings are those of the optimiser
  :func:`~frivolous.train.optim.make_optimizer` builds for its spec, at the
  lr of :func:`~frivolous.train.optim.learning_rate` each epoch; members
  whose optimisers have one structure (contiguous after sorting) step as one
  through :class:`~frivolous.train.stacked_optim.StackedOptimizer`:
  PyTorch's SGD, momentum, Nesterov, Adam and RMSProp arithmetic, operation
  for operation, on their slices of the stacked tensors.
- **Early stopping**: :class:`~frivolous.train.stopping.EarlyStopping`
  decides for each member after each epoch, on the same record keys.
- **Callbacks and checkpoints**: a :class:`Member` looks to a
  :class:`~frivolous.train.loop.Callback` like the run's own trainer
  (``model``, ``optimizer``, ``state``, ``best_weights``, ``device``):
  its model's parameters are views of its slice of the stacked tensors, and
  at a save point its own optimiser (from ``make_optimizer``, never
  stepped) is given its slice of the optimiser state, so that checkpoints
  are written, and read back, in the single run's format. A member can be
  resumed by the single trainer, and a single run's checkpoint by a batch.

A member whose training loss becomes non-finite ends there as diverged (its
NaNs stay in its own slice: every product and update is per member); one
that stops early or reaches its last epoch ends too, and the batch goes on
with the others (re-stacked without it). Every epoch's record is the single
trainer's, except ``seconds``, the epoch's wall time shared out equally
among the members that trained in it, and :data:`BATCH_RUNS`, how many
members trained in it (the run's provenance:
:func:`~frivolous.experiments.run.provenance`).

**Save points.** Writing every member's checkpoint after every epoch can
cost more than the epoch itself for small runs, so callbacks'
``on_epoch_end`` is called at save points only: when :data:`SAVE_SECONDS`
have passed since the last one, at any member's kept checkpoint epoch, and
for each member at its last epoch. A batch killed between save points
resumes from the last one and replays the epochs since, which (every random
choice being seeded per epoch) gives the same weights. Members restored
from checkpoints of different epochs (a batch killed while saving, or runs
trained singly before) start apart: the batch begins at the earliest, and
each other member joins it when it reaches that member's epoch.

**Networks.** The paper's MLP (:class:`~frivolous.zoo.mlp.MLP`) has a
hand-written forward and backward pass in a feature-major layout: the first
layer of all members of a stream is one matrix product with the stream's
batch (for 10,000-dimensional inputs that product is most of the work), the
other layers batched products per member. The 1-D CNN
(:class:`~frivolous.zoo.cnn1d.CNN1d`) computes each convolution as a
product of unfolded windows with the stacked kernels, autograd doing the
backward pass. Any other network whose parameters are its only state (no
buffers, no dropout) runs through :func:`torch.func.vmap` of
:func:`torch.func.functional_call` over the stacked parameters (correct,
but no faster than its runs one by one).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn
from torch.func import functional_call, vmap
from tqdm.auto import tqdm

from frivolous.common.seeding import generator
from frivolous.data.bundle import DataBundle, Split, TensorSplit
from frivolous.runs.spec import TrainSpec
from frivolous.train.loop import EVAL_BATCH_SIZE, Callback, TrainState, batch_indices, keep_if_best
from frivolous.train.optim import learning_rate, make_optimizer
from frivolous.train.stacked_optim import StackedOptimizer, structure
from frivolous.train.stopping import TRAIN_EVAL_ACCURACY, EarlyStopping
from frivolous.zoo.cnn1d import CNN1d
from frivolous.zoo.mlp import MLP

DROPOUT = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d, nn.AlphaDropout, nn.FeatureAlphaDropout)
BATCH_RUNS = "batch_runs"
"""The key an epoch's record gets when the epoch trained in a batch: how many
runs trained together in it. A batch's products sum in another order than a
run's alone, so a reader of the history can tell which epochs those were."""
SAVE_SECONDS = 60.0
"""At most this long between two save points (see the module's docstring)."""
NARROW = 16
"""Inputs narrower than this get their first layer's weight gradient as the transpose of the
product the other way round: the direct product (many rows, few columns) ran 3.5x slower on the
2-core CPU of benchmarks/README.md for the paper's 10-dimensional inputs."""


@dataclass(frozen=True)
class Stream:
    """The data a stream's members train on, and the seed of its batch order."""

    seed: int
    data: DataBundle


class Member:
    """One run in a batch; to its callbacks, the run's own trainer."""

    def __init__(
        self, model: nn.Module, spec: TrainSpec, *, stream: int = 0, callbacks: Sequence[Callback] = ()
    ) -> None:
        self.model = model
        self.spec = spec
        self.stream = stream
        self.callbacks = list(callbacks)
        self.optimizer = make_optimizer(model, spec)
        """The run's own optimiser: it holds the run's state at save points, never steps."""
        self.stopping = EarlyStopping.of(spec)
        self.state = TrainState()
        self.best_weights: dict[str, torch.Tensor] | None = None
        self.device = torch.device("cpu")

    @property
    def done(self) -> bool:
        state = self.state
        return state.diverged or state.stopped_early or state.epoch >= self.spec.epochs


def batchable(model: nn.Module, spec: TrainSpec) -> str | None:
    """Why ``model`` trained as ``spec`` says cannot join a batch, or None if it can."""
    if spec.precision != "fp32":
        return f"precision {spec.precision!r} (batches train in fp32)"
    if spec.l2:
        return "an l2 loss term"
    if next(model.buffers(), None) is not None:
        return f"{type(model).__name__} has buffers (batch norm or the like)"
    if any(isinstance(module, DROPOUT) for module in model.modules()):
        return f"{type(model).__name__} has dropout"
    if not all(parameter.requires_grad for parameter in model.parameters()):
        return f"{type(model).__name__} has frozen parameters"
    return None


class BatchedTrainer:
    """Trains ``members`` together on ``streams`` (member ``i`` on
    ``streams[members[i].stream]``); see the module's docstring."""

    def __init__(
        self,
        members: Sequence[Member],
        streams: Sequence[Stream],
        *,
        device: torch.device,
        progress: bool | None = None,
        save_every: float = SAVE_SECONDS,
    ) -> None:
        if not members:
            raise ValueError("a batch needs at least one member")
        _check(members, streams)
        self.members = list(members)
        self._order = sorted(members, key=lambda m: (m.stream, structure(m.optimizer)))  # each contiguous
        self.streams = [Stream(s.seed, s.data.on(device)) for s in streams]
        self.device = device
        self.progress = progress
        self.save_every = save_every
        self.batch_size = members[0].spec.effective_batch_size
        self.template = copy.deepcopy(members[0].model).to(device)
        self._training: list[Member] = []
        self._network: _Network | None = None
        self._segments: list[_Segment] = []
        self._saved = time.monotonic()

    def run(self, finish: Callable[[Member], None] | None = None) -> list[Member]:
        """Train every member to its end; ``finish`` is called on each member
        as it ends (its model then holds its final weights, as the single
        trainer's would), so that its run can be written while the others go on."""
        for member in self.members:
            member.model.to(self.device)
            member.device = self.device
            for callback in member.callbacks:
                callback.on_start(member)
        for member in [m for m in self.members if m.done]:
            self._end(member, finish)
        waiting = [m for m in self._order if not m.done]
        if not waiting:
            return list(self.members)
        start = min(m.state.epoch for m in waiting)
        last = max(m.spec.epochs for m in waiting)
        bar = tqdm(
            range(start + 1, last + 1),
            total=last,
            initial=start,
            unit="epoch",
            desc=f"training {len(waiting)} runs at once",
            disable=None if self.progress is None else not self.progress,
        )
        for epoch in bar:
            joining = [m for m in waiting if m.state.epoch == epoch - 1]  # resumed from a checkpoint of this epoch
            if joining:
                waiting = [m for m in waiting if m not in joining]
                self._assemble([m for m in self._order if m in self._training or m in joining])
            if not self._training:
                if not waiting:
                    break
                continue
            self._epoch(epoch)
            ended = [m for m in self._training if m.done]
            kept = any(epoch in m.spec.checkpoints for m in self._training)
            every = kept or time.monotonic() - self._saved >= self.save_every
            self._save([m for m in (self._training if every else ended) if not m.state.diverged], every=every)
            if ended:
                for member in ended:
                    self._end(member, finish)
                self._assemble([m for m in self._training if not m.done])
            bar.set_postfix(runs=len(self._training))
        return list(self.members)

    # ---- one epoch

    def _epoch(self, epoch: int) -> None:
        started = time.perf_counter()
        for segment in self._segments:
            segment.set_lr(epoch)
        training, network = self._training, self._network
        assert network is not None  # assembled for the members in training
        splits = [_tensors(self.streams[s].data.train) for s in sorted({m.stream for m in training})]
        losses = torch.zeros(len(training), device=self.device, dtype=torch.float64)
        corrects = torch.zeros(len(training), device=self.device, dtype=torch.int64)
        seen = 0
        orders = [
            batch_indices(
                len(_tensors(self.streams[s].data.train)),
                self.batch_size,
                whole=True,
                device=self.device,
                order=generator(self.streams[s].seed, "shuffle", epoch),
            )
            for s in sorted({m.stream for m in training})
        ]
        for parts in zip(*orders):
            xs = [split.inputs[part] for split, part in zip(splits, parts)]
            ys = [split.labels[part] for split, part in zip(splits, parts)]
            loss, correct = network.train_step(xs, ys)
            for segment in self._segments:
                segment.step(network.grads)
            losses += loss.double() * len(parts[0])  # as the single trainer sums its batches' mean losses
            corrects += correct
            seen += len(parts[0])
        records = [
            {
                "epoch": epoch,
                "lr": learning_rate(m.spec, epoch),
                "loss": loss / max(seen, 1),
                "train_accuracy": right / max(seen, 1),
                BATCH_RUNS: len(training),
            }
            for m, loss, right in zip(training, losses.tolist(), corrects.tolist())
        ]
        healthy = [i for i, record in enumerate(records) if math.isfinite(record["loss"])]
        if self.streams[0].data.val is not None and healthy:
            val_loss, val_accuracy = self._evaluate(lambda data: data.val)
            for i in healthy:
                records[i] |= {"val_loss": val_loss[i], "val_accuracy": val_accuracy[i]}
        evaluated = [
            i for i in healthy if (stopping := training[i].stopping) is not None and stopping.needs_train_evaluation
        ]
        if evaluated:
            _, train_accuracy = self._evaluate(lambda data: data.train)
            for i in evaluated:
                records[i][TRAIN_EVAL_ACCURACY] = train_accuracy[i]
        share = (time.perf_counter() - started) / len(training)
        for member, record in zip(training, records):
            record["seconds"] = share
            member.state.epoch = epoch
            member.state.history.append(record)
            if not math.isfinite(record["loss"]):
                member.state.diverged = True  # as the single trainer: a deterministic end, not an error
            elif member.stopping is not None:
                keep_if_best(member, record)

    def _evaluate(self, split_of: Callable[[DataBundle], Any]) -> tuple[list[float], list[float]]:
        """Mean loss and accuracy of every training member on a split of its stream (eval mode)."""
        training, network = self._training, self._network
        assert network is not None  # assembled for the members in training
        streams = sorted({m.stream for m in training})
        splits = [split_of(self.streams[s].data) for s in streams]
        sums = torch.zeros(len(training), 2, device=self.device, dtype=torch.float64)
        with torch.no_grad():
            for start in range(0, len(splits[0]), EVAL_BATCH_SIZE):
                xs = [split.inputs[start : start + EVAL_BATCH_SIZE] for split in splits]
                ys = [split.labels[start : start + EVAL_BATCH_SIZE] for split in splits]
                loss_sums, correct = network.evaluate(xs, ys)
                sums[:, 0] += loss_sums.double()
                sums[:, 1] += correct
        count = len(splits[0])
        return (sums[:, 0] / count).tolist(), (sums[:, 1] / count).tolist()

    # ---- stacking, saving, ending

    def _assemble(self, members: list[Member]) -> None:
        """Stack the parameters and optimiser states of ``members`` (those
        still training) into a fresh batch; their models' parameters become
        views of their slices."""
        self._hand_out_state()
        for member in self._training:
            if member not in members:
                member.optimizer.state.clear()
        self._training = members
        self._network, self._segments = None, []
        if not members:
            return
        parameters = [list(m.model.parameters()) for m in members]
        stacks = [torch.stack([p.detach() for p in group]) for group in zip(*parameters)]
        for i, member_parameters in enumerate(parameters):
            for parameter, stack in zip(member_parameters, stacks):
                parameter.data = stack.detach()[i]
        counts = [sum(1 for m in members if m.stream == s) for s in sorted({m.stream for m in members})]
        self._network = _network_kind(self.template)(self.template, stacks, counts)
        start = 0
        for stop in range(1, len(members) + 1):
            if stop == len(members) or structure(members[stop].optimizer) != structure(members[start].optimizer):
                self._segments.append(_Segment(members[start:stop], stacks, start))
                start = stop

    def _hand_out_state(self) -> None:
        """Give each training member its slice of the optimiser state (in its own optimiser)."""
        for segment in self._segments:
            segment.hand_out()

    def _save(self, members: list[Member], *, every: bool) -> None:
        """Call ``on_epoch_end`` for ``members`` (``every``: a save point of the whole batch)."""
        if not members:
            return
        self._hand_out_state()
        for member in members:
            for callback in member.callbacks:
                callback.on_epoch_end(member)
        for member in self._training:
            member.optimizer.state.clear()
        if every:
            self._saved = time.monotonic()

    def _end(self, member: Member, finish: Callable[[Member], None] | None) -> None:
        for parameter in member.model.parameters():  # off the batch's tensors, onto its own
            parameter.data = parameter.data.clone()
        if member.stopping is not None and member.best_weights is not None:
            member.model.load_state_dict(member.best_weights)
        if finish is not None:
            finish(member)


def _check(members: Sequence[Member], streams: Sequence[Stream]) -> None:
    first = members[0]
    shapes = [(n, p.shape) for n, p in first.model.named_parameters()]
    for member in members:
        if (
            type(member.model) is not type(first.model)
            or [(n, p.shape) for n, p in member.model.named_parameters()] != shapes
        ):
            raise ValueError(
                f"members of a batch must have the same network shape; {type(member.model).__name__} "
                f"differs from {type(first.model).__name__}'s {shapes}"
            )
        if problem := batchable(member.model, member.spec):
            raise ValueError(f"this run cannot train in a batch: {problem}")
        if member.spec.effective_batch_size != first.spec.effective_batch_size:
            raise ValueError(
                f"members of a batch must share the batch size, got {member.spec.effective_batch_size} "
                f"and {first.spec.effective_batch_size}"
            )
        if not 0 <= member.stream < len(streams):
            raise ValueError(f"member of stream {member.stream}, but the batch has {len(streams)} streams")
        if (
            member.stopping is not None
            and member.spec.monitor == "val_accuracy"
            and streams[member.stream].data.val is None
        ):
            raise ValueError(
                f"early stopping on val_accuracy needs a validation split, and "
                f"{streams[member.stream].data.name!r} has none"
            )
    for stream in streams:
        data = stream.data
        splits = [data.train, data.test] + ([data.val] if data.val is not None else [])
        if data.augment is not None or not all(isinstance(split, TensorSplit) for split in splits):
            raise ValueError(f"a batch needs data held as tensors without augmentation; {data.name!r} is not")
    sizes = {
        (
            len(_tensors(s.data.train)),
            len(_tensors(s.data.test)),
            None if s.data.val is None else len(_tensors(s.data.val)),
        )
        for s in streams
    }
    if len(sizes) > 1:
        raise ValueError(f"the streams of a batch must have splits of the same sizes, got {sorted(sizes, key=str)}")


class _Segment:
    """Contiguous members whose optimisers have one structure (see
    :func:`~frivolous.train.stacked_optim.structure`), stepped as one over
    their slices of the stacked tensors."""

    def __init__(self, members: list[Member], stacks: list[torch.Tensor], start: int) -> None:
        self.members = members
        self.rows = slice(start, start + len(members))
        self.optimizer = StackedOptimizer(
            [stack.detach()[self.rows] for stack in stacks], [member.optimizer for member in members]
        )
        self._take_over()

    def set_lr(self, epoch: int) -> None:
        self.optimizer.set_lr([learning_rate(member.spec, epoch) for member in self.members])

    def step(self, grads: list[torch.Tensor]) -> None:
        self.optimizer.step([grad[self.rows] for grad in grads])

    def hand_out(self) -> None:
        """Each member's optimiser gets its slice of the stacked state (views)."""
        stacked = list(zip(self.optimizer.tensors, self.optimizer.state))
        for j, member in enumerate(self.members):
            for (tensor, state), parameter in zip(stacked, member.model.parameters()):
                if state:
                    member.optimizer.state[parameter] = {
                        key: value[j] if _per_member(value, tensor) else value.clone() for key, value in state.items()
                    }

    def _take_over(self) -> None:
        """Stack the members' optimiser states (restored from checkpoints, or
        handed out by the batch before), and empty the members' optimisers."""
        parameters = [list(m.model.parameters()) for m in self.members]
        for k, (tensor, stacked) in enumerate(zip(self.optimizer.tensors, self.optimizer.state)):
            states = [m.optimizer.state.get(own[k]) for m, own in zip(self.members, parameters)]
            held = [state for state in states if state]
            if not held:
                continue
            if len(held) < len(states):
                raise ValueError("members of a batch must all have optimiser state, or none (mixed checkpoints?)")
            for key, value in held[0].items():
                if _per_member(value, tensor[0]):
                    stacked[key] = torch.stack([state[key] for state in held]).to(tensor.device)
                elif all(torch.equal(state[key], value) for state in held):
                    stacked[key] = value.clone()
                else:  # a step count: the members stepping as one must have taken as many steps
                    raise ValueError(
                        f"members of a batch differ in their optimiser's {key!r}: "
                        f"{[float(state[key]) for state in held]}"
                    )
        for member in self.members:
            member.optimizer.state.clear()


def _tensors(split: Split) -> TensorSplit:
    """A split of a batch's stream, which :func:`_check` made sure is held as tensors."""
    assert isinstance(split, TensorSplit)
    return split


def _per_member(value: Any, like: torch.Tensor) -> bool:
    """Whether an optimiser state entry is per element (stacked with the
    members), not a per-tensor scalar such as Adam's step count."""
    return isinstance(value, torch.Tensor) and value.shape == like.shape and value.ndim > 0


# ---- the members' networks as one


def _network_kind(template: nn.Module) -> type[_Network]:
    """The paper's MLP and the 1-D CNN have batched passes of their own; any other network goes through vmap."""
    if type(template) is MLP:
        return StackedMLP
    if type(template) is CNN1d:
        return StackedCNN1d
    return VmappedNetwork


class _Network:
    """Stacked parameters (members along dim 0, members of a stream
    contiguous, streams in order) and the gradients of the last step."""

    def __init__(self, template: nn.Module, stacks: list[torch.Tensor], counts: list[int]) -> None:
        self.template = template
        self.stacks = stacks
        self.counts = counts
        self.grads: list[torch.Tensor] = []

    def targets(self, ys: list[torch.Tensor]) -> torch.Tensor:
        """Each member's labels, ``(members, examples)``."""
        return torch.cat([y.expand(count, -1) for y, count in zip(ys, self.counts)])

    def train_step(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's mean cross-entropy on its stream's batch and its
        correct predictions (before the step); leaves the gradients in ``grads``."""
        raise NotImplementedError

    def evaluate(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each member's summed cross-entropy and correct predictions on its stream's examples."""
        raise NotImplementedError


class StackedMLP(_Network):
    """The paper's MLP, forward and backward by hand in a feature-major
    layout (``(members, units, examples)``): the first layer of a stream's
    members is one product with the stream's inputs."""

    def __init__(self, template: nn.Module, stacks: list[torch.Tensor], counts: list[int]) -> None:
        super().__init__(template, stacks, counts)
        self.weights, self.biases = stacks[0::2], stacks[1::2]
        self.grads = [torch.zeros_like(stack) for stack in stacks]
        self.bounds = [0]
        for count in counts:
            self.bounds.append(self.bounds[-1] + count)

    def _rows(self, stream: int) -> slice:
        return slice(self.bounds[stream], self.bounds[stream + 1])

    def _forward(self, xs: list[torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor], torch.Tensor]:
        """Flat inputs per stream, hidden activations (after the ReLU), logits ``(members, classes, examples)``."""
        flat = [x.flatten(1) for x in xs]
        weight, bias = self.weights[0], self.biases[0]
        members, units, n = weight.shape[0], weight.shape[1], len(flat[0])
        z = torch.empty(members, units, n, device=weight.device, dtype=weight.dtype)
        for stream, x in enumerate(flat):
            rows = self._rows(stream)
            torch.addmm(bias[rows].reshape(-1, 1), weight[rows].flatten(0, 1), x.T, out=z[rows].view(-1, n))
        hidden = [torch.relu_(z)]
        for weight, bias in zip(self.weights[1:-1], self.biases[1:-1]):
            hidden.append(torch.relu_(torch.baddbmm(bias.unsqueeze(-1), weight, hidden[-1])))
        return flat, hidden, torch.baddbmm(self.biases[-1].unsqueeze(-1), self.weights[-1], hidden[-1])

    def evaluate(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self._forward(xs)[2]
        target = self.targets(ys)
        picked = torch.log_softmax(logits, 1).gather(1, target.unsqueeze(1)).squeeze(1)
        return picked.sum(-1).neg_(), (_argmax(logits) == target).sum(-1)

    def train_step(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        flat, hidden, logits = self._forward(xs)  # logits (members, classes, examples): softmax over dim 1
        target = self.targets(ys).unsqueeze(1)
        n = logits.shape[-1]
        log_p = torch.log_softmax(logits, 1)
        loss = log_p.gather(1, target).squeeze(1).mean(-1).neg_()
        correct = (_argmax(logits) == target.squeeze(1)).sum(-1)
        # d(mean cross-entropy)/d(logits) = (softmax - one-hot) / n, as log_softmax's backward computes it
        inverse = 1.0 / n
        dz = log_p.exp_().mul_(inverse)
        dz.scatter_add_(1, target, dz.new_full(target.shape, -inverse))
        for layer in range(len(self.weights) - 1, 0, -1):
            below = hidden[layer - 1]
            torch.bmm(dz, below.transpose(1, 2), out=self.grads[2 * layer])
            torch.sum(dz, -1, out=self.grads[2 * layer + 1])
            dz = torch.ops.aten.threshold_backward(torch.bmm(self.weights[layer].transpose(1, 2), dz), below, 0)
        for stream, x in enumerate(flat):
            rows = self._rows(stream)
            out = self.grads[0][rows].flatten(0, 1)
            if x.shape[1] < NARROW:  # (x^T dz^T)^T: the direct product is several times slower for few columns
                out.copy_(torch.mm(x.T, dz[rows].flatten(0, 1).T).T)
            else:
                torch.mm(dz[rows].flatten(0, 1), x, out=out)
        torch.sum(dz, -1, out=self.grads[1])
        return loss, correct


def _argmax(logits: torch.Tensor) -> torch.Tensor:
    """``logits.argmax(1)`` for ``(members, classes, examples)``, by comparing
    the classes in turn: an argmax over a short strided dimension is very
    slow on a CPU. As with argmax, the first of equal maxima wins and NaN
    counts as the largest value."""
    best, index = logits[:, 0], torch.zeros_like(logits[:, 0], dtype=torch.long)
    for k in range(1, logits.shape[1]):
        value = logits[:, k]
        better = (value > best) | (value.isnan() & ~best.isnan())
        best = torch.where(better, value, best)
        index.masked_fill_(better, k)
    return index


class _AutogradNetwork(_Network):
    """A network whose batched forward pass (:meth:`logits`) autograd differentiates."""

    def __init__(self, template: nn.Module, stacks: list[torch.Tensor], counts: list[int]) -> None:
        super().__init__(template, stacks, counts)
        for stack in stacks:
            stack.requires_grad_()

    def train_step(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        for stack in self.stacks:
            stack.grad = None
        with torch.enable_grad():
            logits = self.logits(xs)
            target = self.targets(ys)
            losses = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none").view(target.shape)
            loss = losses.mean(-1)
            loss.sum().backward()  # the members are independent: each gets its own loss's gradient
        self.grads = []
        for stack in self.stacks:
            assert stack.grad is not None  # every stacked parameter is in each member's loss
            self.grads.append(stack.grad)
        return loss.detach(), (logits.detach().argmax(-1) == target).sum(-1)

    def evaluate(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.logits(xs)
        target = self.targets(ys)
        losses = F.cross_entropy(logits.flatten(0, 1), target.flatten(), reduction="none").view(target.shape)
        return losses.sum(-1), (logits.argmax(-1) == target).sum(-1)

    def logits(self, xs: list[torch.Tensor]) -> torch.Tensor:
        """``(members, examples, classes)`` for each stream's examples ``xs``."""
        raise NotImplementedError


def _geometry(conv: nn.Conv1d) -> tuple[int, int, int]:
    """Kernel size, stride and padding of ``conv``, padded by a number of positions (as the 1-D CNN's are)."""
    assert not isinstance(conv.padding, str)  # not "same" or "valid"
    return conv.kernel_size[0], conv.stride[0], conv.padding[0]


class StackedCNN1d(_AutogradNetwork):
    """The 1-D CNN (:class:`~frivolous.zoo.cnn1d.CNN1d`), each convolution a
    product of the unfolded input windows with the stacked kernels (the first
    one product per stream, with the stream's inputs), in a channels-last
    layout ``(members, examples, positions, channels)``; autograd backward."""

    def __init__(self, template: nn.Module, stacks: list[torch.Tensor], counts: list[int]) -> None:
        super().__init__(template, stacks, counts)
        self.convolutions = [_geometry(m) for m in template.modules() if isinstance(m, nn.Conv1d)]

    def logits(self, xs: list[torch.Tensor]) -> torch.Tensor:
        weights, biases = self.stacks[0::2], self.stacks[1::2]
        (kernel, stride, padding), bounds = self.convolutions[0], [0]
        first = []
        for x, count in zip(xs, self.counts):
            rows = slice(bounds[-1], bounds[-1] + count)
            bounds.append(rows.stop)
            windows = F.pad(x.flatten(1), (padding, padding)).unfold(-1, kernel, stride)  # (n, positions, kernel)
            kernels = weights[0][rows].flatten(0, 1).flatten(1)  # (count * channels, kernel): one input channel
            z = torch.addmm(biases[0][rows].flatten(), windows.flatten(0, 1), kernels.T)
            first.append(z.view(len(x), windows.shape[1], count, -1).permute(2, 0, 1, 3))
        h = torch.relu(torch.cat(first))  # (members, n, positions, channels)
        for (kernel, stride, padding), weight, bias in zip(self.convolutions[1:], weights[1:], biases[1:]):
            windows = F.pad(h, (0, 0, padding, padding)).unfold(2, kernel, stride)  # (members, n, positions, c, k)
            members, n, positions = windows.shape[:3]
            z = torch.baddbmm(
                bias.unsqueeze(1), windows.reshape(members, n * positions, -1), weight.flatten(2).transpose(1, 2)
            )
            h = torch.relu(z).view(members, n, positions, -1)
        flat = h.transpose(2, 3).flatten(2)  # channel-major, as the network flattens (channels, positions)
        return torch.baddbmm(biases[-1].unsqueeze(1), flat, weights[-1].transpose(1, 2))


class VmappedNetwork(_AutogradNetwork):
    """Any network whose parameters are its only state: ``vmap`` of
    ``functional_call`` over the stacked parameters."""

    def __init__(self, template: nn.Module, stacks: list[torch.Tensor], counts: list[int]) -> None:
        super().__init__(template, stacks, counts)
        self.names = [name for name, _ in template.named_parameters()]

    def _call(self, parameters: list[torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return functional_call(self.template, dict(zip(self.names, parameters)), (x,))

    def logits(self, xs: list[torch.Tensor]) -> torch.Tensor:
        if len(xs) == 1:
            return vmap(self._call, in_dims=(0, None))(self.stacks, xs[0])
        inputs = torch.cat([x.expand(count, *x.shape) for x, count in zip(xs, self.counts)])
        return vmap(self._call, in_dims=(0, 0))(self.stacks, inputs)
