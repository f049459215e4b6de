"""Training: optimisers and schedules of the paper's recipes, a seeded loop
that resumes exactly, early stopping, and pickle-free checkpoints."""

from frivolous.train.loop import Callback, Evaluation, Trainer, TrainState, batches, evaluate
from frivolous.train.optim import learning_rate, make_optimizer
from frivolous.train.penalty import L2Penalty
from frivolous.train.stopping import EarlyStopping

__all__ = [
    "Callback",
    "EarlyStopping",
    "Evaluation",
    "L2Penalty",
    "TrainState",
    "Trainer",
    "batches",
    "evaluate",
    "learning_rate",
    "make_optimizer",
]
