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
    """Running mean and covariance of rows of activations (float64), each row
    weighted by how often the consumer reads it (:mod:`~frivolous.compression.reads`)."""

    def __init__(self, units: int, device: torch.device) -> None:
        self.count = 0.0
        """The total weight: reads of a row, summed."""
        self.rows = 0
        """Distinct rows seen (the samples the fit generalises from)."""
        self._total = torch.zeros(units, dtype=torch.float64, device=device)
        self._products = torch.zeros(units, units, dtype=torch.float64, device=device)
        self._shift: torch.Tensor | None = None  # the first rows' mean: keeps the products well conditioned

    def add(self, rows: torch.Tensor, weights: torch.Tensor | None = None) -> None:
        rows = rows.double()
        if self._shift is None:
            self._shift = rows.mean(0)
        rows = rows - self._shift
        weighted = rows if weights is None else rows * weights.to(rows).unsqueeze(1)
        self.count += float(rows.shape[0] if weights is None else weights.sum())
        self.rows += rows.shape[0]
        self._total += weighted.sum(0)
        self._products.addmm_(weighted.T, rows)

    @property
    def mean(self) -> torch.Tensor:
        return self._total / max(self.count, 1.0) + (self._shift if self._shift is not None else 0.0)

    @property
    def covariance(self) -> torch.Tensor:
        """The (population) covariance of the weighted rows."""
        centred = self._total / max(self.count, 1.0)
        return self._products / max(self.count, 1.0) - torch.outer(centred, centred)


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


BLOCK = 32
"""Removals whose updates the greedy keeps as vectors before applying them to its
matrices in one matrix product: a rank-one update of a units x units matrix
costs a pass over memory, a block of them one pass and a product that runs at
the machine's arithmetic speed."""


def removal_order(
    views: list[View], units: int, ridge: float, removals: int | None = None
) -> tuple[list[int], list[float]]:
    """Every unit of the group in the order the greedy removes them, and the
    cost each removal adds (the consumers' squared error on calibration data).
    With ``removals``, the greedy stops after that many (each step costs
    O(units²) per consumer): the units it did not remove follow in index order,
    without a cost."""
    state = []
    for view in views:
        lam = ridge_of(view.covariance, ridge)
        eye = torch.eye(len(view.units), dtype=torch.float64, device=view.covariance.device)
        precision = torch.linalg.inv(view.covariance + lam * eye)
        state.append(_ViewState(view.units.to(view.covariance.device), precision, view.gram.double().clone()))
    alive = torch.ones(units, dtype=torch.bool)
    order, costs = [], []
    for _ in range(units if removals is None else min(removals, units)):
        score = torch.zeros(units, dtype=torch.float64)
        for view_state in state:
            per_column = view_state.gram_diagonal / view_state.precision_diagonal
            score.index_add_(0, view_state.columns.cpu(), per_column.nan_to_num(0.0).cpu())
        score[~alive] = torch.inf
        unit = int(torch.argmin(score))
        order.append(unit)
        costs.append(float(score[unit]))
        alive[unit] = False
        for view_state in state:
            view_state.remove(unit)
    return order + torch.nonzero(alive).flatten().tolist(), costs


class _ViewState:
    """One consumer's precision matrix ``P`` and weight Gram matrix ``G`` as the
    greedy removes units. Removing column ``j`` downdates ``P <- P - p pᵀ / p_jj``
    (``p = P e_j``) and folds its weights into the rest, ``W <- W (I + e_j bᵀ)``
    with ``b = -p / p_jj``: ``G <- G + h bᵀ + b gᵀ`` with ``h = G e_j`` and
    ``g = h + h_j b``. The updates of up to :data:`BLOCK` removals are kept as
    vectors (the diagonals, all the score needs, kept current) and applied
    together; a column is read through the pending ones."""

    def __init__(self, columns: torch.Tensor, precision: torch.Tensor, gram: torch.Tensor) -> None:
        self.columns, self.precision, self.gram = columns, precision, gram
        self.precision_diagonal = precision.diagonal().clone()
        self.gram_diagonal = gram.diagonal().clone()
        self.dead = torch.zeros(len(columns), dtype=torch.bool, device=columns.device)
        self._p: list[torch.Tensor] = []  # P <- P - Σ p pᵀ / p_jj, stored as p / sqrt(p_jj)
        self._h: list[torch.Tensor] = []  # G <- G + Σ h bᵀ + b gᵀ
        self._b: list[torch.Tensor] = []
        self._g: list[torch.Tensor] = []

    def _precision_column(self, j: int) -> torch.Tensor:
        column = self.precision[:, j].clone()
        for q in self._p:
            column.sub_(q, alpha=float(q[j]))
        return column

    def _gram_column(self, j: int) -> torch.Tensor:
        column = self.gram[:, j].clone()
        for h, b, g in zip(self._h, self._b, self._g):
            column.add_(h, alpha=float(b[j])).add_(b, alpha=float(g[j]))
        return column

    def remove(self, unit: int) -> None:
        for j in torch.nonzero(self.columns == unit).flatten().tolist():
            self.dead[j] = True
            p = self._precision_column(j)
            pjj = p[j]
            if torch.isfinite(pjj) and pjj > 0:
                b = -p / pjj
                h = self._gram_column(j)
                g = h + float(h[j]) * b
                q = p / pjj.sqrt()
                self._p.append(q)
                self._h.append(h)
                self._b.append(b)
                self._g.append(g)
                self.precision_diagonal.sub_(q.square())
                self.gram_diagonal.add_(h * b + b * g)
            self.gram_diagonal[j] = 0.0
            self.precision_diagonal[j] = torch.inf  # never chosen again, and its score stays 0 weight / inf
        if len(self._p) >= BLOCK:
            self._apply()

    def _apply(self) -> None:
        """Apply the pending updates in one product each, and drop the removed units' rows and columns."""
        if self._p:
            q = torch.stack(self._p, 1)
            self.precision.addmm_(q, q.T, alpha=-1.0)
            left = torch.cat([torch.stack(self._h, 1), torch.stack(self._b, 1)], 1)
            right = torch.cat([torch.stack(self._b, 0), torch.stack(self._g, 0)], 0)
            self.gram.addmm_(left, right)
            self._p, self._h, self._b, self._g = [], [], [], []
        live = torch.nonzero(~self.dead).flatten()
        self.columns, self.dead = self.columns[live], self.dead[live]
        self.precision = self.precision[live][:, live]
        self.gram = self.gram[live][:, live]
        self.precision_diagonal = self.precision_diagonal[live]
        self.gram_diagonal = self.gram_diagonal[live]


def fold(
    covariance: torch.Tensor, mean: torch.Tensor, keep: torch.Tensor, ridge: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """``B`` (kept x removed) and ``c`` (removed) of the ridge regression
    ``a_R ≈ a_K B + c`` from the moments of ``a``; ``keep`` is a boolean mask."""
    kept, removed = keep, ~keep
    lam = ridge_of(covariance, ridge)
    gram = covariance[kept][:, kept]
    eye = torch.eye(gram.shape[0], dtype=gram.dtype, device=gram.device)
    coefficients = (
        torch.linalg.solve(gram + lam * eye, covariance[kept][:, removed])
        if gram.numel()
        else (torch.zeros(0, int(removed.sum()), dtype=covariance.dtype, device=covariance.device))
    )
    intercept = mean[removed] - coefficients.T @ mean[kept]
    return coefficients, intercept
