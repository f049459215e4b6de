"""Every experiment of the paper as a preset sweep, at two scales.

``paper``: the paper's settings: widths 1/4 to 4, 3 replicates, the
appendix's recipes, and the learning rate and batch size selected per width
on validation accuracy where the paper tuned them ("Best" in its Table 1).
``quick``: the same code path with fewer epochs, examples and replicates,
for a CPU or a first look.

Recipes follow appendix A.1. Where it is silent or inconsistent, the choice
is written beside the preset (for instance the ResNets' initial learning
rate, which the appendix gives as 1, is 0.1 here, the value of the recipe it
cites, with 0.05 and 0.2 as candidates at paper scale).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from frivolous.experiments import costs
from frivolous.experiments.sweep import SweepSpec

WIDTHS = (0.25, 0.5, 1, 2, 4)
QUICK_WIDTHS = (0.25, 1, 4)
SCALES = ("quick", "paper")

@dataclass(frozen=True)
class Preset:
    name: str
    figures: str
    title: str
    varies: str
    build: Callable[[str], SweepSpec] | None
    """scale -> sweep; None for a preset that needs no training."""
    data: str = ""

    def sweep(self, scale: str) -> SweepSpec:
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
        if self.build is None:
            raise ValueError(f"preset {self.name!r} trains nothing")
        return self.build(scale)

    def estimate(self, scale: str) -> str:
        """Runs and an order of magnitude of their CPU time (:mod:`frivolous.experiments.costs`)."""
        if self.build is None:
            return "no training"
        return costs.describe([run.spec for run in self.sweep(scale).expand()])


def _sweep(scale: str, *, model: dict, data: dict, train: dict, variants: dict | None = None,
           grid: dict | None = None, select: dict | None = None, measure: dict | None = None,
           quick_train: dict | None = None, quick_measure: dict | None = None, quick_data: dict | None = None,
           quick_widths: tuple[float, ...] = QUICK_WIDTHS) -> SweepSpec:  # fmt: skip
    paper = scale == "paper"
    values: dict[str, Any] = {
        "model": model, "data": data | ({} if paper else quick_data or {}),
        "train": train | ({} if paper else quick_train or {}),
        "measure": (measure or {}) | ({} if paper else quick_measure or {}),
        "grid": {"model.width_factor": list(WIDTHS if paper else quick_widths)} | (grid or {}),
        "variants": variants or {},
        "replicates": 3 if paper else 2,
    }  # fmt: skip
    if paper and select:  # the selection decides these, whatever a variant would set
        values["grid"] |= select
        values["select"] = {"over": list(select), "by": "val_accuracy"}
        values["variants"] = {name: {k: v for k, v in changes.items() if k not in select}
                              for name, changes in values["variants"].items()}  # fmt: skip
    return SweepSpec.from_dict(values)


# ---- MLPs on the teacher data (appendix A.1: 128 units, normal init sigma 0.01, 50 epochs, 1,000 examples)

SIGMAS = {"σ=0.001": 0.001, "σ=0.01": 0.01, "σ=0.1": 0.1, "σ=1": 1.0}
MLP_SELECT = {"train.lr": [0.001, 0.01, 0.1], "train.batch_size": [32, 128]}
MLP_QUICK = {"epochs": 20}


def _mlp(scale: str, input_dim: int, variants: dict) -> SweepSpec:
    return _sweep(
        scale,
        model={"family": "mlp", "init": "normal", "init_std": 0.01},
        data={"name": "teacher", "input_dim": input_dim, "n_train": 1000},
        train={"optimizer": "momentum", "lr": 0.01, "batch_size": 32, "epochs": 50},
        variants=variants, select=MLP_SELECT, quick_train=MLP_QUICK, quick_widths=WIDTHS,
    )  # fmt: skip


def _sigmas() -> dict[str, dict]:
    return {name: {"model.init_std": sigma} for name, sigma in SIGMAS.items()}


def _optimizers() -> dict[str, dict]:
    return {"momentum": {}, "SGD": {"train.optimizer": "sgd", "train.lr": 0.1},
            "Adam": {"train.optimizer": "adam", "train.lr": 0.001}}  # fmt: skip


def _mlp_teacher(scale: str) -> SweepSpec:
    """The default main job: the MLP experiments of B4, B5 and B11 in one sweep."""
    variants = {f"10-dim, {n}": {"data.input_dim": 10, **c} for n, c in _sigmas().items()}
    variants |= {f"10k-dim, {n}": {"data.input_dim": 10_000, **c} for n, c in _sigmas().items()}
    variants |= {f"10k-dim, {n}": {"data.input_dim": 10_000, **c} for n, c in _optimizers().items() if c}
    return _mlp(scale, 10, variants)


# ---- CIFAR-10 (AlexNet: Glorot, momentum 0.9, lr 0.01 decayed 5% per epoch, batch 128, early stopping)

ALEXNET_TRAIN = {"optimizer": "momentum", "lr": 0.01, "batch_size": 128, "epochs": 100, "schedule": "exponential",
                 "gamma": 0.95, "early_stopping": True, "patience": 10}  # fmt: skip
ALEXNET_SELECT = {"train.lr": [0.005, 0.01, 0.02], "train.batch_size": [64, 128]}
RESNET56_TRAIN = {"optimizer": "momentum", "lr": 0.1, "batch_size": 128, "epochs": 182, "schedule": "step",
                  "milestones": [91, 136], "gamma": 0.1, "weight_decay": 2e-4}  # fmt: skip
RESNET56_SELECT = {"train.lr": [0.05, 0.1, 0.2]}
CIFAR_MEASURE = {"max_examples": 10_000}
QUICK_MEASURE = {"max_examples": 500, "max_samples": 20_000}
CIFAR_QUICK_DATA = {"n_train": 2000, "n_val": 500}
CIFAR_QUICK_WIDTHS = (0.25, 0.5, 1, 2)


def _alexnet(scale: str, variants: dict, *, select: bool = True) -> SweepSpec:
    return _sweep(
        scale, model={"family": "alexnet", "init": "glorot_normal"}, data={"name": "cifar10"}, train=ALEXNET_TRAIN,
        variants=variants, select=ALEXNET_SELECT if select else None, measure=CIFAR_MEASURE,
        quick_train={"epochs": 2, "patience": None}, quick_measure=QUICK_MEASURE, quick_data=CIFAR_QUICK_DATA,
        quick_widths=CIFAR_QUICK_WIDTHS,
    )  # fmt: skip


def _inits(kind: str) -> dict[str, dict]:
    return {name.capitalize() if name != "lecun" else "LeCun": {"model.init": f"{name}_{kind}"}
            for name in ("glorot", "he", "lecun")}  # fmt: skip


def _regularisers() -> dict[str, dict]:
    return {
        "none": {},
        "augmentation": {"data.augment": True},
        "dropout": {"model.dropout": 0.5},
        "weight decay": {"train.weight_decay": 5e-4},
        "all": {"data.augment": True, "model.dropout": 0.5, "train.weight_decay": 5e-4},
    }


def _cifar_families(label_variants: dict[str, dict]) -> dict[str, dict]:
    """AlexNet and ResNet56 variants in one sweep: the ResNet switches the
    family and its whole recipe (nulls drop AlexNet-only settings)."""
    resnet = {"model.family": "resnet56", "data.augment": True,
              **{f"train.{k}": v for k, v in RESNET56_TRAIN.items()},
              "train.early_stopping": None, "train.patience": None}  # fmt: skip
    variants = {}
    for label, changes in label_variants.items():
        variants[f"AlexNet{label}"] = dict(changes)
        # the paper trained its random-label ResNets without augmentation
        variants[f"ResNet56{label}"] = resnet | changes | ({"data.augment": None} if "data.random_labels" in changes
                                                            else {})  # fmt: skip
    return variants


def _random_labels(scale: str) -> SweepSpec:
    sweep = _alexnet(scale, _cifar_families({"": {}, ", random labels": {"data.random_labels": True}}), select=False)
    return _quicken_resnet(sweep, scale)


def _k_factor(scale: str) -> SweepSpec:
    ks = {f", k={k}": {"train.k": v} for k, v in (("1/4", 0.25), ("1", 1.0), ("4", 4.0))}
    return _quicken_resnet(_alexnet(scale, _cifar_families(ks), select=False), scale)


def _quicken_resnet(sweep: SweepSpec, scale: str) -> SweepSpec:
    """At quick scale the ResNet variants get the quick epochs too."""
    if scale == "paper":
        return sweep
    variants = {name: changes | ({"train.epochs": 2, "train.milestones": [1]}
                                 if changes.get("model.family") == "resnet56" else {})
                for name, changes in sweep.variants.items()}  # fmt: skip
    return SweepSpec.from_dict(sweep.model_dump(mode="json") | {"variants": variants})


def _resnet56(scale: str) -> SweepSpec:
    return _sweep(
        scale, model={"family": "resnet56", "init": "glorot_normal"}, data={"name": "cifar10", "augment": True},
        train=RESNET56_TRAIN, select=RESNET56_SELECT, measure=CIFAR_MEASURE,
        quick_train={"epochs": 2, "milestones": [1]}, quick_measure=QUICK_MEASURE, quick_data=CIFAR_QUICK_DATA,
        quick_widths=CIFAR_QUICK_WIDTHS,
    )  # fmt: skip


# ---- ImageNet (ResNet18: Glorot, momentum, batch 256, step decay at 30/60/80 of 90 epochs, wd 1e-4)

RESNET18_TRAIN = {"optimizer": "momentum", "lr": 0.1, "batch_size": 256, "epochs": 90, "schedule": "step",
                  "milestones": [30, 60, 80], "gamma": 0.1, "weight_decay": 1e-4, "workers": 8,
                  "precision": "bf16", "channels_last": True}  # fmt: skip
IMAGENET_MEASURE = {"max_examples": 10_000, "max_samples": 50_000}
IMAGENET_QUICK = {"epochs": 1, "milestones": [1]}


def _resnet18(scale: str, variants: dict | None = None, *, past_convergence: bool = False) -> SweepSpec:
    train = RESNET18_TRAIN | ({"checkpoints": [60, 70, 80, 90]} if past_convergence else {})
    return _sweep(
        scale, model={"family": "resnet18", "init": "glorot_normal"}, data={"name": "imagenet"}, train=train,
        variants=variants, measure=IMAGENET_MEASURE,
        quick_train=IMAGENET_QUICK | ({"checkpoints": [1]} if past_convergence else {}),
        quick_measure={"max_examples": 500, "max_samples": 10_000}, quick_data={"n_train": 20_000},
    )  # fmt: skip


def _resnet18_k(scale: str) -> SweepSpec:
    return _resnet18(scale, {f"k={k}": {"train.k": v} for k, v in (("1/4", 0.25), ("1", 1.0), ("4", 4.0))})


# ---- Inception-v3 (truncated normal sigma 0.1, RMSProp, lr decayed 4% every 8 epochs, wd 4e-5)

INCEPTION_TRAIN = {"optimizer": "rmsprop", "lr": 0.045, "batch_size": 256, "epochs": 90, "schedule": "exponential",
                   "gamma": 0.96, "every": 8, "alpha": 0.9, "momentum": 0.9, "eps": 1.0, "weight_decay": 4e-5,
                   "workers": 8, "precision": "bf16", "channels_last": True}  # fmt: skip


def _inception(scale: str, *, only: str | None = None) -> SweepSpec:
    model = {"family": "inception_v3", "init": "truncated_normal", "init_std": 0.1} | ({"only": only} if only else {})
    sweep = _sweep(
        scale, model=model, data={"name": "imagenet", "image_size": 299}, train=INCEPTION_TRAIN,
        measure=IMAGENET_MEASURE, quick_train=IMAGENET_QUICK | {"milestones": []},
        quick_measure={"max_examples": 500, "max_samples": 10_000}, quick_data={"n_train": 20_000},
    )  # fmt: skip
    if only is None and scale == "paper":  # the paper could not train 2x and 4x
        grid = sweep.grid | {"model.width_factor": (0.25, 0.5, 1)}
        sweep = SweepSpec.from_dict(sweep.model_dump(mode="json") | {"grid": grid})
    return sweep


# ---- beyond the paper

def _mnist1d(scale: str) -> SweepSpec:
    return _sweep(
        scale, model={"family": "cnn1d", "init": "he_normal"}, data={"name": "mnist1d", "num_samples": 5000},
        train={"optimizer": "adam", "lr": 0.003, "batch_size": 100, "epochs": 40, "early_stopping": True},
        variants=_inits("normal"), measure={"max_examples": 1000},
        quick_train={"epochs": 10}, quick_measure={"max_samples": 20_000},
    )  # fmt: skip


PRESETS: MappingProxyType[str, Preset] = MappingProxyType({p.name: p for p in (
    Preset("mlp-teacher", "B4, B5, B11", "MLPs on the teacher data: init sigma, input dimension, optimiser",
           "width x (input dim 10 / 10,000) x (sigma 0.001..1) + optimisers", _mlp_teacher, "teacher"),
    Preset("mlp-sigma-10", "B5", "MLPs on 10-dim teacher data across normal-init sigmas",
           "width x sigma", lambda s: _mlp(s, 10, _sigmas()), "teacher"),
    Preset("mlp-sigma-10k", "B4", "MLPs on 10,000-dim teacher data across normal-init sigmas",
           "width x sigma", lambda s: _mlp(s, 10_000, _sigmas()), "teacher"),
    Preset("mlp-optimizers", "B11", "MLPs on 10,000-dim teacher data: momentum, SGD, Adam",
           "width x optimiser", lambda s: _mlp(s, 10_000, _optimizers()), "teacher"),
    Preset("alexnet-inits", "1c, 2, 3, 6", "AlexNet on CIFAR-10 with Glorot, He and LeCun normal inits",
           "width x init", lambda s: _alexnet(s, _inits("normal")), "cifar10"),
    Preset("alexnet-uniform-inits", "B3", "AlexNet on CIFAR-10 with Glorot, He and LeCun uniform inits",
           "width x init", lambda s: _alexnet(s, _inits("uniform")), "cifar10"),
    Preset("alexnet-regularisers", "B10", "AlexNet: none, augmentation, dropout, weight decay, all",
           "width x regulariser", lambda s: _alexnet(s, _regularisers()), "cifar10"),
    Preset("random-labels", "1b, 5", "AlexNet and ResNet56 on true and on random labels",
           "width x network x labels", _random_labels, "cifar10"),
    Preset("resnet56-layers", "B6", "ResNet56 on CIFAR-10, per layer", "width", _resnet56, "cifar10"),
    Preset("k-factor-cifar", "B13", "AlexNet and ResNet56 with the lr x batch factor k in {1/4, 1, 4}",
           "width x network x k", _k_factor, "cifar10"),
    Preset("resnet18-k", "B12", "ResNet18 on ImageNet with k in {1/4, 1, 4}", "width x k", _resnet18_k, "imagenet"),
    Preset("resnet18-imagenet", "1a, 4, B7, B2", "ResNet18 on ImageNet, with metrics at epochs past convergence",
           "width (checkpoints at epochs 60-90)", lambda s: _resnet18(s, past_convergence=True), "imagenet"),
    Preset("inception", "1a, 4, B8", "Inception-v3 on ImageNet (widths 1/4 to 1 at paper scale, as the paper)",
           "width", _inception, "imagenet"),
    Preset("inception-layer", "B9", "Inception-v3 with only the Mixed_5d module widened",
           "width of Mixed_5d", lambda s: _inception(s, only="Mixed_5d"), "imagenet"),
    Preset("parameters", "B1", "Parameter counts of every family across widths", "width x family", None),
    Preset("mnist1d-cnn", "beyond the paper", "A 1-D CNN on MNIST-1D with Glorot, He and LeCun inits",
           "width x init", _mnist1d, "mnist1d"),
)})  # fmt: skip

DEFAULT = "mlp-teacher"


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {list(PRESETS)}")
    return PRESETS[name]
