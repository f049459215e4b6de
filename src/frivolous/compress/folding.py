"""The least-squares folding: which units the others explain, and how to fold them in.

A consumer reads units ``a`` (one column per input channel) through weights
``W``. Removing the units ``R`` and keeping ``K`` changes nothing if
``a_R = a_K B + c`` exactly: then ``W a = (W_K + W_R Bᵀ) a_K + W_R c``. On
calibration data the best ``B`` and ``c`` are a ridge regression of ``a_R``
on ``a_K``, from the mean and covariance of ``a`` alone (:func:`fold`).

Which units to remove (:func:`removal_order`) is chosen greedily by what the
removal costs the consumers: removing unit ``j`` (after the units already
removed were folded into the rest) adds ``‖W_j‖² · s²_j`` to their squared
error, where ``s²_j`` is the residual variance of ``a_j`` regressed on the
kept units, ``1 / P_jj`` for the precision matrix ``P`` of the kept units.
A repeated unit (small residual) and a unit nobody listens to (small
``W_j``) both go first; a pairwise correlation alone would see only the
first kind. After each removal the precision matrix is downdated and the
unit's weights folded into the rest, in O(units²): only the Gram matrix
``WᵀW`` of the consumer's weights is needed (``‖W_j‖²`` is its diagonal), so
a consumer with many outputs or a large kernel costs no more than a small one.

Nothing here knows about modules or graphs: the inputs are moments and
Gram matrices of weights (one row and column per unit).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

RIDGE_FLOOR = 1e-10
"""Added to the relative ridge, so that exactly repeated units (a singular
covariance) still have a float64 inverse even with ``ridge=0``."""
EPSILON = 1e-30
"""Added to the absolute ridge, so that a layer of dead units still has an inverse."""


class Moments:
    """Running mean and covariance of rows of activations (float64)."""

    def __init__(self, units: int, device: torch.device) -> None:
        self.count = 0
        self._total = torch.zeros(units, dtype=torch.float64, device=device)
        self._products = torch.zeros(units, units, dtype=torch.float64, device=device)
        self._shift: torch.Tensor | None = None  # the first rows' mean: keeps the products well conditioned

    def add(self, rows: torch.Tensor) -> None:
        rows = rows.double()
        if self._shift is None:
            self._shift = rows.mean(0)
        rows = rows - self._shift
        self.count += rows.shape[0]
        self._total += rows.sum(0)
        self._products.addmm_(rows.T, rows)

    @property
    def mean(self) -> torch.Tensor:
        return self._total / max(self.count, 1) + (self._shift if self._shift is not None else 0.0)

    @property
    def covariance(self) -> torch.Tensor:
        centred = self._total / max(self.count, 1)
        return (self._products - self.count * torch.outer(centred, centred)) / max(self.count - 1, 1)


def ridge_of(covariance: torch.Tensor, ridge: float) -> float:
    """The absolute ridge: ``ridge`` (plus :data:`RIDGE_FLOOR`) times the mean variance of the units."""
    return (ridge + RIDGE_FLOOR) * float(covariance.diagonal().mean()) + EPSILON if covariance.numel() else EPSILON


@dataclass
class View:
    """What one consumer sees of a group: ``units[i]`` is the group unit of its
    input channel ``i``; ``covariance`` of its input channels; ``gram`` the
    Gram matrix ``WᵀW`` of its weights with one column per input channel
    (rows: outputs x kernel elements or positions)."""

    units: torch.Tensor
    covariance: torch.Tensor
    gram: torch.Tensor


def removal_order(views: list[View], units: int, ridge: float) -> tuple[list[int], list[float]]:
    """Every unit of the group in the order the greedy removes them, and the
    cost each removal adds (the consumers' squared error on calibration data)."""
    state = []
    for view in views:
        lam = ridge_of(view.covariance, ridge)
        eye = torch.eye(len(view.units), dtype=torch.float64, device=view.covariance.device)
        precision = torch.linalg.inv(view.covariance + lam * eye)
        state.append([view.units.to(view.covariance.device), precision, view.gram.double().clone()])
    alive = torch.ones(units, dtype=torch.bool)
    order, costs = [], []
    for _ in range(units):
        score = torch.zeros(units, dtype=torch.float64)
        for columns, precision, gram in state:
            per_column = gram.diagonal() / precision.diagonal()
            score.index_add_(0, columns.cpu(), per_column.nan_to_num(0.0).cpu())
        score[~alive] = torch.inf
        unit = int(torch.argmin(score))
        order.append(unit)
        costs.append(float(score[unit]))
        alive[unit] = False
        for view_state in state:
            _remove(view_state, unit)
    return order, costs


def _remove(view_state: list, unit: int) -> None:
    columns, precision, gram = view_state
    for j in torch.nonzero(columns == unit).flatten().tolist():
        p = precision[:, j].clone()
        pjj = p[j]
        if not torch.isfinite(pjj) or pjj <= 0:
            continue
        # W <- W (I + e_j bᵀ): column j's weights, carried by its regression on the rest (b_j = -1 clears it)
        b = -p / pjj
        h = gram[:, j].clone()
        gram.addr_(h, b).addr_(b, h).addr_(b, b, alpha=float(h[j]))
        gram[j, :], gram[:, j] = 0.0, 0.0
        precision.addr_(p, p, alpha=-1.0 / float(pjj))
        precision[j, j] = torch.inf  # never chosen again, and its score stays 0 weight / inf


def fold(covariance: torch.Tensor, mean: torch.Tensor, keep: torch.Tensor, ridge: float
         ) -> tuple[torch.Tensor, torch.Tensor]:  # fmt: skip
    """``B`` (kept x removed) and ``c`` (removed) of the ridge regression
    ``a_R ≈ a_K B + c`` from the moments of ``a``; ``keep`` is a boolean mask."""
    kept, removed = keep, ~keep
    lam = ridge_of(covariance, ridge)
    gram = covariance[kept][:, kept]
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    coefficients = torch.linalg.solve(gram + lam * eye, covariance[kept][:, removed]) if gram.numel() else (
        torch.zeros(0, int(removed.sum()), dtype=covariance.dtype, device=covariance.device))  # fmt: skip
    intercept = mean[removed] - coefficients.T @ mean[kept]
    return coefficients, intercept
