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

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from frivolous.experiments import batching, run_costs
from frivolous.experiments.sweep import SweepSpec
from frivolous.zoo.inception import FIGURE_LAYERS

WIDTHS = (0.25, 0.5, 1, 2, 4)
QUICK_WIDTHS = (0.25, 1, 4)
SCALES = ("quick", "paper")


@dataclass(frozen=True)
class PaperFigure:
    """One figure of the paper, drawn from some variants of a preset's sweep."""

    name: str
    """The paper's figure number, e.g. "B4"."""
    title: str
    lines: Mapping[str, str]
    """Legend label (e.g. "σ=1e-4", "Adam") -> the variant of the sweep's runs table it draws."""
    caption: str = ""
    """What the paper's caption claims, in one sentence."""


@dataclass(frozen=True)
class Preset:
    name: str
    figures: str
    title: str
    varies: str
    build: Callable[[str], SweepSpec] | None
    """scale -> sweep; None for a preset that needs no training."""
    data: str = ""
    paper_figures: tuple[PaperFigure, ...] = ()
    """The paper's figures this preset draws, each from its own variants."""

    def sweep(self, scale: str) -> SweepSpec:
        if scale not in SCALES:
            raise ValueError(f"scale must be one of {list(SCALES)}, got {scale!r}")
        if self.build is None:
            raise ValueError(f"preset {self.name!r} trains nothing")
        return self.build(scale)

    def estimate(self, scale: str) -> str:
        """Runs and an order of magnitude of their CPU time (:mod:`frivolous.experiments.run_costs`),
        trained in batches where ``--batch-runs auto`` would batch them."""
        if self.build is None:
            return "no training"
        specs = [run.spec for run in self.sweep(scale).expand()]
        return run_costs.describe(specs, batching.plan(specs, batching.BatchRuns.parse("auto")))


def _sweep(
    scale: str,
    *,
    model: dict,
    data: dict,
    train: dict,
    variants: dict | None = None,
    grid: dict | None = None,
    select: dict | None = None,
    measure: dict | None = None,
    quick_train: dict | None = None,
    quick_measure: dict | None = None,
    quick_data: dict | None = None,
    quick_widths: tuple[float, ...] = QUICK_WIDTHS,
    quick_select: bool = False,
) -> SweepSpec:
    """A preset's sweep at ``scale``. ``select`` (field path -> candidates) is
    the paper's "Best" per width and replicate, at paper scale only unless
    ``quick_select``; a variant that sets a selected field pins it."""
    paper = scale == "paper"
    values: dict[str, Any] = {
        "model": model,
        "data": data | ({} if paper else quick_data or {}),
        "train": train | ({} if paper else quick_train or {}),
        "measure": (measure or {}) | ({} if paper else quick_measure or {}),
        "grid": {"model.width_factor": list(WIDTHS if paper else quick_widths)} | (grid or {}),
        "variants": variants or {},
        "replicates": 3 if paper else 2,
    }
    if select and (paper or quick_select):
        values["grid"] |= select
        values["select"] = {"over": list(select), "by": "val_accuracy"}
    return SweepSpec.from_dict(values)


# ---- MLPs on the teacher data, as the authors released them (docs/fidelity.md: B4, B5, B11)

SIGMAS = {"σ=1e-4": 1e-4, "σ=1e-2": 1e-2, "σ=1": 1.0, "σ=1e2": 1e2, "σ=1e4": 1e4}
"""Hidden-layer std of the truncated-normal init: the released figures' legend."""
QUICK_SIGMAS = ("σ=1e-4", "σ=1e-2", "σ=1e4")
"""Quick scale: the low, default and very high variance regimes that B4 contrasts."""
DEFAULT_SIGMA = "σ=1e-2"
"""The paper's default ("a normal distribution with default σ of 0.01"): B11's init."""
OUTPUT_SIGMA_FACTOR = 10
"""The released MLP draws its output weights with ten times the hidden std."""
MLP_LRS = (1.0, 0.1, 0.01, 1e-3, 1e-4)
QUICK_MLP_LRS = (0.1, 0.01)
MLP_TRAIN = {
    "optimizer": "momentum",
    "momentum": 0.9,
    "lr": 0.01,
    "batch_size": 128,
    "epochs": 50,
    "schedule": "exponential",
    "gamma": 0.95,
}
MLP_QUICK = {"epochs": 20}
ADAM = {"train.optimizer": "adam", "train.lr": 1e-3, "train.schedule": "constant"}
"""tf.train.AdamOptimizer() in the released train.py: lr 0.001 whatever the grid, never decayed."""


def _mlp(scale: str, variants: dict) -> SweepSpec:
    lrs = MLP_LRS if scale == "paper" else QUICK_MLP_LRS
    return _sweep(
        scale,
        model={"family": "mlp", "init": "truncated_normal", "init_std": 1e-2, "output_init_std": 1e-1},
        data={"name": "teacher", "input_dim": 10, "n_train": 1000},
        train=MLP_TRAIN,
        variants=variants,
        select={"train.lr": list(lrs)},
        quick_select=True,
        quick_train=MLP_QUICK,
        quick_widths=WIDTHS,
    )


def _sigma_variants(scale: str, prefix: str, input_dim: int) -> dict[str, dict]:
    names = SIGMAS if scale == "paper" else QUICK_SIGMAS
    return {
        f"{prefix}, {name}": {
            "data.input_dim": input_dim,
            "model.init_std": SIGMAS[name],
            "model.output_init_std": SIGMAS[name] * OUTPUT_SIGMA_FACTOR,
        }
        for name in names
    }


def _optimizer_variants() -> dict[str, dict]:
    """B11's SGD and Adam; its momentum line is the 10k-dim variant at the default σ."""
    return {
        "10k-dim, SGD": {"data.input_dim": 10_000, "train.optimizer": "sgd"},
        "10k-dim, Adam": {"data.input_dim": 10_000, **ADAM},
    }


def _b4(scale: str) -> dict[str, dict]:
    return _sigma_variants(scale, "10k-dim", 10_000)


def _b5(scale: str) -> dict[str, dict]:
    return _sigma_variants(scale, "10-dim", 10)


def _b11(scale: str) -> dict[str, dict]:
    return {f"10k-dim, {DEFAULT_SIGMA}": _b4(scale)[f"10k-dim, {DEFAULT_SIGMA}"], **_optimizer_variants()}


def _lines(prefix: str, scale_names: tuple[str, ...]) -> dict[str, str]:
    return {name: f"{prefix}, {name}" for name in scale_names}


MLP_FIGURES = {
    "B4": PaperFigure(
        "B4",
        "MLPs on 10,000-dim data: init σ",
        _lines("10k-dim", tuple(SIGMAS)),
        "Flat accuracy and removability; low-σ networks develop more similarity with width, high-σ ones do not.",
    ),
    "B5": PaperFigure(
        "B5",
        "MLPs on 10-dim data: init σ",
        _lines("10-dim", tuple(SIGMAS)),
        "Flat accuracy and removability; every σ develops more similarity with width.",
    ),
    "B11": PaperFigure(
        "B11",
        "MLPs on 10,000-dim data: optimisers",
        {"momentum": f"10k-dim, {DEFAULT_SIGMA}", "SGD": "10k-dim, SGD", "Adam": "10k-dim, Adam"},
        "Flat accuracy and removability, similarity rising with width for every optimiser; "
        "momentum and Adam more similar than SGD.",
    ),
}


def _mlp_teacher(scale: str) -> SweepSpec:
    """The default main job: the MLP experiments of B4, B5 and B11 in one sweep,
    in the order that completes whole figures soonest (B5 is cheap; B11 shares
    B4's default-σ runs)."""
    return _mlp(scale, _b5(scale) | _b11(scale) | _b4(scale))


# ---- CIFAR-10 (AlexNet: Glorot, momentum 0.9, lr 0.01 decayed 5% per epoch, batch 128, early stopping)

ALEXNET_TRAIN = {
    "optimizer": "momentum",
    "lr": 0.01,
    "batch_size": 128,
    "epochs": 500,
    "schedule": "exponential",
    "gamma": 0.95,
    "early_stopping": True,
    "patience": 50,
}
"""The released train.py and experiments.py: at most 500 epochs, stopped 50 epochs after the best validation
accuracy, whose weights are kept (the paper: "early stopping based on maximum performance on a 5,000 image
validation set")."""
ALEXNET_AUGMENTED_EPOCHS = 1000
"""The released code doubles the most epochs of the runs with augmentation."""
ALEXNET_WEIGHT_DECAY = {"train.l2": 0.001, "train.l2_layers": ["fc1", "fc2"]}
"""The released weight decay: the loss term 0.001 * sum(||w||^2 / 2) over the fc1 and fc2 weights only
(frivolous.train.penalty), not the optimiser's weight decay of every parameter."""
ALEXNET_RANDOM_LABELS = {"train.monitor": "train_accuracy", "train.patience": 25, "train.stop_at": 1.0}
"""The released train.py with random labels: their validation labels are random too, so it stops on training
accuracy, 25 epochs after its best or as soon as it is 100%."""
ALEXNET_RANDOM_LABEL_EPOCHS = 5000
"""The released random-label runs get ten times the epochs (the stopping rule ends them far sooner)."""
RESNET56_RANDOM_LABELS = {"data.augment": None, "train.weight_decay": None}
"""The paper's text: no augmentation with random labels; the released runs: no weight decay either."""
ALEXNET_SELECT = {"train.lr": [0.005, 0.01, 0.02], "train.batch_size": [64, 128]}
RESNET56_TRAIN = {
    "optimizer": "momentum",
    "lr": 0.1,
    "batch_size": 128,
    "epochs": 182,
    "schedule": "step",
    "milestones": [91, 136],
    "gamma": 0.1,
    "weight_decay": 2e-4,
}
RESNET56_SELECT = {"train.lr": [0.05, 0.1, 0.2]}
CIFAR_MEASURE = {"max_examples": 10_000}
QUICK_MEASURE = {"max_examples": 500, "max_samples": 20_000}
CIFAR_QUICK_DATA = {"n_train": 2000, "n_val": 500}
CIFAR_QUICK_WIDTHS = (0.25, 0.5, 1, 2)


def _alexnet(scale: str, variants: dict, *, select: bool = True) -> SweepSpec:
    return _sweep(
        scale,
        model={"family": "alexnet", "init": "glorot_normal"},
        data={"name": "cifar10"},
        train=ALEXNET_TRAIN,
        variants=variants,
        select=ALEXNET_SELECT if select else None,
        measure=CIFAR_MEASURE,
        quick_train={"epochs": 2, "patience": None},
        quick_measure=QUICK_MEASURE,
        quick_data=CIFAR_QUICK_DATA,
        quick_widths=CIFAR_QUICK_WIDTHS,
    )


def _inits(kind: str) -> dict[str, dict]:
    return {
        name.capitalize() if name != "lecun" else "LeCun": {"model.init": f"{name}_{kind}"}
        for name in ("glorot", "he", "lecun")
    }


def _regularisers(scale: str) -> dict[str, dict]:
    """B10's regularisers as released: dropout 0.5 after fc1 and fc2, the fc weight decay, augmentation with
    twice the epochs (at paper scale: quick runs keep their few epochs)."""
    augment = {"data.augment": True} | ({"train.epochs": ALEXNET_AUGMENTED_EPOCHS} if scale == "paper" else {})
    return {
        "none": {},
        "augmentation": augment,
        "dropout": {"model.dropout": 0.5},
        "weight decay": dict(ALEXNET_WEIGHT_DECAY),
        "all": augment | {"model.dropout": 0.5} | ALEXNET_WEIGHT_DECAY,
    }


def _cifar_families(label_variants: dict[str, dict], scale: str) -> dict[str, dict]:
    """AlexNet and ResNet56 variants in one sweep: the ResNet switches the
    family and its whole recipe (nulls drop AlexNet-only settings). With
    random labels each family stops as released: the AlexNet on training
    accuracy, the ResNet56 after its fixed epochs, without augmentation or
    weight decay."""
    resnet = {
        "model.family": "resnet56",
        "data.augment": True,
        **{f"train.{k}": v for k, v in RESNET56_TRAIN.items()},
        "train.early_stopping": None,
        "train.patience": None,
    }
    alexnet_random = ALEXNET_RANDOM_LABELS | ({"train.epochs": ALEXNET_RANDOM_LABEL_EPOCHS} if scale == "paper" else {})
    variants = {}
    for label, changes in label_variants.items():
        random = bool(changes.get("data.random_labels"))
        variants[f"AlexNet{label}"] = changes | (alexnet_random if random else {})
        variants[f"ResNet56{label}"] = resnet | changes | (RESNET56_RANDOM_LABELS if random else {})
    return variants


def _random_labels(scale: str) -> SweepSpec:
    labels = {"": {}, ", random labels": {"data.random_labels": True}}
    return _quicken_resnet(_alexnet(scale, _cifar_families(labels, scale), select=False), scale)


def _k_factor(scale: str) -> SweepSpec:
    ks = {f", k={k}": {"train.k": v} for k, v in (("1/4", 0.25), ("1", 1.0), ("4", 4.0))}
    return _quicken_resnet(_alexnet(scale, _cifar_families(ks, scale), select=False), scale)


def _quicken_resnet(sweep: SweepSpec, scale: str) -> SweepSpec:
    """At quick scale the ResNet variants get the quick epochs too."""
    if scale == "paper":
        return sweep
    variants = {
        name: changes
        | ({"train.epochs": 2, "train.milestones": [1]} if changes.get("model.family") == "resnet56" else {})
        for name, changes in sweep.variants.items()
    }
    return SweepSpec.from_dict(sweep.model_dump(mode="json") | {"variants": variants})


def _resnet56(scale: str) -> SweepSpec:
    return _sweep(
        scale,
        model={"family": "resnet56", "init": "glorot_normal"},
        data={"name": "cifar10", "augment": True},
        train=RESNET56_TRAIN,
        select=RESNET56_SELECT,
        measure=CIFAR_MEASURE,
        quick_train={"epochs": 2, "milestones": [1]},
        quick_measure=QUICK_MEASURE,
        quick_data=CIFAR_QUICK_DATA,
        quick_widths=CIFAR_QUICK_WIDTHS,
    )


# ---- ImageNet (ResNet18: Glorot, momentum, batch 256, step decay at 30/60/80 of 90 epochs, wd 1e-4)

RESNET18_TRAIN = {
    "optimizer": "momentum",
    "lr": 0.1,
    "batch_size": 256,
    "epochs": 90,
    "schedule": "step",
    "milestones": [30, 60, 80],
    "gamma": 0.1,
    "weight_decay": 1e-4,
    "workers": 8,
    "precision": "bf16",
    "channels_last": True,
}
IMAGENET_MEASURE = {"max_examples": 10_000, "max_samples": 50_000}
IMAGENET_QUICK = {"epochs": 1, "milestones": [1]}


def _resnet18(scale: str, variants: dict | None = None, *, past_convergence: bool = False) -> SweepSpec:
    train = RESNET18_TRAIN | ({"checkpoints": [60, 70, 80, 90]} if past_convergence else {})
    return _sweep(
        scale,
        model={"family": "resnet18", "init": "glorot_normal"},
        data={"name": "imagenet"},
        train=train,
        variants=variants,
        measure=IMAGENET_MEASURE,
        quick_train=IMAGENET_QUICK | ({"checkpoints": [1]} if past_convergence else {}),
        quick_measure={"max_examples": 500, "max_samples": 10_000},
        quick_data={"n_train": 20_000},
    )


def _resnet18_k(scale: str) -> SweepSpec:
    return _resnet18(scale, {f"k={k}": {"train.k": v} for k, v in (("1/4", 0.25), ("1", 1.0), ("4", 4.0))})


# ---- Inception-v3 (truncated normal sigma 0.1, RMSProp, lr decayed 4% every 8 epochs, wd 4e-5)

INCEPTION_TRAIN = {
    "optimizer": "rmsprop",
    "lr": 0.045,
    "batch_size": 256,
    "epochs": 90,
    "schedule": "exponential",
    "gamma": 0.96,
    "every": 8,
    "alpha": 0.9,
    "momentum": 0.9,
    "eps": 1.0,
    "weight_decay": 4e-5,
    "workers": 8,
    "precision": "bf16",
    "channels_last": True,
}


def _inception(scale: str, *, only: str | None = None) -> SweepSpec:
    """Inception-v3, probed at the 16 layers the released analysis averages (the family's own); with ``only``,
    at the three layers of Fig. B9, the run's AUC and similarity being the widened module's alone (the paper's
    "Inceptionv3-layer curves ... are only for the layer whose size is varied")."""
    model = {"family": "inception_v3", "init": "truncated_normal", "init_std": 0.1} | ({"only": only} if only else {})
    one_layer = {"layers": list(FIGURE_LAYERS), "summary_layers": [only]} if only else {}
    sweep = _sweep(
        scale,
        model=model,
        data={"name": "imagenet", "image_size": 299},
        train=INCEPTION_TRAIN,
        measure=IMAGENET_MEASURE | one_layer,
        quick_train=IMAGENET_QUICK | {"milestones": []},
        quick_measure={"max_examples": 500, "max_samples": 10_000},
        quick_data={"n_train": 20_000},
    )
    if only is None and scale == "paper":  # the paper could not train 2x and 4x
        grid = sweep.grid | {"model.width_factor": (0.25, 0.5, 1)}
        sweep = SweepSpec.from_dict(sweep.model_dump(mode="json") | {"grid": grid})
    return sweep


# ---- beyond the paper


def _mnist1d(scale: str) -> SweepSpec:
    return _sweep(
        scale,
        model={"family": "cnn1d", "init": "he_normal"},
        data={"name": "mnist1d", "num_samples": 5000},
        train={"optimizer": "adam", "lr": 0.003, "batch_size": 100, "epochs": 40, "early_stopping": True},
        variants=_inits("normal"),
        measure={"max_examples": 1000},
        quick_train={"epochs": 10},
        quick_measure={"max_samples": 20_000},
    )


PRESETS: MappingProxyType[str, Preset] = MappingProxyType(
    {
        p.name: p
        for p in (
            Preset(
                "mlp-teacher",
                "B4, B5, B11",
                "MLPs on the teacher data: init sigma, input dimension, optimiser",
                "width x lr x (input dim 10 / 10,000) x sigma + optimisers",
                _mlp_teacher,
                "teacher",
                tuple(MLP_FIGURES.values()),
            ),
            Preset(
                "mlp-sigma-10",
                "B5",
                "MLPs on 10-dim teacher data across init sigmas",
                "width x lr x sigma",
                lambda s: _mlp(s, _b5(s)),
                "teacher",
                (MLP_FIGURES["B5"],),
            ),
            Preset(
                "mlp-sigma-10k",
                "B4",
                "MLPs on 10,000-dim teacher data across init sigmas",
                "width x lr x sigma",
                lambda s: _mlp(s, _b4(s)),
                "teacher",
                (MLP_FIGURES["B4"],),
            ),
            Preset(
                "mlp-optimizers",
                "B11",
                "MLPs on 10,000-dim teacher data: momentum, SGD, Adam",
                "width x lr x optimiser",
                lambda s: _mlp(s, _b11(s)),
                "teacher",
                (MLP_FIGURES["B11"],),
            ),
            Preset(
                "alexnet-inits",
                "1c, 2, 3, 6",
                "AlexNet on CIFAR-10 with Glorot, He and LeCun normal inits",
                "width x init",
                lambda s: _alexnet(s, _inits("normal")),
                "cifar10",
            ),
            Preset(
                "alexnet-uniform-inits",
                "B3",
                "AlexNet on CIFAR-10 with Glorot, He and LeCun uniform inits",
                "width x init",
                lambda s: _alexnet(s, _inits("uniform")),
                "cifar10",
            ),
            Preset(
                "alexnet-regularisers",
                "B10",
                "AlexNet: none, augmentation, dropout, weight decay, all",
                "width x regulariser",
                lambda s: _alexnet(s, _regularisers(s)),
                "cifar10",
            ),
            Preset(
                "random-labels",
                "1b, 5",
                "AlexNet and ResNet56 on true and on random labels",
                "width x network x labels",
                _random_labels,
                "cifar10",
            ),
            Preset("resnet56-layers", "B6", "ResNet56 on CIFAR-10, per layer", "width", _resnet56, "cifar10"),
            Preset(
                "k-factor-cifar",
                "B13",
                "AlexNet and ResNet56 with the lr x batch factor k in {1/4, 1, 4}",
                "width x network x k",
                _k_factor,
                "cifar10",
            ),
            Preset(
                "resnet18-k", "B12", "ResNet18 on ImageNet with k in {1/4, 1, 4}", "width x k", _resnet18_k, "imagenet"
            ),
            Preset(
                "resnet18-imagenet",
                "1a, 4, B7, B2",
                "ResNet18 on ImageNet, with metrics at epochs past convergence",
                "width (checkpoints at epochs 60-90)",
                lambda s: _resnet18(s, past_convergence=True),
                "imagenet",
            ),
            Preset(
                "inception",
                "1a, 4, B8",
                "Inception-v3 on ImageNet (widths 1/4 to 1 at paper scale, as the paper)",
                "width",
                _inception,
                "imagenet",
            ),
            Preset(
                "inception-layer",
                "B9",
                "Inception-v3 with only the Mixed_5d module widened",
                "width of Mixed_5d",
                lambda s: _inception(s, only="Mixed_5d"),
                "imagenet",
            ),
            Preset("parameters", "B1", "Parameter counts of every family across widths", "width x family", None),
            Preset(
                "mnist1d-cnn",
                "beyond the paper",
                "A 1-D CNN on MNIST-1D with Glorot, He and LeCun inits",
                "width x init",
                _mnist1d,
                "mnist1d",
            ),
        )
    }
)

DEFAULT = "mlp-teacher"


def preset(name: str) -> Preset:
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; choose one of {list(PRESETS)}")
    return PRESETS[name]
